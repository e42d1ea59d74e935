"""The word-similarity and analogy scores of :mod:`embviz.measure.gensim_eval` against gensim's own."""

import numpy as np
import pytest

from embviz.errors import ConfigError, EmbvizError
from embviz.measure.gensim_eval import (
    ANALOGIES,
    SIMLEX999,
    WORDSIM353,
    WordIndex,
    analogy_accuracy,
    gensim_test_file,
    word_pair_spearman,
)

# --- word benchmarks, against gensim ---------------------------------------------------------


def _benchmark_words():
    words = set()
    for name in (WORDSIM353, SIMLEX999):
        for line in gensim_test_file(name).read_text(encoding="utf8").splitlines():
            if not line.startswith("#"):
                words.update(line.split("\t")[:2])
    for line in gensim_test_file(ANALOGIES).read_text(encoding="utf8").splitlines():
        if not line.startswith(":"):
            words.update(line.split())
    return sorted(words)


@pytest.fixture(scope="module")
def vocabulary():
    """Most benchmark words, some upper-cased, some with a second spelling, plus non-words."""
    rng = np.random.default_rng(8)
    words = _benchmark_words()
    rng.shuffle(words)
    words = words[: int(0.85 * len(words))]
    words = [w.upper() if i % 7 == 0 else w for i, w in enumerate(words)]
    extra = [w.capitalize() for w in words[:40]] + ["tiger", "Tiger", "TIGER", "zzyzx", "qwerty"]
    return list(dict.fromkeys(words + extra))


def _keyed_vectors(words, vectors):
    from gensim.models import KeyedVectors

    kv = KeyedVectors(vectors.shape[1])
    kv.add_vectors(words, vectors)
    return kv


def _planted_vectors(words, d=32, seed=9):
    """Random vectors where country = capital + shared offset, and female = male + another."""
    rng = np.random.default_rng(seed)
    row = {w.lower(): i for i, w in reversed(list(enumerate(words)))}
    vectors = rng.normal(size=(len(words), d))
    offsets = {}
    section = None
    for line in gensim_test_file(ANALOGIES).read_text(encoding="utf8").splitlines():
        if line.startswith(": "):
            section = line[2:]
            continue
        if section not in ("capital-common-countries", "family"):
            continue
        offset = offsets.setdefault(section, 4.0 * rng.normal(size=d) / np.sqrt(d))
        a, b, c, e = line.lower().split()
        for x, y in ((a, b), (c, e)):
            if x in row and y in row:
                vectors[row[y]] = vectors[row[x]] + offset + 0.05 * rng.normal(size=d)
    return vectors.astype(np.float32)


@pytest.mark.parametrize("name", [WORDSIM353, SIMLEX999])
def test_word_pair_spearman_equals_gensim(vocabulary, name):
    vectors = np.random.default_rng(10).normal(size=(len(vocabulary), 24)).astype(np.float32)
    path = gensim_test_file(name)
    pearson, spearman, oov_ratio = _keyed_vectors(vocabulary, vectors).evaluate_word_pairs(path)
    score = word_pair_spearman(vectors, vocabulary, path)
    assert score.spearman == pytest.approx(spearman[0], abs=1e-12)
    assert score.pearson == pytest.approx(pearson[0], abs=1e-6)
    assert score.coverage == pytest.approx(1 - oov_ratio / 100)
    assert 0.5 < score.coverage < 1 and score.n_pairs > 100


def test_analogy_accuracy_equals_gensim_on_planted_structure(vocabulary):
    vectors = _planted_vectors(vocabulary)
    path = gensim_test_file(ANALOGIES)
    kv = _keyed_vectors(vocabulary, vectors)
    accuracy, sections = kv.evaluate_word_analogies(path)
    score = analogy_accuracy(vectors, vocabulary, path)
    assert score.accuracy == pytest.approx(accuracy, abs=1e-15)
    assert score.n_correct == len(sections[-1]["correct"])
    assert score.n_total == score.n_correct + len(sections[-1]["incorrect"])
    assert score.accuracy > 0.03 and score.n_correct > 100
    assert 0.3 < score.coverage < 1


