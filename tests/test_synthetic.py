import collections
import re

import numpy as np
import pytest

from embviz.errors import ConfigError
from embviz.text import synthetic
from embviz.text.lexicon import Lexicon

WORD = re.compile(r"[a-z]+")


@pytest.fixture(scope="module")
def text():
    return synthetic.generate(50_000, seed=3)


@pytest.fixture(scope="module")
def lexicon():
    return Lexicon.builtin()


def _tokens(text):
    return re.findall(r"[a-z]+|\.", text)


def test_deterministic_for_a_seed():
    assert synthetic.generate(5_000, seed=7) == synthetic.generate(5_000, seed=7)
    assert synthetic.generate(5_000, seed=7) != synthetic.generate(5_000, seed=8)
    assert synthetic.generate(5_000, seed=7, difficulty=0.1) != synthetic.generate(5_000, seed=7, difficulty=0.2)


@pytest.mark.parametrize("n", [1_000, 12_345, 100_000])
def test_size_within_five_percent(n):
    assert abs(len(_tokens(synthetic.generate(n))) - n) <= 0.05 * n


def test_sentences_are_lowercase_and_end_with_a_period(text):
    lines = text.splitlines()
    assert all(re.fullmatch(r"[a-z]+( [a-z]+)*\.", line) for line in lines)
    assert 4 <= len(_tokens(text)) / len(lines) <= 12


