"""Time ``embviz export`` on a large run against the plainest writer of the same bytes, side by side.

The run is a toy run (``tests/toyrun.py``, no training): a vocabulary of ``--vocab`` tokens,
``--snapshots`` snapshots [V, d] drifting from noise to nested clusters. Each format is timed against a reference writing the same content:

- projector: ours vs ``ndarray.tofile`` of every snapshot (the .bytes tensors alone, no metadata);
- npz: ours (streamed, one snapshot in memory) vs ``np.savez`` of the stacked [T, V, d] array;
- word2vec text and binary of the final snapshot: ours vs gensim's ``KeyedVectors.save_word2vec_format``.

Each side runs ``--repeats`` times, alternating, and its best time counts (the disk is shared, so
single timings vary). A ratio above 1 means ours is faster. The fp32 matmul peak is printed beside the times (export is
bound by disk and number formatting, not arithmetic; the peak says how loaded the machine was).

    python benchmarks/bench_export.py [--vocab 50000] [--dim 512] [--snapshots 10] [--repeats 2] [--smoke]
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_emergence import matmul_peak

from embviz.interop.export import export

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # toyrun.py lives in tests/
from toyrun import make_toy_run


def timed(work, out: Path) -> float:
    """Seconds ``work()`` takes to write ``out``, which is then deleted."""
    t = time.perf_counter()
    work()
    seconds = time.perf_counter() - t
    remove(out)
    return seconds


def remove(path: Path) -> None:
    shutil.rmtree(path) if path.is_dir() else os.unlink(path)


def size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*")) if path.is_dir() else path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--snapshots", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--smoke", action="store_true", help="a tiny run (2,000 × 64 × 3), seconds")
    args = parser.parse_args()
    if args.smoke:
        args.vocab, args.dim, args.snapshots = 2_000, 64, 3
    logging.getLogger("gensim").setLevel(logging.ERROR)
    from gensim.models import KeyedVectors

    root = Path(tempfile.mkdtemp(prefix="bench-export-"))
    try:
        run = make_toy_run(root / "run", n_words=args.vocab, n_snapshots=args.snapshots, dim=args.dim)
        snaps = run.snapshots()
        tokens = run.vocab()[0]
        peak = matmul_peak()

        def reference_projector() -> None:
            (root / "ref-projector").mkdir()
            for s in snaps:
                run.load_snapshot(s).astype("<f4").tofile(root / "ref-projector" / f"{s.step}.bytes")

        def reference_word2vec(binary: bool) -> None:
            vectors = KeyedVectors(args.dim)
            vectors.add_vectors(tokens, run.load_snapshot(snaps[-1]))
            vectors.save_word2vec_format(str(root / f"ref-{binary}.w2v"), binary=binary)

        cases = [
            ("projector", root / "projector", {}, reference_projector, root / "ref-projector"),
            ("npz", root / "run.npz", {},
             lambda: np.savez(root / "ref.npz", embeddings=run.gather(np.arange(len(tokens)))), root / "ref.npz"),
            ("word2vec", root / "vectors.txt", {}, lambda: reference_word2vec(False), root / "ref-False.w2v"),
            ("word2vec", root / "vectors.bin", {"binary": True}, lambda: reference_word2vec(True), root / "ref-True.w2v"),
        ]
        print(f"run: {args.vocab:,} tokens × d {args.dim} × {args.snapshots} snapshots "
              f"({args.vocab * args.dim * args.snapshots * 4 / 1e9:.2f} GB float32); "
              f"matmul peak (fp32 1024², torch) {peak / 1e9:.0f} GFLOP/s")
        print(f"{'format':<16} {'ours s':>8} {'reference s':>12} {'ref/ours':>9} {'ours MB':>9} {'ours MB/s':>10}  reference")
        for fmt, out, options, reference, ref_out in cases:
            export(run.path, fmt, out, **options)  # a first, untimed round: sizes, warm caches
            reference()
            written, ref_written = size(out) / 1e6, size(ref_out) / 1e6
            remove(out)
            remove(ref_out)
            ours, ref = math.inf, math.inf
            for _ in range(args.repeats):
                ours = min(ours, timed(lambda: export(run.path, fmt, out, **options), out))
                ref = min(ref, timed(reference, ref_out))
            name = fmt + (" binary" if options.get("binary") else " text" if fmt == "word2vec" else "")
            print(f"{name:<16} {ours:8.2f} {ref:12.2f} {ref / ours:9.2f} {written:9.0f} {written / ours:10.0f}  "
                  f"{reference.__name__ if fmt == 'projector' else 'np.savez' if fmt == 'npz' else 'gensim'} "
                  f"({ref_written:.0f} MB)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
