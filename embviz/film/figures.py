"""The static figures of a film: small multiples of chosen snapshots and metric curves over training, as PNGs."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from embviz.errors import ConfigError
from embviz.film import drawing
from embviz.film.drawing import Film


def default_grid_snapshots(positions: np.ndarray, panels: int = 6) -> list[int]:
    """About ``panels`` indices of the layouts ``positions`` [T, n, 2], first and last included,
    spaced evenly in how far the map has moved from the first layout towards the last, so every
    panel shows a new stage however the snapshots were spaced in steps."""
    t = len(positions)
    if t <= panels:
        return list(range(t))
    remaining = np.linalg.norm(positions - positions[-1], axis=2).mean(axis=1)  # [T]
    if remaining[0] <= 0:  # a static film: spread over the snapshots
        return sorted({int(round(x)) for x in np.linspace(0, t - 1, panels)})
    progress = 1.0 - remaining / remaining[0]
    return sorted({int(np.argmin(np.abs(progress - p))) for p in np.linspace(0, 1, panels)} | {0, t - 1})


def _panel_shape(count: int, max_cols: int = 3) -> tuple[int, int]:
    rows = math.ceil(count / max_cols)
    return rows, math.ceil(count / rows)


def grid_figure(film: Film, snapshots: Sequence[int] | None = None, *, label: int = 12) -> Figure:
    """Small multiples of the chosen snapshot layouts, shared colours, one legend (a sequence film: its points
    joined in order and one colourbar) (Agg canvas attached)."""
    t = len(film.positions)
    chosen = default_grid_snapshots(film.positions) if snapshots is None else list(snapshots)
    if not chosen or any(not 0 <= s < t for s in chosen):
        raise ConfigError(f"snapshots must be indices in 0..{t - 1}, got {chosen}")
    rows, cols = _panel_shape(len(chosen))
    fig = Figure(figsize=(3.2 * cols, 3.2 * rows + 0.9), layout="constrained", facecolor="white")
    FigureCanvasAgg(fig)
    groups = drawing.film_groups(film)
    colours = drawing.point_colors(film)
    label_index = drawing.film_label_index(film, label)
    area = drawing.marker_area(film.positions.shape[1], (3.0 * 72) ** 2, 1.0)
    axes = []
    for panel, s in enumerate(chosen):
        ax = fig.add_subplot(rows, cols, panel + 1)
        axes.append(ax)
        pos = film.positions[s]
        if film.sequence:
            ax.plot(*pos.T, color=drawing.SEQUENCE_LINE, lw=0.6)
        for g in groups:
            ax.scatter(*pos[g.index].T, s=area * (0.45 if g.small else 1.0), c=colours[g.index], linewidths=0)
        for i in label_index:
            ax.annotate(film.words[i], pos[i], xytext=(2, 2), textcoords="offset points", fontsize=6,
                        color="0.1", annotation_clip=True, parse_math=False)
        xlim, ylim = drawing.axis_limits(pos)
        ax.set_xlim(xlim)
        ax.set_ylim(ylim)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{drawing.epoch_text(film.epochs[s])}step {round(film.steps[s]):,}", fontsize=9)
    if film.sequence:
        fig.colorbar(drawing.sequence_colormap(len(film.words)), ax=axes, location="bottom", shrink=0.5, aspect=40,
                     label=film.sequence)
    else:
        fig.legend(handles=drawing.legend_handles(groups, 8), loc="outside lower center", fontsize=8, frameon=False,
                   ncols=max(1, min(len(groups), int(cols * 3.2 / 1.7))), handlelength=1.0, columnspacing=1.0)
    if film.title:
        fig.suptitle(film.title, fontsize=11)
    return fig


def _save_png(fig: Figure, out: Path, dpi: float) -> Path:
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise ConfigError(f"output {out.name} must end in .png")
    with drawing.atomic_output(out) as tmp:
        try:
            fig.savefig(tmp, format="png", dpi=dpi)
        except OSError as err:
            raise drawing.RenderError(f"writing {out.name} failed: {err}") from None
    return out


def render_grid(
    film: Film, out: Path, *, snapshots: list[int] | None = None, font: Path | None = None, dpi: float = 150
) -> Path:
    """Write the "random cloud -> semantic map" small-multiples PNG; snapshots default to
    ``default_grid_snapshots``. Returns ``out``."""
    with matplotlib.rc_context(drawing.font_rc([film.title, *film.words], font)):
        return _save_png(grid_figure(film, snapshots), out, dpi)


def curves_figure(
    table: Mapping[str, np.ndarray], steps: np.ndarray, *, chance: Mapping[str, float] | None = None,
    beside: Mapping[str, tuple[str, np.ndarray]] | None = None, title: str = ""
) -> Figure:
    """One panel per metric: values [T] against training steps [T], dashed chance lines where given, and
    for a panel named in ``beside`` a second line ``(label, values [T])`` (the first is then labelled
    "space")."""
    steps = np.asarray(steps, dtype=float)
    if not table:
        raise ConfigError("no metrics to plot")
    for name, values in table.items():
        if np.shape(values) != steps.shape:
            raise ConfigError(f"metric {name} has shape {list(np.shape(values))}, steps have {list(steps.shape)}")
    chance = chance or {}
    beside = {name: line for name, line in (beside or {}).items() if name in table}
    for name, (_, values) in beside.items():
        if np.shape(values) != steps.shape:
            raise ConfigError(f"metric {name} has shape {list(np.shape(values))}, steps have {list(steps.shape)}")
    rows, cols = _panel_shape(len(table))
    fig = Figure(figsize=(3.6 * cols, 2.6 * rows + 0.4), layout="constrained", facecolor="white")
    FigureCanvasAgg(fig)
    positive = steps[steps > 0]
    for panel, (name, values) in enumerate(table.items()):
        ax = fig.add_subplot(rows, cols, panel + 1)
        ax.plot(steps, np.asarray(values, dtype=float), marker=".", ms=4, lw=1.2, color="tab:blue",
                label="space" if name in beside else None)
        if name in beside:
            label, second = beside[name]
            ax.plot(steps, np.asarray(second, dtype=float), marker=".", ms=4, lw=1.2, color="tab:orange", label=label)
        if name in chance:
            ax.axhline(chance[name], ls="--", lw=1, color="0.5", label="chance")
        if name in chance or name in beside:
            ax.legend(fontsize=7, frameon=False)
        ax.set_xscale("symlog", linthresh=float(positive.min()) if len(positive) else 1.0)
        if steps.max() > steps.min():
            ax.set_xlim(steps.min(), steps.max())
        ax.set_title(name, fontsize=10, loc="left")
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def render_curves(
    table: Mapping[str, np.ndarray],
    steps: np.ndarray,
    out: Path,
    *,
    chance: Mapping[str, float] | None = None,
    beside: Mapping[str, tuple[str, np.ndarray]] | None = None,
    title: str = "",
) -> Path:
    """Write a PNG of metric curves over training steps (see curves_figure). Returns ``out``."""
    with matplotlib.rc_context(drawing.font_rc([title, *table], None)):
        return _save_png(curves_figure(table, steps, chance=chance, beside=beside, title=title), out, dpi=120)


CLASS_COLOURS = {"function": "tab:red", "content": "tab:blue", "other": "0.55"}
"""Colour of each word class (``film.selection.WORD_CLASSES``) in the settle figure."""


def settle_figure(settle_steps: np.ndarray, counts: np.ndarray, classes: Sequence[str], steps: np.ndarray, *,
                  title: str = "") -> Figure:
    """Who settles first, two panels: each word's settle step [V] (nan = never, drawn in a top row "never")
    against its corpus count [V] (words seen at least once), coloured by word class [V], with the median
    per count decile; and, per class, the share of its words settled by each snapshot step (``steps`` [T])."""
    settle_steps, counts, classes = np.asarray(settle_steps, float), np.asarray(counts, float), np.asarray(classes)
    steps = np.asarray(steps, dtype=float)
    fig = Figure(figsize=(10.5, 4.2), layout="constrained", facecolor="white")
    FigureCanvasAgg(fig)
    last = float(steps.max())
    never_y = last * 1.8 if last > 0 else 1.0
    seen = counts > 0
    ax = fig.add_subplot(1, 2, 1)
    for name, colour in CLASS_COLOURS.items():
        mine = seen & (classes == name)
        if mine.any():
            ax.scatter(counts[mine], np.nan_to_num(settle_steps[mine], nan=never_y), s=6, c=colour, alpha=0.5,
                       linewidths=0, label=f"{name} ({int(mine.sum()):,})")
    if seen.sum() >= 10:
        order = np.argsort(counts[seen], kind="stable")
        deciles = np.array_split(order, 10)
        ranked = np.nan_to_num(settle_steps[seen], nan=np.inf)
        medians = np.array([np.median(ranked[d]) for d in deciles])
        ax.plot([np.median(counts[seen][d]) for d in deciles], np.where(np.isinf(medians), never_y, medians),
                color="black", lw=1.5, marker="o", ms=3, label="median per count decile")
    ax.set_xscale("log")
    positive = steps[steps > 0]
    ax.set_yscale("symlog", linthresh=float(positive.min()) if len(positive) else 1.0)
    ax.set_ylim(0, never_y * 1.4)
    ax.axhline(never_y, color="0.85", lw=6, zorder=0)
    ax.text(0.01, never_y, "never", transform=ax.get_yaxis_transform(), va="center", fontsize=7, color="0.3")
    ax.set_xlabel("corpus count", fontsize=8)
    ax.set_ylabel("settle step", fontsize=8)
    ax.set_title("settle step against frequency", fontsize=10, loc="left")
    ax.legend(fontsize=7, frameon=False, loc="lower left")
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    ax = fig.add_subplot(1, 2, 2)
    for name, colour in CLASS_COLOURS.items():
        mine = settle_steps[seen & (classes == name)]
        if mine.size:
            share = [(mine <= s).sum() / mine.size for s in steps]
            ax.plot(steps, share, drawstyle="steps-post", color=colour, lw=1.5, label=f"{name} ({mine.size:,})")
    ax.set_xscale("symlog", linthresh=float(positive.min()) if len(positive) else 1.0)
    ax.set_ylim(0, 1)
    if last > steps.min():
        ax.set_xlim(steps.min(), last)
    ax.set_xlabel("step", fontsize=8)
    ax.set_title("share of words settled, by word class", fontsize=10, loc="left")
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def render_settle(settle_steps: np.ndarray, counts: np.ndarray, classes: Sequence[str], steps: np.ndarray,
                  out: Path, *, title: str = "") -> Path:
    """Write :func:`settle_figure` as a PNG. Returns ``out``."""
    return _save_png(settle_figure(settle_steps, counts, classes, steps, title=title), out, dpi=120)