@pytest.mark.parametrize("kwargs, message", [
    ({"n_tokens": 999}, "n_tokens"), ({"n_tokens": 50_000_001}, "n_tokens"), ({"n_tokens": 2.5e4}, "n_tokens"),
    ({"difficulty": -0.1}, "difficulty"), ({"difficulty": 1.5}, "difficulty"), ({"difficulty": "hard"}, "difficulty"),
    ({"seed": -1}, "seed"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        synthetic.generate(**kwargs)


def test_every_word_is_in_the_lexicon_with_its_grammar_paths(text, lexicon):
    vocabulary = synthetic.vocabulary()
    assert set(WORD.findall(text)) <= set(vocabulary)
    for word, paths in vocabulary.items():
        assert word in lexicon, word
        assert set(paths) <= set(lexicon.ambiguous(word)), word
        assert all(path.count("/") >= 2 for path in paths), word


def test_vocabulary_size_and_zipf_within_a_category(text):
    counts = collections.Counter(WORD.findall(text))
    assert 300 <= len(synthetic.vocabulary()) <= 500
    assert len(counts) >= 400
    animals = [counts[w] for w in ("lion", "elephant", "tiger", "bear", "wolf")]
    assert animals == sorted(animals, reverse=True)
    assert animals[0] > 2 * animals[-1]


def test_ambiguous_words_occur_in_both_roles(text, lexicon):
    ambiguous = synthetic.ambiguous_words()
    assert {"orange", "watch", "may", "turkey"} <= set(ambiguous)
    for word in ("orange", "watch", "may", "turkey"):
        assert len(lexicon.ambiguous(word)) == 2
    tokens = _tokens(text)
    bigrams = collections.Counter(zip(tokens, tokens[1:]))

    def before(word, test):
        return sum(n for (a, b), n in bigrams.items() if b == word and test(a))

    def after(word, test):
        return sum(n for (a, b), n in bigrams.items() if a == word and test(b))

    def is_pos(pos):
        return lambda w: lexicon.category(w, 0) == pos

    assert after("orange", is_pos("noun")) > 10                               # an orange car
    assert before("orange", lambda w: w in ("an", "the")) and after("orange", lambda w: w == ".") > 10
    assert after("may", is_pos("verb")) > 10                                  # may eat
    assert before("may", lambda w: w == "in") > 10                            # in may
    assert before("watch", lambda w: w in ("to", "will", "can", "may", "must")) > 10   # to watch
    assert before("watch", lambda w: w in ("a", "the") or is_pos("adj")(w)) > 10   # a blue watch
    assert before("turkey", lambda w: w in ("to", "from", "in")) > 10         # to turkey
    assert before("turkey", lambda w: w == "the") > 10                        # feeds the turkey


def _similarities(text):
    """Mean cosine of ±2-word context counts: within sub-field, within field only, across fields,
    across fields of one part of speech, across parts of speech."""
    tokens = _tokens(text)
    vocabulary = synthetic.vocabulary()
    index = {w: i for i, w in enumerate(sorted(set(tokens)))}
    ids = np.array([index[t] for t in tokens])
    counts = np.zeros((len(index), len(index)))
    for offset in (1, 2):
        np.add.at(counts, (ids[:-offset], ids[offset:]), 1)
        np.add.at(counts, (ids[offset:], ids[:-offset]), 1)
    frequency = np.bincount(ids, minlength=len(index))
    words = [w for w in index if w in vocabulary and len(vocabulary[w]) == 1
             and not vocabulary[w][0].startswith("function") and frequency[index[w]] >= 5]
    vectors = counts[[index[w] for w in words]]
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    cosine = vectors @ vectors.T
    paths = np.array([vocabulary[w][0] for w in words])
    fields = np.array([p.rsplit("/", 1)[0] for p in paths])
    pos = np.array([p.split("/")[0] for p in paths])
    same_sub = paths[:, None] == paths[None, :]
    same_field = fields[:, None] == fields[None, :]
    same_pos = pos[:, None] == pos[None, :]
    off_diagonal = ~np.eye(len(words), dtype=bool)
    return (cosine[same_sub & off_diagonal].mean(), cosine[same_field & ~same_sub].mean(),
            cosine[~same_field].mean(), cosine[same_pos & ~same_field].mean(), cosine[~same_pos].mean())


def test_nested_distributional_signal(text):
    within_sub, within_field, across, same_pos, across_pos = _similarities(text)
    assert within_sub > within_field + 0.02
    assert within_field > across + 0.05
    assert within_field > same_pos > across_pos


def test_part_of_speech_is_the_strongest_level(text):
    within_sub, within_field, _, same_pos, across_pos = _similarities(text)
    assert same_pos - across_pos > within_field - same_pos
    assert same_pos - across_pos > within_sub - within_field


def test_difficulty_weakens_the_signal():
    gaps = []
    for difficulty in (0.0, 0.3, 1.0):
        within_sub, _, across, _, _ = _similarities(synthetic.generate(50_000, seed=1, difficulty=difficulty))
        gaps.append(within_sub - across)
    assert gaps[0] > gaps[1] > gaps[2]


@pytest.mark.parametrize("lang, homonyms", [("en", {"orange", "turkey", "watch", "may"}), ("zh", {"橙", "到", "给"})])
def test_every_homonym_occurrence_has_its_sense_and_both_senses_occur(lang, homonyms):
    text, senses = synthetic.generate_with_senses(lang=lang)  # the demo's corpus, every rare frame in it
    assert text == synthetic.generate(lang=lang)
    tokens = [t for line in text.splitlines() for t in (line[:-1].split() + ["."] if lang == "en" else line.split())]
    ambiguous = synthetic.ambiguous_words(lang)
    assert homonyms <= set(ambiguous)
    assert {i for i, t in enumerate(tokens) if t in ambiguous} == set(senses)
    assert all(senses[i] in ambiguous[tokens[i]] for i in senses)
    for word in homonyms:
        assert {senses[i] for i in senses if tokens[i] == word} == set(ambiguous[word]), word
    # the sense fits the context: a colour stands before a noun, a fruit after an article or a verb
    if lang == "en":
        after = collections.Counter((senses[i], tokens[i + 1] in ("car", "hat", "bus", "cat", "dog") or
                                     tokens[i + 1] in ambiguous) for i in senses if tokens[i] == "orange")
        assert after[("noun/food/fruit", True)] == 0
        modal = [i for i in senses if tokens[i] == "may" and senses[i] == "function/auxiliary/modal"]
        assert all(tokens[i - 1] not in ("in", "of") for i in modal)
