"""Joint optimisation of a sequence of UMAP layouts, each word tied to itself in nearby frames.

The objective is AlignedUMAP's (McInnes 2021, umap-learn ``AlignedUMAP``): every frame's own UMAP
cross-entropy (attraction along its fuzzy graph's edges, repulsion from negative samples), plus a
pull of each word towards its positions in the frames up to ``window`` snapshots away,

    pull_t,s[i] = strength · exp(1 − |t − s|) · J_t,s[i],

where ``J_t,s[i]`` is the Jaccard overlap of word i's graph neighbourhoods in frames t and s — a
word whose neighbours changed is held loosely, one whose neighbours stayed is held firmly.
Frames start from given layouts (the warm chain), so a short run suffices; umap-learn's own
optimiser would start every frame from a spectral layout and loops over all frames' edges in one
numba function per epoch.

numba is imported with this module, which is imported only for UMAP films.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numba
import numpy as np
import scipy.sparse as sp

NEGATIVE_SAMPLE_RATE = 5.0


@numba.njit(fastmath=True, cache=True)
def _clip(v):
    return 4.0 if v > 4.0 else (-4.0 if v < -4.0 else v)


@numba.njit(fastmath=True, cache=True)
def _epoch(y, head, tail, epochs_per_sample, next_sample, next_negative, a, b, alpha, epoch, target, pull, state):
    """One epoch of UMAP SGD on layout ``y`` [n, 2] in place, each update also pulled towards
    ``target`` [n, 2] with weight ``pull`` [n]. Edge arrays are [E]; returns the new rng state."""
    n = y.shape[0]
    for i in range(head.shape[0]):
        if next_sample[i] > epoch:
            continue
        j = head[i]
        k = tail[i]
        d2 = (y[j, 0] - y[k, 0]) ** 2 + (y[j, 1] - y[k, 1]) ** 2
        coeff = -2.0 * a * b * d2 ** (b - 1.0) / (a * d2 ** b + 1.0) if d2 > 0.0 else 0.0
        for d in range(2):
            g = _clip(coeff * (y[j, d] - y[k, d]))
            gj = g - pull[j] * (y[j, d] - target[j, d])
            gk = -g - pull[k] * (y[k, d] - target[k, d])
            y[j, d] += _clip(gj) * alpha
            y[k, d] += _clip(gk) * alpha
        next_sample[i] += epochs_per_sample[i]
        per_negative = epochs_per_sample[i] / NEGATIVE_SAMPLE_RATE
        n_negative = int((epoch - next_negative[i]) / per_negative)
        for _ in range(n_negative):
            state = (state * 6364136223846793005 + 1442695040888963407) & 0x7FFFFFFFFFFFFFFF
            k = (state >> 17) % n
            if k == j:
                continue
            d2 = (y[j, 0] - y[k, 0]) ** 2 + (y[j, 1] - y[k, 1]) ** 2
            coeff = 2.0 * b / ((0.001 + d2) * (a * d2 ** b + 1.0)) if d2 > 0.0 else 0.0
            for d in range(2):
                g = _clip(coeff * (y[j, d] - y[k, d])) - pull[j] * (y[j, d] - target[j, d])
                y[j, d] += _clip(g) * alpha
        next_negative[i] += n_negative * per_negative
    return state


def neighbourhood_overlap(g: sp.csr_matrix, h: sp.csr_matrix) -> np.ndarray:
    """Jaccard overlap [n] of each row's non-zero columns in two graphs [n, n]."""
    g = (g != 0).astype(np.float32)
    h = (h != 0).astype(np.float32)
    both = np.asarray(g.multiply(h).sum(axis=1)).ravel()
    union = np.asarray(g.sum(axis=1)).ravel() + np.asarray(h.sum(axis=1)).ravel() - both
    return np.where(union > 0, both / np.maximum(union, 1), 1.0)


def _edges(graph: sp.spmatrix, n_epochs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(head, tail, epochs_per_sample) of a fuzzy graph, edges below max/n_epochs dropped (as umap)."""
    coo = graph.tocoo()
    top = coo.data.max(initial=0.0)
    keep = coo.data >= top / n_epochs
    return (coo.row[keep].astype(np.int64), coo.col[keep].astype(np.int64), top / coo.data[keep].astype(np.float64))


def optimise_jointly(
    layouts: np.ndarray,
    graphs: Sequence[sp.spmatrix],
    *,
    a: float,
    b: float,
    n_epochs: int = 100,
    strength: float = 0.02,
    window: int = 2,
    learning_rate: float = 1.0,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Refine layouts [T, n, 2] (one per graph [n, n]) together; returns new layouts [T, n, 2] float64.

    ``a``, ``b`` are UMAP's curve parameters for its ``min_dist``; ``learning_rate`` decays
    linearly to 0 over ``n_epochs``, as in umap.
    """
    y = np.array(layouts, dtype=np.float32)
    T, n = y.shape[:2]
    graphs = [sp.csr_matrix(g) for g in graphs]
    edges = [_edges(g, n_epochs) for g in graphs]
    next_sample = [e[2].copy() for e in edges]
    next_negative = [e[2] / NEGATIVE_SAMPLE_RATE for e in edges]
    # ties[t] = list of (s, weight [n]) for every frame s within the window of t
    ties: list[list[tuple[int, np.ndarray]]] = [[] for _ in range(T)]
    for t in range(T):
        for gap in range(1, window + 1):
            if t + gap < T:
                w = strength * np.exp(1.0 - gap) * neighbourhood_overlap(graphs[t], graphs[t + gap])
                ties[t].append((t + gap, w))
                ties[t + gap].append((t, w))
    pull = [sum(w for _, w in ties[t]).astype(np.float32) if ties[t] else np.zeros(n, np.float32) for t in range(T)]
    states = [np.int64(seed * 1_000_003 + t + 1) for t in range(T)]
    for epoch in range(n_epochs):
        alpha = learning_rate * (1.0 - epoch / n_epochs)
        for t in range(T):
            total = np.maximum(pull[t], 1e-12)[:, None]
            target = sum((w[:, None] * y[s] for s, w in ties[t]), np.zeros((n, 2))) / total
            head, tail, per_sample = edges[t]
            states[t] = _epoch(y[t], head, tail, per_sample, next_sample[t], next_negative[t], a, b, alpha,
                               epoch, target.astype(np.float32), pull[t], states[t])
        if progress:
            progress(epoch + 1, n_epochs)
    return y.astype(np.float64)
