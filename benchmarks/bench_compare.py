"""``compare`` of two seeds of the demo run: CKA per matched snapshot and the agreement split by frequency.

Trains ``synthetic`` twice with the demo's defaults, seeds 0 and 1 (log-spaced snapshots as well as every
epoch), and compares them with ``embviz.compare.runs.compare_runs``. Printed beside ours:

- a plain numpy reference of the same measures on every matched pair (CKA from the centred n x n Gram
  matrices, Jaccard@k from a full argsort of the cosine matrix, ``scipy.spatial.procrustes``): the
  largest difference and the time of each;
- a baseline: seed 0 against seed 1 with seed 1's rows shuffled among the tokens (no word matches its
  own row), what the measures give for unrelated spaces of the same shapes.

Note that the synthetic corpus is generated from the seed too: the two runs read two texts of the same
grammar.

    .venv/bin/python benchmarks/bench_compare.py
    .venv/bin/python benchmarks/bench_compare.py --runs runs/seed0 runs/seed1   # two runs already trained
    .venv/bin/python benchmarks/bench_compare.py --smoke                        # a toy model, seconds
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_emergence import SMOKE, matmul_peak
from scipy.spatial import procrustes

from embviz import TrainConfig, train
from embviz.compare.runs import compare_runs, open_side, shared_tokens
from embviz.compare.similarity import compare_spaces

LOG_SNAPSHOTS = 12


def train_seeds(root: Path, smoke: bool) -> list[Path]:
    out = []
    for seed in (0, 1):
        config = TrainConfig(corpus="synthetic", seed=seed, device="cpu", snapshot_schedule="log",
                             log_snapshots=LOG_SNAPSHOTS, **(SMOKE if smoke else {}))
        t = time.perf_counter()
        train(config, root / f"seed{seed}")
        print(f"trained seed {seed}: {time.perf_counter() - t:.1f} s", flush=True)
        out.append(root / f"seed{seed}")
    return out


def reference(x: np.ndarray, y: np.ndarray, k: int) -> tuple[float, float, float]:
    """CKA, disparity and mean Jaccard@k the textbook way: n x n Gram matrices, full sorts, scipy."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n = x.shape[0]
    h = np.eye(n) - 1.0 / n
    kx, ky = h @ (x @ x.T) @ h, h @ (y @ y.T) @ h
    cka = float((kx * ky).sum() / (np.linalg.norm(kx) * np.linalg.norm(ky)))
    width = max(x.shape[1], y.shape[1])
    disparity = procrustes(np.pad(x, ((0, 0), (0, width - x.shape[1]))), np.pad(y, ((0, 0), (0, width - y.shape[1]))))[2]

    def neighbours(z):
        u = z / np.linalg.norm(z, axis=1, keepdims=True)
        sims = u @ u.T
        np.fill_diagonal(sims, -np.inf)
        return [set(row[:k]) for row in np.argsort(-sims, axis=1, kind="stable")]

    jaccard = [len(p & q) / len(p | q) for p, q in zip(neighbours(x), neighbours(y))]
    return cka, float(disparity), float(np.mean(jaccard))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs=2, type=Path, help="compare these two runs instead of training two seeds")
    parser.add_argument("--smoke", action="store_true", help="toy sizes: check that the benchmark runs")
    args = parser.parse_args()
    print(f"matmul peak: {matmul_peak(256 if args.smoke else 1024) / 1e9:.1f} GFLOP/s", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench_compare-") as tmp:
        run_a, run_b = args.runs or train_seeds(Path(tmp), args.smoke)
        t = time.perf_counter()
        report = compare_runs(run_a, run_b)
        ours_s = time.perf_counter() - t
        d = report.data
        a, b = open_side(run_a), open_side(run_b)
        shared = shared_tokens(a, b)
        rng = np.random.default_rng(0)
        derangement = np.roll(rng.permutation(len(shared.words)), 1)
        t, ref, shuffled = time.perf_counter(), [], []
        for p in report.agreements:
            x, y = a.run.load_snapshot(p.a, shared.rows_a), b.run.load_snapshot(p.b, shared.rows_b)
            ref.append(reference(x, y, d["k"]))
        ref_s = time.perf_counter() - t
        for p in report.agreements:
            x, y = a.run.load_snapshot(p.a, shared.rows_a), b.run.load_snapshot(p.b, shared.rows_b)
            s = compare_spaces(x, y[derangement], k=d["k"])
            shuffled.append((s.linear_cka, s.jaccard.mean()))
    n, pairs = d["shared"]["n_tokens"], len(report.agreements)
    print(f"{d['a']['run']} vs {d['b']['run']}: {n} shared tokens, d_model {d['a']['d_model']} / "
          f"{d['b']['d_model']}, {pairs} snapshots matched by {d['match']['by']}; Jaccard@{d['k']} chance "
          f"{d['jaccard_chance']:.4f}")
    print(f"compare: {ours_s:.2f} s (open, match, measure, split)  numpy reference of the measures alone: "
          f"{ref_s:.2f} s  ratio {ref_s / ours_s:.1f}x")
    ours = np.array([[s["cka"], s["procrustes_disparity"], s["jaccard_mean"]] for s in d["snapshots"]])
    print(f"largest difference from the reference: CKA {np.abs(ours[:, 0] - [r[0] for r in ref]).max():.1e}, "
          f"disparity {np.abs(ours[:, 1] - [r[1] for r in ref]).max():.1e}, "
          f"Jaccard {np.abs(ours[:, 2] - [r[2] for r in ref]).max():.1e}")
    print()
    print("| step A | step B | fraction | CKA | disparity | Jaccard@10 | reference CKA | shuffled CKA | shuffled Jaccard |")
    print("|---|---|---|---|---|---|---|---|---|")
    for s, r, (scka, sjac) in zip(d["snapshots"], ref, shuffled):
        print(f"| {s['step_a']} | {s['step_b']} | {s['fraction_a']:.3f} | {s['cka']:.3f} | "
              f"{s['procrustes_disparity']:.3f} | {s['jaccard_mean']:.3f} | {r[0]:.3f} | {scka:.3f} | {sjac:.3f} |")
    for name, split in d["split"].items():
        groups = split["groups"]
        print(f"\nmean Jaccard@{d['k']} by {name.replace('_', ' ')} ({split['source']})\n")
        print("| step A | " + " | ".join(f"{g['name']} ({g['n']})" for g in groups) + " |")
        print("|---" * (len(groups) + 1) + "|")
        for i, s in enumerate(d["snapshots"]):
            print(f"| {s['step_a']} | " + " | ".join(f"{g['jaccard'][i]:.3f}" for g in groups) + " |")
    print()
    for f in d["findings"]:
        print(f["verdict"])


if __name__ == "__main__":
    main()
