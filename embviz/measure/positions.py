"""How ordered a position table is, and how far an untied head agrees with the input table.

A learned position table ``[context, d]`` starts as noise and, as the model learns order, becomes a
smooth curve (GPT-2's is a helix). Three numbers per snapshot say how far it got:

- ``adjacent``: the share of positions whose nearest other position, by cosine, is i - 1 or i + 1
  (chance on random vectors: about 2 / (context - 1));
- ``order``: the Spearman correlation between |i - j| and the cosine distance over all pairs i < j
  (about 0 on random vectors, near 1 on a smooth curve);
- ``top3``: the share of the (centred) table's variance in its first three principal components.

:func:`head_agreement` compares an untied head ``[V, d]`` with the input table ``[V, d]``: linear CKA
and the mean Jaccard overlap of the two spaces' 10-nearest-neighbour lists.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import spearmanr

from embviz.measure.metrics import cosine_distances, knn, knn_jaccard, linear_cka

POSITION_MEASURES = ("adjacent", "order", "top3")


@dataclass(frozen=True)
class PositionOrder:
    """The three measures of one position table (see the module docstring)."""

    adjacent: float
    order: float
    top3: float


def position_order(table) -> PositionOrder:
    """Neighbour order and top-3 variance share of a position table ``[context, d]`` (context >= 3)."""
    x = np.asarray(table, dtype=np.float64)
    n = x.shape[0]
    nearest = knn(x, 1)[:, 0]
    adjacent = float(np.mean(np.abs(nearest - np.arange(n)) == 1))
    i, j = np.triu_indices(n, k=1)
    order = float(spearmanr(j - i, cosine_distances(x)[i, j]).statistic)
    s = np.linalg.svd(x - x.mean(axis=0), compute_uv=False) ** 2
    top3 = float(s[:3].sum() / s.sum()) if s.sum() > 0 else float("nan")
    return PositionOrder(adjacent, order, top3)


def head_agreement(head, token, k: int = 10) -> tuple[float, float]:
    """Linear CKA and mean Jaccard@k of neighbour lists between an output head and the input table, both [V, d]."""
    k = min(k, len(token) - 1)
    return linear_cka(head, token), float(knn_jaccard(knn(head, k), knn(token, k)).mean())
