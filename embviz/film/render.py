"""Draw a trajectory of aligned 2-D layouts as a film (mp4/gif); the static figures are in
:mod:`embviz.film.figures`, what both draw in :mod:`embviz.film.drawing`.

Every figure is drawn on a matplotlib Agg canvas without pyplot. The film renders its static
part (axes, legend, loss curve) once, then for each frame moves the points, labels, counters and
loss marker (``set_offsets``, ``set_position``, ``set_data``), draws only those over the cached
background and streams the frame to the writer, so no more than one frame is held in memory.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from PIL import GifImagePlugin, Image

from embviz.errors import ConfigError
from embviz.film import sprites
from embviz.film.animate_options import DEFAULT_VIEW, FORMATS, FilmOptions
from embviz.film.drawing import (
    SEQUENCE_LINE,
    Film,
    RenderError,
    atomic_output,
    axis_limits,
    epoch_text,
    film_groups,
    film_label_index,
    font_rc,
    legend_handles,
    marker_area,
    point_colors,
    sequence_colormap,
    view_caption,
    view_limits,
)
from embviz.progress import Ticks

HOLD_SECONDS = 1.0
GIF_MAX_FPS = 20
GIF_MAX_WIDTH = 640
MP4_CRF = 20
MP4_PRESET = "veryfast"
"""x264 preset: at CRF MP4_CRF the same quality as "medium" for a somewhat larger file, in half the encoding time."""


class FfmpegUnavailable(RenderError):
    """No ffmpeg binary for mp4; callers may fall back to ``fmt="gif"``."""


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


def _stat_line(step: float, epoch: float, loss: float) -> str:
    loss_text = "–" if math.isnan(loss) else f"{loss:.3f}"
    return f"{epoch_text(epoch)}step {round(step):,} · loss {loss_text}"


class _FilmScene:
    """One Agg figure holding the film's static part; each frame stamps its points and labels into a copy.

    Matplotlib draws the axes, legend, title and loss curve once, and each frame's counter and loss
    marker; the points and labels are cut once (:mod:`embviz.film.sprites`) and pasted at each frame's
    pixels, which is what Agg would draw, several times faster than drawing them as artists.
    """

    def __init__(self, film: Film, width: int, height: int, dpi: float, label_index: list[int],
                 view: str = DEFAULT_VIEW):
        self.film = film
        self.height = height
        self.fig = Figure(figsize=((width + 1e-3) / dpi, (height + 1e-3) / dpi), dpi=dpi, facecolor="white")
        self.canvas = FigureCanvasAgg(self.fig)
        unit = height / dpi * 72  # figure height in points
        small = max(5.0, unit / 62)
        ax = self.ax = self.fig.add_axes((0.02, 0.04, 0.72, 0.86))
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_color("0.85")
        xlim, ylim = axis_limits(film.positions)
        ax.set_xlim(xlim)
        ax.set_ylim(ylim)
        self.groups = film_groups(film)
        axes_px = 0.72 * 0.86 * width * height
        area = marker_area(film.positions.shape[1], axes_px, dpi / 72)
        self.markers = {small_: sprites.marker_sprite(area * (0.45 if small_ else 1.0), dpi) for small_ in (False, True)}
        self.colours = [(*_rgb8(c), 255) for c in point_colors(film)]
        self.label_index = np.asarray(label_index, dtype=int)
        self.labels = sprites.LabelSprites([film.words[i] for i in label_index], small * 1.15, dpi)
        self.label_shift = 2.5 * dpi / 72  # labels sit 2.5 pt right of and above their point
        self.fig.text(0.02, 0.955, film.title, fontsize=unit / 38, va="center",
                      parse_math=False)
        self.stats = self.fig.text(0.74, 0.955, "", fontsize=unit / 48, ha="right", va="center",
                                   parse_math=False, family="DejaVu Sans Mono")
        self.caption = self.fig.text(0.02, 0.018, view_caption(view, 1.0), fontsize=small, color="0.4", va="center",
                                     parse_math=False)
        self.view = view
        self.path = None
        if film.sequence:  # the points joined in order, and a colourbar of their index instead of a legend
            self.path = ax.plot([], [], color=SEQUENCE_LINE, lw=max(0.8, small * 0.12), solid_joinstyle="round")[0]
            bar = self.fig.colorbar(sequence_colormap(len(film.words)), cax=self.fig.add_axes((0.77, 0.42, 0.018, 0.46)))
            bar.set_label(film.sequence, fontsize=small)
            bar.ax.tick_params(labelsize=small * 0.9)
        else:
            self.fig.legend(handles=legend_handles(self.groups, small), loc="upper left",
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
        self.moving = [self.stats, *([self.marker] if self.marker else []), *([self.caption] if view == "follow" else []),
                       *([self.path] if self.path else [])]
        for artist in self.moving:
            artist.set_animated(True)
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(self.fig.bbox)
        x0, y0, x1, y1 = ax.bbox.extents  # Agg's clip box: the axes rounded to whole pixels
        self.clip = tuple(math.floor(v + 0.5) for v in (height - y1, height - y0, x0, x1))
        self.region = sprites.canvas_region(self.canvas, self.clip)

    def draw(self, positions: np.ndarray, step: float, epoch: float, loss: float, limits: np.ndarray,
             zoom: float) -> np.ndarray:
        """The frame [height, width, 4] uint8 (RGBA; a view of the canvas, valid until the next draw) with the points at positions [n, 2] (data coordinates)
        in axis limits [2 (x, y), 2 (lo, hi)], stating the zoom when the view follows the points.

        Matplotlib draws the counter, loss marker and (a sequence film) the line through the points over the static
        part rendered once in __init__; then the points (group by group, in drawing order) and labels are pasted into the axes.
        """
        self.stats.set_text(_stat_line(step, epoch, loss))
        self.caption.set_text(view_caption(self.view, zoom))
        self.ax.set_xlim(*limits[0])
        self.ax.set_ylim(*limits[1])
        if self.marker is not None:
            curve_steps, curve_losses = self.film.loss_curve
            self.marker.set_data([step], [np.interp(step, curve_steps, curve_losses)])
        if self.path is not None:
            self.path.set_data(positions[:, 0], positions[:, 1])
        self.canvas.restore_region(self.background)
        for artist in self.moving:
            self.fig.draw_artist(artist)
        region, (top, left) = self.region, self.clip[::2]
        display = self.ax.transData.transform(positions)
        rows, cols = sprites.pixel_anchors(display, self.height)
        colours = self.colours
        for group in self.groups:
            sprite = self.markers[group.small]
            for i in group.index:
                sprites.paste(region, (top, left), sprite, rows[i], cols[i], colours[i])
        if len(self.label_index):
            rows, cols, qx, qy = sprites.label_anchors(display[self.label_index] + self.label_shift, self.height)
            for j in range(len(self.label_index)):
                sprite = self.labels.get(j, qx[j], qy[j])
                sprites.paste(region, (top, left), sprite, rows[j], cols[j], LABEL_RGB)
        return np.asarray(self.canvas.buffer_rgba())


def _rgb8(colour) -> tuple[int, int, int]:
    """A matplotlib colour as Agg's 8-bit RGB (each channel rounded half up)."""
    r, g, b = to_rgb(colour)
    return int(r * 255 + 0.5), int(g * 255 + 0.5), int(b * 255 + 0.5)


