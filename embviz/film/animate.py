"""``animate``: a run's snapshots → an aligned film, the small-multiples figure and the emergence metrics.

Reads only the run directory (never retrains). :func:`animate` runs the stages of :mod:`embviz.film.stages`
(snapshots, words, rows, projection, metrics), then :func:`write_outputs` — ``<out>.mp4|gif``,
``<out>-grid.png``, ``<out>-metrics.png``, ``<out>-metrics.csv``; and who settles first: ``<run>/settle.csv``
and ``<out>-settle.png``.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from embviz.errors import ConfigError, EmbvizError
from embviz.film.animate_options import FORMATS, AnimateOptions
from embviz.film.selection import Selection, choose_words, display_names
from embviz.film.stages import Settled, corpus_name, film_snapshots, film_stages, film_title, write_settle
from embviz.layout.trajectory import Trajectory
from embviz.measure.emergence import Emergence
from embviz.measure.settle import findings_line
from embviz.progress import Progress, for_stage
from embviz.rundir.files import check_writable, write_text
from embviz.rundir.output import check_output
from embviz.rundir.run import Run, Snapshot


@dataclass(frozen=True)
class AnimateResult:
    """What ``animate`` wrote and measured."""

    film: Path
    fmt: str
    n_frames: int
    width: int
    height: int
    grid: Path
    metrics_png: Path
    metrics_csv: Path
    words: list[str]
    n_snapshots: int
    method: str
    params: dict
    level: str
    emergence: Emergence
    projection_cached: bool
    metrics_cached: bool
    settled: Settled | None = None
    settle_png: Path | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def files(self) -> list[Path]:
        settle = [self.settled.path, self.settle_png] if self.settled else []
        return [self.film, self.grid, self.metrics_png, self.metrics_csv, *settle]


# -- the command ------------------------------------------------------------------------------


def animate(run_dir: Path, out: Path | None = None, options: AnimateOptions = AnimateOptions(), *,
            overwrite: bool = False, progress: Progress | None = None) -> AnimateResult:
    """Render the film, grid and metrics of the run in ``run_dir``; see the module docstring.

    ``out`` is the film path (default ``<run>/film.<fmt>``, regenerated freely); an ``out`` that exists
    is replaced only with ``overwrite`` (:mod:`embviz.rundir.output`). Raises EmbvizError subclasses for bad
    input; warns (``warnings.warn``) about unknown words, a layout that hides the space's structure
    (:func:`embviz.film.stages.measure`), a missing ffmpeg (then writes a gif) and missing fonts.
    """
    laps = _Laps()
    options.validate()
    run = Run.open(Path(run_dir))
    snapshots = film_snapshots(run, options.matrix)
    film_path, fmt = output_paths(run, out, options.fmt)
    check_output(film_path, overwrite or out is None)
    check_writable(film_path)
    selection = choose_words(run, options)
    stages = film_stages(run, snapshots, selection, options, progress=progress, laps=laps)
    trajectory, table = stages.trajectory, stages.emergence
    film, grid, metrics_png, metrics_csv = write_outputs(run, snapshots, selection, trajectory, table, film_path, fmt,
                                                         options, progress=for_stage(progress, "rendering"),
                                                         laps=laps)
    settled = settle_png = None
    if stages.settle is not None:
        from embviz.film import figures

        settled = write_settle(run, stages.settle)
        settle_png = settle_path(film.path)
        figures.render_settle(settled.steps, settled.counts, settled.classes, stages.settle.steps, settle_png,
                              title=f"{corpus_name(run) or run.path.name} — {findings_line(settled.findings)}")
        laps("settle figure")
    return AnimateResult(
        film=film.path, fmt=film.fmt, n_frames=film.n_frames, width=film.width, height=film.height, grid=grid,
        metrics_png=metrics_png, metrics_csv=metrics_csv, words=selection.words, n_snapshots=len(snapshots),
        method=options.method, params=trajectory.params, level=selection.level, emergence=table,
        projection_cached=trajectory.cached, metrics_cached=stages.metrics_cached, settled=settled,
        settle_png=settle_png, seconds=laps.seconds,
    )


class _Laps:
    """Seconds between consecutive calls, by name: ``laps("project")`` closes the lap ``project``."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.start = time.perf_counter()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = now - self.start
        self.start = now


# -- outputs ----------------------------------------------------------------------------------


