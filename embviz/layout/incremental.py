"""The incremental layout: 2-D frames added one snapshot at a time, so a map can form while training runs.

Each frame after the first is a UMAP started from the previous frame's layout (a few epochs, not a fresh
fit), then turned onto it by orthogonal Procrustes: a word moves only as far as its relations moved. This is
the per-frame half of :class:`~embviz.layout.projectors.UMAPProjector`'s ``chain`` mode, which fits its
frames through this class and then refines them all together; a live page shows these frames as they come.
"""

from __future__ import annotations

import numpy as np

from embviz.layout.projectors import (
    UMAPProjector,
    _checked,
    _knn_kwargs,
    _shape,
    _spread,
    align_to,
    import_umap,
    quiet_umap,
)


class IncrementalLayout:
    """UMAP layouts of one snapshot matrix at a time, each warm-started from and aligned onto the previous one.

    Parameters
    ----------
    projector : UMAPProjector
        Its parameters: ``n_neighbors``, ``min_dist``, ``metric``, ``random_state``, ``n_epochs`` (the first
        frame, spectral init) and ``warm_epochs``, ``warm_learning_rate`` (every later frame); with
        ``refine``, also ``align_epochs``, ``align_strength`` and ``align_window``.
    refine : bool
        Refine each new frame together with the ``align_window`` frames before it
        (:func:`~embviz.layout.temporal_umap.optimise_jointly`, each word pulled towards itself in them) and
        keep the refined new frame; the frames before it stay as they were given. A live page needs it: the
        batch chain refines all frames together at the end instead (False). On the toy run of the tests it
        lifts the last frame's 2-D purity@10 from 0.56 to 0.85 (explore's layout: 0.78).

    Attributes
    ----------
    frames : list of arrays [n, 2]
        The aligned layout of every frame added so far (float64).
    graphs : list of sparse matrices [n, n]
        Each frame's fuzzy neighbour graph (what a joint refinement of the frames needs).
    """

    def __init__(self, projector: UMAPProjector | None = None, *, refine: bool = True):
        self.projector, self.refine = projector or UMAPProjector(), refine
        self.frames: list[np.ndarray] = []
        self.graphs: list = []
        self._shape: tuple[int, int] | None = None

    def add(self, matrix: np.ndarray) -> np.ndarray:
        """Lay out the next snapshot ``matrix`` [n, d] (the same n words, in the same order); returns its
        aligned layout [n, 2]. A matrix of another shape, or with nan/inf, is an EmbvizError."""
        p = self.projector
        if self._shape is None:
            self._shape = _shape([matrix])
        m = _checked(matrix, len(self.frames), self._shape)
        neighbours = min(p.n_neighbors, self._shape[0] - 1)
        warm = dict(n_epochs=p.warm_epochs, learning_rate=p.warm_learning_rate, init=_spread(self.frames[-1])) \
            if self.frames else dict(n_epochs=p.n_epochs)
        umap = import_umap()
        with quiet_umap():
            model = umap.UMAP(n_neighbors=neighbours, min_dist=p.min_dist, metric=p.metric,
                              random_state=p.random_state, **warm, **_knn_kwargs(m, neighbours, p.metric))
            layout = np.asarray(model.fit_transform(m), dtype=np.float64)
        self.graphs.append(model.graph_)
        if self.frames:
            layout = self._aligned(layout)
            if self.refine:
                layout = self._aligned(self._refined(layout))
        self.frames.append(layout)
        return layout

    def _aligned(self, layout: np.ndarray) -> np.ndarray:
        """``layout`` scaled to the previous frame's spread, then turned onto it (Procrustes)."""
        return align_to(layout * _spread_ratio(layout, self.frames[-1]), self.frames[-1])

    def _refined(self, layout: np.ndarray) -> np.ndarray:
        """The new frame ``layout`` [n, 2] after a joint refinement with the frames before it (in a copy)."""
        from umap.umap_ import find_ab_params

        from embviz.layout.temporal_umap import optimise_jointly

        p = self.projector
        recent = self.frames[-p.align_window:] + [layout]
        a, b = find_ab_params(1.0, p.min_dist)
        joint = optimise_jointly(np.stack(recent), self.graphs[-len(recent):], a=a, b=b, n_epochs=p.align_epochs,
                                 strength=p.align_strength, window=p.align_window, seed=p.random_state or 0)
        return joint[-1]

    @property
    def positions(self) -> np.ndarray:
        """Every frame so far, [T, n, 2] (T >= 1)."""
        return np.stack(self.frames)


def _spread_ratio(layout: np.ndarray, target: np.ndarray) -> float:
    """The factor that gives ``layout`` [n, 2] the spread (RMS distance from the centroid) of ``target``:
    umap-learn rescales an init to [0, 10], so without it a frame would shrink or grow as a whole."""
    def rms(x: np.ndarray) -> float:
        return float(np.sqrt(((x - x.mean(axis=0)) ** 2).sum(axis=1).mean()))

    return rms(target) / max(rms(layout), 1e-12)
