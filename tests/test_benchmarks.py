"""Every benchmark runs: ``benchmarks/bench_*.py --smoke`` takes its real code path at toy sizes.

The figures of a smoke run mean nothing; what is checked is that the script finishes and prints them,
so a renamed or removed name the benchmarks use fails here, not on the next ``make bench``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = sorted((ROOT / "benchmarks").glob("bench_*.py"))


def test_there_are_benchmarks():
    assert len(BENCHMARKS) >= 7


@pytest.mark.slow
@pytest.mark.parametrize("script", BENCHMARKS, ids=[p.stem for p in BENCHMARKS])
def test_benchmark_smoke(script: Path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, str(script.relative_to(ROOT)), "--smoke"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = [line for line in done.stdout.splitlines() if re.search(r"\d+\.\d+", line)]
    assert len(figures) >= 2, done.stdout
    assert "Traceback" not in done.stderr
