"""``LiveMap``: a notebook widget (anywidget) that follows a run directory and draws its latest 2-D map while the run
trains, from a background thread, so the kernel stays usable.

The thread follows the run with :mod:`embviz.rundir.follow` and lays out each new snapshot with
:mod:`embviz.layout.incremental`, as ``embviz train --live`` does; the view (``live.js``, a canvas) redraws on every
change of ``positions``. The words are those ``embviz explore`` shows for the same options.
"""

from __future__ import annotations

import threading
from importlib import resources
from pathlib import Path

import anywidget
import numpy as np
import traitlets

HEIGHT = 480
"""The map's height in pixels (its width is the cell's)."""

_WEB = resources.files("embviz.notebook")


class LiveMap(anywidget.AnyWidget):
    """The latest map of the run in ``run_dir``, redrawn on every new snapshot until the run ends.

    Synced to the view: ``words`` [n], ``codes`` [n] (category index, -1 none), ``categories`` and ``palette`` (a
    colour per category), ``positions`` (float32 little-endian [n, 2]), ``step``, ``snapshots`` (how many laid out),
    ``state`` (``waiting``, ``training``, the run's final status, or ``error: …``).
    """

    _esm = (_WEB / "live.js").read_text(encoding="utf-8")
    _css = (_WEB / "live.css").read_text(encoding="utf-8")
    title = traitlets.Unicode("").tag(sync=True)
    words = traitlets.List(traitlets.Unicode()).tag(sync=True)
    codes = traitlets.List(traitlets.Int()).tag(sync=True)
    categories = traitlets.List(traitlets.Unicode()).tag(sync=True)
    palette = traitlets.List(traitlets.Unicode()).tag(sync=True)
    positions = traitlets.Bytes(b"").tag(sync=True)
    step = traitlets.Int(0).tag(sync=True)
    snapshots = traitlets.Int(0).tag(sync=True)
    state = traitlets.Unicode("waiting").tag(sync=True)
    height = traitlets.Int(HEIGHT).tag(sync=True)

    def __init__(self, run_dir: Path | str, *, until: threading.Thread | None = None, height: int = HEIGHT,
                 **options):
        from embviz.notebook.explorer import explore_options

        self.options = explore_options(**options)
        super().__init__(title=Path(run_dir).name, height=height)
        self.run_dir = Path(run_dir)
        self._until = until
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._follow, name=f"embviz live map {run_dir}", daemon=True)
        self._thread.start()

    def show(self, step: int, positions: np.ndarray, snapshots: int) -> None:
        """Draw ``positions`` [n, 2] as the map at ``step`` (``snapshots`` laid out so far)."""
        with self.hold_sync():
            self.positions = np.ascontiguousarray(positions, dtype="<f4").tobytes()
            self.step, self.snapshots = int(step), int(snapshots)

    def wait(self, timeout: float | None = None) -> None:
        """Return once the map has drawn the run's last snapshot (or ``timeout`` seconds have passed)."""
        self._thread.join(timeout)

    def close(self) -> None:
        self._closing.set()
        super().close()

    def _follow(self) -> None:  # DEV ONLY: replaced by rundir.follow + layout.incremental after the merge
        import time

        from embviz.film.explore import level_colours
        from embviz.film.selection import choose_words
        from embviz.rundir.run import Run

        try:
            while not (self.run_dir / "vocab.tsv").exists():
                time.sleep(0.2)
            run = Run.open(self.run_dir)
            sel = choose_words(run, self.options)
            colours = level_colours(sel, sel.level)
            with self.hold_sync():
                self.words, self.codes = sel.words, colours["codes"]
                self.categories, self.palette = colours["categories"], colours["colours"]
                self.state = "training"
            seen = 0
            while not self._closing.is_set():
                snaps = run.snapshots()
                for snap in snaps[seen:]:
                    m = run.load_snapshot(snap, sel.rows)
                    m = m - m.mean(0)
                    u, s, vt = np.linalg.svd(m, full_matrices=False)
                    self.show(snap.step, u[:, :2] * s[:2], len(snaps))
                seen = len(snaps)
                status = run.manifest().status
                if status != "running" and (self._until is None or not self._until.is_alive()):
                    if len(run.snapshots()) == seen:
                        self.state = status
                        return
                time.sleep(0.3)
        except Exception as e:
            self.state = f"error: {e}"
