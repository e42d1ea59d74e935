"""How semantic an embedding space is and how it moves: kNN purity, silhouette, neighbour Jaccard,
linear CKA, drift; and how faithfully a 2-D layout keeps it: purity in the layout, trustworthiness.

Similarities in the space are cosine throughout; a zero row has cosine 0 with every row. Neighbours
in a 2-D layout are euclidean, as the eye sees them. The word-similarity and
analogy scores are in :mod:`embviz.measure.gensim_eval`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import silhouette_score

from embviz.errors import ConfigError, EmbvizError
from embviz.measure.align import procrustes_rotation
from embviz.measure.checks import check_matrix, check_pair

BLOCK_ELEMENTS = 1 << 22
"""Largest similarity block computed at once (4 Mi float64 values, 32 MiB)."""


def unit_rows(x) -> np.ndarray:
    """Rows of ``x`` scaled to unit length; zero rows stay zero.

    Parameters
    ----------
    x : array, shape [n, d]

    Returns
    -------
    ndarray, float64, shape [n, d]
    """
    x = check_matrix(x, "x")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def cosine_knn(x, k: int, queries: np.ndarray | None = None) -> np.ndarray:
    """Indices of each row's ``k`` most cosine-similar other rows: :func:`knn` with ``metric="cosine"``."""
    return knn(x, k, "cosine", queries)


def knn(x, k: int, metric: str = "cosine", queries: np.ndarray | None = None) -> np.ndarray:
    """Indices of each row's ``k`` nearest other rows, by cosine similarity or euclidean distance.

    The score matrix is computed in row blocks, so memory stays bounded for large n,
    in float32 for float32 (or narrower) input and in float64 otherwise.

    Parameters
    ----------
    x : array, shape [n, d]
    k : int
        1 <= k <= n - 1.
    metric : {"cosine", "euclidean"}
        Euclidean is what a 2-D layout shows: a word's neighbours are the points drawn nearest to it.
    queries : int array, shape [m], optional
        The rows whose neighbours (among all n rows) are wanted; default every row.

    Returns
    -------
    ndarray, int64, shape [n, k] (or [m, k])
        Neighbours, nearest first; a row is never its own neighbour.
    """
    return nearest(x, k, metric, queries=queries)[0]


