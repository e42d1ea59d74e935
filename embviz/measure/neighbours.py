"""Nearest neighbours of one word at one snapshot in the original d-dimensional space (cosine), read from
memory-mapped snapshots whatever their size: the neighbour engine behind ``explore --serve``.

Two modes (:data:`MODES`), chosen per engine by the size of one snapshot's rows, n words × d:

- ``exact``: the word's row against every row, in float32 blocks of :data:`BLOCK_ROWS` rows read through the
  memory map; nothing of the snapshot is kept, so memory stays at one block;
- ``approximate``: pynndescent's neighbour graph of the snapshot, built on the first query at that snapshot
  (all its rows in float32 for the build), then kept as ``[n, k]`` indices and cosines, the most recently
  used snapshots within ``cache_bytes``.

``auto`` is exact up to :data:`EXACT_CELLS` (n × d) and approximate above: exact costs about 2 ns per
cell per query (75–100 ms at 50,304 × 768 float16 on 2 cores), while the graph of one snapshot of that
size takes minutes to build (``benchmarks/bench_serve.py``), so the approximate mode pays only where a
single exact query would keep a click waiting for seconds.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from embviz.errors import ConfigError
from embviz.measure.metrics import top_k

MODES = ("auto", "exact", "approximate")
BLOCK_ROWS = 2048
"""Rows of a snapshot scored at once in exact mode (6 MB of float32 at d 768)."""
EXACT_CELLS = 1 << 28
"""``auto`` takes the exact mode up to this many cells (n × d) per snapshot: about 0.5 s a query."""
GRAPH_NEIGHBOURS = 30
"""Neighbours per word in the approximate graph (pynndescent's ``n_neighbors``); the first k are answered."""
CACHE_BYTES = 256 * 2**20
"""Default bound on the approximate graphs kept in memory."""

Rows = Callable[[int, np.ndarray], np.ndarray]
"""``read(snapshot, rows [m]) -> float32 [m, d]``: rows of one snapshot (e.g. :meth:`Run.load_snapshot`)."""


class NeighbourEngine:
    """The ``k`` nearest words of one word at one snapshot, among the words ``rows`` [n] (vocabulary rows),
    read through ``read``; words are named by their index in ``rows``.

    Thread-safe: exact queries share nothing; approximate graphs are built once each, under a lock.
    """

    def __init__(self, read: Rows, n_snapshots: int, rows: np.ndarray, dim: int, *, k: int = 10, mode: str = "auto",
                 cache_bytes: int = CACHE_BYTES, seed: int = 0):
        if mode not in MODES:
            raise ConfigError(f"unknown neighbour mode {mode!r}; choose {', '.join(MODES)}")
        self.rows = np.asarray(rows, dtype=np.int64)
        if self.rows.size < 2:
            raise ConfigError(f"neighbours need at least 2 words, got {self.rows.size}")
        self.read, self.n_snapshots, self.dim, self.seed = read, n_snapshots, dim, seed
        self.k = min(k, self.rows.size - 1)
        self.mode = mode if mode != "auto" else "exact" if self.rows.size * dim <= EXACT_CELLS else "approximate"
        self.cache_bytes = cache_bytes
        self._graphs: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()

    def query(self, word: int, snapshot: int) -> tuple[np.ndarray, np.ndarray]:
        """Word ``word``'s neighbours at snapshot ``snapshot``: ``(indices int64 [k], cosines float32 [k])``,
        most similar first, never the word itself. A zero row has cosine 0 with every row."""
        n = self.rows.size
        if not 0 <= word < n:
            raise ConfigError(f"word {word} is not one of the {n:,} words shown (0 to {n - 1})")
        if not 0 <= snapshot < self.n_snapshots:
            raise ConfigError(f"snapshot {snapshot} is out of range (0 to {self.n_snapshots - 1})")
        if self.mode == "exact":
            return self._exact(word, snapshot)
        idx, cos = self._graph(snapshot)
        found = idx[word] >= 0
        return idx[word][found].astype(np.int64), cos[word][found]

    def _exact(self, word: int, snapshot: int) -> tuple[np.ndarray, np.ndarray]:
        q = self.read(snapshot, self.rows[[word]])[0].astype(np.float32)
        norm = np.linalg.norm(q)
        q = q / norm if norm > 0 else q
        cos = np.empty(self.rows.size, dtype=np.float32)
        for start in range(0, self.rows.size, BLOCK_ROWS):
            block = self.read(snapshot, self.rows[start:start + BLOCK_ROWS])
            norms = np.sqrt(np.einsum("ij,ij->i", block, block))
            dots = np.einsum("ij,j->i", block, q)  # one thread: BLAS's threads took 3× longer on a busy machine
            cos[start:start + block.shape[0]] = np.divide(dots, norms, out=np.zeros_like(norms), where=norms > 0)
        cos[word] = -np.inf
        idx, top = top_k(cos[None], self.k)
        return idx[0], top[0]

    def _graph(self, snapshot: int) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            if snapshot in self._graphs:
                self._graphs.move_to_end(snapshot)
                return self._graphs[snapshot]
            graph = self._build(snapshot)
            self._graphs[snapshot] = graph
            while len(self._graphs) > 1 and sum(a.nbytes + b.nbytes for a, b in self._graphs.values()) > self.cache_bytes:
                self._graphs.popitem(last=False)
            return graph

    def _build(self, snapshot: int) -> tuple[np.ndarray, np.ndarray]:
        """pynndescent's graph of one snapshot: ``(indices int32 [n, k], cosines float32 [n, k])``, self left out."""
        from pynndescent import NNDescent

        x = np.concatenate([self.read(snapshot, self.rows[s:s + BLOCK_ROWS])
                            for s in range(0, self.rows.size, BLOCK_ROWS)])
        n = x.shape[0]
        graph = NNDescent(x, metric="cosine", n_neighbors=min(GRAPH_NEIGHBOURS, n), random_state=self.seed,
                          compressed=True)
        found, dist = graph.neighbor_graph
        del graph, x
        keep = (found != np.arange(n)[:, None]) & (found >= 0)
        order = np.argsort(~keep, axis=1, kind="stable")[:, : self.k]  # each row's kept entries first, nearest first
        idx = np.take_along_axis(found, order, axis=1).astype(np.int32)
        cos = (1.0 - np.take_along_axis(dist, order, axis=1)).astype(np.float32)
        short = ~np.take_along_axis(keep, order, axis=1)  # rows whose graph had fewer than k others
        idx[short], cos[short] = -1, np.nan
        return idx, cos
