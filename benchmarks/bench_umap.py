"""UMAP for films: warm-started chain vs umap-learn's AlignedUMAP on the same snapshots.

Both run in this one process after a small warm-up fit of each, so numba's one-off compilation
(≈ 7.5 s per process) is reported separately and charged to neither. The snapshots are a toy
trajectory (``tests/toyrun.py``: noise → nested categories, d = 64).

Reported per mode:

- time: wall seconds of ``fit`` on all snapshots;
- stability: mean over consecutive frames of (mean displacement of a word) ÷ (RMS distance of the
  words from their centroid in the later frame) — lower is steadier; both trajectories are
  Procrustes-aligned frame to frame, as ``animate`` shows them;
- final-frame quality: trustworthiness@10 (scikit-learn, cosine) and 2-D kNN purity@10 at the
  field level, so a mode cannot look steady by not moving.

    python benchmarks/bench_umap.py                       # 20 snapshots × 2,000 words (the default)
    python benchmarks/bench_umap.py --snapshots 10 --words 500   # a quick look
    python benchmarks/bench_umap.py --modes chain          # skip the slow AlignedUMAP
    python benchmarks/bench_umap.py --smoke                # the chain on 3 × 60 words (numba still compiles)
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from embviz.layout.projectors import UMAPProjector
from embviz.measure.metrics import knn_purity

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # toyrun.py lives in tests/
from toyrun import toy_categories, toy_trajectory


def stability(frames: np.ndarray) -> float:
    """Mean over consecutive frames of mean word displacement ÷ the later frame's RMS spread."""
    values = []
    for a, b in zip(frames[:-1], frames[1:]):
        spread = np.sqrt(((b - b.mean(axis=0)) ** 2).sum(axis=1).mean())
        values.append(np.linalg.norm(b - a, axis=1).mean() / spread)
    return float(np.mean(values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snapshots", type=int, default=20)
    parser.add_argument("--words", type=int, default=2000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--modes", default="chain,aligned")
    parser.add_argument("--smoke", action="store_true", help="toy sizes: check that the benchmark runs")
    args = parser.parse_args()
    if args.smoke:  # the chain only: AlignedUMAP's numba compilation alone takes minutes on a busy machine
        args.snapshots, args.words, args.dim, args.modes = 3, 60, 8, "chain"

    from sklearn.manifold import trustworthiness

    labels = toy_categories(args.words)
    field = [None if lab is None else "/".join(lab.split("/")[:2]) for lab in labels]
    mats = list(toy_trajectory(labels, args.snapshots, dim=args.dim, seed=0))
    print(f"toy trajectory: {args.snapshots} snapshots × {args.words} words × d {args.dim}")

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import umap

        tiny = list(toy_trajectory(toy_categories(60), 2, dim=8))
        UMAPProjector(mode="chain", n_neighbors=5, n_epochs=10, warm_epochs=5, align_epochs=5).fit(tiny)
        if "aligned" in args.modes:
            umap.AlignedUMAP(n_neighbors=5, n_epochs=10).fit(tiny, relations=[{i: i for i in range(60)}])
    print(f"warm-up (numba compilation, once per process): {time.perf_counter() - start:.1f} s")

    results = {}
    for mode in args.modes.split(","):
        projector = UMAPProjector(mode=mode, metric="cosine", random_state=0)
        start = time.perf_counter()
        emb = projector.fit(mats).embeddings_
        seconds = time.perf_counter() - start
        final = emb[-1]
        trust = trustworthiness(mats[-1], final, n_neighbors=10, metric="cosine")
        purity = knn_purity(final, field, k=10)
        results[mode] = seconds
        print(f"{mode:>8}: {seconds:7.1f} s · stability {stability(emb):.4f} · final trustworthiness {trust:.3f}"
              f" · final 2-D field purity {purity:.3f}  ({projector!r})")
    if {"chain", "aligned"} <= results.keys():
        print(f"chain is {results['aligned'] / results['chain']:.1f}× faster than AlignedUMAP")


if __name__ == "__main__":
    main()
