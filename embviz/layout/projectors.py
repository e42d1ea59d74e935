"""Projectors: a list of snapshot matrices [n, d] (same words, same order) → aligned 2-D layouts.

Every projector follows the scikit-learn estimator contract: parameters are set in ``__init__``
and returned by ``get_params()``; ``fit(list_of_matrices)`` returns ``self`` and sets
``embeddings_`` of shape [T, n, 2]. Layouts are aligned so that a word moves only when its
vector's relations change, never because a frame flipped or spun:

- :class:`PCAProjector` — ``align="final"``: one basis fitted on the final snapshot projects every
  snapshot (the final structure emerging); ``"chain"``: a basis per frame, each frame rotated onto
  its successor by orthogonal Procrustes, anchored at the final frame; ``"none"``: a (sign-stable)
  basis per frame, no alignment.
- :class:`UMAPProjector` — ``mode="chain"``: each frame's UMAP starts from the previous layout
  (fewer epochs), then Procrustes onto it, then all frames are refined together with each word
  tied to itself in nearby frames; ``"aligned"``: umap-learn's ``AlignedUMAP``.
- :class:`TSNEProjector` — scikit-learn t-SNE, each frame started from the previous layout.

:class:`TrajectoryCache` stores fitted trajectories under the run's ``projections/`` folder.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embviz.errors import ConfigError, EmbvizError
from embviz.film.options import METHODS, METRICS, PCA_ALIGN, UMAP_MODES
from embviz.measure.align import pca_basis, procrustes_rotation, project
from embviz.measure.metrics import unit_rows
from embviz.rundir.files import read_json, write_json, write_npy
from embviz.rundir.run import PROJECTIONS

Progress = Callable[[int, int], None]

CACHE_VERSION = 1


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise ConfigError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")


def _shape(matrices: Sequence[np.ndarray]) -> tuple[int, int]:
    """The common shape [n, d] of T >= 1 snapshot matrices, checked on the first."""
    if len(matrices) == 0:
        raise EmbvizError("nothing to project: no snapshots")
    shape = np.shape(matrices[0])
    if len(shape) != 2 or shape[0] < 3 or shape[1] < 2:
        raise EmbvizError(f"snapshots must be matrices [n, d] with n >= 3 words and d >= 2, got {list(shape)}")
    return shape


def _checked(matrices: Sequence[np.ndarray], i: int, shape: tuple[int, int]) -> np.ndarray:
    """Snapshot ``i`` as a float64 copy, checked to have ``shape`` and finite values."""
    x = np.asarray(matrices[i], dtype=np.float64)
    if x.shape != shape:
        raise EmbvizError(f"snapshot {i} has shape {list(x.shape)}, the first has {list(shape)}")
    if not np.isfinite(x).all():
        raise EmbvizError(f"snapshot {i} contains nan or infinite values")
    return x


def _stack(matrices: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The matrices as float64 arrays, checked to be T >= 1 matrices [n, d] of one shape."""
    shape = _shape(matrices)
    return [_checked(matrices, i, shape) for i in range(len(matrices))]


