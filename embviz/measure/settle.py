"""Who settles first: for every word of the vocabulary, the first snapshot after which its neighbourhood stays
close to its final one, and how much of its initial vector it keeps (Papadimitriou & Prince, 2025).

A word's neighbourhood at snapshot t is its ``k`` most cosine-similar other words of the whole vocabulary
(:func:`vocabulary_knn`, exact, in float32 blocks). Its agreement with the end is the Jaccard index of that set
with the final snapshot's, ``J_t``. The word **settles** at the first snapshot ``t`` before the final one from
which ``J_s >= threshold`` for every later snapshot ``s`` before the final one (the final one agrees with itself);
a word whose last ``J`` before the final snapshot is below the threshold never settles.
docs/metrics.md#who-settles-first gives why k = 10 and 0.5, and how little the order depends on them.

``init_cosine`` is the cosine between a word's final and initial (step 0) vector: near 0 for a word that
left its random start, near 1 for one that kept it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
from scipy import stats

from embviz.errors import ConfigError, EmbvizError
from embviz.measure.metrics import knn_jaccard, unit_rows
from embviz.progress import Ticks
from embviz.rundir.files import write_npy
from embviz.rundir.run import PROJECTIONS

K = 10
THRESHOLD = 0.5
BLOCK_ELEMENTS = 1 << 24
"""Largest float32 similarity block computed at once (16 Mi values, 64 MiB): 333 rows of a 50,304-word vocabulary."""


@numba.njit(parallel=True, cache=True)
def _top_k(scores, k, offset, out):  # pragma: no cover - compiled
    """Into ``out`` [b, k] the columns of each row's ``k`` largest ``scores`` [b, n], largest first, skipping
    column ``offset + row`` (the row itself). One pass per row: a value enters only when it beats the
    current k-th, so a row costs about n comparisons."""
    b, n = scores.shape
    for r in numba.prange(b):
        best = np.full(k, -np.inf, dtype=np.float32)
        where = np.full(k, -1, dtype=np.int64)
        low, low_at = np.float32(-np.inf), 0
        own = offset + r
        for j in range(n):
            s = scores[r, j]
            if s > low and j != own:
                best[low_at], where[low_at] = s, j
                low, low_at = best[0], 0
                for q in range(1, k):
                    if best[q] < low:
                        low, low_at = best[q], q
        order = np.argsort(-best, kind="mergesort")
        for q in range(k):
            out[r, q] = where[order[q]]


def vocabulary_knn(x, k: int = K, progress: Ticks | None = None) -> np.ndarray:
    """Each row's ``k`` most cosine-similar other rows, exact, float32: [b, n] blocks of ``x x^T`` (BLAS) and a
    one-pass top-k per row (numba), so memory stays at one block whatever ``n``.

    Parameters
    ----------
    x : array, shape [n, d]
    k : int, 1 <= k <= n - 1

    Returns
    -------
    ndarray, int64, shape [n, k]
        Neighbours, most similar first; a row is never its own neighbour (a zero row has cosine 0 with all).
    """
    y = unit_rows(x).astype(np.float32)
    n = y.shape[0]
    if not 1 <= k <= n - 1:
        raise ConfigError(f"k must be between 1 and {n - 1} for {n} rows, got {k}")
    block = max(1, BLOCK_ELEMENTS // n)
    out = np.empty((n, k), dtype=np.int64)
    for start in range(0, n, block):
        stop = min(start + block, n)
        _top_k(y[start:stop] @ y.T, k, start, out[start:stop])
        if progress:
            progress(stop, n)
    return out


@dataclass(frozen=True)
class Settle:
    """Per word of the vocabulary: ``jaccard`` [T, V] float32, Jaccard@k of its neighbours at each snapshot with
    the final snapshot's, and ``init_cosine`` [V], cosine of its final and initial vector; ``steps`` [T]."""

    steps: np.ndarray
    jaccard: np.ndarray
    init_cosine: np.ndarray
    k: int = K

    def settle_index(self, threshold: float = THRESHOLD) -> np.ndarray:
        """Index of each word's settling snapshot [V] int64, -1 for a word that never settles (module docstring)."""
        before_final = self.jaccard[:-1] >= threshold  # [T - 1, V]
        t_count = before_final.shape[0]
        if t_count == 0:
            return np.full(self.jaccard.shape[1], -1, dtype=np.int64)
        last_miss = t_count - 1 - np.argmax(~before_final[::-1], axis=0)  # last index below the threshold
        index = np.where(before_final.all(axis=0), 0, last_miss + 1)
        return np.where(index <= t_count - 1, index, -1).astype(np.int64)

    def settle_step(self, threshold: float = THRESHOLD) -> np.ndarray:
        """Each word's settle step [V] float64, nan where it never settles."""
        index = self.settle_index(threshold)
        return np.where(index >= 0, np.asarray(self.steps, dtype=float)[np.maximum(index, 0)], np.nan)

    def to_csv(self, tokens: Sequence[str], counts: Sequence[int], categories: Sequence[str | None],
               classes: Sequence[str], threshold: float = THRESHOLD) -> str:
        """CSV text, one row per word [V]: ``token, count, category, word_class, settle_step`` (empty: never),
        ``init_cosine``."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["token", "count", "category", "word_class", "settle_step", "init_cosine"])
        for token, count, category, word_class, step, cosine in zip(tokens, counts, categories, classes,
                                                                    self.settle_step(threshold), self.init_cosine):
            writer.writerow([token, int(count), category or "", word_class, "" if math.isnan(step) else int(step),
                             f"{cosine:.4f}"])
        return buf.getvalue()


def measure_settle(load: Callable[[int], np.ndarray], steps: Sequence[int], k: int = K,
                   progress: Ticks | None = None) -> Settle:
    """The :class:`Settle` of a run whose snapshot ``t`` is ``load(t)`` [V, d] (steps [T], T >= 2).

    Reads every snapshot once, the final one first; one :func:`vocabulary_knn` per snapshot.
    ``progress(done, T)`` after each snapshot.
    """
    t_count = len(steps)
    if t_count < 2:
        raise EmbvizError(f"settling needs at least 2 snapshots, got {t_count}")
    final = load(t_count - 1)
    k = min(k, final.shape[0] - 1)
    final_knn = vocabulary_knn(final, k)
    jaccard = np.ones((t_count, final.shape[0]), dtype=np.float32)
    first = None
    for t in range(t_count - 1):
        x = load(t)
        if x.shape != final.shape:
            raise EmbvizError(f"snapshot {t} has shape {x.shape}, the final one {final.shape}")
        jaccard[t] = knn_jaccard(vocabulary_knn(x, k), final_knn)
        if t == 0:
            first = x
        if progress:
            progress(t + 1, t_count)
    init_cosine = (unit_rows(first) * unit_rows(final)).sum(axis=1)
    if progress:
        progress(t_count, t_count)
    return Settle(np.asarray(steps, dtype=np.int64), jaccard, init_cosine.astype(np.float32), k)


def rank_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman of two settle-step vectors [V] (nan = never, ranked after every step): how far two
    definitions order the words alike."""
    big = np.nanmax(np.concatenate([a, b, [0.0]])) + 1.0
    return float(stats.spearmanr(np.nan_to_num(a, nan=big), np.nan_to_num(b, nan=big)).statistic)


