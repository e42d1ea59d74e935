"""Time ``animate`` on the PCA path: 50 snapshots × 1,000 words → an mp4 of at least 300 frames.

The run is a toy run (``tests/toyrun.py``): snapshot .npy files, index, vocab and metrics written
through ``Run`` — no training. The whole ``animate`` call is timed (word choice, memory-mapped
gathering, projection, every emergence metric, film, grid, metric curves, CSV), first without
any cache, then again with the cached projection and metrics (re-rendering in another style).
Target: ≤ 20 s on 2 cores for the uncached call.

    python benchmarks/bench_animate.py [--snapshots 50] [--words 1000] [--dim 64]
                                       [--seconds-per-snapshot 0.2]
    python benchmarks/bench_animate.py --smoke     # the same calls on a toy run, in seconds
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from embviz.film.animate import animate
from embviz.film.animate_options import AnimateOptions, FilmOptions
from embviz.film.render import frame_count

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # toyrun.py lives in tests/
from toyrun import make_toy_run

TARGET_S = 20.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snapshots", type=int, default=50)
    parser.add_argument("--words", type=int, default=1000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--fps", type=float, default=30)
    parser.add_argument("--seconds-per-snapshot", type=float, default=0.2)
    parser.add_argument("--smoke", action="store_true", help="toy sizes: check that the benchmark runs")
    args = parser.parse_args()
    if args.smoke:
        args.snapshots, args.words, args.dim, args.fps, args.seconds_per_snapshot = 4, 60, 8, 4, 0.25

    with tempfile.TemporaryDirectory() as tmp:
        run = make_toy_run(Path(tmp) / "run", n_words=args.words, n_snapshots=args.snapshots, dim=args.dim)
        expected = frame_count(args.snapshots, args.fps, args.seconds_per_snapshot, "mp4")
        print(f"toy run: {args.snapshots} snapshots × {args.words} words × d {args.dim}; "
              f"mp4 {args.fps:g} fps, {args.seconds_per_snapshot:g} s/snapshot → {expected} frames, 1280x720")
        options = AnimateOptions(method="pca", align="final", top=args.words,
                                 film=FilmOptions(fps=args.fps, seconds_per_snapshot=args.seconds_per_snapshot))
        start, cpu = time.perf_counter(), os.times()
        result = animate(run.path, Path(tmp) / "film.mp4", replace(options, cache=False))
        total = time.perf_counter() - start
        used = os.times()
        cpu_s = sum(getattr(used, f) - getattr(cpu, f) for f in ("user", "system", "children_user", "children_system"))
        stages = " · ".join(f"{k} {v:.2f}s" for k, v in result.seconds.items())
        verdict = "PASS" if total <= TARGET_S and result.n_frames >= 300 else "FAIL"
        print(f"uncached: {total:.2f} s for {result.n_frames} frames ({len(result.words)} words) "
              f"[{verdict}: target ≤ {TARGET_S:g} s, ≥ 300 frames]")
        print(f"  stages: {stages}")
        print(f"  CPU time (this process + ffmpeg): {cpu_s:.2f} s; load average now "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        film_s = result.seconds.get("film", float("nan"))
        print(f"  film: {result.n_frames / film_s:.1f} frames/s")
        animate(run.path, Path(tmp) / "warm.mp4", options)  # fill the cache
        start = time.perf_counter()
        again = animate(run.path, Path(tmp) / "restyled.gif", replace(options, film=replace(options.film, label=10, fps=15)))
        total = time.perf_counter() - start
        print(f"cached projection + metrics, restyled as gif: {total:.2f} s for {again.n_frames} frames "
              f"(projection cached: {again.projection_cached}, metrics cached: {again.metrics_cached})")


if __name__ == "__main__":
    main()