def align_to(layout: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``layout`` [n, 2] centred, then rotated (or reflected) onto the centred ``target``.

    Orthogonal Procrustes keeps every distance within the layout; only its orientation changes.
    The result is re-centred on the target's centroid.
    """
    a = layout - layout.mean(axis=0)
    b = target - target.mean(axis=0)
    return a @ procrustes_rotation(a, b) + target.mean(axis=0)


def chain_align(layouts: Sequence[np.ndarray], anchor: str = "first") -> np.ndarray:
    """Align each layout onto its already-aligned neighbour; ``anchor`` ("first"/"last") stays put."""
    frames = [np.asarray(f, dtype=np.float64) for f in layouts]
    order = range(1, len(frames)) if anchor == "first" else range(len(frames) - 2, -1, -1)
    step = -1 if anchor == "first" else 1
    for i in order:
        frames[i] = align_to(frames[i], frames[i + step])
    return np.stack(frames)


class Projector:
    """Base class: parameters in ``__init__`` (all keyword), ``fit`` → self with ``embeddings_``."""

    method = ""
    _params: tuple[str, ...] = ()

    def get_params(self) -> dict:
        """The parameters this projector was built with (they enter the cache key)."""
        return {name: getattr(self, name) for name in self._params}

    def fit(self, matrices: Sequence[np.ndarray], progress: Progress | None = None) -> "Projector":
        """Project every matrix [n, d]; sets ``embeddings_`` [T, n, 2] (float64). Returns self."""
        raise NotImplementedError

    def fit_transform(self, matrices: Sequence[np.ndarray]) -> np.ndarray:
        return self.fit(matrices).embeddings_

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


class PCAProjector(Projector):
    """Principal components, aligned across snapshots (see the module docstring).

    Parameters
    ----------
    align : {"final", "chain", "none"}
    metric : {"cosine", "euclidean"}
        With cosine every row is scaled to unit length first, so a frame shows directions only.
    """

    method = "pca"
    _params = ("align", "metric")

    def __init__(self, *, align: str = "final", metric: str = "cosine"):
        if align not in PCA_ALIGN:
            raise ConfigError(f"unknown PCA alignment {align!r}; choose one of {', '.join(PCA_ALIGN)}")
        _check_metric(metric)
        self.align = align
        self.metric = metric

    def fit(self, matrices, progress=None):
        """Project one snapshot at a time: only one float64 copy [n, d] exists at once."""
        shape, total = _shape(matrices), len(matrices)

        def prepared(i: int) -> np.ndarray:
            x = _checked(matrices, i, shape)
            return unit_rows(x) if self.metric == "cosine" else x

        basis = pca_basis(prepared(total - 1)) if self.align == "final" else None
        frames = []
        for i in range(total):
            x = prepared(i)
            mean, components = basis if basis is not None else pca_basis(x)
            frames.append(project(x, mean, components))
            if progress:
                progress(i + 1, total)
        self.embeddings_ = chain_align(frames, anchor="last") if self.align == "chain" else np.stack(frames)
        return self


class UMAPProjector(Projector):
    """UMAP per snapshot, aligned across snapshots. umap-learn is imported on first fit.

    Parameters
    ----------
    mode : {"chain", "aligned"}
        ``chain``: the first frame is a normal UMAP (spectral init, ``n_epochs``); every later frame
        starts from the previous layout and runs ``warm_epochs``, is Procrustes-aligned onto it, and
        then all frames are refined together for ``align_epochs``, each word pulled towards its
        positions up to ``align_window`` frames away (:mod:`embviz.layout.temporal_umap`).
        ``aligned``: ``umap.AlignedUMAP`` over all frames at once (identity relations), then the
        same Procrustes chain.
    n_neighbors, min_dist, metric, random_state : as in ``umap.UMAP``.
    n_epochs : int or None
        Epochs of the first frame (``chain``) or of AlignedUMAP; None = umap's default.
    warm_epochs, warm_learning_rate : int, float
        Epochs and initial SGD step of each warm-started frame in ``chain`` mode.
    align_epochs, align_strength, align_window : int, float, int
        The joint refinement of ``chain`` mode: epochs, pull strength (AlignedUMAP's
        ``alignment_regularisation``) and how many frames either side a word is tied to.
    """

    method = "umap"
    _params = ("mode", "n_neighbors", "min_dist", "metric", "n_epochs", "warm_epochs", "warm_learning_rate",
               "align_epochs", "align_strength", "align_window", "random_state")

    def __init__(self, *, mode: str = "chain", n_neighbors: int = 15, min_dist: float = 0.1,
                 metric: str = "cosine", n_epochs: int | None = None, warm_epochs: int = 100,
                 warm_learning_rate: float = 0.25, align_epochs: int = 100, align_strength: float = 0.02,
                 align_window: int = 2, random_state: int | None = 0):
        if mode not in UMAP_MODES:
            raise ConfigError(f"unknown UMAP mode {mode!r}; choose one of {', '.join(UMAP_MODES)}")
        _check_metric(metric)
        if n_neighbors < 2:
            raise ConfigError(f"n_neighbors must be at least 2, got {n_neighbors}")
        if min(warm_epochs, align_epochs, align_window) < 1:
            raise ConfigError("warm_epochs, align_epochs and align_window must be at least 1")
        self.mode = mode
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.metric = metric
        self.n_epochs = n_epochs
        self.warm_epochs = warm_epochs
        self.warm_learning_rate = warm_learning_rate
        self.align_epochs = align_epochs
        self.align_strength = align_strength
        self.align_window = align_window
        self.random_state = random_state

    def fit(self, matrices, progress=None):
        """``chain`` reads one snapshot at a time (one float64 copy [n, d] at once); ``aligned`` all.
        Reports (0, total) first: importing umap-learn and numba's compiling can take seconds."""
        _shape(matrices)
        if progress:
            progress(0, len(matrices) + (self.align_epochs if self.mode == "chain" else 0))
        umap = _import_umap()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*n_jobs.*")
            warnings.filterwarnings("ignore", category=UserWarning, module="umap")
            warnings.filterwarnings("ignore", message=".*(spectral|disconnected|Graph is not fully).*")
            fit = self._fit_aligned if self.mode == "aligned" else self._fit_chain
            self.embeddings_ = fit(umap, matrices, progress)
        return self

    def _fit_aligned(self, umap, matrices, progress: Progress | None) -> np.ndarray:
        """``umap.AlignedUMAP`` over every frame at once (identity relations), then the Procrustes chain."""
        count, n = len(matrices), _shape(matrices)[0]
        model = umap.AlignedUMAP(n_neighbors=min(self.n_neighbors, n - 1), min_dist=self.min_dist,
                                 metric=self.metric, n_epochs=self.n_epochs, random_state=self.random_state)
        model.fit(_stack(matrices), relations=[{i: i for i in range(n)} for _ in range(count - 1)])
        if progress:
            progress(count, count)
        return chain_align([np.asarray(e, dtype=np.float64) for e in model.embeddings_], anchor="first")

    def _fit_chain(self, umap, matrices, progress: Progress | None) -> np.ndarray:
        """Each frame's UMAP warm-started from the previous layout and aligned onto it, then every frame
        refined together (:func:`embviz.layout.temporal_umap.optimise_jointly`) and Procrustes-chained."""
        from umap.umap_ import find_ab_params

        from embviz.layout.temporal_umap import optimise_jointly

        shape, count = _shape(matrices), len(matrices)
        neighbours = min(self.n_neighbors, shape[0] - 1)
        frames: list[np.ndarray] = []
        graphs = []
        total = count + self.align_epochs
        for i in range(count):
            m = _checked(matrices, i, shape)
            warm = dict(n_epochs=self.warm_epochs, learning_rate=self.warm_learning_rate, init=_spread(frames[-1])) \
                if frames else dict(n_epochs=self.n_epochs)
            model = umap.UMAP(n_neighbors=neighbours, min_dist=self.min_dist, metric=self.metric,
                              random_state=self.random_state, **warm, **_knn_kwargs(m, neighbours, self.metric))
            layout = np.asarray(model.fit_transform(m), dtype=np.float64)
            frames.append(align_to(layout, frames[-1]) if frames else layout)
            graphs.append(model.graph_)
            if progress:
                progress(i + 1, total)
        a, b = find_ab_params(1.0, self.min_dist)
        joint = optimise_jointly(
            np.stack(frames), graphs, a=a, b=b, n_epochs=self.align_epochs, strength=self.align_strength,
            window=self.align_window, seed=self.random_state or 0,
            progress=progress and (lambda done, _: progress(count + done, total)))
        return chain_align(list(joint), anchor="first")


class TSNEProjector(Projector):
    """scikit-learn t-SNE per snapshot; each frame after the first starts from the previous layout.

    The first frame uses PCA init, the usual early exaggeration and ``max_iter`` iterations; warm
    frames skip the exaggeration and run ``warm_iter`` iterations, then are Procrustes-aligned onto
    the previous one.
    """

    method = "tsne"
    _params = ("perplexity", "metric", "max_iter", "warm_iter", "random_state")

    def __init__(self, *, perplexity: float = 30.0, metric: str = "cosine", max_iter: int = 1000,
                 warm_iter: int = 250, random_state: int | None = 0):
        _check_metric(metric)
        if perplexity <= 0:
            raise ConfigError(f"perplexity must be positive, got {perplexity}")
        if min(max_iter, warm_iter) < 250:
            raise ConfigError("max_iter and warm_iter must be at least 250 (scikit-learn's minimum)")
        self.perplexity = perplexity
        self.metric = metric
        self.max_iter = max_iter
        self.warm_iter = warm_iter
        self.random_state = random_state

    def fit(self, matrices, progress=None):
        """Reads one snapshot at a time (one float64 copy [n, d] at once)."""
        from sklearn.manifold import TSNE

        shape, count = _shape(matrices), len(matrices)
        perplexity = min(self.perplexity, (shape[0] - 1) / 3)
        frames: list[np.ndarray] = []
        for i in range(count):
            m = _checked(matrices, i, shape)
            if not frames:
                model = TSNE(perplexity=perplexity, metric=self.metric, init="pca", max_iter=self.max_iter,
                             random_state=self.random_state)
                layout = model.fit_transform(m)
            else:
                init = frames[-1] - frames[-1].mean(axis=0)  # a converged layout, at its own scale
                model = TSNE(perplexity=perplexity, metric=self.metric, init=init, early_exaggeration=1.0,
                             max_iter=self.warm_iter, random_state=self.random_state)
                layout = align_to(np.asarray(model.fit_transform(m), dtype=np.float64), frames[-1])
            frames.append(np.asarray(layout, dtype=np.float64))
            if progress:
                progress(i + 1, count)
        self.embeddings_ = np.stack(frames)
        return self


def _spread(layout: np.ndarray) -> np.ndarray:
    """A previous layout as a UMAP init (umap rescales an init array to [0, 10] itself)."""
    return np.ascontiguousarray(layout, dtype=np.float32)


EXACT_KNN_MAX = 20_000  # words; above this umap's own approximate kNN (pynndescent) is used


def exact_knn(x: np.ndarray, k: int, metric: str = "cosine", block: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours of every row of ``x`` (itself first, at distance 0), by BLAS.

    Returns ``(indices int32 [n, k], distances float32 [n, k])`` sorted by distance, in umap's
    ``precomputed_knn`` layout. Cosine distance is 1 - cos (a zero row is at distance 1 from all);
    euclidean is the L2 distance. Rows are done ``block`` at a time, so memory is O(block · n).
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    k = min(k, n)
    if metric == "cosine":
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        y = x / np.where(norms > 0, norms, 1.0)
    else:
        y = x
        sq = (x * x).sum(axis=1)
    indices = np.empty((n, k), dtype=np.int32)
    dists = np.empty((n, k), dtype=np.float32)
    for start in range(0, n, block):
        rows = np.arange(start, min(start + block, n))
        if metric == "cosine":
            d = 1.0 - y[rows] @ y.T
        else:
            d = np.sqrt(np.maximum(sq[rows, None] + sq[None, :] - 2.0 * (x[rows] @ x.T), 0.0))
        d[np.arange(len(rows)), rows] = -1.0  # each word is its own first neighbour
        part = np.argpartition(d, k - 1, axis=1)[:, :k] if k < n else np.tile(np.arange(n), (len(rows), 1))
        pd = np.take_along_axis(d, part, axis=1)
        order = np.argsort(pd, axis=1, kind="stable")
        indices[rows] = np.take_along_axis(part, order, axis=1)
        dists[rows] = np.maximum(np.take_along_axis(pd, order, axis=1), 0.0)
    return indices, dists


def _knn_kwargs(x: np.ndarray, k: int, metric: str) -> dict:
    """``precomputed_knn`` for ``umap.UMAP`` from :func:`exact_knn`, or nothing for very large n.

    Below 4,096 points umap-learn computes all pairwise distances itself, through a Python call per
    pair for cosine (≈ 7 s of a 7.5 s warm frame at 2,000 words); the same neighbours by matrix
    product take milliseconds.
    """
    if x.shape[0] > EXACT_KNN_MAX:
        return {}
    indices, dists = exact_knn(x, k, metric)
    return {"precomputed_knn": (indices, dists, None)}


def _import_umap():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import umap
    except ImportError:
        raise ConfigError("--method umap needs umap-learn: pip install umap-learn") from None
    return umap


def make_projector(method: str, *, align: str = "final", umap_mode: str = "chain", metric: str = "cosine",
                   seed: int = 0) -> Projector:
    """The projector for ``method`` ("pca", "umap", "tsne") with the animate options."""
    if method == "pca":
        return PCAProjector(align=align, metric=metric)
    if method == "umap":
        return UMAPProjector(mode=umap_mode, metric=metric, random_state=seed)
    if method == "tsne":
        return TSNEProjector(metric=metric, random_state=seed)
    raise ConfigError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")


# -- cache ------------------------------------------------------------------------------------


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
    progress: Progress | None = None,
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
