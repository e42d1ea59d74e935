"""``compare`` on two vocabulary-sized runs: Jaccard@k of every shared word vs of a ``--sample`` of them.

Two runs of ``--vocab`` words (default 50,304, Pythia's rows) × d 64 × ``--snapshots`` snapshots, built
without training (tests/toyrun.py: each word a random walk drifting into its nested category, seeds 0
and 1, so the runs share their categories and nothing else). Side by side in one process:

* reference: ``compare_runs`` with ``sample=0``, every shared word's neighbours among all of them;
* ours: ``compare_runs`` with ``sample=N`` for each ``--samples`` N.

Prints the time of each (and its ratio to the whole), the peak RSS of the process, and how far the
sampled figures move from the whole's: the mean Jaccard@k of each matched pair, each split group's
(frequency quartile, part of speech) and the findings' verdicts. CKA and disparity use every row either way.

    .venv/bin/python benchmarks/bench_compare_sample.py
    .venv/bin/python benchmarks/bench_compare_sample.py --snapshots 6 --samples 1000,5000
    .venv/bin/python benchmarks/bench_compare_sample.py --smoke      # toy sizes, seconds
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).parent))
from bench_emergence import matmul_peak  # noqa: E402

from embviz.compare.runs import RunsOptions, compare_runs  # noqa: E402

from toyrun import make_toy_run  # noqa: E402


def figures(data: dict) -> tuple[np.ndarray, dict[str, np.ndarray], list[str]]:
    """Mean Jaccard@k per matched pair [P], each split group's [P], and the findings' verdict words."""
    pairs = np.array([s["jaccard_mean"] for s in data["snapshots"]])
    groups = {f"{name}/{g['name']}": np.array(g["jaccard"]) for name, split in data["split"].items()
              for g in split["groups"]}
    verdicts = [f["verdict"].split(":")[1].split(" on these")[0].strip() for f in data["findings"]]
    return pairs, groups, verdicts


def peak_rss() -> float:
    return int(re.search(r"VmHWM:\s+(\d+)", Path("/proc/self/status").read_text()).group(1)) * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vocab", type=int, default=50_304)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--snapshots", type=int, default=3)
    parser.add_argument("--samples", default="1000,2000,5000,10000")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    vocab, samples = (600, [100, 300]) if args.smoke else (args.vocab, [int(v) for v in args.samples.split(",")])
    tmp = Path(tempfile.mkdtemp(prefix="bench-compare-sample-"))
    try:
        for seed in (0, 1):
            make_toy_run(tmp / f"seed{seed}", n_words=vocab, n_snapshots=args.snapshots, dim=args.dim, seed=seed)
        print(f"two runs of {vocab:,} words × d {args.dim} × {args.snapshots} snapshots (toy random walks, seeds 0, 1)",
              flush=True)
        t = time.perf_counter()
        whole = compare_runs(tmp / "seed0", tmp / "seed1", RunsOptions(sample=0))
        whole_s = time.perf_counter() - t
        print(f"reference: every word ({vocab:,})  {whole_s:8.1f} s   peak RSS {peak_rss() / 1e6:,.0f} MB", flush=True)
        pairs, groups, verdicts = figures(whole.data)
        print(f"  mean Jaccard@10 per pair: {', '.join(f'{v:.4f}' for v in pairs)} (chance "
              f"{whole.data['jaccard_chance']:.5f}); verdicts: {'; '.join(verdicts)}")
        for n in samples:
            t = time.perf_counter()
            part = compare_runs(tmp / "seed0", tmp / "seed1", replace(RunsOptions(), sample=n))
            seconds = time.perf_counter() - t
            p, g, v = figures(part.data)
            group_moves = [np.abs(g[name] - groups[name]).max() for name in groups if name in g]
            rel = np.abs(p - pairs) / np.maximum(pairs, 1e-12)
            print(f"ours: --sample {n:>6,}  {seconds:8.1f} s  ({seconds / whole_s:.3f} of the whole)   "
                  f"pair mean moves ≤ {np.abs(p - pairs).max():.4f} ({rel.max():.1%});   "
                  f"group mean moves ≤ {max(group_moves):.4f} (median {np.median(group_moves):.4f}); "
                  f"verdicts {'same' if v == verdicts else 'DIFFER: ' + '; '.join(v)}", flush=True)
        print(f"peak RSS {peak_rss() / 1e6:,.0f} MB; matmul peak (fp32, 1024², best of 3) {matmul_peak() / 1e9:.1f} GFLOP/s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
