"""``train --live`` and ``watch``: snapshot-to-screen latency, training speed with and without the page, the
server's memory after many snapshots, and the live layout's 2-D purity beside explore's.

1. The same training run (built-in synthetic corpus, log-spaced snapshots) with and without ``--live``, side by
   side in this process, alternated; headless chromium (Debian's) holds the live page open while it trains.
   Tokens/s from each run's ``run.json``; floor: with ``--live`` ≥ 0.9× without. Latency per snapshot:
   the time the page drew it (``embvizLive.shown()``: first with its provisional placement, then with its
   final layout) minus the time its token file was written; floor: median ≤ 1 s to the first drawing.
2. The live run's last frame: 2-D purity@10 of the live layout against ``explore``'s layout of the finished
   run (UMAP chain + joint refinement); floor ≥ 0.9×.
3. ``watch`` on a toy run of many snapshots: the service process's resident memory before and after it
   made every frame, and the frames' JSON it holds.

    python benchmarks/bench_live.py [--smoke]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests"))  # toyrun.py lives in tests/

from bench_emergence import matmul_peak  # noqa: E402
from bench_explore import chromium, verdict  # noqa: E402

from embviz.film.animate_options import AnimateOptions  # noqa: E402
from embviz.film.live import LiveFrames  # noqa: E402
from embviz.film.selection import choose_words  # noqa: E402
from embviz.film.stages import film_snapshots, film_stages  # noqa: E402
from embviz.rundir.run import Run  # noqa: E402
from embviz.serve.live import LiveService  # noqa: E402

from toyrun import make_toy_run  # noqa: E402

WORDS = 100
"""Words of the memory run's toy snapshots."""


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def train(out: Path, args: list[str], live: bool, profile: str) -> tuple[float, list[tuple[float, float]]]:
    """Train into ``out``; with ``live``, a chromium tab on the page meanwhile. Returns (tokens/s, latencies s
    per snapshot: to its first drawing, to its final layout's)."""
    cmd = [sys.executable, "-m", "embviz", "train", "synthetic", "--out", str(out), "--quiet", *args]
    proc = subprocess.Popen(cmd + (["--live"] if live else []), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    latencies: list[tuple[float, float]] = []
    try:
        if live:
            url = proc.stdout.readline().split("Live page: ")[1].strip()
            driver = chromium(profile)
            try:
                driver.get(url)
                while not driver.execute_script("return !!(window.embvizLive && embvizLive.finished())"):
                    time.sleep(0.2)
                    if proc.poll() is not None:
                        raise SystemExit(f"training failed: {proc.stderr.read()[-2000:]}")
                shown = driver.execute_script("return embvizLive.shown()")
                latencies = [(s["shown"] - s["written"], s["final"] - s["written"]) for s in shown]
            finally:
                driver.quit()
            proc.send_signal(signal.SIGINT)  # the page keeps serving after training until Ctrl-C
        if proc.wait(timeout=1800) != 0:
            raise SystemExit(f"training failed: {proc.stderr.read()[-2000:]}")
    finally:
        if proc.poll() is None:
            proc.kill()
    result = json.loads((out / "run.json").read_text())["result"]
    return result["tokens_per_s"], latencies


def purity(run_dir: Path) -> tuple[float, float, str]:
    """2-D purity@10 of the final frame: the live layout, explore's layout; and the level."""
    run = Run.open(run_dir)
    options = AnimateOptions(cache=False)
    snaps = film_snapshots(run)
    stages = film_stages(run, snaps, choose_words(run, options), options)
    level = stages.selection.level
    live = LiveFrames(run, options)
    for snap in snaps:
        frame = live.add(snap)
    return frame["curves"][f"purity in 2-D · {level}"][0], float(stages.emergence.columns[f"purity2d_{level}"][-1]), level


def memory(root: Path, n_snapshots: int, n_words: int) -> tuple[float, float, float, float]:
    """(RSS before MB, RSS after MB, frames' JSON MB, seconds) of a service that made ``n_snapshots`` frames."""
    run = make_toy_run(root / "many", n_words=n_words, n_snapshots=n_snapshots, dim=32,
                       steps=list(range(0, 10 * n_snapshots, 10)))
    before, start = rss_mb(), time.perf_counter()
    with LiveService(run.path) as service:
        service.wait()
        seconds = time.perf_counter() - start
        held = sum(len(f) for f in service.frames) / 1e6
        after = rss_mb()
    return before, after, held, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a tiny run (10k tokens, 1 epoch), 20 snapshots for memory")
    args = parser.parse_args()
    tokens, epochs, many, repeats = (10_000, 1, 20, 1) if args.smoke else (60_000, 2, 1000, 2)
    train_args = ["--synthetic-tokens", str(tokens), "--epochs", str(epochs), "--snapshot-schedule", "log",
                  "--device", "cpu", "--all-epochs"]
    peak = matmul_peak()
    print(f"fp32 matmul peak of this process: {peak / 1e9:.0f} GFLOP/s (training runs on the same cores)")
    root = Path(tempfile.mkdtemp(prefix="bench-live-"))
    try:
        plain, live, latencies = [], [], []
        for i in range(repeats):
            plain.append(train(root / f"plain{i}", train_args, False, str(root / "profile"))[0])
            speed, lat = train(root / f"live{i}", train_args, True, str(root / f"profile{i}"))
            live.append(speed)
            latencies += lat
        ratio = np.median(live) / np.median(plain)
        print(f"training tokens/s, {tokens:,} synthetic tokens × {epochs} epochs, log snapshots "
              f"({len(Run.open(root / 'live0').snapshots())} snapshots), median of {repeats}:")
        print(f"  without --live {np.median(plain):,.0f} · with --live {np.median(live):,.0f} · ratio {ratio:.2f} "
              f"(floor 0.90: {verdict(ratio >= 0.9)})")
        lat, final = np.array(latencies).T
        print(f"snapshot-to-screen latency in chromium over {lat.size} snapshots: median {np.median(lat):.2f} s · "
              f"p95 {np.percentile(lat, 95):.2f} s · max {lat.max():.2f} s (floor: median ≤ 1 s: "
              f"{verdict(np.median(lat) <= 1.0)})")
        print(f"  to the final layout (replacing the provisional placement): median {np.median(final):.2f} s · "
              f"p95 {np.percentile(final, 95):.2f} s · max {final.max():.2f} s")
        ours, theirs, level = purity(root / "live0")
        print(f"final frame, 2-D purity@10 by {level}: live layout {ours:.3f} · explore's layout {theirs:.3f} · "
              f"ratio {ours / theirs:.2f} (floor 0.90: {verdict(ours >= 0.9 * theirs)})")
        before, after, held, seconds = memory(root, many, WORDS)
        print(f"watch on {many:,} snapshots × {WORDS} words: process RSS {before:.0f} MB → {after:.0f} MB "
              f"(+{after - before:.0f} MB; frames held as JSON {held:.1f} MB), every frame made in {seconds:.1f} s "
              f"({1000 * seconds / many:.0f} ms per snapshot)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
