"""Draw a trajectory of aligned 2-D layouts: a film (mp4/gif), small multiples and metric curves.

Every figure is drawn on a matplotlib Agg canvas without pyplot. The film renders its static
part (axes, legend, loss curve) once, then for each frame moves the points, labels, counters and
loss marker (``set_offsets``, ``set_position``, ``set_data``), draws only those over the cached
background and streams the frame to the writer, so no more than one frame is held in memory.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import imageio_ffmpeg
import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.transforms import offset_copy
from PIL import GifImagePlugin, Image

from embviz.errors import ConfigError, EmbvizError
from embviz.film.fonts import font_families
from embviz.film.options import FORMATS, FilmOptions
from embviz.rundir.files import atomic_path

Progress = Callable[[int, int], None]
RGBA = tuple[float, float, float, float]

HOLD_SECONDS = 1.0
GIF_MAX_FPS = 20
GIF_MAX_WIDTH = 640
MP4_CRF = 20
LEGEND_MAX = 18
OTHER_COLOR: RGBA = (0.33, 0.33, 0.33, 1.0)
UNCATEGORISED_COLOR: RGBA = (0.78, 0.78, 0.78, 1.0)
# tab20 without its greys: the ten strong colours first, then their light partners.
_TAB20 = matplotlib.colormaps["tab20"].colors
PALETTE: tuple[RGBA, ...] = tuple(
    (*_TAB20[i], 1.0) for i in [*range(0, 20, 2), *range(1, 20, 2)] if i not in (14, 15)
)


class RenderError(EmbvizError):
    """A film or figure that cannot be drawn or written."""


class FfmpegUnavailable(RenderError):
    """No ffmpeg binary for mp4; callers may fall back to ``fmt="gif"``."""


@dataclass
class Film:
    """Everything a film shows, as plain arrays.

    positions [T, n, 2] aligned layouts, one per snapshot; words and labels (n) are the tokens
    and their categories (None = uncategorised); steps, epochs, losses [T] describe each
    snapshot (loss may be nan); loss_curve is (steps [m], losses [m]) of the whole run.
    """

    positions: np.ndarray
    words: list[str]
    labels: list[str | None]
    steps: np.ndarray
    epochs: np.ndarray
    losses: np.ndarray
    loss_curve: tuple[np.ndarray, np.ndarray] = field(default_factory=lambda: (np.zeros(0), np.zeros(0)))
    title: str = ""

    def __post_init__(self) -> None:
        self.positions = np.asarray(self.positions, dtype=float)
        self.steps = np.asarray(self.steps, dtype=float)
        self.epochs = np.asarray(self.epochs, dtype=float)
        self.losses = np.asarray(self.losses, dtype=float)
        self.loss_curve = (np.asarray(self.loss_curve[0], dtype=float), np.asarray(self.loss_curve[1], dtype=float))
        p = self.positions
        if p.ndim != 3 or p.shape[2] != 2 or p.shape[0] < 1 or p.shape[1] < 1:
            raise RenderError(f"positions must have shape [T, n, 2] with T, n >= 1, got {list(p.shape)}")
        if not np.isfinite(p).all():
            raise RenderError("positions contain nan or infinite values")
        t, n = p.shape[:2]
        if len(self.words) != n or len(self.labels) != n:
            raise RenderError(f"{n} points but {len(self.words)} words and {len(self.labels)} labels")
        for name in ("steps", "epochs", "losses"):
            if getattr(self, name).shape != (t,):
                raise RenderError(f"{name} must have one value per snapshot ({t}), got shape {list(getattr(self, name).shape)}")
        if self.loss_curve[0].shape != self.loss_curve[1].shape or self.loss_curve[0].ndim != 1:
            raise RenderError("loss_curve must be two 1-D arrays of the same length")


@dataclass(frozen=True)
class RenderResult:
    """What render_film wrote: the file, its number of frames and its frame size in pixels."""

    path: Path
    n_frames: int
    width: int
    height: int
    fmt: str


def frames_per_snapshot(fps: float, seconds_per_snapshot: float) -> int:
    """Frames spent moving from one snapshot to the next: max(1, round(fps * seconds_per_snapshot))."""
    return max(1, round(fps * seconds_per_snapshot))


def effective_fps(fmt: str, fps: float) -> float:
    """The frame rate a film of format ``fmt`` is written at: gifs are capped at GIF_MAX_FPS."""
    return min(fps, GIF_MAX_FPS) if fmt == "gif" else fps


def frame_count(n_snapshots: int, fps: float, seconds_per_snapshot: float, fmt: str = "mp4") -> int:
    """Frames in a film: (T - 1) * k + 1 + h.

    k = frames_per_snapshot(f, seconds_per_snapshot), h = round(f * HOLD_SECONDS) copies of the
    final frame, f = effective_fps(fmt, fps).
    """
    f = effective_fps(fmt, fps)
    return (n_snapshots - 1) * frames_per_snapshot(f, seconds_per_snapshot) + 1 + round(f * HOLD_SECONDS)


def _category_order(labels: Sequence[str | None]) -> list[str]:
    """Categories by decreasing size, ties by name."""
    counts: dict[str, int] = {}
    for label in labels:
        if label is not None:
            counts[label] = counts.get(label, 0) + 1
    return sorted(counts, key=lambda c: (-counts[c], c))


def category_colors(labels: Sequence[str | None]) -> dict[str, RGBA]:
    """Colour of every category in ``labels`` (n): the largest LEGEND_MAX get PALETTE, the rest OTHER_COLOR."""
    order = _category_order(labels)
    return {c: PALETTE[i] if i < LEGEND_MAX else OTHER_COLOR for i, c in enumerate(order)}


@dataclass(frozen=True)
class _Group:
    """Points drawn as one scatter: one legend entry."""

    name: str
    color: RGBA
    index: np.ndarray
    small: bool = False


def _groups(labels: Sequence[str | None]) -> list[_Group]:
    """Point groups in drawing order: uncategorised, other, then categories from largest to smallest."""
    order = _category_order(labels)
    colors = category_colors(labels)
    arr = np.array(labels, dtype=object)
    groups = []
    uncategorised = np.flatnonzero(np.equal(arr, None))
    if len(uncategorised):
        groups.append(_Group("uncategorised", UNCATEGORISED_COLOR, uncategorised, small=True))
    rest = order[LEGEND_MAX:]
    if rest:
        index = np.flatnonzero(np.isin(arr, rest))
        groups.append(_Group(f"other ({len(rest)} categories)", OTHER_COLOR, index))
    groups += [_Group(c, colors[c], np.flatnonzero(arr == c)) for c in order[:LEGEND_MAX]]
    return groups


def _legend_handles(groups: list[_Group], fontsize: float) -> list[Line2D]:
    """Legend entries: categories by size, then other, then uncategorised."""
    named = [g for g in groups if not g.small and not g.name.startswith("other (")]
    tail = [g for g in groups if g not in named]
    return [
        Line2D([], [], ls="", marker="o", ms=fontsize * 0.8, color=g.color, label=f"{g.name} ({len(g.index)})")
        for g in [*named, *tail[::-1]]
    ]


def choose_label_words(
    words: Sequence[str], labels: Sequence[str | None], count: int, always: Sequence[str] = ()
) -> list[int]:
    """Indices of words to label: ``count`` first-listed words taken in turn from each category
    (largest first), then uncategorised ones, plus every word of ``always`` (unknown ones warn)."""
    queues = [[i for i, lab in enumerate(labels) if lab == c] for c in _category_order(labels)]
    picked: list[int] = []
    for depth in range(max((len(q) for q in queues), default=0)):
        picked += [q[depth] for q in queues if depth < len(q)][: count - len(picked)]
        if len(picked) >= count:
            break
    picked += [i for i, lab in enumerate(labels) if lab is None][: max(0, count - len(picked))]
    where = {w: i for i, w in reversed(list(enumerate(words)))}
    unknown = [w for w in always if w not in where]
    if unknown:
        warnings.warn(f"label words not in the vocabulary: {', '.join(unknown)}", stacklevel=3)
    return sorted(set(picked) | {where[w] for w in always if w in where})


def _limits(points: np.ndarray, margin: float = 0.08) -> tuple[tuple[float, float], tuple[float, float]]:
    """Axis limits (xlim, ylim) covering the 0.5-99.5th percentiles of points [..., 2], plus a margin."""
    flat = points.reshape(-1, 2)
    lo, hi = np.percentile(flat, [0.5, 99.5], axis=0)
    span = hi - lo
    span = np.where(span > 0, span, np.maximum(np.abs(hi), 1.0))
    lo, hi = lo - margin * span, hi + margin * span
    return (float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1]))


def _ease(t: float) -> float:
    """Smoothstep ease-in-out on [0, 1]."""
    return t * t * (3.0 - 2.0 * t)


def _lerp_nan(a: float, b: float, t: float) -> float:
    """Linear interpolation that falls back to the finite end when one end is nan."""
    if t == 0.0:
        return a
    if math.isnan(a) or math.isnan(b):
        return b
    return a + (b - a) * t


def _marker_area(n: int, axes_px: float, px_per_pt: float) -> float:
    """Scatter marker area in pt^2: diameter sqrt(axes area / n) * 0.35, kept within 3..10 px."""
    diameter_px = float(np.clip(math.sqrt(axes_px / max(n, 1)) * 0.35, 3.0, 10.0))
    return (diameter_px / px_per_pt) ** 2


def _stat_line(step: float, epoch: float, loss: float) -> str:
    loss_text = "–" if math.isnan(loss) else f"{loss:.3f}"
    return f"{_epoch_text(epoch)}step {round(step):,} · loss {loss_text}"


def _epoch_text(epoch: float) -> str:
    """``epoch 1.50 · ``, or nothing when the epoch is unknown (nan: a checkpoint that does not say)."""
    return "" if math.isnan(epoch) else f"epoch {epoch:.2f} · "


class _FilmScene:
    """One Agg figure whose artists move to each frame's layout."""

    def __init__(self, film: Film, width: int, height: int, dpi: float, label_index: list[int]):
        self.film = film
        self.fig = Figure(figsize=((width + 1e-3) / dpi, (height + 1e-3) / dpi), dpi=dpi, facecolor="white")
        self.canvas = FigureCanvasAgg(self.fig)
        unit = height / dpi * 72  # figure height in points
        small = max(5.0, unit / 62)
        ax = self.fig.add_axes((0.02, 0.04, 0.72, 0.86))
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_color("0.85")
        xlim, ylim = _limits(film.positions)
        ax.set_xlim(xlim)
        ax.set_ylim(ylim)
        self.groups = _groups(film.labels)
        axes_px = 0.72 * 0.86 * width * height
        area = _marker_area(film.positions.shape[1], axes_px, dpi / 72)
        first = film.positions[0]
        self.scatters = [
            ax.scatter(*first[g.index].T, s=area * (0.45 if g.small else 1.0), c=[g.color],
                       edgecolors=[g.color], linewidths=0, zorder=2)
            for g in self.groups
        ]
        self.label_index = label_index
        shift = offset_copy(ax.transData, fig=self.fig, x=2.5, y=2.5, units="points")
        self.texts = [
            ax.text(*first[i], film.words[i], transform=shift, fontsize=small * 1.15, color="0.1",
                    clip_on=True, parse_math=False, zorder=3)
            for i in label_index
        ]
        self.fig.text(0.02, 0.955, film.title, fontsize=unit / 38, va="center",
                      parse_math=False)
        self.stats = self.fig.text(0.74, 0.955, "", fontsize=unit / 48, ha="right", va="center",
                                   parse_math=False, family="DejaVu Sans Mono")
        self.fig.legend(handles=_legend_handles(self.groups, small), loc="upper left",
                        bbox_to_anchor=(0.755, 0.90), fontsize=small, frameon=False,
                        handlelength=1.0, handletextpad=0.4, borderaxespad=0.0, labelspacing=0.3)
        self.marker = None
        curve_steps, curve_losses = film.loss_curve
        if len(curve_steps):
            inset = self.fig.add_axes((0.79, 0.09, 0.19, 0.2))
            inset.plot(curve_steps, curve_losses, color="0.35", lw=0.8)
            positive = curve_steps[curve_steps > 0]
            inset.set_xscale("symlog", linthresh=float(positive.min()) if len(positive) else 1.0)
            inset.set_title("train loss", fontsize=small, pad=2)
            inset.tick_params(labelsize=small * 0.8, length=2, pad=1)
            inset.set_xlim(max(0.0, float(curve_steps.min())), float(curve_steps.max()) * 1.05 or 1.0)
            self.marker = inset.plot([], [], "o", color="tab:red", ms=small * 0.7, clip_on=False)[0]
        self.moving = [*self.scatters, *self.texts, self.stats, *([self.marker] if self.marker else [])]
        for artist in self.moving:
            artist.set_animated(True)
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(self.fig.bbox)

    def draw(self, positions: np.ndarray, step: float, epoch: float, loss: float) -> np.ndarray:
        """Move the artists to positions [n, 2] and return the drawn frame [height, width, 4] uint8.

        Only the moving artists are drawn, over the static part (axes, legend, loss curve)
        rendered once in __init__.
        """
        for group, scatter in zip(self.groups, self.scatters):
            scatter.set_offsets(positions[group.index])
        for i, text in zip(self.label_index, self.texts):
            text.set_position(positions[i])
        self.stats.set_text(_stat_line(step, epoch, loss))
        if self.marker is not None:
            curve_steps, curve_losses = self.film.loss_curve
            self.marker.set_data([step], [np.interp(step, curve_steps, curve_losses)])
        self.canvas.restore_region(self.background)
        for artist in self.moving:
            self.fig.draw_artist(artist)
        return np.asarray(self.canvas.buffer_rgba())