def test_analogy_accuracy_with_a_restricted_index_equals_gensim(vocabulary):
    vectors = _planted_vectors(vocabulary, seed=11)
    path = gensim_test_file(ANALOGIES)
    accuracy, _ = _keyed_vectors(vocabulary, vectors).evaluate_word_analogies(path, restrict_vocab=600)
    index = WordIndex.from_words(vocabulary, restrict_vocab=600)
    assert analogy_accuracy(vectors, index, path).accuracy == pytest.approx(accuracy, abs=1e-15)


@pytest.mark.parametrize("seed", range(4))
def test_analogy_accuracy_equals_gensim_when_case_variants_crowd_the_answers(tmp_path, seed):
    rng = np.random.default_rng(seed)
    stems = ["cat", "dog", "sun", "sea", "red", "two"]
    words = ["".join(c.upper() if m >> i & 1 else c for i, c in enumerate(s)) for s in stems for m in range(8)]
    vectors = np.repeat(rng.normal(size=(6, 8)), 8, axis=0) + 0.01 * rng.normal(size=(48, 8))
    order = rng.permutation(48)
    words, vectors = [words[i] for i in order], vectors[order].astype(np.float32)
    path = tmp_path / "questions.txt"
    lines = [": crowded"] + [" ".join(rng.choice(words, 4)) for _ in range(400)]
    path.write_text("\n".join(lines) + "\n", encoding="utf8")
    accuracy, _ = _keyed_vectors(words, vectors).evaluate_word_analogies(str(path))
    score = analogy_accuracy(vectors, words, path)
    assert score.accuracy == pytest.approx(accuracy, abs=1e-15)
    assert score.n_total == 400 and score.n_correct > 0


def test_a_prepared_index_gives_the_same_scores(vocabulary):
    vectors = _planted_vectors(vocabulary, seed=12)
    index = WordIndex.from_words(vocabulary)
    for name in (WORDSIM353, SIMLEX999):
        path = gensim_test_file(name)
        assert word_pair_spearman(vectors, index, path) == word_pair_spearman(vectors, vocabulary, path)
    path = gensim_test_file(ANALOGIES)
    assert analogy_accuracy(vectors, index, path) == analogy_accuracy(vectors, vocabulary, path)


def test_benchmarks_tolerate_zero_rows_and_unknown_vocabularies(vocabulary):
    vectors = _planted_vectors(vocabulary, seed=13)
    vectors[::3] = 0.0
    pairs = word_pair_spearman(vectors, vocabulary, gensim_test_file(SIMLEX999))
    analogies = analogy_accuracy(vectors, vocabulary, gensim_test_file(ANALOGIES))
    assert np.isfinite(pairs.spearman) and np.isfinite(analogies.accuracy)
    none = word_pair_spearman(np.ones((2, 3)), ["zzyzx", "qwerty"], gensim_test_file(WORDSIM353))
    assert np.isnan(none.spearman) and none.coverage == 0 and none.n_pairs == 0
    nothing = analogy_accuracy(np.ones((2, 3)), ["zzyzx", "qwerty"], gensim_test_file(ANALOGIES))
    assert np.isnan(nothing.accuracy) and nothing.n_total == 0


def test_benchmark_input_errors(tmp_path, vocabulary):
    vectors = np.ones((len(vocabulary) - 1, 3))
    with pytest.raises(EmbvizError, match="words for"):
        word_pair_spearman(vectors, vocabulary, gensim_test_file(WORDSIM353))
    with pytest.raises(ConfigError, match="does not exist"):
        word_pair_spearman(np.ones((1, 3)), ["a"], tmp_path / "missing.tsv")
    binary = tmp_path / "binary.tsv"
    binary.write_bytes(b"\xff\xfe\x00a\tb\t1\n")
    with pytest.raises(ConfigError, match="UTF-8"):
        word_pair_spearman(np.ones((1, 3)), ["a"], binary)
    with pytest.raises(ConfigError, match="restrict_vocab"):
        WordIndex.from_words(["a"], restrict_vocab=0)
    headless = tmp_path / "headless.txt"
    headless.write_text("a b c d\n", encoding="utf8")
    with pytest.raises(ConfigError, match="section"):
        analogy_accuracy(np.ones((1, 3)), ["a"], headless)
    with pytest.raises(EmbvizError, match="does not ship"):
        gensim_test_file("no-such-benchmark.txt")
