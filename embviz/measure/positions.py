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

:func:`position_columns` and :func:`head_columns` give the same per snapshot, as columns of a film's emergence
table (:data:`MATRIX_COLUMNS`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import spearmanr

from embviz.measure.metrics import cosine_distances, knn, knn_jaccard, linear_cka

POSITION_MEASURES = ("adjacent", "order", "top3")
MATRIX_COLUMNS = {"position_adjacent": "positions: nearest is adjacent", "position_order": "positions: Spearman |i−j| ~ distance",
                  "position_top3": "positions: variance share of PC1–3", "head_cka_token": "head ~ token table: linear CKA",
                  "head_jaccard10_token": "head ~ token table: Jaccard@10"}
"""The emergence-table columns of the position table and of an untied head, and their curve panels' titles."""


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


def adjacent_chance(n: int) -> float:
    """Expected ``adjacent`` of random vectors: a nearest neighbour uniform over the n - 1 others hits one of
    the 2 (1 at the ends) adjacent positions with mean probability 2 / n."""
    return 2.0 / n


def position_columns(tables: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """:func:`position_order` of each snapshot's table T x [context, d] as columns [T] ``position_adjacent``,
    ``position_order``, ``position_top3``, and ``chance_position_adjacent`` (:func:`adjacent_chance`)."""
    got = [position_order(x) for x in tables]
    columns = {f"position_{name}": np.array([getattr(o, name) for o in got]) for name in POSITION_MEASURES}
    columns["chance_position_adjacent"] = np.full(len(got), adjacent_chance(len(tables[0])))
    return columns


def head_columns(heads: Sequence[np.ndarray], tokens: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """:func:`head_agreement` of each snapshot's head rows T x [n, d] with the same rows of its token table, as
    columns [T] ``head_cka_token`` and ``head_jaccard10_token``."""
    got = np.array([head_agreement(h, t) for h, t in zip(heads, tokens)])
    return {"head_cka_token": got[:, 0], "head_jaccard10_token": got[:, 1]}
