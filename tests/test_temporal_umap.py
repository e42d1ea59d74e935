from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from embviz.layout.temporal_umap import neighbourhood_overlap, optimise_jointly
from embviz.measure.metrics import knn_graph, knn_purity


def test_neighbourhood_overlap_is_row_jaccard() -> None:
    g = sp.csr_matrix(np.array([[0, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0], [0, 0.5, 0, 0]]))
    h = sp.csr_matrix(np.array([[0, 0, 1, 1], [1, 0, 0, 0], [0, 0, 0, 0], [1, 0, 1, 0]]))
    np.testing.assert_allclose(neighbourhood_overlap(g, h), [1 / 3, 1.0, 1.0, 0.0])
    np.testing.assert_allclose(neighbourhood_overlap(g, g), 1.0)


def _graphs_and_labels(frames: int = 4, n: int = 120, clusters: int = 4):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from umap.umap_ import find_ab_params, fuzzy_simplicial_set
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(clusters, 10)) * 4
    labels = [f"c{i % clusters}" for i in range(n)]
    base = centres[np.arange(n) % clusters]
    graphs = []
    for _ in range(frames):
        x = base + rng.normal(size=base.shape)
        idx, dist = knn_graph(x, 10, "cosine")
        graph, _, _ = fuzzy_simplicial_set(x, 10, np.random.RandomState(0), "cosine", knn_indices=idx, knn_dists=dist)
        graphs.append(graph)
    a, b = find_ab_params(1.0, 0.1)
    # independent random starting layouts, one per frame, as unaligned per-frame fits would give
    inits = rng.uniform(0, 10, size=(frames, n, 2))
    return graphs, labels, inits, a, b


def _displacement(y: np.ndarray) -> float:
    """Mean word displacement between consecutive frames ÷ RMS spread, averaged over frame pairs."""
    return float(np.mean([np.linalg.norm(q - p, axis=1).mean() / np.sqrt(((q - q.mean(0)) ** 2).sum(1).mean())
                          for p, q in zip(y[:-1], y[1:])]))


@pytest.mark.slow
def test_ties_between_frames_steady_the_film_and_keep_the_clusters() -> None:
    graphs, labels, inits, a, b = _graphs_and_labels()
    free = optimise_jointly(inits, graphs, a=a, b=b, n_epochs=200, strength=1e-9)
    tied = optimise_jointly(inits, graphs, a=a, b=b, n_epochs=200, strength=0.05)
    assert tied.shape == (4, 120, 2) and tied.dtype == np.float64 and np.isfinite(tied).all()
    assert _displacement(tied) < 0.5 * _displacement(free)
    for frame in tied:
        assert knn_purity(frame, labels, k=10) > 0.9


def test_joint_optimisation_is_deterministic_and_leaves_its_input_alone() -> None:
    graphs, _, inits, a, b = _graphs_and_labels(frames=2, n=60)
    before = inits.copy()
    reports = []
    one = optimise_jointly(inits, graphs, a=a, b=b, n_epochs=20, seed=3, progress=lambda d, t: reports.append((d, t)))
    two = optimise_jointly(inits, graphs, a=a, b=b, n_epochs=20, seed=3)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(inits, before)
    assert reports[-1] == (20, 20) and len(reports) == 20


def test_frames_without_edges_are_left_where_they_are() -> None:
    inits = np.random.default_rng(0).uniform(size=(2, 3, 2))
    empty = [sp.csr_matrix((3, 3)), sp.csr_matrix((3, 3))]
    np.testing.assert_allclose(optimise_jointly(inits, empty, a=1.6, b=0.9, n_epochs=5), inits.astype(np.float32))
