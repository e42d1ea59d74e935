import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ortho_group
from sklearn.metrics import silhouette_score

from embviz import metrics
from embviz.benchmarks_data import ANALOGIES, SIMLEX999, WORDSIM353, gensim_test_file
from embviz.errors import ConfigError, EmbvizError
from embviz.metrics import (
    WordIndex,
    analogy_accuracy,
    category_silhouette,
    cosine_knn,
    drift,
    knn_purity,
    linear_cka,
    neighbour_jaccard,
    purity_chance,
    unit_rows,
    word_pair_spearman,
)


def _clusters(seed, sizes=(12, 9, 15, 7), d=16, noise=0.01):
    """Points around orthogonal directions, with their category labels."""
    rng = np.random.default_rng(seed)
    centres = ortho_group.rvs(d, random_state=seed)[: len(sizes)] * 5
    x = np.concatenate([c + noise * rng.normal(size=(n, d)) for c, n in zip(centres, sizes)])
    labels = [f"cat{i}" for i, n in enumerate(sizes) for _ in range(n)]
    return x, labels


def _brute_knn(x, k):
    unit = unit_rows(x)
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    return np.argsort(-sims, axis=1, kind="stable")[:, :k]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("block_elements", [1 << 22, 1000, 1])
def test_blocked_knn_equals_brute_force(monkeypatch, block_elements, dtype):
    monkeypatch.setattr(metrics, "_BLOCK_ELEMENTS", block_elements)
    x = np.random.default_rng(0).normal(size=(300, 12))
    np.testing.assert_array_equal(cosine_knn(x.astype(dtype), 7), _brute_knn(x, 7))


def test_knn_excludes_self_and_survives_zero_rows():
    x = np.random.default_rng(1).normal(size=(50, 4))
    x[[3, 10]] = 0.0
    neighbours = cosine_knn(x, 49)
    assert not np.any(neighbours == np.arange(50)[:, None])
    assert all(len(set(row)) == 49 for row in neighbours)
    assert np.isfinite(unit_rows(x)).all()
    with pytest.raises(ConfigError):
        cosine_knn(x, 50)


def test_purity_is_one_on_separated_clusters_with_unlabelled_and_singleton_words():
    x, labels = _clusters(0)
    rng = np.random.default_rng(0)
    x = np.concatenate([x, rng.normal(size=(6, x.shape[1]))])
    labels = labels + [None, "", None, "lonely", None, None]
    assert knn_purity(x, labels, k=10) == 1.0
    assert knn_purity(x, labels, k=50) == 1.0


def test_purity_of_random_vectors_is_near_chance():
    _, labels = _clusters(0, sizes=(40, 30, 20, 10))
    chance = purity_chance(labels)
    scores = [knn_purity(np.random.default_rng(s).normal(size=(100, 16)), labels) for s in range(8)]
    assert all(abs(score - chance) < 0.08 for score in scores)
    assert abs(np.mean(scores) - chance) < 0.03


def test_purity_of_noisy_clusters_lies_between_chance_and_one():
    x, labels = _clusters(2, noise=1.5)
    score = knn_purity(x, labels)
    assert purity_chance(labels) + 0.1 < score < 1.0


def test_purity_chance_matches_a_monte_carlo_estimate():
    labels = ["a"] * 7 + ["b"] * 3 + ["c"] * 12 + ["d"] + [None] * 4
    k = 5
    rng = np.random.default_rng(3)
    codes = np.array([lab for lab in labels if lab is not None])
    n = codes.size
    sizes = {c: int((codes == c).sum()) for c in set(codes)}
    trials = []
    for _ in range(400):
        shares = []
        for i in range(n):
            if sizes[codes[i]] < 2:
                continue
            k_i = min(k, sizes[codes[i]] - 1)
            others = np.delete(np.arange(n), i)
            picked = rng.choice(others, size=k_i, replace=False)
            shares.append(np.mean(codes[picked] == codes[i]))
        trials.append(np.mean(shares))
    standard_error = np.std(trials) / np.sqrt(len(trials))
    assert abs(np.mean(trials) - purity_chance(labels)) < 4 * standard_error


def test_purity_without_a_category_of_two_is_nan():
    assert np.isnan(knn_purity(np.eye(3), ["a", "b", None]))
    assert np.isnan(purity_chance(["a", "b", None]))


def test_silhouette_matches_sklearn_on_labelled_words():
    x, labels = _clusters(4, noise=2.0)
    labels[0] = None
    keep = [i for i, lab in enumerate(labels) if lab is not None]
    expected = silhouette_score(x[keep], [labels[i] for i in keep], metric="cosine")
    assert category_silhouette(x, labels) == pytest.approx(expected)
    clean, clean_labels = _clusters(4)
    assert category_silhouette(clean, clean_labels) > 0.9
    assert np.isnan(category_silhouette(clean, ["a"] * len(clean_labels)))


def test_jaccard_is_one_for_identical_or_rotated_spaces_and_small_for_random():
    rng = np.random.default_rng(5)
    a = rng.normal(size=(200, 10))
    np.testing.assert_allclose(neighbour_jaccard(a, a, k=10), 1.0)
    rotated = 2.0 * a @ ortho_group.rvs(10, random_state=5)
    np.testing.assert_allclose(neighbour_jaccard(a, rotated, k=10), 1.0)
    unrelated = neighbour_jaccard(a, rng.normal(size=(200, 10)), k=10)
    assert unrelated.shape == (200,) and unrelated.mean() < 0.1


def test_cka_is_one_for_a_rotated_scaled_copy_and_small_for_random():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(300, 12))
    q = ortho_group.rvs(12, random_state=6)
    assert linear_cka(x, 0.3 * x @ q) == pytest.approx(1.0)
    assert linear_cka(x, x[:, :8] @ rng.normal(size=(8, 5)) * [1, 1, 1, 1, 20]) < 0.9
    assert linear_cka(x, rng.normal(size=(300, 12))) < 0.1


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), scale=st.floats(0.01, 100.0))
def test_cka_is_invariant_to_orthogonal_maps_and_isotropic_scaling(seed, scale):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(40, 6))
    b = a @ rng.normal(size=(6, 4)) + rng.normal(size=(40, 4))
    q = ortho_group.rvs(4, random_state=seed % (2**31))
    assert linear_cka(a, scale * b @ q) == pytest.approx(linear_cka(a, b), rel=1e-9)


def test_cka_of_constant_space_is_nan_and_rows_must_match():
    assert np.isnan(linear_cka(np.ones((5, 3)), np.eye(5)))
    with pytest.raises(EmbvizError, match="row count"):
        linear_cka(np.ones((5, 3)), np.ones((4, 3)))


def test_drift_is_zero_for_a_rotated_copy_and_grows_with_noise():
    rng = np.random.default_rng(7)
    prev = rng.normal(size=(100, 8))
    cur = prev @ ortho_group.rvs(8, random_state=7)
    assert drift(prev, cur) == pytest.approx(0.0, abs=1e-12)
    small = drift(prev, cur + 0.1 * rng.normal(size=cur.shape))
    large = drift(prev, cur + 1.0 * rng.normal(size=cur.shape))
    assert 0 < small < large
    with pytest.raises(EmbvizError, match="shape"):
        drift(prev, cur[:, :7])


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
