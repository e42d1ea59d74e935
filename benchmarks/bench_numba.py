"""What numba's compiling costs a UMAP film: a fresh environment, a second process, and after train's warm-up.

Each case is a fresh process running ``animate``'s projection (the default UMAP chain, as
``embviz.film.stages.projector_for`` builds it) on a toy run of the demo's size, with its own numba
cache directory (``NUMBA_CACHE_DIR``) standing in for a fresh environment. Printed per case: wall
seconds of importing umap-learn plus the fit, and the seconds numba spent compiling (its
``numba:compile`` events, outermost only), in one table:

- first film in a fresh environment (empty cache);
- a second film in the same environment;
- the same second film with today's reference path before the disk cache: umap-learn's
  ``UNCACHED_UMAP`` functions left without one, so they compile in every process;
- ``train``'s warm-up (``python -m embviz.film.warmup``, what train starts in the background) in
  another empty cache, then the film: what ``animate`` saves after ``train`` warmed it.

    .venv/bin/python benchmarks/bench_numba.py
    .venv/bin/python benchmarks/bench_numba.py --smoke     # 60 words × 3 snapshots (numba still compiles)
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # toyrun.py lives in tests/


def film(run_dir: str, reference: bool) -> dict:
    """In this process: animate's UMAP projection of ``run_dir``; wall and compile seconds."""
    from numba.core import event

    class Compiles(event.Listener):
        depth, seconds, count, started = 0, 0.0, 0, 0.0

        def on_start(self, ev):
            if self.depth == 0:
                self.started = time.perf_counter()
            self.depth += 1

        def on_end(self, ev):
            self.depth -= 1
            if self.depth == 0:
                self.seconds += time.perf_counter() - self.started
                self.count += 1

    compiles = Compiles()
    event.register("numba:compile", compiles)
    start = time.perf_counter()
    import embviz.layout.projectors as projectors
    from embviz.film.animate_options import AnimateOptions
    from embviz.film.stages import projector_for
    from embviz.rundir.run import Run

    if reference:
        projectors.UNCACHED_UMAP = ()
    run = Run.open(Path(run_dir))
    frames = [run.load_snapshot(s, None) for s in run.snapshots()]
    projector_for(AnimateOptions()).fit(frames)
    return {"wall": time.perf_counter() - start, "compile": compiles.seconds, "compiles": compiles.count}


def child(args: list[str], cache: Path) -> float:
    """Run ``python args`` with numba's cache in ``cache``; its wall seconds (or its JSON when it prints one)."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "MPLBACKEND": "Agg",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{args} failed:\n{done.stderr[-3000:]}")
    lines = done.stdout.splitlines()
    return json.loads(lines[-1]) if lines else {"wall": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a toy run of 60 words × 3 snapshots")
    parser.add_argument("--child", nargs=2, metavar=("RUN", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(film(args.child[0], args.child[1] == "reference")))
        return
    from toyrun import make_toy_run

    words, snapshots, dim = (60, 3, 8) if args.smoke else (496, 42, 256)
    with tempfile.TemporaryDirectory(prefix="bench_numba-") as tmp:
        root = Path(tmp)
        run = str(make_toy_run(root / "toy", n_words=words, n_snapshots=snapshots, dim=dim).path)
        me = [__file__, "--child", run]
        rows = [("first film, fresh environment", child([*me, "ours"], root / "a"))]
        rows.append(("second film, same environment", child([*me, "ours"], root / "a")))
        rows.append(("second film, umap-learn uncached (reference)", child([*me, "reference"], root / "a")))
        rows.append(("train's warm-up, fresh environment", child(["-m", "embviz.film.warmup"], root / "b")))
        rows.append(("film after the warm-up", child([*me, "ours"], root / "b")))
    print(f"animate's UMAP projection, toy run of {words} words × {snapshots} snapshots, d {dim}; "
          f"load average {os.getloadavg()[0]:.1f}")
    print("| case | wall s | numba compile s (compiles) |\n|---|---|---|")
    for name, r in rows:
        compiled = f"{r['compile']:.1f} ({r['compiles']})" if "compile" in r else "(whole process)"
        print(f"| {name} | {r['wall']:.1f} | {compiled} |")
    first, second, reference, after = rows[0][1], rows[1][1], rows[2][1], rows[4][1]
    print(f"second process / first: {second['wall'] / first['wall']:.2f}; reference second process compiles "
          f"{reference['compile']:.1f} s, ours {second['compile']:.1f} s; animate after train's warm-up saves "
          f"{first['wall'] - after['wall']:.1f} s of {first['wall']:.1f} s")


if __name__ == "__main__":
    main()