LABEL_RGB = (*_rgb8("0.1"), 255)


Frame = tuple[np.ndarray, float, float, float, np.ndarray, float]


def _frames(film: Film, k: int, view: str = DEFAULT_VIEW) -> Iterator[Frame]:
    """(positions [n, 2], step, epoch, loss, axis limits [2, 2], zoom) for every moving frame, eased between
    snapshots; the limits and zoom are ``view``'s (:func:`~embviz.film.drawing.view_limits`)."""
    p, steps, epochs, losses = film.positions, film.steps, film.epochs, film.losses
    limits, zoom = view_limits(p, view)
    for i in range(len(p) - 1):
        for j in range(k):
            t = _ease(j / k)
            yield (p[i] + (p[i + 1] - p[i]) * t, steps[i] + (steps[i + 1] - steps[i]) * t,
                   epochs[i] + (epochs[i + 1] - epochs[i]) * t, _lerp_nan(losses[i], losses[i + 1], t),
                   limits[i] + (limits[i + 1] - limits[i]) * t, zoom[i] + (zoom[i + 1] - zoom[i]) * t)
    yield p[-1], steps[-1], epochs[-1], losses[-1], limits[-1], zoom[-1]


class _Mp4Writer:
    """H.264 / yuv420p frames piped to the imageio-ffmpeg binary."""

    def __init__(self, path: Path, size: tuple[int, int], fps: float):
        self._gen = imageio_ffmpeg.write_frames(
            str(path), size, pix_fmt_in="rgba", fps=fps, codec="libx264", quality=None,
            macro_block_size=2, ffmpeg_log_level="error", output_params=["-crf", str(MP4_CRF), "-preset", MP4_PRESET, "-f", "mp4"],
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


def render_film(
    film: Film,
    out: Path,
    options: FilmOptions = FilmOptions(),
    *,
    fmt: str | None = None,
    dpi: float = 100,
    progress: Ticks | None = None,
) -> RenderResult:
    """Write the film of ``film`` to ``out``, an ``.mp4`` or ``.gif`` file (``fmt`` defaults to the suffix).

    Points glide between consecutive snapshots with an ease-in-out over
    k = max(1, round(f * seconds_per_snapshot)) frames and the final frame is held for
    h = round(f * HOLD_SECONDS) more frames, so the film has ``(T - 1) * k + 1 + h`` frames
    (``frame_count``). f is ``options.fps`` for mp4; gifs are written at f = min(fps, GIF_MAX_FPS)
    and, when ``options.size`` is wider than GIF_MAX_WIDTH, scaled down to that width to stay small.
    mp4 sizes are rounded down to even numbers (yuv420p). ``options.view`` ``fixed`` keeps one scale for the
    whole film, ``follow`` fits each snapshot (eased between them like the points); a caption says which.

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
    label_index = film_label_index(film, options.label, options.label_words)
    rc = font_rc([film.title, *(film.words[i] for i in label_index)], options.font)
    with matplotlib.rc_context(rc), atomic_output(out) as tmp:
        scene = _FilmScene(film, width, height, dpi, label_index, options.view)
        if fmt == "mp4":
            writer: _Mp4Writer | _GifWriter = _Mp4Writer(tmp, (width, height), rate)
        else:
            *_, final = _frames(film, 1, options.view)
            writer = _GifWriter(tmp, rate, scene.draw(*final))
        done = 0
        try:
            for state in _frames(film, k, options.view):
                frame = scene.draw(*state)
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