def _frames(film: Film, k: int) -> Iterator[tuple[np.ndarray, float, float, float]]:
    """(positions [n, 2], step, epoch, loss) for every moving frame, eased between snapshots."""
    p, steps, epochs, losses = film.positions, film.steps, film.epochs, film.losses
    for i in range(len(p) - 1):
        for j in range(k):
            t = _ease(j / k)
            yield (p[i] + (p[i + 1] - p[i]) * t, steps[i] + (steps[i + 1] - steps[i]) * t,
                   epochs[i] + (epochs[i + 1] - epochs[i]) * t, _lerp_nan(losses[i], losses[i + 1], t))
    yield p[-1], steps[-1], epochs[-1], losses[-1]


class _Mp4Writer:
    """H.264 / yuv420p frames piped to the imageio-ffmpeg binary."""

    def __init__(self, path: Path, size: tuple[int, int], fps: float):
        self._gen = imageio_ffmpeg.write_frames(
            str(path), size, pix_fmt_in="rgba", fps=fps, codec="libx264", quality=None,
            macro_block_size=2, ffmpeg_log_level="error", output_params=["-crf", str(MP4_CRF), "-f", "mp4"],
        )
        self._gen.send(None)

    def write(self, frame: np.ndarray) -> None:
        self._gen.send(frame)

    def close(self) -> None:
        self._gen.close()


