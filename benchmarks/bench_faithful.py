"""How much of the space's structure each projection keeps: PCA vs the UMAP chain (vs t-SNE) on real runs.

For every run and method, one fresh process runs animate's stages (``film_snapshots``, ``choose_words``,
``SnapshotRows``, ``project`` without the cache) on the default word set and measures the final
snapshot (``compute_emergence`` with the layout, as ``measure`` does):

- purity@10 at the film's level in the d-dimensional space and in the 2-D layout, and their ratio;
- trustworthiness@10 (scikit-learn, cosine in the space);
- wall seconds of ``project`` in that fresh process, so UMAP's first-process cost (importing umap-learn
  and numba compiling what its on-disk cache lacks) is included, as a user's first film pays it.

    python benchmarks/bench_faithful.py runs/demo runs/lee           # after embviz train synthetic / lee
    python benchmarks/bench_faithful.py runs/demo --methods pca,umap,tsne
    python benchmarks/bench_faithful.py --smoke                      # a toy run, seconds
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # toyrun.py lives in tests/


def measure_one(run_dir: str, method: str) -> dict:
    """The final snapshot's faithfulness and the projection's wall time, in this process."""
    from dataclasses import replace

    from embviz.film.animate_options import AnimateOptions
    from embviz.film.selection import choose_words
    from embviz.film.stages import SnapshotRows, film_snapshots, project
    from embviz.measure.emergence import compute_emergence
    from embviz.rundir.run import Run

    options = replace(AnimateOptions(), method=method, cache=False)
    run = Run.open(Path(run_dir))
    snapshots = film_snapshots(run)
    selection = choose_words(run, options)
    rows = SnapshotRows(run, snapshots, selection.rows)
    shown = rows.shown
    start = time.perf_counter()
    trajectory = project(run, snapshots, selection, options, shown)
    seconds = time.perf_counter() - start
    final = compute_emergence(shown[-1:], selection.level_labels, [snapshots[-1].step],
                              layouts=trajectory.positions[-1:])
    layout, space = final.faithfulness(selection.level)
    return {"words": len(selection.words), "snapshots": len(snapshots), "level": selection.level,
            "space": space, "layout": layout, "trust": float(final.columns["trustworthiness"][0]),
            "seconds": seconds}


def in_fresh_process(run_dir: str, method: str) -> dict:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, __file__, "--child", run_dir, method], env=env, capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{method} on {run_dir} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def toy_run(root: Path) -> str:
    from toyrun import make_toy_run

    return str(make_toy_run(root / "toy", n_words=60, n_snapshots=3, dim=8).path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", help="run directories [default: runs/demo]")
    parser.add_argument("--methods", default="pca,umap")
    parser.add_argument("--smoke", action="store_true", help="a toy run: check that the benchmark runs")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure_one(*args.child)))
        return
    from bench_emergence import matmul_peak

    with tempfile.TemporaryDirectory() as tmp:
        runs = [toy_run(Path(tmp))] if args.smoke else (args.runs or ["runs/demo"])
        size = 256 if args.smoke else 1024
        print(f"matmul peak (fp32, {size}²)  {matmul_peak(size) / 1e9:.1f} GFLOP/s")
        print(f"{'run':<12} {'method':<6} {'words':>6} {'T':>4} {'level':<9} {'space':>6} {'2-D':>6} {'kept':>6} "
              f"{'trust':>6} {'project s':>10}")
        for run_dir in runs:
            for method in args.methods.split(","):
                r = in_fresh_process(run_dir, method)
                kept = r["layout"] / r["space"] if r["space"] else float("nan")
                print(f"{Path(run_dir).name:<12} {method:<6} {r['words']:>6} {r['snapshots']:>4} {r['level']:<9} "
                      f"{r['space']:>6.3f} {r['layout']:>6.3f} {kept:>6.2f} {r['trust']:>6.3f} {r['seconds']:>10.1f}")


if __name__ == "__main__":
    main()
