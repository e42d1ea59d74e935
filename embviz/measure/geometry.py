"""The shape of an embedding space, from the representation-geometry literature: how many directions
it uses, how much its vectors share one direction, its intrinsic dimension, and how a word's norm
follows its frequency. docs/metrics.md gives each definition, its reference and its chance level.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from embviz.errors import EmbvizError
from embviz.measure.checks import check_matrix
from embviz.measure.metrics import unit_rows


def effective_rank(x) -> float:
    """Roy & Vetterli (2007): ``exp(H(p))`` with ``p = σ / Σσ`` the normalised singular values.

    Parameters
    ----------
    x : array, shape [n, d]

    Returns
    -------
    float in [1, min(n, d)]; nan for a zero matrix. k for any matrix with k equal non-zero singular values.
    """
    s = np.linalg.svd(check_matrix(x, "x"), compute_uv=False)
    total = s.sum()
    if total == 0:
        return float("nan")
    p = s[s > 0] / total
    return float(np.exp(-(p * np.log(p)).sum()))


def anisotropy(x, centre: bool = False) -> float:
    """Mean cosine similarity of two different rows (every pair, computed exactly in O(n d)):
    ``(‖Σ x̂_i‖² − m) / (m (m − 1))`` over the ``m`` non-zero rows. With ``centre`` the column means
    are subtracted first, so a direction all vectors share no longer counts.

    Parameters
    ----------
    x : array, shape [n, d]

    Returns
    -------
    float in [-1/(m-1), 1]; about 0 for isotropic vectors, 1 when all rows point the same way;
    nan with fewer than 2 non-zero rows.
    """
    x = check_matrix(x, "x")
    if centre:
        x = x - x.mean(axis=0)
    unit = unit_rows(x)
    m = int((np.abs(unit).sum(axis=1) > 0).sum())
    if m < 2:
        return float("nan")
    total = unit.sum(axis=0)
    return float((total @ total - m) / (m * (m - 1)))


def twonn_dimension(x) -> float:
    """Intrinsic dimension by TwoNN (Facco et al., 2017), maximum-likelihood form.

    With ``r1``, ``r2`` each point's Euclidean distances to its two nearest neighbours,
    ``μ = r2 / r1`` is Pareto-distributed with exponent ``d``, so ``d = N / Σ log μ`` over the ``N``
    distinct points (a repeated row counts once: its copies' rounding-sized distances would count as
    nearest neighbours).

    Parameters
    ----------
    x : array, shape [n, d], n >= 3

    Returns
    -------
    float > 0; nan with fewer than 3 distinct points.
    """
    from sklearn.neighbors import NearestNeighbors

    x = np.unique(check_matrix(x, "x"), axis=0)
    if x.shape[0] < 3:
        return float("nan")
    distances, _ = NearestNeighbors(n_neighbors=3, algorithm="brute").fit(x).kneighbors(x)
    r1, r2 = distances[:, 1], distances[:, 2]
    ok = r1 > 0
    log_mu = np.log(r2[ok] / r1[ok])
    if ok.sum() < 2 or log_mu.sum() <= 0:
        return float("nan")
    return float(ok.sum() / log_mu.sum())


def norm_frequency_spearman(x, counts) -> float:
    """Spearman ρ between each row's Euclidean norm and its token's corpus count.

    Parameters
    ----------
    x : array, shape [n, d]
    counts : array, shape [n]

    Returns
    -------
    float in [-1, 1]; about 0 for norms unrelated to frequency; nan when either is constant.
    """
    x = check_matrix(x, "x")
    counts = np.asarray(counts, dtype=float)
    if counts.shape != (x.shape[0],):
        raise EmbvizError(f"{counts.size} counts for {x.shape[0]} rows")
    norms = np.linalg.norm(x, axis=1)
    if np.ptp(norms) == 0 or np.ptp(counts) == 0:
        return float("nan")
    return float(stats.spearmanr(norms, counts)[0])
