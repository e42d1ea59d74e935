"""Compile a UMAP film's numba code before the film is asked for.

A UMAP film's first fit in an environment compiles numba code (pynndescent's at ``import umap``,
umap-learn's and :mod:`embviz.layout.temporal_umap`'s on first call) and stores it in numba's disk
cache, so later processes load it instead. :func:`warm` runs the projection ``animate`` runs, with
its default options, on a few random frames, which fills that cache. :func:`start_warming` does that
in a detached background process at idle priority: ``train`` starts one, so the compiling happens
while the model trains, on whatever CPU training leaves idle. ``python -m embviz.film.warmup`` warms
in the foreground (``make demo`` runs it after installing).

This module imports only the standard library until :func:`warm` runs.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

WORDS, DIM, FRAMES = 60, 16, 3
"""The warm-up's frames [WORDS, DIM] × FRAMES: a chain, a warm-started frame and the joint refinement."""


def warm() -> None:
    """Run ``animate``'s default UMAP projection on :data:`FRAMES` random float32 frames [WORDS, DIM]."""
    import numpy as np

    from embviz.film.animate_options import AnimateOptions
    from embviz.film.stages import projector_for

    options = AnimateOptions()
    if options.method != "umap":
        return
    rng = np.random.default_rng(0)
    projector_for(options).fit([rng.normal(size=(WORDS, DIM)).astype(np.float32) for _ in range(FRAMES)])


def _lock_path() -> Path:
    """One lock per Python environment, so concurrent trainings start one warm-up between them."""
    key = hashlib.sha256(sys.prefix.encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"embviz-warmup-{os.getuid() if hasattr(os, 'getuid') else 0}-{key}.lock"


def start_warming() -> None:
    """Start :func:`warm` in a detached idle-priority process; nothing if umap-learn is missing or it
    cannot start. Never raises and never prints."""
    if importlib.util.find_spec("umap") is None:
        return
    try:
        subprocess.Popen([sys.executable, "-m", "embviz.film.warmup", "--background"], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                         close_fds=True)
    except (OSError, ValueError):
        pass


def _background() -> None:
    """Lower this process to idle priority, and leave the work to a warm-up already running."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        if hasattr(os, "nice"):
            os.nice(19)
    try:
        import fcntl
    except ImportError:
        return warm()
    with open(_lock_path(), "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return
        warm()


if __name__ == "__main__":
    if "--background" in sys.argv[1:]:
        try:
            _background()
        except Exception:  # a background warm-up never reports: the film compiles what it lacks
            pass
    else:
        warm()
