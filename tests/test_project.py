"""Projectors and the trajectory cache: shapes, alignment without flips or spins, cache hits."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ortho_group

from embviz.errors import ConfigError, EmbvizError
from embviz.layout.projectors import (
    PCAProjector,
    Projector,
    TSNEProjector,
    UMAPProjector,
    align_to,
    chain_align,
    make_projector,
)
from embviz.layout.trajectory import TrajectoryCache, project_snapshots


def clustered(n: int = 90, d: int = 12, clusters: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, d)) * 4
    return centres[np.arange(n) % clusters] + rng.normal(size=(n, d))


def stability(frames: np.ndarray) -> float:
    """Largest mean displacement between consecutive frames ÷ the layout's RMS spread."""
    worst = 0.0
    for a, b in zip(frames[:-1], frames[1:]):
        spread = np.sqrt(((b - b.mean(axis=0)) ** 2).sum(axis=1).mean())
        worst = max(worst, float(np.linalg.norm(b - a, axis=1).mean() / spread))
    return worst


def spun(x: np.ndarray, t: int, noise: float = 0.01, seed: int = 1) -> list[np.ndarray]:
    """``t`` copies of x, each turned by a random orthogonal matrix of R^d, plus a little noise."""
    rng = np.random.default_rng(seed)
    return [x @ ortho_group.rvs(x.shape[1], random_state=seed + i) + noise * rng.normal(size=x.shape)
            for i in range(t)]


def test_align_to_recovers_a_known_rotation_and_reflection() -> None:
    rng = np.random.default_rng(0)
    target = rng.normal(size=(50, 2))
    angle = 1.1
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    for transform in (rot, rot @ np.diag([1.0, -1.0])):
        moved = target @ transform + np.array([3.0, -2.0])
        np.testing.assert_allclose(align_to(moved, target), target, atol=1e-9)


@pytest.mark.parametrize("align", ["final", "chain", "none"])
def test_pca_trajectory_shape(align: str) -> None:
    mats = [clustered(seed=s) for s in range(4)]
    emb = PCAProjector(align=align).fit(mats).embeddings_
    assert emb.shape == (4, 90, 2)
    assert np.isfinite(emb).all()


def test_pca_final_is_sign_stable_and_order_free() -> None:
    x = clustered()
    frames = [x + 0.05 * np.random.default_rng(s).normal(size=x.shape) for s in range(5)]
    emb = PCAProjector(align="final").fit(frames).embeddings_
    assert stability(emb) < 0.05  # nearby snapshots never flip
    # the same data with negated rows gives the same basis and negated coordinates
    neg = PCAProjector(align="final", metric="euclidean").fit([-f for f in frames]).embeddings_
    pos = PCAProjector(align="final", metric="euclidean").fit(frames).embeddings_
    np.testing.assert_allclose(neg, -pos, atol=1e-9)
    # permuting the words permutes the layout and changes nothing else
    perm = np.random.default_rng(3).permutation(x.shape[0])
    shuffled = PCAProjector(align="final").fit([f[perm] for f in frames]).embeddings_
    np.testing.assert_allclose(shuffled, emb[:, perm], atol=1e-9)


def test_pca_chain_removes_flips_and_spins() -> None:
    frames = spun(clustered(d=8), 6)
    chained = PCAProjector(align="chain").fit(frames).embeddings_
    assert stability(chained) < 0.05
    # final frame is the same as final alignment's final frame (the chain is anchored there)
    final = PCAProjector(align="final").fit(frames).embeddings_
    np.testing.assert_allclose(chained[-1], final[-1], atol=1e-9)


def test_chain_align_anchors() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(size=(30, 2))
    frames = [base @ np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) for a in (0.0, 1.0, 2.0)]
    first = chain_align(frames, anchor="first")
    last = chain_align(frames, anchor="last")
    np.testing.assert_allclose(first[2], frames[0], atol=1e-9)
    np.testing.assert_allclose(last[0], frames[2], atol=1e-9)


