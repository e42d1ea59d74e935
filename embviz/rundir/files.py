"""Atomic file io for everything embviz writes: a temp file beside the target, fsynced, renamed over it.

Also the JSON reader that turns a missing or unreadable file into one RunError line, and the TSV field
escape that keeps one token on one line whatever characters it holds.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from embviz.errors import ConfigError, EmbvizError, RunError

_UMASK = os.umask(0o022)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success rename it onto ``path``, on error remove it.

    The temp file is ``.<name>.<random>.tmp``, the pattern :meth:`Run.remove_temp_files` clears
    after a killed writer. It gets the permissions of any new file (``mkstemp`` makes 0600).
    """
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def new_folder_mode() -> int:
    """The permissions a new folder gets under the process umask (``mkdtemp`` makes 0700)."""
    return 0o777 & ~_UMASK


def atomic_write(path: Path, write: Callable[[io.BufferedWriter], None]) -> None:
    """Call ``write(f)`` on a temp file beside ``path``, fsync it, then rename it over ``path``."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def write_npy(path: Path, array: np.ndarray) -> None:
    atomic_write(path, lambda f: np.save(f, array, allow_pickle=False))


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"{path} is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RunError(f"{path} is not valid JSON ({e})") from None


_NAMED = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
_UNNAMED = re.compile(r"[\\\x00-\x1f\x7f-\x9f\u2028\u2029]")
"""Backslash, every C0/C1 control character and the line/paragraph separators: whatever
``str.splitlines()`` (or a TSV reader) could take for the end of a line or field."""


def _escape(match: re.Match) -> str:
    ch = match.group()
    return _NAMED.get(ch) or (f"\\x{ord(ch):02x}" if ord(ch) <= 0xFF else f"\\u{ord(ch):04x}")


def tsv_escape(token: str) -> str:
    r"""``token`` as one TSV field on one line: backslash, tab, newline and carriage return as
    ``\\ \t \n \r``, any other control character (``\x0c``, ``\x85``…) as ``\xHH`` and the line and
    paragraph separators as ``\u2028``, ``\u2029``."""
    return _UNNAMED.sub(_escape, token)


def tsv_unescape(text: str) -> str:
    """The inverse of :func:`tsv_escape` (an unknown escape ``\\c`` reads as ``c``)."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            code = text[i + 1]
            width = {"x": 2, "u": 4}.get(code, 0)
            digits = text[i + 2:i + 2 + width]
            if width and len(digits) == width and all(c in "0123456789abcdefABCDEF" for c in digits):
                out.append(chr(int(digits, 16)))
                i += 2 + width
                continue
            out.append({"t": "\t", "n": "\n", "r": "\r", "\\": "\\"}.get(code, code))
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def check_writable(path: Path) -> None:
    """Fail early, with a one-line error, when the file ``path`` could not be written (its folder is
    created if missing)."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"output {path} is a directory")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path.parent, prefix=".embviz-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise EmbvizError(f"cannot write to {path.parent}: {e.strerror or e}") from None
