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

:func:`make_projector` builds one from the animate options; :mod:`embviz.layout.trajectory` fits it or
reads the fitted trajectory from the run's ``projections/`` cache.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import warnings
from collections.abc import Iterator, Sequence

import numpy as np

from embviz.errors import ConfigError, EmbvizError
from embviz.layout.choices import METHODS, METRICS, PCA_ALIGN, UMAP_MODES, check_choice
from embviz.measure.align import pca_basis, pca_coordinates, procrustes_rotation
from embviz.measure.metrics import knn_graph, unit_rows
from embviz.progress import Ticks


def _shape(matrices: Sequence[np.ndarray]) -> tuple[int, int]:
    """The common shape [n, d] of T >= 1 snapshot matrices, checked on the first."""
    if len(matrices) == 0:
        raise EmbvizError("nothing to project: no snapshots")
    shape = np.shape(matrices[0])
    if len(shape) != 2 or shape[0] < 3 or shape[1] < 2:
        raise EmbvizError(f"snapshots must be matrices [n, d] with n >= 3 words and d >= 2, got {list(shape)}")
    return shape


def _checked(matrix: np.ndarray, i: int, shape: tuple[int, int]) -> np.ndarray:
    """Snapshot ``i`` (``matrix``) as a float64 copy, checked to have ``shape`` and finite values."""
    x = np.asarray(matrix, dtype=np.float64)
    if x.shape != shape:
        raise EmbvizError(f"snapshot {i} has shape {list(x.shape)}, the first has {list(shape)}")
    if not np.isfinite(x).all():
        raise EmbvizError(f"snapshot {i} contains nan or infinite values")
    return x


