"""The Typer app, its consoles and progress bars, the helpers every command uses, and :func:`main`.

Every error embviz raises on purpose reaches the user as one ``Error:`` line and a non-zero exit.
"""

from __future__ import annotations

import contextlib
import inspect
import sys
import typing
import warnings
from typing import Optional

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from typer.exceptions import TyperException

from embviz.errors import ConfigError, EmbvizError
from embviz.progress import BYTES_SUFFIX

app = typer.Typer(
    help="Watch the token embeddings of a small language model learn, and compare them with Word2Vec.",
    add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None,
)
out = Console()
err = Console(stderr=True)

AUTO = "auto"
"""What a number option shows and takes for None: chosen from the run or the corpus."""


@app.callback()
def _root() -> None:
    """Watch the token embeddings of a small language model learn, and compare them with Word2Vec."""


def auto(value: str, name: str, kind: type) -> int | float | None:
    """``auto`` → None (chosen from the corpus); otherwise the number, or a one-line error."""
    if value == AUTO:
        return None
    try:
        return kind(value)
    except ValueError:
        raise ConfigError(f"--{name} must be a number or 'auto', got {value!r}") from None


def auto_default(value: int | float | None) -> str:
    """An option's default as the command line spells it: ``auto`` for None, else the number."""
    return AUTO if value is None else str(value)


def defaults_of(function) -> dict:
    """The default of each keyword of a library ``function``, by name."""
    return {name: p.default for name, p in inspect.signature(function).parameters.items()}


def options_from(cls: type, params: dict, **given):
    """The dataclass ``cls`` built from a command's ``params`` named like its fields, ``given`` replacing
    them; ``auto`` in a number field becomes None."""
    hints = typing.get_type_hints(cls)
    values = {name: params[name] for name in hints if name in params and name not in given}
    for name, value in values.items():
        kind = (typing.get_args(hints[name]) or (hints[name],))[0]
        if isinstance(value, str) and kind in (int, float):
            values[name] = auto(value, name.replace("_", "-"), kind)
    return cls(**values, **given)


def split(value: Optional[str]) -> tuple[str, ...]:
    """A comma-separated option as its stripped, non-empty items."""
    return tuple(w.strip() for w in (value or "").split(",") if w.strip())


def finite(value: float) -> float | None:
    """``value`` as a float, None for NaN (shown as a dash)."""
    value = float(value)
    return None if value != value else value


class _Count(ProgressColumn):
    """``done/total`` for a stage of items; size done, total and speed for a stage of bytes."""

    def __init__(self):
        super().__init__()
        self.items, self.size, self.speed = MofNCompleteColumn(), DownloadColumn(), TransferSpeedColumn()

    def render(self, task):
        if not task.fields.get("in_bytes"):
            return self.items.render(task)
        return f"{self.size.render(task)} {self.speed.render(task)}"


class Bars:
    """Rich progress bars on stderr, one per stage, started on the first report (so bad input that
    fails before any progress prints only its ``Error:`` line); nothing at all when ``quiet``.

    Use as a context manager; ``fields`` are extra per-task columns (e.g. ``loss``).
    """

    def __init__(self, quiet: bool, *fields: str):
        self.quiet, self.fields = quiet, fields
        self.stack = contextlib.ExitStack()
        self.bar: Progress | None = None
        self.tasks: dict[str, int] = {}

    def __enter__(self) -> "Bars":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stack.close()

    def update(self, stage: str, done: int, total: int, *, description: str | None = None, **fields: str) -> None:
        if self.quiet:
            return
        if self.bar is None:
            extra = [TextColumn(f"{name} {{task.fields[{name}]}}") for name in self.fields]
            self.bar = self.stack.enter_context(Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), _Count(), *extra,
                TimeElapsedColumn(), TimeRemainingColumn(), console=err))
        if stage not in self.tasks:
            self.tasks[stage] = self.bar.add_task(stage, total=total, in_bytes=stage.endswith(BYTES_SUFFIX),
                                                  **{name: "" for name in self.fields})
        self.bar.update(self.tasks[stage], completed=done, total=total,
                        description=description or stage.removesuffix(BYTES_SUFFIX), **fields)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    err.print(f"Warning: {message}", highlight=False, markup=False)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``embviz`` console script and ``python -m embviz``."""
    warnings.showwarning = _show_warning
    args = sys.argv[1:] if argv is None else argv
    try:
        code = app(args=args or ["--help"], prog_name="embviz", standalone_mode=False)
    except TyperException as e:  # a usage error: unknown option, bad value, missing argument
        ctx = getattr(e, "ctx", None)
        hint = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
        err.print(f"Error: {e.format_message()}{hint}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(getattr(e, "exit_code", 2))
    except EmbvizError as e:
        err.print(f"Error: {e}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(1)
    except (typer.Abort, KeyboardInterrupt):
        err.print("Aborted.")
        sys.exit(130)
    sys.exit(code or 0)
