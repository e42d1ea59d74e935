"""Progress: how the library reports work without printing. ``progress(stage, done, total)`` is the one
callback type (:data:`Progress`); the command line draws each stage as a rich bar, tests pass nothing.

A stage named by :func:`bytes_stage` counts bytes (the command line shows sizes and speed).

A function that does one stage's work takes :data:`Ticks`, ``ticks(done, total)``: a :data:`Progress`
bound to that stage by its caller with :func:`for_stage`, so the caller names the stage.
"""

from __future__ import annotations

from typing import Callable

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``."""

Ticks = Callable[[int, int], None]
"""``ticks(done, total)``: one stage of a :data:`Progress`."""


def for_stage(progress: Progress | None, stage: str) -> Ticks | None:
    """``progress`` bound to one stage: ``(done, total)`` reports as ``(stage, done, total)``."""
    return None if progress is None else (lambda done, total: progress(stage, done, total))


BYTES_SUFFIX = " [bytes]"


def bytes_stage(name: str) -> str:
    """The stage ``name``, counted in bytes: ``progress(bytes_stage("fetching"), bytes_done, bytes_total)``."""
    return name + BYTES_SUFFIX