def _stack(matrices: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The matrices as float64 arrays, checked to be T >= 1 matrices [n, d] of one shape."""
    shape = _shape(matrices)
    return [_checked(matrices[i], i, shape) for i in range(len(matrices))]


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

    def _keep(self, params: dict) -> None:
        """Store the ``__init__`` arguments named in ``_params`` (pass ``locals()``)."""
        for name in self._params:
            setattr(self, name, params[name])

    def get_params(self) -> dict:
        """The parameters this projector was built with (they enter the cache key)."""
        return {name: getattr(self, name) for name in self._params}

    def fit(self, matrices: Sequence[np.ndarray], progress: Ticks | None = None) -> "Projector":
        """Project every matrix [n, d]; sets ``embeddings_`` [T, n, 2] (float64). Returns self."""
        raise NotImplementedError

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
        check_choice(align, PCA_ALIGN, "PCA alignment")
        check_choice(metric, METRICS, "metric")
        self._keep(locals())

    def fit(self, matrices, progress=None):
        """Project one snapshot at a time: only one float64 copy [n, d] exists at once."""
        shape, total = _shape(matrices), len(matrices)

        def prepared(i: int) -> np.ndarray:
            x = _checked(matrices[i], i, shape)
            return unit_rows(x) if self.metric == "cosine" else x

        basis = pca_basis(prepared(total - 1)) if self.align == "final" else None
        frames = []
        for i in range(total):
            x = prepared(i)
            mean, components = basis if basis is not None else pca_basis(x)
            frames.append(pca_coordinates(x, mean, components))
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
        check_choice(mode, UMAP_MODES, "UMAP mode")
        check_choice(metric, METRICS, "metric")
        if n_neighbors < 2:
            raise ConfigError(f"n_neighbors must be at least 2, got {n_neighbors}")
        if min(warm_epochs, align_epochs, align_window) < 1:
            raise ConfigError("warm_epochs, align_epochs and align_window must be at least 1")
        self._keep(locals())

    def fit(self, matrices, progress=None):
        """``chain`` reads one snapshot at a time (one float64 copy [n, d] at once); ``aligned`` all.
        Reports (0, total) first: importing umap-learn and numba's compiling can take seconds."""
        _shape(matrices)
        if progress:
            progress(0, len(matrices) + (self.align_epochs if self.mode == "chain" else 0))
        umap = import_umap()
        with quiet_umap():
            fit = self._fit_aligned if self.mode == "aligned" else self._fit_chain
            self.embeddings_ = fit(umap, matrices, progress)
        return self

    def _fit_aligned(self, umap, matrices, progress: Ticks | None) -> np.ndarray:
        """``umap.AlignedUMAP`` over every frame at once (identity relations), then the Procrustes chain."""
        count, n = len(matrices), _shape(matrices)[0]
        model = umap.AlignedUMAP(n_neighbors=min(self.n_neighbors, n - 1), min_dist=self.min_dist,
                                 metric=self.metric, n_epochs=self.n_epochs, random_state=self.random_state)
        model.fit(_stack(matrices), relations=[{i: i for i in range(n)} for _ in range(count - 1)])
        if progress:
            progress(count, count)
        return chain_align([np.asarray(e, dtype=np.float64) for e in model.embeddings_], anchor="first")

    def _fit_chain(self, umap, matrices, progress: Ticks | None) -> np.ndarray:
        """Each frame's UMAP warm-started from the previous layout and aligned onto it
        (:class:`~embviz.layout.incremental.IncrementalLayout`, the live layout's one code path), then every
        frame refined together (:func:`embviz.layout.temporal_umap.optimise_jointly`) and Procrustes-chained."""
        from umap.umap_ import find_ab_params

        from embviz.layout.incremental import IncrementalLayout
        from embviz.layout.temporal_umap import optimise_jointly

        count = len(matrices)
        chain = IncrementalLayout(self, refine=False)
        total = count + self.align_epochs
        for i in range(count):
            chain.add(matrices[i])
            if progress:
                progress(i + 1, total)
        a, b = find_ab_params(1.0, self.min_dist)
        joint = optimise_jointly(
            chain.positions, chain.graphs, a=a, b=b, n_epochs=self.align_epochs, strength=self.align_strength,
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
        check_choice(metric, METRICS, "metric")
        if perplexity <= 0:
            raise ConfigError(f"perplexity must be positive, got {perplexity}")
        if min(max_iter, warm_iter) < 250:
            raise ConfigError("max_iter and warm_iter must be at least 250 (scikit-learn's minimum)")
        self._keep(locals())

    def fit(self, matrices, progress=None):
        """Reads one snapshot at a time (one float64 copy [n, d] at once)."""
        from sklearn.manifold import TSNE

        shape, count = _shape(matrices), len(matrices)
        perplexity = min(self.perplexity, (shape[0] - 1) / 3)
        frames: list[np.ndarray] = []
        for i in range(count):
            m = _checked(matrices[i], i, shape)
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


def _knn_kwargs(x: np.ndarray, k: int, metric: str) -> dict:
    """``precomputed_knn`` for ``umap.UMAP`` from :func:`~embviz.measure.metrics.knn_graph`, or nothing for
    very large n.

    Below 4,096 points umap-learn computes all pairwise distances itself, through a Python call per
    pair for cosine (≈ 7 s of a 7.5 s warm frame at 2,000 words); the same neighbours by matrix
    product take milliseconds.
    """
    if x.shape[0] > EXACT_KNN_MAX:
        return {}
    indices, dists = knn_graph(x, k, metric)
    return {"precomputed_knn": (indices, dists, None)}


UNCACHED_UMAP = ("umap_.smooth_knn_dist", "umap_.compute_membership_strengths",
                 "layouts._nb_optimize_layout_euclidean_single_epoch")
"""umap-learn's numba functions that the chain calls and that umap-learn compiles without ``cache=True``
(``module.name`` under ``umap``): without a disk cache every process compiles them again (≈ 4 s of a
first fit on two quiet cores). The layout epoch's parallel twin (used only with ``random_state=None``)
shares its source, so numba would give both one cache file: it stays uncached."""


@contextlib.contextmanager
def quiet_umap() -> Iterator[None]:
    """umap-learn's warnings about n_jobs, spectral init and disconnected graphs silenced (tiny runs raise them)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*n_jobs.*")
        warnings.filterwarnings("ignore", category=UserWarning, module="umap")
        warnings.filterwarnings("ignore", message=".*(spectral|disconnected|Graph is not fully).*")
        yield


@functools.cache
def import_umap():
    """``umap``, with numba's disk cache turned on for :data:`UNCACHED_UMAP` (once per process)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import umap
    except ImportError:
        raise ConfigError("--method umap needs umap-learn: pip install umap-learn") from None
    for name in UNCACHED_UMAP:
        module, attr = name.split(".")
        dispatcher = getattr(importlib.import_module(f"umap.{module}"), attr, None)
        if hasattr(dispatcher, "enable_caching"):  # a numba Dispatcher (absent if umap-learn renamed it)
            dispatcher.enable_caching()
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
