import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ortho_group
from sklearn.metrics import silhouette_score

from embviz.errors import ConfigError, EmbvizError
from embviz.measure import metrics
from embviz.measure.metrics import (
    category_silhouette,
    cosine_distances,
    cosine_knn,
    drift,
    knn,
    knn_graph,
    knn_purity,
    linear_cka,
    neighbour_jaccard,
    purity_chance,
    trustworthiness,
    unit_rows,
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
    monkeypatch.setattr(metrics, "BLOCK_ELEMENTS", block_elements)
    x = np.random.default_rng(0).normal(size=(300, 12))
    np.testing.assert_array_equal(cosine_knn(x.astype(dtype), 7), _brute_knn(x, 7))


@pytest.mark.parametrize("block_elements", [1 << 22, 7])
def test_euclidean_knn_equals_scikit_learns(monkeypatch, block_elements):
    from sklearn.neighbors import NearestNeighbors

    monkeypatch.setattr(metrics, "BLOCK_ELEMENTS", block_elements)
    x = np.random.default_rng(2).normal(size=(200, 2)) * 50 + 1000  # far from the origin: cosine would fail here
    expected = NearestNeighbors(n_neighbors=10).fit(x).kneighbors(return_distance=False)
    np.testing.assert_array_equal(knn(x, 10, "euclidean"), expected)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_knn_graph_matches_brute_force_with_itself_first(monkeypatch, metric) -> None:
    from sklearn.metrics import pairwise_distances

    monkeypatch.setattr(metrics, "BLOCK_ELEMENTS", 16 * 70)  # several blocks
    x, _ = _clusters(3, sizes=(20, 20, 30), d=6, noise=0.5)
    x[5] = 0.0  # a zero row: cosine distance 1 from everything
    full = pairwise_distances(x, metric=metric)
    np.fill_diagonal(full, 0.0)
    idx, dist = knn_graph(x.astype(np.float32), 8, metric)  # float64 inside, whatever the input
    assert idx.shape == dist.shape == (70, 8) and idx.dtype == np.int32 and dist.dtype == np.float32
    assert (idx[:, 0] == np.arange(70)).all() and (dist[:, 0] == 0).all()
    np.testing.assert_allclose(dist, np.sort(full, axis=1)[:, :8], atol=1e-5)
    np.testing.assert_allclose(dist, np.take_along_axis(full, idx, axis=1), atol=1e-5)
    np.testing.assert_array_equal(idx[:, 1:], knn(x, 7, metric)[:, :7])


def test_a_layout_that_keeps_the_clusters_is_faithful_and_a_scrambled_one_is_not():
    x, labels = _clusters(3, sizes=(20, 20, 20, 20, 20), noise=0.5)
    rng = np.random.default_rng(3)
    # a layout that keeps the clusters: each cluster's own 2-D spot, its points spread as in the space
    spots = {lab: rng.normal(size=2) * 20 for lab in set(labels)}
    kept = np.array([spots[lab] for lab in labels]) + x[:, :2]
    scrambled = kept[rng.permutation(len(labels))]
    distances = cosine_distances(x)
    space = knn_purity(x, labels)
    assert space == pytest.approx(1.0)
    assert knn_purity(kept, labels, metric="euclidean") >= 0.95 * space
    assert trustworthiness(distances, kept) > 0.9
    assert knn_purity(scrambled, labels, metric="euclidean") < purity_chance(labels) + 0.15
    assert trustworthiness(distances, scrambled) < 0.6
    assert np.isnan(trustworthiness(distances[:2, :2], kept[:2]))


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


def test_knn_of_some_rows_is_their_rows_of_the_whole():
    from embviz.measure.metrics import knn

    x = np.random.default_rng(4).normal(size=(700, 8)).astype(np.float32)
    queries = np.array([0, 5, 6, 350, 699])
    for metric in ("cosine", "euclidean"):
        np.testing.assert_array_equal(knn(x, 7, metric, queries), knn(x, 7, metric)[queries])
