"""How alike two spaces over the same words are: linear CKA, Procrustes disparity and each word's
Jaccard@k of its cosine neighbour sets. The core that ``compare-word2vec`` (a run against Word2Vec) and
``compare`` (a run against another run) share: :func:`compare_spaces` measures one pair of spaces,
:func:`neighbour_lists` finds the neighbours of several spaces at once, :func:`nearest_of` one word's and :func:`in_parallel` measures
many pairs (snapshots) side by side.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from embviz.compare.word2vec import available_cores
from embviz.measure.metrics import cosine_knn, knn_jaccard, linear_cka, unit_rows
from embviz.progress import Progress

MAX_THREADS = 4
"""At most this many pairs are measured at once (each on one BLAS thread)."""

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass
class Similarity:
    """How alike two spaces ``a`` [n, d1] and ``b`` [n, d2] are: CKA, Procrustes disparity (nan when not
    measured), each (queried) word's Jaccard@k [n] (or [m]) of its neighbour lists ``knn_a`` / ``knn_b`` [n, k]."""

    linear_cka: float
    procrustes_disparity: float
    k: int
    knn_a: np.ndarray
    knn_b: np.ndarray
    jaccard: np.ndarray


def padded_disparity(a: np.ndarray, b: np.ndarray) -> float:
    """``scipy.spatial.procrustes(a, b)[2]``; the narrower matrix is padded with zero columns."""
    from embviz.measure.align import procrustes_disparity

    width = max(a.shape[1], b.shape[1])
    # (no copy when the widths already agree: at 50,000 x 512 each float64 copy is 200 MB)
    pad = lambda x: x if x.shape[1] == width else np.pad(np.asarray(x, dtype=np.float64),  # noqa: E731
                                                          ((0, 0), (0, width - x.shape[1])))
    return procrustes_disparity(pad(a), pad(b))


def compare_spaces(a: np.ndarray, b: np.ndarray, knn_a: np.ndarray | None = None, knn_b: np.ndarray | None = None,
               *, k: int = 10, disparity: bool = True, queries: np.ndarray | None = None) -> Similarity:
    """CKA, disparity (when ``disparity``) and Jaccard@k of ``a`` [n, d1] and ``b`` [n, d2]; neighbour lists
    [n, k] not given are found here (``k`` lowered to n - 1 for few rows), for the rows ``queries`` [m] alone
    when given (their neighbours among all n rows; Jaccard@k then [m])."""
    k = knn_a.shape[1] if knn_a is not None else knn_b.shape[1] if knn_b is not None else min(k, a.shape[0] - 1)
    knn_a = cosine_knn(a, k, queries) if knn_a is None else knn_a
    knn_b = cosine_knn(b, k, queries) if knn_b is None else knn_b
    return Similarity(linear_cka(a, b), padded_disparity(a, b) if disparity else float("nan"), k, knn_a, knn_b,
                      knn_jaccard(knn_a, knn_b))


def nearest_of(x: np.ndarray, pos: int, count: int, words: list[str]) -> list[dict]:
    """Row ``pos``'s ``count`` most cosine-similar other rows of ``x`` [n, d]: ``[{word, cosine}]``, nearest first."""
    unit = unit_rows(x)
    sims = unit @ unit[pos]
    sims[pos] = -np.inf
    top = np.argsort(-sims, kind="stable")[:count]
    return [{"word": words[j], "cosine": float(sims[j])} for j in top]


def neighbour_lists(spaces: Sequence[np.ndarray], k: int) -> list[np.ndarray]:
    """Each space's cosine k-NN lists [n, k] (``k`` lowered to n - 1), the searches side by side on threads."""
    return in_parallel(lambda x: cosine_knn(x, min(k, x.shape[0] - 1)), spaces, workers=2)


def in_parallel(measure: Callable[[Item], Result], items: Sequence[Item], progress: Progress | None = None,
                stage: str = "snapshots", workers: int = MAX_THREADS) -> list[Result]:
    """``measure(item)`` for every item, in order, on up to ``workers`` threads with one BLAS thread each;
    ``progress(stage, done, total)`` after each.

    numpy releases the GIL in the matrix products and partitions of a k-NN search, so the items overlap
    on the cores; threads inside BLAS threads would oversubscribe them and crawl.
    """
    from threadpoolctl import threadpool_limits

    out: list[Result] = []
    with threadpool_limits(1, user_api="blas"), \
            ThreadPoolExecutor(max_workers=max(1, min(len(items), available_cores(), workers))) as pool:
        for i, result in enumerate(pool.map(measure, items)):
            out.append(result)
            if progress:
                progress(stage, i + 1, len(items))
    return out
