"""Time render_film against a plain FuncAnimation that clears and redraws every frame.

Both write the same frames (same layouts, labels, title and loss inset) to an H.264 mp4 with the
imageio-ffmpeg binary at the same size, frame rate and CRF.

    python benchmarks/bench_render.py [--frames 120] [--points 2000]
    python benchmarks/bench_render.py --smoke     # a few frames of a few points, in seconds
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import imageio_ffmpeg
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.animation import FFMpegWriter, FuncAnimation  # noqa: E402

from embviz.film.animate_options import FilmOptions  # noqa: E402
from embviz.film.drawing import Film, category_colors, choose_label_words  # noqa: E402
from embviz.film.render import MP4_CRF, _frames, _stat_line, frame_count, frames_per_snapshot, render_film  # noqa: E402

FPS = 30
SECONDS_PER_SNAPSHOT = 0.5
SIZE = (1280, 720)
DPI = 100
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


def render_funcanimation(film: Film, out: Path, states: list, size: tuple[int, int] = SIZE) -> None:
    """The naive film: every frame clears both axes and re-creates scatter, labels, title and inset."""
    matplotlib.rcParams["animation.ffmpeg_path"] = imageio_ffmpeg.get_ffmpeg_exe()
    colors = category_colors(film.labels)
    point_colors = [colors[lab] if lab else (0.78, 0.78, 0.78, 1.0) for lab in film.labels]
    label_index = choose_label_words(film.words, film.labels, 30)
    fig = plt.figure(figsize=(size[0] / DPI, size[1] / DPI), dpi=DPI)
    ax = fig.add_axes((0.02, 0.04, 0.72, 0.86))
    inset = fig.add_axes((0.79, 0.09, 0.19, 0.2))
    lo, hi = np.percentile(film.positions.reshape(-1, 2), [0.5, 99.5], axis=0)
    curve_steps, curve_losses = film.loss_curve

    def draw(state):
        positions, step, epoch, loss = state
        ax.clear()
        ax.scatter(positions[:, 0], positions[:, 1], s=10, c=point_colors, linewidths=0)
        for i in label_index:
            ax.text(positions[i, 0], positions[i, 1], film.words[i], fontsize=8, clip_on=True)
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{film.title}   {_stat_line(step, epoch, loss)}")
        inset.clear()
        inset.plot(curve_steps, curve_losses, color="0.35", lw=0.8)
        inset.plot([step], [np.interp(step, curve_steps, curve_losses)], "o", color="tab:red")
        inset.set_xscale("symlog")
        return []

    anim = FuncAnimation(fig, draw, frames=states, blit=False, cache_frame_data=False)
    anim.save(out, writer=FFMpegWriter(fps=FPS, codec="libx264",
                                       extra_args=["-pix_fmt", "yuv420p", "-crf", str(MP4_CRF)]), dpi=DPI)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=120, help="moving frames (before the final hold)")
    parser.add_argument("--points", type=int, default=2000)
    parser.add_argument("--smoke", action="store_true", help="toy sizes: check that the benchmark runs")
    args = parser.parse_args()
    size = (320, 180) if args.smoke else SIZE
    if args.smoke:
        args.frames, args.points = 15, 100
    k = frames_per_snapshot(FPS, SECONDS_PER_SNAPSHOT)
    film = synthetic_film(args.points, math.ceil(args.frames / k) + 1)
    total = frame_count(len(film.positions), FPS, SECONDS_PER_SNAPSHOT)
    moving = list(_frames(film, k))
    states = moving + [moving[-1]] * (total - len(moving))
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = render_film(film, Path(tmp) / "ours.mp4",
                             FilmOptions(fps=FPS, seconds_per_snapshot=SECONDS_PER_SNAPSHOT, size=size), dpi=DPI)
        ours = time.perf_counter() - start
        start = time.perf_counter()
        render_funcanimation(film, Path(tmp) / "funcanimation.mp4", states, size)
        naive = time.perf_counter() - start
    print(f"film: {args.points} points, {len(film.positions)} snapshots, {result.n_frames} frames "
          f"({len(moving)} moving + {total - len(moving)} hold), {size[0]}x{size[1]} mp4")
    print(f"{'render_film (Agg canvas, set_offsets)':<42}{ours:8.2f} s  {result.n_frames / ours:6.1f} frames/s")
    print(f"{'FuncAnimation (clear + redraw)':<42}{naive:8.2f} s  {result.n_frames / naive:6.1f} frames/s")
    print(f"{'speed-up':<42}{naive / ours:8.2f} x")


if __name__ == "__main__":
    main()
