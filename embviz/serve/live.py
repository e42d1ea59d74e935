"""The live page of a run that is training: the explorer, fed each new snapshot as an event.

:class:`LiveService` follows the run (:class:`~embviz.rundir.follow.Follower`), makes each new snapshot's
frame in a thread of its own (:class:`~embviz.film.live.LiveFrames`) and serves two routes on 127.0.0.1
(:class:`~embviz.serve.server.Server`): ``/``, the explorer page in live mode, and ``/frames?from=I``, a
server-sent event stream of every frame from the I-th on, as JSON, then ``{"finished": true}`` once the run
is complete. A page that reloads or reconnects asks from the frames it holds; a slow or closed tab only
ends its own stream. Nothing else is served: no file by path, nothing outside the run.

:func:`serve_in_child` runs the service in a child process for ``train --live``: it reads only the files
training writes, so the training loop never waits for it (not even for Python's lock: UMAP's numba code
holds it), and runs at a lower priority than training.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import queue
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from embviz.errors import ConfigError, EmbvizError
from embviz.film.animate_options import AnimateOptions
from embviz.rundir.run import RUN_JSON
from embviz.serve.server import Request, Response, Routes, Server

KEEP_ALIVE_SECONDS = 15.0
"""A stream with no new frame sends a comment this often, so a closed tab is noticed."""
REFINE_NICENESS = 5
"""How much lower the priority of the thread that makes the final layouts is than the service's own."""
PAGE_WAIT_SECONDS = 1.0
"""How long ``/`` waits for the run's words (its first snapshot) before it answers with a page that waits."""
WAITING_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="1">
<title>embviz live · waiting</title></head>
<body style="font: 15px system-ui, sans-serif; margin: 2em"><p id="waiting">Waiting for the run's first snapshot…
this page loads the map as soon as it is written.</p></body></html>
"""
"""``/`` before the first snapshot: 503, and the page asks again every second until the map is there."""


class LiveService:
    """Follows the run in ``run_dir`` and serves its live page on ``127.0.0.1:port`` (0: a free port).

    ``wait_for_run``: ``run_dir`` may not be a run yet (``train --live`` starts the page before the run
    exists); otherwise a folder that is not a run is a RunError here. ``first_timeout``: seconds to wait for
    the first snapshot before :attr:`error` says none came (None: wait for ever). A port in use is a
    ConfigError here, before anything is followed.
    """

    def __init__(self, run_dir: Path | str, options: AnimateOptions = AnimateOptions(), *, port: int = 0,
                 wait_for_run: bool = False, first_timeout: float | None = None):
        from embviz.rundir.follow import Follower

        self.run_dir, self.options, self.first_timeout = Path(run_dir), options, first_timeout
        if not wait_for_run:
            Follower(self.run_dir)  # a folder that is not a run: one RunError before the port is taken
        self.frames: list[str] = []  # each frame's JSON, in step order: [0, settled) final, the rest provisional
        self.settled = 0
        self.finished = False
        self._complete = False  # the follower saw the run finish
        self._queue: queue.SimpleQueue = queue.SimpleQueue()  # (LiveFrames, Snapshot) to refine; None: no more
        self.error: str | None = None
        self._header: str | None = None
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self.server = Server(Routes(pages={"/": self._page}, streams={"/frames": self._stream}), port)
        self._worker = threading.Thread(target=self._follow, name="embviz-live", daemon=True)
        self._refiner = threading.Thread(target=self._refine, name="embviz-live-refine", daemon=True)

    @property
    def url(self) -> str:
        return self.server.url

    def start(self, follow: bool = True) -> "LiveService":
        """Serve; and follow the run now, or (``follow`` False) once :meth:`begin` is called."""
        self.server.start()
        if follow:
            self.begin()
        return self

    def begin(self) -> None:
        """Start following the run (once)."""
        if not self._worker.is_alive() and not self._stop.is_set():
            self._worker.start()
            self._refiner.start()

    def stop(self) -> None:
        self._stop.set()
        with self._changed:
            self._changed.notify_all()
        self.server.stop()
        for thread in (self._worker, self._refiner):
            if thread.is_alive():
                thread.join(timeout=30)

    def __enter__(self) -> "LiveService":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run has finished or the service failed (:attr:`error`); False on ``timeout``."""
        with self._changed:
            return self._changed.wait_for(lambda: self.finished or self.error is not None, timeout)

    # -- the workers: snapshots → frames ------------------------------------------------------------

    def _follow(self) -> None:
        """Each new snapshot's provisional frame at once (:meth:`LiveFrames.first_look`); the refining
        thread makes the final ones in order."""
        from embviz.film.live import LiveFrames
        from embviz.rundir.follow import Follower
        from embviz.rundir.run import Run

        try:
            while not (self.run_dir / RUN_JSON).is_file():  # train --live: the run is being created
                if self._stop.wait(0.05):
                    return
            follower, live = Follower(self.run_dir), None
            for snap in follower.follow(stop=self._stop, first_timeout=self.first_timeout):
                if live is None:  # the words need the vocabulary, which a run writes before its first snapshot
                    live = LiveFrames(Run.open(self.run_dir), self.options)
                    with self._changed:
                        self._header = _page_html(live.header())
                        self._changed.notify_all()
                frame = live.first_look(snap)
                with self._changed:
                    self._publish(len(self.frames), frame)
                self._queue.put((live, snap))
            self._complete = follower.finished
        except EmbvizError as e:
            self._failed(e)
        finally:
            self._queue.put(None)

    def _refine(self) -> None:
        """The final frames, in step order, each replacing its provisional one; then the run is finished.
        This thread runs at a lower priority than the one that follows the run."""
        _lower_priority(REFINE_NICENESS)
        while (item := self._queue.get()) is not None and not self._stop.is_set():
            live, snap = item
            try:
                frame = live.add(snap)
            except EmbvizError as e:
                self._failed(e)
                return
            with self._changed:
                self._publish(self.settled, frame)
                self.settled += 1
        with self._changed:
            self.finished = self._complete and self.settled == len(self.frames)
            self._changed.notify_all()

    def _publish(self, index: int, frame: dict) -> None:
        """Frame ``index`` (a new one, or the final one of a provisional): call holding ``_changed``."""
        text = json.dumps({**frame, "index": index}, ensure_ascii=False, allow_nan=False)
        if index < len(self.frames):
            self.frames[index] = text
        else:
            self.frames.append(text)
        self._changed.notify_all()

    def _failed(self, error: EmbvizError) -> None:
        with self._changed:
            self.error = str(error)
            self._changed.notify_all()

    # -- the routes ---------------------------------------------------------------------------------

    def _page(self, request: Request) -> Response:
        with self._changed:
            self._changed.wait_for(lambda: self._header is not None or self.error is not None or request.stopping.is_set(),
                                   PAGE_WAIT_SECONDS)
            header, error = self._header, self.error
        if header is not None:
            return Response.html(header)
        if error is not None:
            return Response(f"{error}\n".encode(), status=503)
        return Response.html(WAITING_PAGE, status=503)

    def _stream(self, request: Request) -> Iterator[str | None]:
        """Every frame from ``from`` on, then each final one as it replaces a provisional one it sent."""
        given = request.query.get("from", "0")
        if not given.isdigit():
            return
        sent = settled = int(given)  # frames [0, sent) sent; [settled, sent) of them provisional
        last = time.monotonic()
        while not (request.stopping.is_set() or self._stop.is_set()):
            with self._changed:
                self._changed.wait_for(lambda: len(self.frames) > sent or self.settled > settled or self.finished
                                       or self._stop.is_set(), 1.0)
                final, batch = self.frames[settled:min(self.settled, sent)], self.frames[sent:]
                done, count = self.finished, len(self.frames)
                settled, sent = max(settled, min(self.settled, count)), max(sent, count)
            for frame in final + batch:
                yield frame
            now = time.monotonic()
            if done and settled >= count:
                yield json.dumps({"finished": True, "snapshots": count})
                return
            if final or batch:
                last = now
            elif now - last > KEEP_ALIVE_SECONDS:
                yield None
                last = now


