"""Time render_film against the renderer it replaced (every point and label a matplotlib artist), side by side.

Both draw the same frames (the same film, size, frame rate and hold) and stream them to the same H.264
encoder (imageio-ffmpeg, CRF MP4_CRF). The frames each draws before encoding are compared pixel by pixel.
The film is the one ``animate`` makes of ``--run`` (its cached projection, default words), or a synthetic
film of the demo's size.

    python benchmarks/bench_render.py --run runs/demo   # the demo film
    python benchmarks/bench_render.py                   # 496 points × 42 snapshots, drifting into clusters
    python benchmarks/bench_render.py --smoke           # a few frames of a few points, in seconds
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import imageio_ffmpeg  # noqa: E402
import numpy as np  # noqa: E402
from bench_emergence import matmul_peak  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.transforms import offset_copy  # noqa: E402

from embviz.film.animate_options import AnimateOptions, FilmOptions  # noqa: E402
from embviz.film.drawing import (  # noqa: E402
    Film,
    axis_limits,
    choose_label_words,
    font_rc,
    legend_handles,
    marker_area,
    point_groups,
)
from embviz.film.render import (  # noqa: E402
    MP4_CRF,
    _FilmScene,
    _frames,
    _stat_line,
    frame_count,
    frames_per_snapshot,
    render_film,
)

CATEGORIES = ["numbers", "colours", "animals", "days", "months", "family", "food", "places", "verbs", "body"]


def synthetic_film(n_points: int, n_snapshots: int, seed: int = 0) -> Film:
    """Points drifting from a random cloud to ten category clusters; a third are uncategorised."""
    rng = np.random.default_rng(seed)
    labels = [CATEGORIES[i % len(CATEGORIES)] if i % 3 else None for i in range(n_points)]
    centres = {c: rng.normal(size=2) * 6 for c in CATEGORIES}
    final = np.array([centres[lab] if lab else np.zeros(2) for lab in labels]) + rng.normal(size=(n_points, 2))
    start = rng.normal(size=(n_points, 2)) * 4
    mix = np.linspace(0, 1, n_snapshots) ** 0.5
    positions = start + (final - start) * mix[:, None, None]
    steps = np.round(np.geomspace(1, 5000, n_snapshots)) - 1
    curve_steps = np.arange(0, 5001, 10, dtype=float)
    curve = 3 + 6 * np.exp(-curve_steps / 800)
    losses = np.interp(steps, curve_steps, curve)
    losses[0] = np.nan
    return Film(positions, [f"tok{i}" for i in range(n_points)], labels, steps, steps / 1000, losses,
                (curve_steps, curve), "bench")


def run_film(run_dir: Path) -> Film:
    """The film ``animate`` renders of ``run_dir`` with default options (projection from the run's cache)."""
    from embviz.film.animate import film_of
    from embviz.film.selection import choose_words
    from embviz.film.stages import film_snapshots, film_stages
    from embviz.rundir.run import Run

    run = Run.open(run_dir)
    snapshots = film_snapshots(run)
    options = AnimateOptions()
    selection = choose_words(run, options)
    stages = film_stages(run, snapshots, selection, options)
    return film_of(run, snapshots, selection, stages.trajectory, stages.emergence, options)


class ReferenceScene:
    """The film scene as it was before points and labels were stamped: every moving artist drawn by matplotlib
    over the cached background (copied from embviz.film.render, kept here as the reference)."""

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
        xlim, ylim = axis_limits(film.positions)
        ax.set_xlim(xlim)
        ax.set_ylim(ylim)
        self.groups = point_groups(film.labels)
        axes_px = 0.72 * 0.86 * width * height
        area = marker_area(film.positions.shape[1], axes_px, dpi / 72)
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


def render_reference(film: Film, out: Path, options: FilmOptions, dpi: float) -> int:
    """Today's film before the stamps: ReferenceScene frames, RGBA, piped to the same encoder. Returns frames."""
    width, height = options.size
    k = frames_per_snapshot(options.fps, options.seconds_per_snapshot)
    total = frame_count(len(film.positions), options.fps, options.seconds_per_snapshot)
    label_index = choose_label_words(film.words, film.labels, options.label, options.label_words)
    with matplotlib.rc_context(font_rc([film.title, *(film.words[i] for i in label_index)], options.font)):
        scene = ReferenceScene(film, width, height, dpi, label_index)
        writer = imageio_ffmpeg.write_frames(
            str(out), (width, height), pix_fmt_in="rgba", fps=options.fps, codec="libx264", quality=None,
            macro_block_size=2, ffmpeg_log_level="error", output_params=["-crf", str(MP4_CRF), "-f", "mp4"])
        writer.send(None)
        done = 0
        for state in _frames(film, k):
            frame = scene.draw(*state[:4])
            writer.send(frame)
            done += 1
        for _ in range(total - done):
            writer.send(frame)
        writer.close()
    return total


def compare_frames(film: Film, options: FilmOptions, dpi: float, every: int) -> dict[str, float]:
    """Every ``every``-th moving frame drawn by both scenes: max and mean |difference| over RGB, the share of
    pixel channels that differ at all and by more than 16 levels (of 255). The rows of the scale caption, which
    the reference lacks, are left out."""
    width, height = options.size
    label_index = choose_label_words(film.words, film.labels, options.label, options.label_words)
    k = frames_per_snapshot(options.fps, options.seconds_per_snapshot)
    worst, total, differ, far, count = 0, 0.0, 0, 0, 0
    with matplotlib.rc_context(font_rc([film.title, *(film.words[i] for i in label_index)], options.font)):
        ours = _FilmScene(film, width, height, dpi, label_index)
        reference = ReferenceScene(film, width, height, dpi, label_index)
        caption_row = height - int(ours.caption.get_window_extent().y1) - 1  # the scale caption is new: left out
        for n, state in enumerate(_frames(film, k)):
            if n % every:
                continue
            a = ours.draw(*state)[..., :3].astype(np.int16)
            b = reference.draw(*state[:4])[..., :3].astype(np.int16)
            diff = np.abs(a - b)[:caption_row]
            worst = max(worst, int(diff.max()))
            total += float(diff.mean())
            differ += int((diff > 0).sum())
            far += int((diff > 16).sum())
            count += 1
    cells = count * caption_row * width * 3
    return {"frames": count, "max": worst, "mean": total / count, "differ": differ / cells, "far": far / cells}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="a run directory with a cached projection (animate has run)")
    parser.add_argument("--points", type=int, default=496, help="points of the synthetic film")
    parser.add_argument("--snapshots", type=int, default=42, help="snapshots of the synthetic film")
    parser.add_argument("--smoke", action="store_true", help="toy sizes: check that the benchmark runs")
    args = parser.parse_args()
    dpi = 100
    if args.smoke:
        film, options = synthetic_film(60, 3), FilmOptions(fps=10, size=(320, 180))
    else:
        film = run_film(args.run) if args.run else synthetic_film(args.points, args.snapshots)
        options = FilmOptions()
    width, height = options.size
    peak = matmul_peak()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = render_film(film, Path(tmp) / "ours.mp4", options, dpi=dpi)
        ours = time.perf_counter() - start
        start = time.perf_counter()
        frames = render_reference(film, Path(tmp) / "reference.mp4", options, dpi)
        reference = time.perf_counter() - start
    assert frames == result.n_frames
    pixels = compare_frames(film, options, dpi, every=1 if args.smoke else 10)
    print(f"film: {film.title or 'synthetic'}: {film.positions.shape[1]} points, {len(film.positions)} snapshots, "
          f"{result.n_frames} frames, {width}x{height} mp4 at {options.fps:g} fps")
    print(f"{'render_film (points and labels stamped)':<44}{ours:8.2f} s  {result.n_frames / ours:6.1f} frames/s")
    print(f"{'reference (every artist drawn by matplotlib)':<44}{reference:8.2f} s  {frames / reference:6.1f} frames/s")
    print(f"{'speed-up':<44}{reference / ours:8.2f} x   (target >= 3)")
    print(f"pixels above the scale caption, {pixels['frames']} frames before encoding: max |diff| {pixels['max']} / 255, "
          f"mean {pixels['mean']:.4f}, channels differing {pixels['differ']:.4%}, by > 16 levels {pixels['far']:.4%}")
    print(f"matmul peak (fp32, 1024², this process): {peak / 1e9:.1f} GFLOP/s; "
          f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
