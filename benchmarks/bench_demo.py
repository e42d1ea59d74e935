"""How long does ``make demo`` take from a fresh clone? Every stage timed, and the whole against its bars.

Clones this checkout's committed ``HEAD`` into a temporary folder, asks ``make -n demo`` for the
commands the demo runs (so the stages are the Makefile's own) and runs them one by one, timing each.
Printed: one row per stage (install, the numba warm-up, train, animate, compare-word2vec, explore),
install and compute totals against the bars (whole ≤ 240 s, compute ≤ 150 s), the files the demo
wrote, the load average before and after, and the 1024² fp32 matmul peak beside them (the machine is
shared: rerun on a quiet one for the figures that count).

    python3 benchmarks/bench_demo.py                  # a fresh clone, a fresh .venv: the newcomer's make demo
    python3 benchmarks/bench_demo.py --keep /tmp/demo  # leave the clone there
    python3 benchmarks/bench_demo.py --smoke          # this interpreter's packages, a toy training; seconds

``--smoke`` skips the install lines, runs the embviz commands with this interpreter and trains a toy
model (the same commands otherwise).
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SMOKE_TRAIN = ["--synthetic-tokens", "4000", "--d-model", "16", "--layers", "1", "--context", "16", "--epochs", "2"]
INSTALL = ("venv", "pip", "touch")
BARS = {"whole": 240.0, "compute": 150.0}


def stage(argv: list[str]) -> str:
    """A short name for one of the demo's commands."""
    if "embviz" in Path(argv[0]).name:
        return f"embviz {argv[1]}"
    if "-m" in argv:
        return argv[argv.index("-m") + 1] + (" install" if "install" in argv else "")
    return Path(argv[0]).name


def commands(clone: Path) -> list[list[str]]:
    """The demo's commands as ``make -n demo`` lists them (a fresh make: none of a calling make's flags)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    listed = subprocess.run(["make", "-n", "--no-print-directory", "demo"], cwd=clone, env=env, capture_output=True,
                            text=True, check=True).stdout
    return [shlex.split(line) for line in listed.splitlines() if line.strip()]


def smoke_command(argv: list[str]) -> list[str] | None:
    """The smoke run's version of a demo command: no install; embviz from this interpreter, a toy train."""
    if any(word in argv for word in INSTALL) or argv[0] in INSTALL or "pip" in argv:
        return None
    if "embviz" in Path(argv[0]).name:
        argv = [sys.executable, "-m", "embviz", *argv[1:], "--quiet"]
        return argv + SMOKE_TRAIN if argv[3] == "train" else argv
    return [sys.executable, *argv[1:]]


def matmul_peak(python: str) -> float | None:
    code = ("import time, torch; a = torch.randn(1024, 1024); a @ a; t = time.perf_counter(); "
            "[a @ a for _ in range(20)]; print(2 * 1024**3 * 20 / (time.perf_counter() - t))")
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, check=False)
    return float(done.stdout) if done.returncode == 0 else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="clone into this (new) folder and leave it there")
    parser.add_argument("--smoke", action="store_true", help="no install, a toy training: check that it runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_demo-") as tmp:
        clone = args.keep or Path(tmp) / "embviz"
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
        load = [os.getloadavg()[0]]
        env = {**os.environ, "PYTHONPATH": str(clone)} if args.smoke else \
            {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "NUMBA_CACHE_DIR")}
        rows = []
        for argv in commands(clone):
            run = smoke_command(argv) if args.smoke else argv
            if run is None:
                continue
            start = time.perf_counter()
            subprocess.run(run, cwd=clone, env=env, check=True, stdout=subprocess.DEVNULL)
            rows.append((stage(argv), " ".join(argv), time.perf_counter() - start))
            print(f"... {rows[-1][0]}: {rows[-1][2]:.1f} s", flush=True)
        load.append(os.getloadavg()[0])
        peak = matmul_peak(sys.executable if args.smoke else str(clone / ".venv" / "bin" / "python"))
        files = sorted(str(p.relative_to(clone / "runs" / "demo")) for p in (clone / "runs" / "demo").iterdir())
    install = sum(s for name, _, s in rows if not name.startswith("embviz "))
    compute = sum(s for name, _, s in rows if name.startswith("embviz "))
    print()
    print("| stage | command | wall s |\n|---|---|---|")
    for name, line, seconds in rows:
        print(f"| {name} | `{line}` | {seconds:.1f} |")
    print(f"| **install** (venv, packages, numba warm-up) | | {install:.1f} |")
    print(f"| **compute** (train, animate, compare, explore) | | {compute:.1f} (bar ≤ {BARS['compute']:.0f}) |")
    print(f"| **whole** | | {install + compute:.1f} (bar ≤ {BARS['whole']:.0f}) |")
    print(f"runs/demo holds: {', '.join(files)}")
    print(f"load average (1 min) before / after: {load[0]:.2f} / {load[1]:.2f}; matmul peak (fp32, 1024²) "
          + (f"{peak / 1e9:.0f} GFLOP/s" if peak else "unavailable"))


if __name__ == "__main__":
    main()