def nearest(x, k: int, metric: str = "cosine", dtype=None,
            queries: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`knn` with the scores it ranks by: ``(indices int64 [m, k], scores [m, k])``, nearest first,
    for the rows ``queries`` [m] (default all n).

    A score is the cosine similarity, or for euclidean ``x_i·x_j - |x_j|²/2`` (``|x_i - x_j|² =
    |x_i|² - 2·score``). ``dtype`` is the precision (None: float32 for float32 or narrower input,
    float64 otherwise).
    """
    if dtype is None:
        dtype = np.result_type(np.asarray(x).dtype, np.float32)
    if metric == "cosine":
        y = unit_rows(x).astype(dtype, copy=False)
        bias = np.zeros(y.shape[0], dtype=dtype)
    elif metric == "euclidean":
        y = check_matrix(x, "x").astype(dtype, copy=False)
        bias = -0.5 * (y * y).sum(axis=1)  # x·y - |y|²/2 orders rows as -|x - y|² does
    else:
        raise ConfigError(f"unknown metric {metric!r}; choose cosine or euclidean")
    n = y.shape[0]
    if not 1 <= k <= n - 1:
        raise ConfigError(f"k must be between 1 and {n - 1} for {n} rows, got {k}")
    queries = np.arange(n) if queries is None else np.asarray(queries, dtype=np.int64)
    m = queries.size
    block = max(1, BLOCK_ELEMENTS // n)
    out = np.empty((m, k), dtype=np.int64)
    scores = np.empty((m, k), dtype=dtype)
    for start in range(0, m, block):
        stop = min(start + block, m)
        sims = y[queries[start:stop]] @ y.T + bias
        rows = np.arange(stop - start)
        sims[rows, queries[start:stop]] = -np.inf
        out[start:stop], scores[start:stop] = top_k(sims, k)
    return out, scores


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` highest of each row of ``scores`` [m, n]: ``(columns int64 [m, k], scores [m, k])``, highest first."""
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    top_scores = np.take_along_axis(scores, top, axis=1)
    order = np.argsort(-top_scores, axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1), np.take_along_axis(top_scores, order, axis=1)


def knn_graph(x, k: int, metric: str = "cosine") -> tuple[np.ndarray, np.ndarray]:
    """Every row's ``k`` nearest rows, itself first at distance 0, in umap's ``precomputed_knn`` layout.

    Computed in float64 (:func:`nearest`). Returns ``(indices int32 [n, k], distances float32 [n, k])``,
    nearest first; cosine distance is 1 - cos (a zero row is at distance 1 from all), euclidean the L2
    distance.
    """
    x = check_matrix(x, "x")
    n = x.shape[0]
    k = min(k, n)
    indices = np.empty((n, k), dtype=np.int32)
    dists = np.zeros((n, k), dtype=np.float32)
    indices[:, 0] = np.arange(n)
    if k > 1:
        others, scores = nearest(x, k - 1, metric, dtype=np.float64)
        if metric == "cosine":
            d = 1.0 - scores
        else:
            d = np.sqrt(np.maximum((x * x).sum(axis=1)[:, None] - 2.0 * scores, 0.0))
        indices[:, 1:] = others
        dists[:, 1:] = np.maximum(d, 0.0)
    return indices, dists


def labelled(labels, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows that carry a label (not None, not empty) [N] and their integer category codes [N]."""
    labels = list(labels)
    if len(labels) != n:
        raise EmbvizError(f"got {len(labels)} labels for {n} vectors")
    rows = np.array([i for i, lab in enumerate(labels) if lab is not None and lab != ""], dtype=np.int64)
    _, codes = np.unique(np.array([str(labels[i]) for i in rows], dtype=object), return_inverse=True)
    return rows, codes.astype(np.int64).ravel()


def knn_purity(x, labels: Sequence[str | None], k: int = 10, metric: str = "cosine") -> float:
    """Mean share of a labelled word's nearest labelled neighbours that share its category.

    Only labelled words take part, as points and as neighbours. A word counts when its
    category has at least 2 members; it looks at ``k_i = min(k, n_c - 1)`` neighbours.

    Parameters
    ----------
    x : array, shape [n, d]
    labels : sequence of str or None, length n
        Category per row; None or "" for an unlabelled row.
    k : int
    metric : {"cosine", "euclidean"}
        How neighbours are found (:func:`knn`); euclidean for a 2-D layout.

    Returns
    -------
    float in [0, 1]; nan when no category has 2 members.
    """
    x = check_matrix(x, "x", dtype=None)
    if k < 1:
        raise ConfigError(f"k must be at least 1, got {k}")
    rows, codes = labelled(labels, x.shape[0])
    if rows.size < 2:
        return float("nan")
    return neighbour_purity(knn(x[rows], min(k, rows.size - 1), metric), codes, k)


def neighbour_purity(neighbours: np.ndarray, codes: np.ndarray, k: int = 10) -> float:
    """:func:`knn_purity` from the labelled rows' neighbour lists [N, >= min(k, N - 1)] (from
    :func:`knn` on the labelled rows) and their category codes [N] (from :func:`labelled`).

    The neighbour lists do not depend on the labels, so one search serves every category level.
    """
    sizes = np.bincount(codes) if codes.size else np.zeros(0, dtype=np.int64)
    counted = sizes[codes] >= 2
    if not counted.any():
        return float("nan")
    k_i = np.minimum(k, sizes[codes] - 1)
    same = codes[neighbours] == codes[:, None]
    within = np.arange(neighbours.shape[1])[None, :] < k_i[:, None]
    purity = (same & within).sum(axis=1)[counted] / k_i[counted]
    return float(purity.mean())


def purity_chance(labels: Sequence[str | None]) -> float:
    """Expected :func:`knn_purity` of random vectors, for any ``k``.

    A word of a category with ``n_c`` members among ``N`` labelled words expects a share
    ``(n_c - 1) / (N - 1)`` of same-category neighbours, averaged as in :func:`knn_purity`.

    Parameters
    ----------
    labels : sequence of str or None

    Returns
    -------
    float in [0, 1]; nan when no category has 2 members.
    """
    labels = list(labels)
    _, codes = labelled(labels, len(labels))
    sizes = np.bincount(codes) if codes.size else np.zeros(0, dtype=np.int64)
    per_word = sizes[codes]
    counted = per_word >= 2
    if not counted.any():
        return float("nan")
    return float(((per_word[counted] - 1) / (codes.size - 1)).mean())


def cosine_distances(x) -> np.ndarray:
    """1 - cos between every two rows of ``x`` [n, d], clipped to [0, 2], zero diagonal -> [n, n]."""
    unit = unit_rows(x)
    distances = np.clip(1.0 - unit @ unit.T, 0.0, 2.0)
    np.fill_diagonal(distances, 0.0)
    return distances


def trustworthiness(distances: np.ndarray, layout, k: int = 10) -> float:
    """scikit-learn's trustworthiness@k of a layout: 1 when each point's ``k`` nearest points in the layout
    (euclidean) are among its ``k`` nearest in the space, lower as the layout brings in strangers.

    Parameters
    ----------
    distances : array, shape [n, n]
        The space's distances (:func:`cosine_distances`).
    layout : array, shape [n, m]
    k : int
        Lowered to below n / 2 when n is small (scikit-learn's limit).

    Returns
    -------
    float in [0, 1] (about 0.5 for a random layout); nan for fewer than 3 points.
    """
    from sklearn.manifold import trustworthiness as sklearn_trustworthiness

    n = distances.shape[0]
    k = min(k, (n - 1) // 2)
    if k < 1:
        return float("nan")
    return float(sklearn_trustworthiness(distances, check_matrix(layout, "layout"), n_neighbors=k,
                                         metric="precomputed"))


def category_silhouette(x, labels: Sequence[str | None]) -> float:
    """Silhouette score of the labelled rows by category (cosine distance, scikit-learn).

    Parameters
    ----------
    x : array, shape [n, d]
    labels : sequence of str or None, length n

    Returns
    -------
    float in [-1, 1]; nan with fewer than 2 categories or as many categories as words.
    """
    x = check_matrix(x, "x")
    rows, codes = labelled(labels, x.shape[0])
    return distance_silhouette(cosine_distances(x[rows]), codes)


def distance_silhouette(distances: np.ndarray, codes: np.ndarray) -> float:
    """:func:`category_silhouette` from the labelled rows' distances [N, N] (:func:`cosine_distances`)
    and category codes [N]; nan with fewer than 2 categories or as many categories as words."""
    n_categories = np.unique(codes).size
    if n_categories < 2 or n_categories >= codes.size:
        return float("nan")
    return float(silhouette_score(distances, codes, metric="precomputed"))


def neighbour_jaccard(a, b, k: int = 10) -> np.ndarray:
    """Per-word Jaccard index of the cosine k-NN sets in two spaces over the same words.

    Parameters
    ----------
    a : array, shape [n, d1]
    b : array, shape [n, d2]
    k : int
        1 <= k <= n - 1.

    Returns
    -------
    ndarray, shape [n], values in [0, 1]
    """
    a, b = check_matrix(a, "a", dtype=None), check_matrix(b, "b", dtype=None)
    if a.shape[0] != b.shape[0]:
        raise EmbvizError(f"a and b differ in row count: {a.shape[0]} vs {b.shape[0]}")
    return knn_jaccard(cosine_knn(a, k), cosine_knn(b, k))


def knn_jaccard(knn_a: np.ndarray, knn_b: np.ndarray) -> np.ndarray:
    """Per-row Jaccard index of two neighbour lists [n, k] (rows of distinct indices) -> [n]."""
    k = knn_a.shape[1]
    both = np.sort(np.concatenate([knn_a, knn_b], axis=1), axis=1)
    shared = (both[:, 1:] == both[:, :-1]).sum(axis=1)
    return shared / (2 * k - shared)


def jaccard_chance(n: int, k: int = 10) -> float:
    """About the expected :func:`knn_jaccard` of two unrelated neighbour lists of ``k`` among ``n - 1``
    others: ``k / (2(n - 1) - k)``, the expected overlap ``k² / (n - 1)`` over the union; nan when ``k >= n - 1``."""
    k = min(k, n - 1)
    return k / (2 * (n - 1) - k) if 0 < k < n - 1 else float("nan")


def linear_cka(a, b) -> float:
    """Linear centred kernel alignment (Kornblith et al., 2019) between two spaces.

    ``||B'^T A'||_F^2 / (||A'^T A'||_F ||B'^T B'||_F)`` with column-centred ``A'``, ``B'``.

    Parameters
    ----------
    a : array, shape [n, d1]
    b : array, shape [n, d2]

    Returns
    -------
    float in [0, 1]; nan when either space is constant.
    """
    a, b = check_matrix(a, "a"), check_matrix(b, "b")
    if a.shape[0] != b.shape[0]:
        raise EmbvizError(f"a and b differ in row count: {a.shape[0]} vs {b.shape[0]}")
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    denominator = np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b)
    if denominator == 0:
        return float("nan")
    return float(np.linalg.norm(b.T @ a) ** 2 / denominator)


def drift(prev, cur) -> float:
    """Mean cosine distance between each row of ``cur`` and its row in ``prev`` rotated onto ``cur``.

    Parameters
    ----------
    prev, cur : array, shape [n, d]
        Two snapshots of the same words.

    Returns
    -------
    float in [0, 2]; 0 when ``cur`` is an orthogonal transform of ``prev``.
    """
    prev, cur = check_pair(prev, cur, ("prev", "cur"))
    aligned = prev @ procrustes_rotation(prev, cur)
    cosines = (unit_rows(aligned) * unit_rows(cur)).sum(axis=1)
    return float(np.mean(1.0 - cosines))