def _lower_priority(by: int) -> None:
    """Lower the calling thread's priority (Linux schedules threads by their own niceness; elsewhere a no-op)."""
    with contextlib.suppress(AttributeError, OSError):
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + by))


def _page_html(header: dict) -> str:
    from embviz.film.explore import render_page

    return render_page(header, live=True)


# -- train --live: the service in a child process ---------------------------------------------------


class ChildService:
    """A :class:`LiveService` running in a child process (``url``); :meth:`stop` ends it."""

    def __init__(self, process: multiprocessing.Process, conn, url: str):
        self.process, self._conn, self.url = process, conn, url
        self._begun = False

    def begin(self) -> None:
        """Start following the run (call once the run directory holds the run being trained)."""
        if not self._begun:
            self._begun = True
            self._conn.send("begin")

    def alive(self) -> bool:
        return self.process.is_alive()

    def stop(self) -> None:
        self._conn.close()  # the child's recv ends: it stops its server and exits
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join()


def serve_in_child(run_dir: Path | str, options: AnimateOptions = AnimateOptions(), port: int = 0) -> ChildService:
    """Start the live page of ``run_dir`` in a child process; returns once it listens (a port in use is a
    ConfigError here). It follows the run once :meth:`ChildService.begin` is called: ``run_dir`` may not
    exist yet, or hold an old run that ``--overwrite`` is about to clear."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_child_main, args=(child, str(run_dir), options, port), name="embviz-live",
                          daemon=True)
    process.start()
    child.close()
    try:
        kind, message = parent.recv()
    except EOFError:
        process.join()
        raise EmbvizError(f"the live page's process ended at start (exit code {process.exitcode})") from None
    if kind == "error":
        process.join()
        raise ConfigError(message)
    return ChildService(process, parent, message)


def _child_main(conn, run_dir: str, options: AnimateOptions, port: int) -> None:
    """The child: serve until the parent closes its end of the pipe (or dies)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it stops training, then this
    os.nice(10)  # training first
    try:
        service = LiveService(run_dir, options, port=port, wait_for_run=True)
    except EmbvizError as e:
        conn.send(("error", str(e)))
        return
    service.start(follow=False)
    try:
        conn.send(("ready", service.url))
        # while the parent reads the corpus: the first final frame then waits for no import or compile
        threading.Thread(target=_warm_layout, name="embviz-live-warm", daemon=True).start()
        while True:
            if conn.recv() == "begin":
                service.begin()
    except EOFError:
        pass
    finally:
        service.stop()


def _warm_layout() -> None:
    """Import umap-learn and load (or compile) the numba code of the incremental layout on two tiny frames."""
    import numpy as np

    from embviz.layout.incremental import IncrementalLayout

    rng = np.random.default_rng(0)
    layout = IncrementalLayout()
    for _ in range(2):
        layout.add(rng.normal(size=(20, 4)))
