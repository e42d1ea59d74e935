"""Who settles first at Pythia's vocabulary size: settle steps of 50,304 words × d 64 × 20 snapshots.

The snapshots are a random walk whose steps shrink over training (x_0 ~ N(0, 0.02²), each step's noise
decaying as 1/(t+1)), so words settle at different snapshots. Ours: ``measure_settle`` — one exact cosine
kNN of the whole vocabulary per snapshot, float32 BLAS blocks with a one-pass numba top-k. Side by side on
the same data: scikit-learn's ``NearestNeighbors(metric="cosine", algorithm="brute")`` and a numpy matmul with
``argpartition`` (how ``embviz.measure.metrics.nearest`` selects), each on a sample of query rows of one snapshot
(both are too slow for the whole vocabulary × 20), scaled to the full run; the sampled rows' neighbour lists
are compared with ours. The float32 matmul peak (numpy's BLAS, 1024²) is measured in the same process, with
what our blocks reach (2 V² d FLOP per snapshot).

    .venv/bin/python benchmarks/bench_settle.py
    .venv/bin/python benchmarks/bench_settle.py --smoke     # 2,000 words × 4 snapshots
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from sklearn.neighbors import NearestNeighbors

from embviz.measure.settle import K, measure_settle, vocabulary_knn


def matmul_peak(n: int = 1024, reps: int = 10) -> float:
    """Best-of-3 float32 FLOP/s of an ``n × n`` numpy matmul."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(n, n)).astype(np.float32), rng.normal(size=(n, n)).astype(np.float32)
    a @ b
    best = math.inf
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(reps):
            a @ b
        best = min(best, (time.perf_counter() - t) / reps)
    return 2 * n**3 / best


def random_walk(words: int, dim: int, snapshots: int, seed: int = 0) -> np.ndarray:
    """[T, V, d] float32: a random walk from N(0, 0.02²) whose step t has noise 0.05 / (t + 1)."""
    rng = np.random.default_rng(seed)
    out = np.empty((snapshots, words, dim), dtype=np.float32)
    out[0] = 0.02 * rng.normal(size=(words, dim))
    for t in range(1, snapshots):
        out[t] = out[t - 1] + (0.05 / t) * rng.normal(size=(words, dim)).astype(np.float32)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=50_304)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--snapshots", type=int, default=20)
    parser.add_argument("--sample", type=int, default=1_000, help="query rows of the references")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        args.words, args.snapshots, args.sample = 2_000, 4, 200
    v, d, t_count = args.words, args.dim, args.snapshots
    snaps = random_walk(v, d, t_count)
    vocabulary_knn(snaps[0][:100], K)  # numba compiles (or loads its cache) outside the clock
    peak_before = matmul_peak()

    start = time.perf_counter()
    found = measure_settle(lambda t: snaps[t], list(range(0, 100 * t_count, 100)))
    ours = time.perf_counter() - start
    index = found.settle_index()

    rows = np.sort(np.random.default_rng(1).choice(v, args.sample, replace=False))
    x = snaps[-1]
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    start = time.perf_counter()
    mine = vocabulary_knn(x, K)
    ours_one = time.perf_counter() - start
    start = time.perf_counter()
    nn = NearestNeighbors(n_neighbors=K + 1, metric="cosine", algorithm="brute").fit(x)
    _, theirs = nn.kneighbors(x[rows])
    sklearn_rows = time.perf_counter() - start
    same_sklearn = np.mean([set(mine[r]) == set(n[n != r][:K]) for r, n in zip(rows, theirs)])
    start = time.perf_counter()
    scores = unit[rows] @ unit.T
    scores[np.arange(rows.size), rows] = -np.inf
    numpy_idx = np.argpartition(-scores, K - 1, axis=1)[:, :K]
    numpy_rows = time.perf_counter() - start
    same_numpy = np.mean([set(mine[r]) == set(n) for r, n in zip(rows, numpy_idx)])
    peak = max(peak_before, matmul_peak())

    scale = v / rows.size * t_count
    flop = 2.0 * v * v * d
    print(f"settle steps of {v:,} words × d {d} × {t_count} snapshots (k = {K}, threshold 0.5)")
    print(f"  ours (blocked float32 BLAS + numba top-k): {ours:8.1f} s  ({ours / t_count:.2f} s a snapshot; "
          f"one kNN {ours_one:.2f} s = {flop / ours_one / 1e9:.0f} GFLOP/s of the matmul)")
    print(f"  sklearn NearestNeighbors brute cosine:     {sklearn_rows * scale:8.1f} s  (scaled from {rows.size:,} "
          f"query rows of one snapshot: {sklearn_rows:.2f} s)  ours {sklearn_rows * scale / ours:.1f}x faster")
    print(f"  numpy argpartition (metrics.nearest's way): {numpy_rows * scale:8.1f} s  (scaled from {rows.size:,} rows: "
          f"{numpy_rows:.2f} s)  ours {numpy_rows * scale / ours:.1f}x faster")
    print(f"  same neighbour sets as ours on the sampled rows: sklearn {same_sklearn:.1%}, numpy {same_numpy:.1%}")
    print(f"  float32 matmul peak (numpy, 1024²): {peak / 1e9:.0f} GFLOP/s; our kNN's share of it "
          f"{flop / ours_one / peak:.0%}")
    settled = index >= 0
    print(f"  settled: {settled.mean():.1%} of words; median settle snapshot {np.median(index[settled]):.0f} "
          f"of {t_count - 1}" if settled.any() else "  settled: none")


if __name__ == "__main__":
    main()
