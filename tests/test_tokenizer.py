import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embviz.errors import ConfigError, CorpusError, EmbvizError
from embviz.text.tokenizer import UNK, Tokenizer, build_tokenizer

TEXT = "The cat sat on the mat. The dog ate the bread, and the cat slept!\n" * 20


@pytest.mark.parametrize("kind", ["word", "char", "bpe"])
def test_round_trip_through_json_rebuilds_the_same_tokenizer(kind):
    tok = build_tokenizer(TEXT, kind, vocab_size=60)
    again = Tokenizer.from_json(tok.to_json())
    assert again.tokens == tok.tokens
    np.testing.assert_array_equal(again.encode(TEXT), tok.encode(TEXT))


@pytest.mark.parametrize("kind", ["word", "char", "bpe"])
def test_decode_then_encode_gives_back_the_ids(kind):
    tok = build_tokenizer(TEXT, kind, vocab_size=200)
    ids = tok.encode(" ".join(TEXT.split()[:40]))
    np.testing.assert_array_equal(tok.encode(tok.decode(ids)), ids)


def test_word_tokens_are_lowercased_words_and_punctuation_ordered_by_frequency():
    tok = build_tokenizer(TEXT, "word")
    assert tok.tokens[0] == UNK
    assert tok.tokens[1] == "the"
    assert {".", ",", "!"} <= set(tok.tokens)
    assert "The" not in tok.tokens
    assert tok.split("Don't stop.") == ["don't", "stop", "."]


def test_unknown_words_map_to_unk_and_min_count_drops_rare_words():
    tok = build_tokenizer(TEXT + " zebra", "word", min_count=2)
    assert "zebra" not in tok.tokens
    assert tok.encode("zebra cat")[0] == 0


def test_max_vocab_keeps_the_most_frequent_tokens():
    tok = build_tokenizer(TEXT, "word", max_vocab=4)
    assert tok.tokens[:3] == [UNK, "the", "cat"] and len(tok) == 4


def test_char_tokenizer_handles_chinese():
    text = "我爱北京天安门。北京是中国的首都。" * 5
    tok = build_tokenizer(text, "char")
    assert "北" in tok.tokens and "京" in tok.tokens
    assert tok.decode(tok.encode("北京")) == "北京"


def test_bpe_vocabulary_size_is_respected():
    tok = build_tokenizer(TEXT * 5, "bpe", vocab_size=40)
    assert len(tok) <= 40
    assert tok.tokens[0] == UNK


def test_bad_tokenizer_options_are_config_errors():
    with pytest.raises(ConfigError, match="unknown tokenizer"):
        build_tokenizer(TEXT, "sentencepiece")
    with pytest.raises(ConfigError):
        build_tokenizer(TEXT, "word", min_count=0)


def test_a_vocabulary_under_two_tokens_is_refused():
    with pytest.raises(CorpusError, match="at least 2"):
        build_tokenizer("aaaa aaaa aaaa", "word")


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=200), st.sampled_from(["word", "char", "bpe"]))
def test_any_unicode_either_tokenizes_or_raises_our_error(text, kind):
    try:
        tok = build_tokenizer(text, kind, vocab_size=50)
    except EmbvizError:
        return
    ids = tok.encode(text)
    assert ids.dtype == np.int64
    assert ids.size == 0 or (ids.min() >= 0 and ids.max() < len(tok))