def output_paths(run: Run, out: Path | None, fmt: str | None) -> tuple[Path, str]:
    """The film path and format: ``--out`` (its suffix gives the format) or ``<run>/film.<fmt>``."""
    if fmt is not None and fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if out is None:
        fmt = fmt or "mp4"
        return run.path / f"film.{fmt}", fmt
    out = Path(out)
    suffix = out.suffix.lower().lstrip(".")
    if suffix in FORMATS:
        if fmt is not None and fmt != suffix:
            raise ConfigError(f"--out {out.name} does not match --format {fmt}")
        return out, suffix
    if fmt is None and suffix:
        raise ConfigError(f"unknown film format {out.suffix!r} for {out.name}; use .mp4 or .gif (or --format)")
    fmt = fmt or "mp4"
    return out.with_name(out.name + f".{fmt}"), fmt


def side_paths(film: Path) -> tuple[Path, Path, Path]:
    """``<out>-grid.png``, ``<out>-metrics.png``, ``<out>-metrics.csv`` beside the film."""
    stem = film.with_suffix("")
    return (stem.with_name(stem.name + "-grid.png"), stem.with_name(stem.name + "-metrics.png"),
            stem.with_name(stem.name + "-metrics.csv"))


def settle_path(film: Path) -> Path:
    """``<out>-settle.png`` beside the film."""
    stem = film.with_suffix("")
    return stem.with_name(stem.name + "-settle.png")


def film_of(run: Run, snapshots: list[Snapshot], selection: Selection, trajectory: Trajectory, table: Emergence,
            options: AnimateOptions):
    """The :class:`~embviz.film.drawing.Film` of a run's layouts [T, n, 2]: words coloured by the selection's
    level (positions: a sequence film, by index), the snapshots' steps, epochs and losses, the run's loss curve
    and the film's title."""
    from embviz.film.drawing import Film

    colours = selection.labels(selection.level)
    names = display_names(colours)
    labels = [None if p is None else names[p] for p in colours]
    curve = run.metrics()
    loss_curve = (np.array([r["step"] for r in curve], dtype=float), np.array([r["loss"] for r in curve], dtype=float))
    steps = np.array([s.step for s in snapshots], dtype=float)
    epochs = np.array([s.epoch for s in snapshots], dtype=float)
    return Film(trajectory.positions, selection.words, labels, steps, epochs, table.losses, loss_curve,
                film_title(run, selection, options), sequence="position" if options.matrix == "position" else None)


def write_outputs(run: Run, snapshots: list[Snapshot], selection: Selection, trajectory: Trajectory, table: Emergence,
                  film_path: Path, fmt: str, options: AnimateOptions, *, progress: Progress | None = None,
                  laps: Callable[[str], None] = lambda name: None):
    """Render the film (a gif beside ``film_path`` when ffmpeg is missing), the grid and the metric curves,
    and write the metrics CSV. Returns ``(RenderResult, grid, metrics_png, metrics_csv)``."""
    from embviz.film import figures, render

    grid_path, metrics_png, metrics_csv = side_paths(film_path)
    film = film_of(run, snapshots, selection, trajectory, table, options)
    try:
        result = render.render_film(film, film_path, options.film, fmt=fmt, progress=progress)
    except render.FfmpegUnavailable as e:
        film_path = film_path.with_suffix(".gif")
        warnings.warn(f"{e}; writing {film_path.name} instead", stacklevel=2)
        result = render.render_film(film, film_path, options.film, fmt="gif", progress=progress)
    laps("film")
    grid_film = dataclasses.replace(film, loss_curve=(np.zeros(0), np.zeros(0)))
    figures.render_grid(grid_film, grid_path, snapshots=list(options.grid_snapshots) if options.grid_snapshots else None,
                       font=options.film.font)
    curves, chance = table.curves()
    corpus = corpus_name(run)
    subtitle = f"{corpus or run.path.name} — {table.crossing_line()}" if selection.levels else (corpus or "")
    figures.render_curves(curves, table.steps, metrics_png, chance=chance, beside=table.layout_curves(), title=subtitle)
    try:
        write_text(metrics_csv, table.to_csv())
    except OSError as e:
        raise EmbvizError(f"cannot write {metrics_csv}: {e.strerror or e}") from None
    laps("figures")
    return result, grid_path, metrics_png, metrics_csv
