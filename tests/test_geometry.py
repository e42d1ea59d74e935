"""Geometry measures against known answers, and their columns in the emergence table."""

from __future__ import annotations

import numpy as np
import pytest

from embviz.measure import geometry as g
from embviz.measure.emergence import GEOMETRY_PANELS, compute_emergence
from embviz.measure.metrics import jaccard_chance, knn_jaccard


def rotation(d: int, seed: int) -> np.ndarray:
    return np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))[0]


@pytest.mark.parametrize("k", [1, 3, 8])
def test_effective_rank_of_an_identity_block_is_its_size(k):
    x = np.zeros((20, 12))
    x[:k, :k] = np.eye(k)
    assert g.effective_rank(x) == pytest.approx(k)
    assert g.effective_rank(3.7 * x @ rotation(12, k)) == pytest.approx(k)  # scale and rotation do not matter


def test_effective_rank_orders_spectra():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((500, 16))
    assert 15 < g.effective_rank(x) <= 16  # isotropic: nearly full
    assert g.effective_rank(x * np.geomspace(1, 1e-3, 16)) < 8  # a decaying spectrum uses fewer directions
    assert g.effective_rank(np.outer(rng.standard_normal(50), rng.standard_normal(9))) == pytest.approx(1)
    assert np.isnan(g.effective_rank(np.zeros((4, 3))))


def test_anisotropy_is_the_mean_cosine_of_all_pairs():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((60, 5)) + rng.standard_normal(5)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    cos = unit @ unit.T
    brute = cos[~np.eye(60, dtype=bool)].mean()
    assert g.anisotropy(x) == pytest.approx(brute, abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_anisotropy_is_about_zero_for_an_isotropic_gaussian_and_one_for_a_shared_direction(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2000, 32))
    assert abs(g.anisotropy(x)) < 0.005
    shifted = x + 4 * rng.standard_normal(32) / np.sqrt(32) * 3
    assert g.anisotropy(shifted) > 0.8  # one direction shared by every vector
    assert abs(g.anisotropy(shifted, centre=True)) < 0.005  # gone once the mean is removed
    same = np.outer(rng.uniform(1, 2, 50), rng.standard_normal(8))
    assert g.anisotropy(same) == pytest.approx(1)


@pytest.mark.parametrize("true_dim, ambient, tol", [(2, 50, 0.2), (5, 50, 0.6), (1, 20, 0.1)])
def test_twonn_finds_the_dimension_of_a_flat_manifold_in_a_bigger_space(true_dim, ambient, tol):
    rng = np.random.default_rng(true_dim)
    flat = rng.uniform(size=(3000, true_dim))
    basis = rotation(ambient, 7)[:true_dim]
    assert g.twonn_dimension(flat @ basis + 5) == pytest.approx(true_dim, abs=tol)


def test_twonn_ignores_duplicate_points():
    rng = np.random.default_rng(3)
    plane = rng.uniform(size=(2000, 2)) @ rotation(10, 1)[:2]
    assert g.twonn_dimension(np.vstack([plane, plane[:50]])) == pytest.approx(2, abs=0.25)


def test_norm_frequency_spearman_known_answers():
    rng = np.random.default_rng(4)
    counts = rng.permutation(np.arange(1, 301))
    x = rng.standard_normal((300, 8))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    assert g.norm_frequency_spearman(x * np.log1p(counts)[:, None], counts) == pytest.approx(1)
    assert g.norm_frequency_spearman(x / counts[:, None], counts) == pytest.approx(-1)
    assert abs(g.norm_frequency_spearman(x * rng.uniform(1, 2, (300, 1)), counts)) < 0.2  # unrelated: near 0
    assert np.isnan(g.norm_frequency_spearman(x, np.ones(300)))


def test_emergence_tracks_geometry_from_noise_to_structure():
    """Snapshots sliding from isotropic noise to a few shared directions: the effective rank falls,
    anisotropy rises, neighbourhoods settle (Jaccard with the previous snapshot rises), drift from init grows."""
    rng = np.random.default_rng(5)
    n, d, t_count = 300, 16, 6
    noise = rng.standard_normal((n, d))
    centres = rng.standard_normal((3, d)) * 3 + 2
    target = centres[np.arange(n) % 3] + 0.3 * rng.standard_normal((n, d))
    mats = [(1 - a) * noise + a * target for a in np.linspace(0, 1, t_count)]
    counts = rng.integers(1, 1000, n)
    labels = {"category": [f"c{i % 3}" for i in range(n)]}
    table = compute_emergence(mats, labels, list(range(t_count)), frequencies=counts)
    c = table.columns
    assert c["effective_rank"][0] > 14 and c["effective_rank"][-1] < 7
    assert abs(c["anisotropy"][0]) < 0.02 and c["anisotropy"][-1] > 0.25
    assert c["drift_init"][0] == pytest.approx(0, abs=1e-9) and np.all(np.diff(c["drift_init"]) > 0)
    assert np.isnan(c["jaccard10_prev"][0]) and c["jaccard10_prev"][-1] > c["jaccard10_prev"][1]
    assert c["chance_jaccard10"][0] == pytest.approx(jaccard_chance(n, 10))
    assert c["twonn_dim"][0] > 8
    assert np.isfinite(c["norm_freq_spearman"]).all() and np.all(np.abs(c["norm_freq_spearman"]) < 0.25)
    curves, chance = table.curves()
    for key, title in GEOMETRY_PANELS.items():
        assert title in curves
    assert chance["anisotropy (mean cosine)"] == 0.0
    header = table.to_csv().splitlines()[0].split(",")
    assert {"effective_rank", "anisotropy", "anisotropy_centred", "twonn_dim", "norm_freq_spearman", "drift_init",
            "jaccard10_prev"} <= set(header)
    unknown = compute_emergence(mats, labels, list(range(t_count)))
    assert np.isnan(unknown.columns["norm_freq_spearman"]).all()


def test_jaccard_chance_matches_random_neighbour_lists():
    rng = np.random.default_rng(6)
    n, k = 200, 10
    draws = [np.array([rng.choice(np.delete(np.arange(n), i), k, replace=False) for i in range(n)]) for _ in range(2)]
    assert knn_jaccard(*draws).mean() == pytest.approx(jaccard_chance(n, k), rel=0.15)