class _GifWriter:
    """Gif frames quantised by Pillow to one global palette and appended as they come, looping forever.

    The palette is the median-cut palette of ``reference`` [h, w, 4] (the final frame, which has
    every colour), so colours do not flicker between frames. Delays are whole centiseconds.
    """

    def __init__(self, path: Path, fps: float, reference: np.ndarray):
        self._palette = Image.fromarray(reference[..., :3]).quantize(256, method=Image.Quantize.MEDIANCUT)
        self._delay_ms = 10 * max(1, round(100 / fps))
        self._file = open(path, "wb")
        header, _ = GifImagePlugin.getheader(self._palette.copy(), info={"loop": 0})
        self._file.writelines(header)

    def write(self, frame: np.ndarray) -> None:
        image = Image.fromarray(frame[..., :3]).quantize(palette=self._palette, dither=Image.Dither.NONE)
        self._file.writelines(GifImagePlugin.getdata(image, duration=self._delay_ms))

    def close(self) -> None:
        self._file.write(b";")
        self._file.close()


@contextlib.contextmanager
def _atomic_output(out: Path) -> Iterator[Path]:
    """:func:`embviz.rundir.run.atomic_path`, with a failure to write beside ``out`` as a RenderError."""
    try:
        with atomic_path(out) as tmp:
            yield tmp
    except OSError as err:
        raise RenderError(f"cannot write to {out.parent}: {err.strerror}") from None


