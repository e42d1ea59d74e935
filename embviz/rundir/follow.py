"""Following a run that another process writes: each new snapshot once, in step order, as soon as it is whole.

:class:`Follower` polls ``snapshots/index.json``. The writer's contract (``docs/architecture.md``, "Write
order") lists an entry only after its files are whole, but a folder synced from another machine can show
an index before its files, or a file before its last bytes; so every file of an entry is also checked to be
a whole ``.npy`` (its header's shape × item size fits the file's size) and an entry that is not waits, with
every entry after it, until a later poll finds it whole. An index or ``run.json`` caught half-synced
(unreadable JSON) reads as "no news".

``train --resume`` rewrites the index: the snapshots after the checkpoint are dropped and taken again at the
same steps (with the same seed, data order and schedule). The follower reports each step once: a step it has
already given is not given again, and the run goes on from the next new step.

The run has finished when ``run.json`` says ``complete`` and every snapshot its index lists has been given.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from embviz.errors import EmbvizError, RunError
from embviz.rundir.run import Run, Snapshot

POLL_SECONDS = 0.1
"""How often :meth:`Follower.follow` looks at the index."""


def whole_npy(path: Path) -> bool:
    """Whether ``path`` is a complete ``.npy`` file: readable header, and exactly the bytes its shape needs."""
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = read(f)
            offset = f.tell()
            size = os.fstat(f.fileno()).st_size
    except (OSError, ValueError, SyntaxError, EOFError):
        return False
    return dtype.kind == "f" and size == offset + int(np.prod(shape)) * dtype.itemsize


class Follower:
    """The snapshots of the run in ``run_dir`` as they appear.

    ``poll()`` returns the new whole snapshots since the last poll (step order); ``follow()`` yields them
    as they come until the run has finished; ``finished`` says whether it has. Reads only: nothing in the
    run is written, so any number of followers can follow one run.
    """

    def __init__(self, run_dir: Path | str):
        self.run = Run.open(Path(run_dir))  # a folder that is not a run is a RunError here
        self.given: list[Snapshot] = []
        self._last_step = -1
        self._waiting = True  # the last poll left listed entries not given (or found no index)
        self._status: str | None = None

    @property
    def last_step(self) -> int:
        """The step of the last snapshot given (-1: none yet)."""
        return self._last_step

    def poll(self) -> list[Snapshot]:
        """The snapshots listed since the last poll whose files are all whole, in step order; an entry that
        is not yet whole holds back itself and every later one."""
        self._status = self.status()  # before the index: a run complete by now has listed its last snapshot
        try:
            listed = self.run.snapshots()
        except RunError:  # a half-synced or half-replaced index: look again next time
            return []
        new = []
        for snap in listed:
            if snap.step <= self._last_step:
                continue
            if not all(whole_npy(path) for path in self.run.files_of(snap).values()):
                break
            new.append(snap)
            self._last_step = snap.step
        self.given.extend(new)
        self._waiting = not listed or listed[-1].step > self._last_step
        return new

    def status(self) -> str | None:
        """``run.json``'s status (running, complete, interrupted), or None while it cannot be read."""
        try:
            return self.run.manifest().status
        except EmbvizError:
            return None

    @property
    def finished(self) -> bool:
        """The run was complete at the last poll and every snapshot of its index has been given."""
        return not self._waiting and self._status == "complete"

    def follow(self, *, interval: float = POLL_SECONDS, first_timeout: float | None = None,
               stop: threading.Event | None = None) -> Iterator[Snapshot]:
        """Yield each new snapshot as it becomes whole, until the run has finished or ``stop`` is set.

        ``first_timeout``: seconds to wait for the first snapshot; then a RunError says none came.
        """
        start = time.monotonic()
        while not (stop and stop.is_set()):
            yield from self.poll()
            if self.finished:
                return
            if not self.given and first_timeout is not None and time.monotonic() - start > first_timeout:
                raise RunError(f"{self.run.path}: no snapshot appeared in {first_timeout:g} s "
                               "(is the run training? `embviz train` writes one at step 0)")
            if stop:
                stop.wait(interval)
            else:
                time.sleep(interval)