def settle_findings(steps: np.ndarray, counts: Sequence[int], classes: Sequence[str]) -> dict:
    """The paper's two claims on one run's settle steps [V] (nan = never): Spearman of log count with the settle
    step over words seen at least once (never ranked last; negative: frequent words settle first), and the
    median settle step of function and content words (``classes`` [V], as ``film.selection.word_classes``;
    None when more than half never settle)."""
    steps = np.asarray(steps, dtype=float)
    counts = np.asarray(counts, dtype=float)
    classes = np.asarray(classes)
    seen = counts > 0
    late = np.nanmax(np.append(steps, 0.0)) + 1.0
    ranked = np.nan_to_num(steps, nan=late)
    out: dict = {"words": int(seen.sum()), "never": float(np.isnan(steps[seen]).mean()) if seen.any() else math.nan}
    out["spearman_logfreq"] = (float(stats.spearmanr(np.log(counts[seen]), ranked[seen]).statistic)
                               if seen.sum() > 2 and np.ptp(counts[seen]) > 0 and np.ptp(ranked[seen]) > 0
                               else math.nan)
    for name in ("function", "content"):
        mine = ranked[(classes == name) & seen]
        median = float(np.median(mine)) if mine.size else math.nan
        out[f"{name}_words"] = int(mine.size)
        out[f"{name}_median"] = None if median >= late else median
        out[f"{name}_never"] = float((mine >= late).mean()) if mine.size else math.nan
    return out


def findings_line(found: Mapping) -> str:
    """``settle: Spearman(log count, settle step) -0.41 · median settle step: function 120 · content 800 (31% never)``."""
    def median(name: str) -> str:
        m = found[f"{name}_median"]
        return "never" if m is None else ("–" if math.isnan(m) else f"{m:,.0f}")

    return (f"settle: Spearman(log count, settle step) {found['spearman_logfreq']:+.2f} · median settle step: "
            f"function {median('function')} · content {median('content')} · {found['never']:.0%} never settle")


class SettleCache:
    """:class:`Settle` tables stored as ``settle-<key>.npy`` in a run's ``projections/`` folder, keyed by the
    snapshot list (file names, steps, sizes, modification times) and ``k``."""

    VERSION = 1

    def __init__(self, run_path: Path):
        self.folder = Path(run_path) / PROJECTIONS

    @classmethod
    def key(cls, snapshots: Sequence[dict], k: int) -> str:
        blob = json.dumps({"version": cls.VERSION, "snapshots": list(snapshots), "k": k}, sort_keys=True)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:20]

    def path(self, key: str) -> Path:
        return self.folder / f"settle-{key}.npy"

    def load(self, key: str, steps: Sequence[int], k: int) -> Settle | None:
        """The stored table for these snapshots, or None when absent or unreadable."""
        try:
            table = np.load(self.path(key), allow_pickle=False)
        except (OSError, ValueError):
            return None
        if table.ndim != 2 or table.shape[0] != len(steps) + 1:
            return None
        return Settle(np.asarray(steps, dtype=np.int64), table[:-1], table[-1], k)

    def save(self, key: str, settle: Settle) -> None:
        """Store ``settle`` as one [T + 1, V] float32 array (the Jaccard rows, then init_cosine); a folder that
        cannot be written only warns."""
        try:
            self.folder.mkdir(exist_ok=True)
            write_npy(self.path(key), np.vstack([settle.jaccard, settle.init_cosine[None]]).astype(np.float32))
        except OSError as e:
            warnings.warn(f"could not cache the settle steps in {self.folder}: {e.strerror or e}", stacklevel=2)
