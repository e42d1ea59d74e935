"""The one overwrite rule for everything a command writes, and the one way to replace an output.

The rule:

- an output **inside the run directory** that a command can regenerate (``<run>/word2vec/``,
  ``<run>/explorer.html``, ``<run>/film.mp4``, ``<run>/projections/``) is replaced without asking;
- a **path the user named** (``--out``, an export target) that already exists needs ``overwrite``
  (``--overwrite``), and then must be what the command writes: a file for a file, and for a folder one
  that holds the command's ``marker`` file (an empty folder counts as absent).

:func:`check_output` applies the rule before any work; :func:`replacing` builds the new file or
folder beside the target and swaps it in atomically, so a failure at any point (an error, Ctrl-C)
leaves the old output as it was.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from pathlib import Path
from typing import Iterator

from embviz.errors import ConfigError, RunError
from embviz.rundir.files import atomic_path, new_folder_mode


class OutputError(ConfigError, RunError):
    """An output that may not be written or replaced (either kind of error, as the callers raised before)."""


def check_output(path: Path, overwrite: bool, *, folder: bool = False, marker: str | None = None,
                 what: str = "an embviz output", hint: str = "") -> None:
    """Refuse, with one :class:`OutputError` line, to write ``path`` when the rule says no.

    ``folder``: the output is a folder, replaceable only if it holds ``marker`` (described as ``what``
    in the error); otherwise a file, never a folder. ``hint`` is added to the "already exists" error.
    Pass ``overwrite=True`` for a regenerable output inside the run directory.
    """
    path = Path(path)
    real_folder = path.is_dir() and not path.is_symlink()
    if not (path.exists() or path.is_symlink()) or folder and real_folder and not any(path.iterdir()):
        return
    if not overwrite:
        raise OutputError(f"{path} already exists; pass --overwrite to replace it{hint}")
    if folder and not (real_folder and marker is not None and (path / marker).is_file()):
        raise OutputError(f"{path} is not {what} (no {marker}); refusing to replace it")
    if not folder and path.is_dir():
        raise OutputError(f"{path} is a directory")


@contextlib.contextmanager
def replacing(path: Path, *, folder: bool = False) -> Iterator[Path]:
    """Yield a new temp file (or folder) beside ``path``; when the block succeeds it takes the place of
    ``path`` atomically, when it fails it is removed and ``path`` is untouched.

    A folder being replaced is renamed aside first, put back if the new one cannot be moved in, and
    removed only once the new one is in place.
    """
    path = Path(path)
    if not folder:
        with atomic_path(path) as tmp:
            yield tmp
        return
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    tmp.mkdir(mode=new_folder_mode())
    try:
        yield tmp
        if path.is_dir() and not path.is_symlink() and any(path.iterdir()):
            old = path.with_name(f".{path.name}.{secrets.token_hex(4)}.old.tmp")
            os.rename(path, old)
            try:
                os.rename(tmp, path)
            except BaseException:
                os.rename(old, path)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
