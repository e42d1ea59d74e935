"""DistributedDataParallel through the standard launcher: ``torchrun --nproc_per_node=2`` with ``gloo``
on CPU must train the same run as one process with the same global batch (within float rounding),
stop together, resume together, and fail together.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from embviz.rundir.run import LOCK, Run
from embviz.training.loop import TrainConfig, train

from conftest import TINY, tiny_args

TORCHRUN = Path(sys.executable).with_name("torchrun")
pytestmark = pytest.mark.skipif(not TORCHRUN.exists() and not shutil.which("torchrun"), reason="no torchrun")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
ARGS = [*tiny_args(), "-q"]


def torchrun(*args: str, cwd: Path, nproc: int = 2, timeout: float = 120) -> subprocess.CompletedProcess:
    launcher = str(TORCHRUN) if TORCHRUN.exists() else shutil.which("torchrun")
    return subprocess.run([launcher, "--standalone", f"--nproc_per_node={nproc}", *args], cwd=cwd, env=ENV,
                          capture_output=True, text=True, timeout=timeout)


def config_for(corpus: Path) -> TrainConfig:
    """What ``ARGS`` ask for, as one process would run it."""
    return TrainConfig(corpus=str(corpus), **TINY)


def assert_same_run(a: Path, b: Path, atol: float = 1e-5) -> None:
    ra, rb = Run.open(a), Run.open(b)
    sa, sb = ra.snapshots(), rb.snapshots()
    assert [s.step for s in sa] == [s.step for s in sb]
    for x, y in zip(sa, sb):
        np.testing.assert_allclose(ra.load_snapshot(x), rb.load_snapshot(y), rtol=0, atol=atol)
    ma, mb = ra.metrics(), rb.metrics()
    assert [r["step"] for r in ma] == [r["step"] for r in mb]  # rank 0 alone writes: one row per step
    np.testing.assert_allclose([r["loss"] for r in ma], [r["loss"] for r in mb], atol=atol)  # the global mean
    assert rb.manifest().status == "complete"
    assert not (b / LOCK).exists() and not list(b.rglob("*.tmp"))


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> tuple[Path, Path]:
    """A corpus and the one-process run of it that the two-process runs must equal."""
    from conftest import tiny_text

    root = tmp_path_factory.mktemp("ddp")
    corpus = root / "tiny.txt"
    corpus.write_text(tiny_text(), encoding="utf-8")
    train(config_for(corpus), root / "single")
    return corpus, root / "single"


def test_two_gloo_processes_equal_one_process_with_the_same_global_batch(single, tmp_path):
    corpus, one = single
    done = torchrun("-m", "embviz", "train", str(corpus), "--out", "two", *ARGS, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert_same_run(one, tmp_path / "two")
    assert Run.open(tmp_path / "two").manifest().world_size == 2


STOP_AT_STEP_7 = """
import os, signal, sys
from embviz.training.loop import TrainConfig, train

def stop(status):  # called on rank 0 only: the other rank must learn of it through the all-reduce
    if status.step == 7:
        os.kill(os.getpid(), signal.SIGINT)

config = TrainConfig(corpus=sys.argv[1], d_model=16, layers=1, heads=2, context=8, batch_size=8, epochs=2,
                     lr=3e-3, device="cpu")
result = train(config, sys.argv[2], progress=stop)
print(os.environ["RANK"], result.status, result.steps)
"""


def test_a_signal_on_one_rank_stops_both_and_torchrun_resumes_the_run(single, tmp_path):
    corpus, one = single
    script = tmp_path / "stop_at_7.py"
    script.write_text(STOP_AT_STEP_7)
    stopped = torchrun(str(script), str(corpus), "broken", cwd=tmp_path)
    assert stopped.returncode == 0, stopped.stderr[-3000:]
    assert sorted(stopped.stdout.split("\n")[:2]) == ["0 interrupted 7", "1 interrupted 7"]
    run = Run.open(tmp_path / "broken")
    assert run.manifest().status == "interrupted" and run.snapshots()[-1].step == 7
    resumed = torchrun("-m", "embviz", "train", "--resume", "broken", "-q", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert Run.open(tmp_path / "broken").snapshots()[1].step == 7  # the snapshot taken on stop is kept
    broken_without_stop = tmp_path / "compare"
    shutil.copytree(tmp_path / "broken", broken_without_stop)
    cleaned = Run(broken_without_stop)
    cleaned._write_index([s for s in cleaned.snapshots() if s.step != 7])
    assert_same_run(one, broken_without_stop)


@pytest.mark.parametrize("problem, args, message", [
    ("rank 0 alone fails", ["--out", "existing"], "already exists"),
    ("every rank fails", ["--out", "new", "--batch-size", "7"], "must divide evenly over 2 processes"),
])
def test_an_error_on_any_rank_stops_every_rank_with_one_line(single, tmp_path, problem, args, message):
    corpus, _ = single
    (tmp_path / "existing").mkdir()
    (tmp_path / "existing" / "keep.txt").write_text("keep")
    done = torchrun("-m", "embviz", "train", str(corpus), *ARGS, *args, cwd=tmp_path, timeout=90)
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 2 and all(message in line for line in errors), done.stderr[-3000:]
    assert (tmp_path / "existing" / "keep.txt").read_text() == "keep"
    assert not (tmp_path / "new").exists()
