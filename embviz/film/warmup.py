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
    """Run ``animate``'s default UMAP projection on :data:`FRAMES` random float32 frames [WORDS, DIM], and
    record that it ran (:func:`is_warm`)."""
    import numpy as np

    from embviz.film.animate_options import AnimateOptions
    from embviz.film.stages import projector_for
    from embviz.measure.settle import vocabulary_knn

    options = AnimateOptions()
    if options.method != "umap":
        return
    rng = np.random.default_rng(0)
    frames = [rng.normal(size=(WORDS, DIM)).astype(np.float32) for _ in range(FRAMES)]
    projector_for(options).fit(frames)
    vocabulary_knn(frames[0])  # the settle stage's top-k
    _done_path().touch()


def _marker(suffix: str, *parts: object) -> Path:
    """A file in the temp folder named for this user, Python environment and ``parts``."""
    key = hashlib.sha256(repr((sys.prefix, *parts)).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"embviz-warmup-{os.getuid() if hasattr(os, 'getuid') else 0}-{key}{suffix}"


def _lock_path() -> Path:
    """One lock per Python environment, so concurrent trainings start one warm-up between them."""
    return _marker(".lock")


def _done_path() -> Path:
    """Written after a warm-up; named for numba's cache folder and the sources whose compiled code it holds
    (numba keys its cache on their modification time and size), so a changed source warms again."""
    sources = [Path(__file__).parents[1] / "layout" / "temporal_umap.py", Path(__file__).parents[1] / "measure" / "settle.py"]
    for package in ("umap", "pynndescent"):
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.submodule_search_locations:
            sources += sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.py"))
    stats = [(str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in sources if f.is_file()]
    return _marker(".done", os.environ.get("NUMBA_CACHE_DIR"), stats)


def is_warm() -> bool:
    """Whether a warm-up has filled numba's cache for this environment's current sources."""
    return _done_path().is_file()


def start_warming() -> None:
    """Start :func:`warm` in a detached idle-priority process; nothing if umap-learn is missing, the cache
    is already warm, or it cannot start. Never raises and never prints."""
    try:
        if importlib.util.find_spec("umap") is None or is_warm():
            return
    except OSError:
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
