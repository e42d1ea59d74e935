"""``embviz watch`` and ``train --live``: the live page of a run while it trains (:mod:`embviz.serve.live`)."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from embviz.cli import options as opt
from embviz.cli.core import app, err, out
from embviz.film.animate_options import AnimateOptions

if TYPE_CHECKING:
    from embviz.serve.live import ChildService

FIRST_SNAPSHOT_WAIT = 120.0
"""watch: seconds to wait for a run's first snapshot [default of --wait]."""


def serving_rank() -> bool:
    """Whether this process serves the live page: under torchrun only rank 0 does; the others train alone."""
    return os.environ.get("RANK", "0") == "0"


def _served(url: str) -> None:
    out.print(f"Live page: {url}", highlight=False, soft_wrap=True)


@contextlib.contextmanager
def live_page(run_dir: Path, port: int | None) -> Iterator["ChildService"]:
    """Serve the live page of ``run_dir`` from a child process while the body trains (call the service's
    ``begin`` once training has created the run). The page ends with the block (an error, or Ctrl-C)."""
    from embviz.serve.live import serve_in_child

    child = serve_in_child(run_dir, AnimateOptions(), port or 0)
    _served(child.url)
    try:
        yield child
    finally:
        child.stop()


def keep_serving(url: str) -> None:
    """After training: the page stays, showing the finished run, until Ctrl-C."""
    err.print(f"Training finished; {url} shows the finished run. Ctrl-C stops the page.", highlight=False,
              soft_wrap=True)
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            time.sleep(3600)


@app.command()
def watch(
    run_dir: Path = typer.Argument(..., help="A run directory that embviz train (or train --resume) is writing, "
                                             "here or synced from elsewhere."),
    port: opt.Port = None,
    wait: float = typer.Option(FIRST_SNAPSHOT_WAIT, help="Seconds to wait for the run's first snapshot."),
    words: opt.Words = None,
    top: opt.Top = AnimateOptions().top,
    content_only: opt.ContentOnly = AnimateOptions().content_only,
    level: opt.Level = None,
    seed: opt.Seed = AnimateOptions().seed,
    quiet: opt.Quiet = False,
) -> None:
    """Serve the live explorer of a run another process trains: each snapshot appears as it is written; a
    finished run is shown whole. Ctrl-C stops it; nothing is written to the run."""
    from embviz.cli.core import split
    from embviz.errors import RunError
    from embviz.serve.live import LiveService

    options = AnimateOptions(words=split(words), top=top, content_only=content_only, level=level, seed=seed)
    with LiveService(run_dir, options, port=port or 0, first_timeout=wait) as service:
        _served(service.url)
        try:
            service.wait()
            if service.error:
                raise RunError(service.error)
            if not quiet:
                err.print(f"The run has finished; {service.url} shows it. Ctrl-C stops the page.", highlight=False,
                          soft_wrap=True)
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