def _font_rc(words: Sequence[str], font: Path | None) -> dict[str, list[str]]:
    """rc settings for a font fallback list able to draw ``words``; warns about what it cannot draw."""
    families, problems = font_families(list(words), font)
    for problem in problems:
        warnings.warn(problem, stacklevel=3)
    return {"font.family": families}


def render_film(
    film: Film,
    out: Path,
    options: FilmOptions = FilmOptions(),
    *,
    fmt: str | None = None,
    dpi: float = 100,
    progress: Progress | None = None,
) -> RenderResult:
    """Write the film of ``film`` to ``out``, an ``.mp4`` or ``.gif`` file (``fmt`` defaults to the suffix).

    Points glide between consecutive snapshots with an ease-in-out over
    k = max(1, round(f * seconds_per_snapshot)) frames and the final frame is held for
    h = round(f * HOLD_SECONDS) more frames, so the film has ``(T - 1) * k + 1 + h`` frames
    (``frame_count``). f is ``options.fps`` for mp4; gifs are written at f = min(fps, GIF_MAX_FPS)
    and, when ``options.size`` is wider than GIF_MAX_WIDTH, scaled down to that width to stay small.
    mp4 sizes are rounded down to even numbers (yuv420p). Axis limits are fixed for the whole film.

    ``options.label`` words spread over the categories are written next to their points, plus all
    of ``options.label_words``. ``options.font`` is a font file for characters DejaVu Sans lacks
    (otherwise an installed CJK font is used when needed). The file is written under a temp name and
    renamed, so an existing ``out`` survives any failure. Raises FfmpegUnavailable when mp4 is asked
    for and imageio-ffmpeg has no binary; callers fall back with ``fmt="gif"``.
    """
    out = Path(out)
    fmt = fmt or out.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ConfigError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if out.suffix.lower() != f".{fmt}":
        raise ConfigError(f"output {out.name} must end in .{fmt} for format {fmt}")
    options.validate()
    fps, seconds_per_snapshot = options.fps, options.seconds_per_snapshot
    width, height = (int(v) for v in options.size)
    rate = effective_fps(fmt, fps)
    if fmt == "gif" and width > GIF_MAX_WIDTH:
        width, height = GIF_MAX_WIDTH, round(height * GIF_MAX_WIDTH / width)
    if fmt == "mp4":
        width, height = width - width % 2, height - height % 2
        try:
            imageio_ffmpeg.get_ffmpeg_exe()
        except RuntimeError as err:
            raise FfmpegUnavailable(f"ffmpeg is not available for mp4 ({err}); render a gif instead") from None
    k = frames_per_snapshot(rate, seconds_per_snapshot)
    total = frame_count(len(film.positions), fps, seconds_per_snapshot, fmt)
    label_index = choose_label_words(film.words, film.labels, options.label, options.label_words)
    rc = _font_rc([film.title, *(film.words[i] for i in label_index)], options.font)
    with matplotlib.rc_context(rc), _atomic_output(out) as tmp:
        scene = _FilmScene(film, width, height, dpi, label_index)
        if fmt == "mp4":
            writer: _Mp4Writer | _GifWriter = _Mp4Writer(tmp, (width, height), rate)
        else:
            final = film.positions[-1], film.steps[-1], film.epochs[-1], film.losses[-1]
            writer = _GifWriter(tmp, rate, scene.draw(*final))
        done = 0
        try:
            for positions, step, epoch, loss in _frames(film, k):
                frame = scene.draw(positions, step, epoch, loss)
                writer.write(frame)
                done += 1
                if progress is not None:
                    progress(done, total)
            for _ in range(total - done):
                writer.write(frame)
                done += 1
                if progress is not None:
                    progress(done, total)
        except OSError as err:
            raise RenderError(f"writing {out.name} failed: {str(err).splitlines()[0]}") from None
        finally:
            writer.close()
        if tmp.stat().st_size == 0:
            raise RenderError(f"writing {out.name} failed: the encoder produced an empty file")
    return RenderResult(out, total, width, height, fmt)


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
    """Small multiples of the chosen snapshot layouts, shared colours, one legend (Agg canvas attached)."""
    t = len(film.positions)
    chosen = default_grid_snapshots(film.positions) if snapshots is None else list(snapshots)
    if not chosen or any(not 0 <= s < t for s in chosen):
        raise ConfigError(f"snapshots must be indices in 0..{t - 1}, got {chosen}")
    rows, cols = _panel_shape(len(chosen))
    fig = Figure(figsize=(3.2 * cols, 3.2 * rows + 0.9), layout="constrained", facecolor="white")
    FigureCanvasAgg(fig)
    groups = _groups(film.labels)
    label_index = choose_label_words(film.words, film.labels, label)
    area = _marker_area(film.positions.shape[1], (3.0 * 72) ** 2, 1.0)
    for panel, s in enumerate(chosen):
        ax = fig.add_subplot(rows, cols, panel + 1)
        pos = film.positions[s]
        for g in groups:
            ax.scatter(*pos[g.index].T, s=area * (0.45 if g.small else 1.0), c=[g.color], linewidths=0)
        for i in label_index:
            ax.annotate(film.words[i], pos[i], xytext=(2, 2), textcoords="offset points", fontsize=6,
                        color="0.1", annotation_clip=True, parse_math=False)
        xlim, ylim = _limits(pos)
        ax.set_xlim(xlim)
        ax.set_ylim(ylim)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{_epoch_text(film.epochs[s])}step {round(film.steps[s]):,}", fontsize=9)
    fig.legend(handles=_legend_handles(groups, 8), loc="outside lower center", fontsize=8, frameon=False,
               ncols=max(1, min(len(groups), int(cols * 3.2 / 1.7))), handlelength=1.0, columnspacing=1.0)
    if film.title:
        fig.suptitle(film.title, fontsize=11)
    return fig


def _save_png(fig: Figure, out: Path, dpi: float) -> Path:
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise ConfigError(f"output {out.name} must end in .png")
    with _atomic_output(out) as tmp:
        try:
            fig.savefig(tmp, format="png", dpi=dpi)
        except OSError as err:
            raise RenderError(f"writing {out.name} failed: {err}") from None
    return out


def render_grid(
    film: Film, out: Path, *, snapshots: list[int] | None = None, font: Path | None = None, dpi: float = 150
) -> Path:
    """Write the "random cloud -> semantic map" small-multiples PNG; snapshots default to
    ``default_grid_snapshots``. Returns ``out``."""
    with matplotlib.rc_context(_font_rc([film.title, *film.words], font)):
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
    with matplotlib.rc_context(_font_rc([title, *table], None)):
        return _save_png(curves_figure(table, steps, chance=chance, beside=beside, title=title), out, dpi=120)
