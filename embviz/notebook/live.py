"""``LiveMap``: a notebook widget (anywidget) that follows a run directory and draws its latest 2-D map while the run
trains, from a background thread, so the kernel stays usable.

The thread follows the run with :class:`~embviz.rundir.follow.Follower` and makes each new snapshot's frame with
:class:`~embviz.film.live.LiveFrames` (explore's words and colours, the incremental UMAP layout, purity per
snapshot), as the live explorer page does; the view (``live.js``, a canvas) redraws on every change of
``positions``.
"""

from __future__ import annotations

import threading
from importlib import resources
from pathlib import Path

import anywidget
import numpy as np
import traitlets

from embviz.errors import EmbvizError
from embviz.rundir.follow import POLL_SECONDS, Follower

HEIGHT = 480
"""The map's height in pixels (its width is the cell's)."""

_WEB = resources.files("embviz.notebook")


class LiveMap(anywidget.AnyWidget):
    """The latest map of the run in ``run_dir``, redrawn on every new snapshot until the run ends.

    Synced to the view: ``words`` [n], ``codes`` [n] (category index, -1 none), ``categories`` and ``palette`` (a
    colour per category), ``positions`` (float32 little-endian [n, 2]), ``step``, ``snapshots`` (how many laid out),
    ``purity`` (category purity@10 at ``level`` in the last snapshot), ``state`` (``waiting``, ``training``, the
    run's status once it is followed no more, or ``error: …``).
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
    level = traitlets.Unicode("").tag(sync=True)
    purity = traitlets.Float(None, allow_none=True).tag(sync=True)
    state = traitlets.Unicode("waiting").tag(sync=True)
    height = traitlets.Int(HEIGHT).tag(sync=True)

    def __init__(self, run_dir: Path | str, *, height: int = HEIGHT, **options):
        """Follow the run in ``run_dir`` (it may not exist yet) with ``embviz explore``'s word options (``words``,
        ``top``, ``level``, …; the layout is always the incremental UMAP)."""
        from embviz.notebook.explorer import explore_options

        self.options = explore_options(**options)
        super().__init__(title=Path(run_dir).name, height=height)
        self.run_dir = Path(run_dir)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name=f"embviz live map {run_dir}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop following once the snapshots already written are drawn (``train`` has ended, or the map is closed)."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> None:
        """Return once the map follows the run no more: it finished, or :meth:`stop` was called and what was there is
        drawn (or after ``timeout`` seconds)."""
        self._thread.join(timeout)

    def close(self) -> None:
        self.stop()
        super().close()

    def __repr__(self) -> str:
        return f"<embviz live map of {self.run_dir}: {self.snapshots} snapshots drawn, step {self.step}, {self.state}>"

    def _follow(self) -> None:
        from embviz.film.live import LiveFrames

        try:
            follower = self._follower()
            if follower is None:
                return
            frames = None
            for snap in self._snapshots(follower):
                if frames is None:  # the vocabulary is written before the first snapshot
                    frames = LiveFrames(follower.run, self.options)
                    self._start(frames)
                frame = frames.add(snap)
                with self.hold_sync():
                    self.positions = np.ascontiguousarray(frames.layout.frames[-1], dtype="<f4").tobytes()
                    self.step, self.snapshots = snap.step, len(frames.frames)
                    self.purity = frame["curves"].get(f"purity · {self.level}", [None])[0]
            self.state = follower.status() or "stopped"
        except EmbvizError as e:
            self.state = f"error: {e}"
        except Exception as e:  # the thread's end: say it on the map rather than print a traceback into the cell
            self.state = f"error: {type(e).__name__}: {e}"

    def _follower(self) -> Follower | None:
        """A follower of the run once its directory holds one (None: stopped before)."""
        while True:
            try:
                return Follower(self.run_dir)
            except EmbvizError:
                if self._stop.wait(POLL_SECONDS):
                    return None

    def _snapshots(self, follower: Follower):
        """Each snapshot of the run as it comes, until it has finished or :meth:`stop` (then the ones left)."""
        yield from follower.follow(stop=self._stop)
        yield from follower.poll()

    def _start(self, frames) -> None:
        header = frames.header()
        level = header["levels"][header["level"]] if header["levels"] else {"name": "", "codes": [], "categories": [],
                                                                              "colours": []}
        with self.hold_sync():
            self.title, self.words = header["title"], header["words"]
            self.codes = level["codes"] or [-1] * len(header["words"])
            self.categories, self.palette, self.level = level["categories"], level["colours"], level["name"]
            self.state = "training"

