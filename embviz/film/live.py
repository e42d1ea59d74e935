"""The explorer's frames one snapshot at a time, for a page (or a notebook) that shows a run while it trains.

:class:`LiveFrames` picks the words as ``explore`` does (:func:`~embviz.film.selection.choose_words`), lays
out each new snapshot with :class:`~embviz.layout.incremental.IncrementalLayout` and measures it like
``explore`` (purity in the space and in 2-D, trustworthiness; :func:`~embviz.measure.emergence.compute_emergence`
on that one snapshot), and packs it as the explorer page reads a snapshot. :meth:`LiveFrames.header` is the
page's JSON before any snapshot; each :meth:`LiveFrames.add` returns one frame for
the page's ``appendFrame``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from embviz.errors import ConfigError
from embviz.film.animate_options import AnimateOptions
from embviz.film.explore import NEIGHBOURS, _b64, _nan_to_none, neighbours, page_curves, page_words
from embviz.film.selection import choose_words
from embviz.film.stages import film_title, projector_for
from embviz.layout.incremental import IncrementalLayout
from embviz.measure.emergence import compute_emergence
from embviz.measure.metrics import purity_chance
from embviz.rundir.run import Run, Snapshot


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
        self.layout = IncrementalLayout(projector_for(self.options))
        self.frames: list[dict] = []

    def header(self) -> dict:
        """The page's JSON with no snapshot yet (``T`` 0, empty arrays, ``live`` true): words, levels, the
        curves' names and chance levels."""
        sel = self.selection
        curves = {f"purity · {lvl}": [] for lvl in sel.levels}
        curves.update({f"purity in 2-D · {lvl}": [] for lvl in sel.levels})
        curves["trustworthiness of 2-D"] = []
        chance = {f"purity · {lvl}": _nan_to_none(np.array([purity_chance(sel.labels(lvl))]))[0] for lvl in sel.levels}
        return {**page_words(sel, film_title(self.run, sel, self.options), self.options.film.view), "T": 0,
                "k": min(NEIGHBOURS, len(sel.words) - 1), "steps": [], "epochs": [], "trainLoss": [], "valLoss": [],
                "curves": curves, "chance": chance, "loss": [], "positions": "", "nbrIndex": "", "nbrCos": "",
                "live": True}

    def add(self, snap: Snapshot) -> dict:
        """Lay out and measure ``snap``; returns its frame: ``step``, ``epoch``, ``trainLoss``, ``valLoss``,
        ``loss``, ``curves`` (name → value), ``positions`` [n, 2] f4, ``nbrIndex`` [n, k] u2 and ``nbrCos``
        [n, k] f4 as base64, and ``written`` (the token file's mtime, seconds since the epoch)."""
        sel = self.selection
        matrix = self.run.load_snapshot(snap, sel.rows, self.options.matrix)  # [n, d]
        layout = self.layout.add(matrix)
        loss = snap.train_loss if snap.train_loss is not None else snap.val_loss
        table = compute_emergence([matrix], sel.level_labels, [snap.step], [snap.epoch], [loss], layouts=[layout])
        idx, cos = neighbours(matrix[None])
        curves = {name: values[0] for name, values in page_curves(table)[0].items()}
        frame = {"step": snap.step, "epoch": snap.epoch, "trainLoss": snap.train_loss, "valLoss": snap.val_loss,
                 "loss": _nan_to_none(table.losses)[0], "curves": curves, "positions": _b64(layout, "f4"),
                 "nbrIndex": _b64(idx[0], "u2"), "nbrCos": _b64(cos[0], "f4"),
                 "written": (Path(self.run.snapshot_dir) / snap.file).stat().st_mtime}
        self.frames.append(frame)
        return frame
