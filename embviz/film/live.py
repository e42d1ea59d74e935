"""The explorer's frames one snapshot at a time, for a page (or a notebook) that shows a run while it trains.

:class:`LiveFrames` picks the words as ``explore`` does (:func:`~embviz.film.selection.choose_words`), lays
out each new snapshot with :class:`~embviz.layout.incremental.IncrementalLayout` and measures it like
``explore`` (purity in the space and in 2-D, trustworthiness), and packs it as the explorer page reads a snapshot. :meth:`LiveFrames.header` is the
page's JSON before any snapshot; each :meth:`LiveFrames.add` returns one frame for
the page's ``window.embviz.append``.

A frame takes a UMAP fit and a joint refinement (a few tenths of a second on a quiet core, seconds when
training holds the cores), so :meth:`LiveFrames.first_look` gives a snapshot's frame at once with a
provisional placement (a few milliseconds): each word at the mean of its own and its nearest words' places
in the last laid-out frame, weighted by cosine. :meth:`LiveFrames.add` later gives the final frame, which
replaces it on the page.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from embviz.errors import ConfigError
from embviz.film.animate_options import AnimateOptions
from embviz.film.explore import NEIGHBOURS, _b64, _nan_to_none, _pack_neighbours, curve_names, neighbours, page_words, quantise
from embviz.film.selection import choose_words
from embviz.film.stages import film_title, projector_for
from embviz.layout.incremental import IncrementalLayout
from embviz.layout.projectors import UMAPProjector
from embviz.measure.emergence import TRUSTWORTHINESS_MAX_ROWS, K
from embviz.measure.metrics import cosine_distances, knn_purity, purity_chance, trustworthiness
from embviz.rundir.run import Run, Snapshot

LIVE_REFINE_EPOCHS = 50
"""Epochs of each new frame's refinement with the two before it: half explore's joint refinement, for half the
time per snapshot; on the tests' toy run the last frame's 2-D purity is 0.85 with 50 or 100."""


class LiveFrames:
    """One run's explorer frames, added as its snapshots come (from a :class:`~embviz.rundir.follow.Follower`).

    ``options`` are explore's (words, level, ``seed``; the layout is always UMAP's warm chain, the only
    one that needs no future snapshot). ``frames`` holds every frame made so far.
    """

    def __init__(self, run: Run, options: AnimateOptions = AnimateOptions()):
        if options.matrix == "position":
            raise ConfigError("a live page shows the token table (or --matrix head), not the position table")
        self.run, self.options = run, replace(options, method="umap", umap_mode="chain", cache=False)
        self.selection = choose_words(run, self.options)
        params = {**projector_for(self.options).get_params(), "align_epochs": LIVE_REFINE_EPOCHS}
        self.layout = IncrementalLayout(UMAPProjector(**params))
        self.frames: list[dict] = []
        self._looked: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # step → (matrix, idx, cos)

    def header(self) -> dict:
        """The page's JSON with no snapshot yet (``T`` 0, empty arrays, ``live`` true): words, levels, the
        curves' names and chance levels."""
        sel = self.selection
        curves = {name: [] for name in curve_names(sel.levels)}
        chance = {f"purity · {lvl}": _nan_to_none(np.array([purity_chance(sel.labels(lvl))]))[0] for lvl in sel.levels}
        return {**page_words(sel, film_title(self.run, sel, self.options), self.options.film.view), "T": 0,
                "k": min(NEIGHBOURS, len(sel.words) - 1), "steps": [], "epochs": [], "trainLoss": [], "valLoss": [],
                "curves": curves, "chance": chance, "loss": [], "positions": "", "bounds": [], "live": True}

    def first_look(self, snap: Snapshot) -> dict:
        """``snap``'s provisional frame, in :meth:`add`'s format with ``final`` false and null curves (they come
        with the final layout): each word [n, 2] at the cosine-weighted mean of its own and its
        ``NEIGHBOURS`` nearest words' places in the last frame :meth:`add` made, or, before any, the
        matrix's first two principal components. Call :meth:`add` for the same snapshot next."""
        matrix, idx, cos = self._looked[snap.step] = self._load(snap)
        done = self.layout.frames
        if done:
            last = done[-1]
            members = np.concatenate([np.arange(len(last))[:, None], idx.astype(np.int64)], axis=1)  # [n, k + 1]
            weights = np.concatenate([np.ones((len(last), 1)), np.maximum(cos, 0.0)], axis=1)
            layout = (weights[..., None] * last[members]).sum(axis=1) / weights.sum(axis=1)[:, None]
        else:
            centred = (matrix - matrix.mean(axis=0)).astype(np.float64)
            layout = centred @ np.linalg.eigh(centred.T @ centred)[1][:, -2:]  # LAPACK's SVD: seconds under load
        return self._frame(snap, layout, idx, cos, dict.fromkeys(curve_names(self.selection.levels)), final=False)

    def add(self, snap: Snapshot) -> dict:
        """Lay out and measure ``snap``; returns its frame, a one-snapshot chunk of the page's own format
        (``steps``, ``epochs``, ``trainLoss``, ``valLoss``, ``loss``, ``curves``: name → [value], ``positions``
        [1, n, 2] u16 within ``bounds``, the packed neighbours [1, n, k]) for ``window.embviz.append``, with its
        ``step``, ``final`` true and ``written`` (the token file's mtime, seconds since the epoch)."""
        matrix, idx, cos = self._looked.pop(snap.step, None) or self._load(snap)
        layout = self.layout.add(matrix)
        frame = self._frame(snap, layout, idx, cos, self._measure(matrix, layout), final=True)
        self.frames.append(frame)
        return frame

    def _load(self, snap: Snapshot) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``snap``'s rows of the page's words [n, d] and their neighbours (indices [n, k], cosines [n, k])."""
        matrix = self.run.load_snapshot(snap, self.selection.rows, self.options.matrix)
        idx, cos = neighbours(matrix[None])
        return matrix, idx[0], cos[0]

    def _frame(self, snap: Snapshot, layout: np.ndarray, idx: np.ndarray, cos: np.ndarray,
               curves: dict[str, float | None], final: bool) -> dict:
        loss = snap.train_loss if snap.train_loss is not None else snap.val_loss
        q, bounds = quantise(layout[None])
        return {"step": snap.step, "final": final, "steps": [snap.step], "epochs": [snap.epoch], "trainLoss": [snap.train_loss], "valLoss": [snap.val_loss], "loss": [loss],
                "curves": {name: [v] for name, v in curves.items()}, "positions": _b64(q, "u2"),
                "bounds": bounds.tolist(), **_pack_neighbours(idx[None], cos[None]),
                "written": (Path(self.run.snapshot_dir) / snap.file).stat().st_mtime}

    def _measure(self, matrix: np.ndarray, layout: np.ndarray) -> dict[str, float | None]:
        """Explore's curves at one snapshot (:func:`~embviz.measure.emergence.compute_emergence`'s purity,
        2-D purity and trustworthiness columns, by the same functions): name → value."""
        sel = self.selection
        values = [knn_purity(matrix, sel.labels(level), K) for level in sel.levels]
        values += [knn_purity(layout, sel.labels(level), K, metric="euclidean") for level in sel.levels]
        n = matrix.shape[0]
        rows = np.sort(np.random.default_rng(0).choice(n, TRUSTWORTHINESS_MAX_ROWS, replace=False)) \
            if n > TRUSTWORTHINESS_MAX_ROWS else np.arange(n)
        values.append(trustworthiness(cosine_distances(matrix[rows]), layout[rows], K))
        return dict(zip(curve_names(sel.levels), _nan_to_none(np.array(values, dtype=float))))