def test_cosine_pca_ignores_row_norms() -> None:
    x = clustered()
    scales = np.random.default_rng(0).uniform(0.1, 10, size=(x.shape[0], 1))
    a = PCAProjector(metric="cosine").fit([x, x]).embeddings_
    b = PCAProjector(metric="cosine").fit([x * scales, x * scales]).embeddings_
    np.testing.assert_allclose(a, b, atol=1e-9)


def test_projector_contract_and_errors() -> None:
    p = make_projector("pca", align="chain", metric="euclidean")
    assert p.get_params() == {"align": "chain", "metric": "euclidean"}
    assert "PCAProjector" in repr(p)
    with pytest.raises(ConfigError):
        make_projector("isomap")
    with pytest.raises(ConfigError):
        PCAProjector(align="sideways")
    with pytest.raises(ConfigError):
        PCAProjector(metric="manhattan")
    with pytest.raises(ConfigError):
        UMAPProjector(mode="parallel")
    with pytest.raises(EmbvizError, match="shape"):
        PCAProjector().fit([clustered(), clustered()[:, :5]])
    with pytest.raises(EmbvizError, match="nan"):
        bad = clustered()
        bad[0, 0] = np.nan
        PCAProjector().fit([bad])


def test_tsne_warm_chain_is_stable() -> None:
    x = clustered(n=60, d=8)
    frames = [x + 0.05 * np.random.default_rng(s).normal(size=x.shape) for s in range(3)]
    emb = TSNEProjector(perplexity=10, max_iter=500).fit(frames).embeddings_
    assert emb.shape == (3, 60, 2)
    assert stability(emb) < 0.2  # a converged first frame, then warm frames barely move


def test_umap_warm_chain_is_stable() -> None:
    x = clustered(n=80, d=8)
    frames = [x + 0.05 * np.random.default_rng(s).normal(size=x.shape) for s in range(3)]
    emb = UMAPProjector(mode="chain", n_neighbors=10, n_epochs=100, warm_epochs=30).fit(frames).embeddings_
    assert emb.shape == (3, 80, 2)
    assert stability(emb) < 0.35


class CountingPCA(PCAProjector):
    fits = 0

    def fit(self, matrices, progress=None):
        CountingPCA.fits += 1
        return super().fit(matrices, progress)


def _describe(n: int) -> list[dict]:
    return [{"file": f"step-{i:08d}.npy", "step": i, "size": 100, "mtime_ns": 1} for i in range(n)]


def test_cache_hit_miss_and_corruption(tmp_path) -> None:
    mats = [clustered(seed=s) for s in range(3)]
    rows = list(range(90))
    words = [f"w{i}" for i in rows]
    cache = TrajectoryCache(tmp_path)
    CountingPCA.fits = 0
    first = project_snapshots(CountingPCA(), mats, rows, words, _describe(3), cache)
    second = project_snapshots(CountingPCA(), lambda: pytest.fail("matrices loaded on a cache hit"), rows, words,
                               _describe(3), cache)
    assert CountingPCA.fits == 1 and not first.cached and second.cached
    np.testing.assert_array_equal(first.positions, second.positions)
    # another alignment, another word list or a changed snapshot file all miss
    project_snapshots(CountingPCA(align="chain"), mats, rows, words, _describe(3), cache)
    project_snapshots(CountingPCA(), [m[:-1] for m in mats], rows[:-1], words[:-1], _describe(3), cache)
    changed = _describe(3)
    changed[1]["mtime_ns"] = 2
    project_snapshots(CountingPCA(), mats, rows, words, changed, cache)
    assert CountingPCA.fits == 4
    # a corrupt cache entry is recomputed, not trusted
    for npy in (tmp_path / "projections").glob("pca-*.npy"):
        npy.write_bytes(b"garbage")
    again = project_snapshots(CountingPCA(), mats, rows, words, _describe(3), cache)
    assert not again.cached and CountingPCA.fits == 5
    assert isinstance(CountingPCA(), Projector)
