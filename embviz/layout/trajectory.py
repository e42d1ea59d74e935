"""A projector's fitted layouts [T, n, 2] as a :class:`Trajectory`, cached under a run's ``projections/``
folder (:class:`TrajectoryCache`), and :func:`project_snapshots`, which fits or reads them."""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embviz.errors import EmbvizError
from embviz.layout.projectors import Projector
from embviz.progress import Ticks
from embviz.rundir.files import read_json, write_json, write_npy
from embviz.rundir.run import PROJECTIONS

CACHE_VERSION = 1


@dataclass(frozen=True)
class Trajectory:
    """Aligned layouts [T, n, 2] of ``words`` over the snapshots named in ``snapshots``."""

    positions: np.ndarray
    words: list[str]
    snapshots: list[str]
    method: str
    params: dict
    key: str
    cached: bool = False


class TrajectoryCache:
    """Trajectories stored as ``<method>-<key>.npy`` + ``.json`` in a run's ``projections/`` folder.

    The key hashes the method, its parameters, the word list (token ids and tokens) and the
    snapshot list (file names, steps, sizes and modification times), so any change recomputes.
    """

    def __init__(self, run_path: Path):
        self.folder = Path(run_path) / PROJECTIONS

    @staticmethod
    def key(projector: Projector, rows: Sequence[int], words: Sequence[str], snapshots: Sequence[dict]) -> str:
        blob = json.dumps({"version": CACHE_VERSION, "method": projector.method, "params": projector.get_params(),
                           "rows": [int(r) for r in rows], "words": list(words), "snapshots": list(snapshots)},
                          sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:20]

    def _paths(self, method: str, key: str) -> tuple[Path, Path]:
        stem = self.folder / f"{method}-{key}"
        return stem.with_suffix(".npy"), stem.with_suffix(".json")

    def load(self, method: str, key: str, n_snapshots: int, n_words: int) -> np.ndarray | None:
        """The cached positions, or None when absent or unreadable (a bad entry is recomputed)."""
        npy, meta = self._paths(method, key)
        if not npy.is_file() or not meta.is_file():
            return None
        try:
            info = read_json(meta)
            positions = np.load(npy, allow_pickle=False)
        except (EmbvizError, ValueError, OSError):
            return None
        if info.get("key") != key or positions.shape != (n_snapshots, n_words, 2) or not np.isfinite(positions).all():
            return None
        return positions

    def save(self, projector: Projector, key: str, positions: np.ndarray, words: Sequence[str],
             snapshots: Sequence[dict]) -> None:
        """Write the positions, then the JSON that vouches for them (a crash leaves no valid pair)."""
        try:
            self.folder.mkdir(exist_ok=True)
            npy, meta = self._paths(projector.method, key)
            write_npy(npy, np.asarray(positions, dtype=np.float64))
            write_json(meta, {"key": key, "method": projector.method, "params": projector.get_params(),
                              "shape": list(positions.shape), "words": list(words),
                              "snapshots": [s["file"] for s in snapshots]})
        except OSError as e:
            warnings.warn(f"could not cache the projection in {self.folder}: {e.strerror or e}", stacklevel=2)


def project_snapshots(
    projector: Projector,
    matrices: Sequence[np.ndarray] | Callable[[], Sequence[np.ndarray]],
    rows: Sequence[int],
    words: Sequence[str],
    snapshots: Sequence[dict],
    cache: TrajectoryCache | None = None,
    progress: Ticks | None = None,
) -> Trajectory:
    """Fit ``projector`` on the snapshot matrices, or take the trajectory from ``cache``.

    Parameters
    ----------
    matrices : list of arrays [n, d], or a function returning them (only called on a cache miss)
    rows, words : the token ids and tokens of the n rows
    snapshots : one dict per snapshot describing its file (``file``, ``step``, ``size``, ``mtime_ns``)
    """
    key = TrajectoryCache.key(projector, rows, words, snapshots)
    if cache is not None:
        positions = cache.load(projector.method, key, len(snapshots), len(words))
        if positions is not None:
            if progress:
                progress(len(snapshots), len(snapshots))
            return Trajectory(positions, list(words), [s["file"] for s in snapshots], projector.method,
                              projector.get_params(), key, cached=True)
    mats = matrices() if callable(matrices) else matrices
    positions = projector.fit(mats, progress=progress).embeddings_
    if cache is not None:
        cache.save(projector, key, positions, words, snapshots)
    return Trajectory(positions, list(words), [s["file"] for s in snapshots], projector.method,
                      projector.get_params(), key, cached=False)
