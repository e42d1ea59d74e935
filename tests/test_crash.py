"""Crash safety with real processes: SIGKILL at a random-ish moment, then ``--resume``; SIGTERM/SIGINT;
the lock against a second live process; stray temp files.

Every run here is a real ``python -m embviz train`` subprocess, so the kill lands wherever the process
happens to be: in the middle of a step, of an ``np.save``, of a ``torch.save``, between a snapshot and
its checkpoint. The assertion is always the same: after ``--resume`` the run is exactly the run that
was never interrupted (CPU, same seed: bit-identical final snapshot, same snapshot steps, one metrics
row per step).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from embviz.rundir.run import LOCK, Run

from conftest import tiny_args, tiny_text

TRAIN_ARGS = [*tiny_args(epochs=3, snapshot_every=5), "-q"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def embviz(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "embviz", *args], cwd=cwd, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str]:
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def wait_for(condition, proc: subprocess.Popen, timeout: float = 60) -> bool:
    """Poll ``condition()`` every millisecond; False if the process ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.001)
    raise TimeoutError("condition not reached")


def listed_steps(run_dir: Path) -> list[int]:
    try:
        return [s.step for s in Run(run_dir).snapshots()]
    except Exception:  # the index is being replaced right now, or not written yet
        return []


def run_state(run_dir: Path) -> dict:
    run = Run.open(run_dir)
    snaps = run.snapshots()
    return {"status": run.manifest().status, "steps": [s.step for s in snaps],
            "final": run.load_snapshot(snaps[-1]), "position": run.load_snapshot(snaps[-1], matrix="position"),
            "metrics": [r["step"] for r in run.metrics()],
            "losses": [r["loss"] for r in run.metrics()]}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("crash")
    (path / "tiny.txt").write_text(tiny_text(), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def reference(workdir) -> dict:
    """The uninterrupted run every broken run must end up equal to."""
    code, err = finish(embviz("train", "tiny.txt", "--out", "whole", *TRAIN_ARGS, cwd=workdir))
    assert code == 0, err
    return run_state(workdir / "whole")


def assert_same_as_reference(run_dir: Path, reference: dict) -> None:
    state = run_state(run_dir)
    assert state["status"] == "complete"
    np.testing.assert_array_equal(state["final"], reference["final"])  # bit-identical
    np.testing.assert_array_equal(state["position"], reference["position"])
    assert state["steps"] == reference["steps"]
    assert state["metrics"] == reference["metrics"]  # one row per step: no duplicates, no gaps
    assert state["losses"] == reference["losses"]
    run = Run.open(run_dir)
    on_disk = sorted(str(p) for folder in (run.snapshot_dir, run.probe_dir) for p in folder.glob("*.npy"))
    listed = sorted(str(p) for s in run.snapshots() for p in run.files_of(s).values())
    assert on_disk == listed  # the index lists exactly the whole files, the probe's included
    assert not list(run_dir.rglob("*.tmp")) and not (run_dir / LOCK).exists()


def kill_when(proc: subprocess.Popen, run_dir: Path, rng: random.Random, moment: str) -> bool:
    """SIGKILL ``proc`` at ``moment``; False if it finished before the moment came."""
    if moment == "start":  # as soon as run.json exists: before (or while) the first checkpoint is written
        reached = wait_for(lambda: (run_dir / "run.json").exists(), proc)
    else:  # after a random number of snapshots, plus a random few milliseconds
        n = rng.randrange(2, 30)
        reached = wait_for(lambda: len(listed_steps(run_dir)) >= n, proc)
        time.sleep(rng.uniform(0, 0.02))
    if not reached or proc.poll() is not None:
        finish(proc)
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True


@pytest.mark.parametrize("seed, moments", [
    (1, ["start"]),
    (2, ["snapshots"]),
    (3, ["snapshots", "snapshots"]),  # the resumed run is killed too
])
def test_sigkill_at_a_random_moment_then_resume_is_bit_identical(workdir, reference, seed, moments):
    rng = random.Random(seed)
    name = f"killed-{seed}"
    run_dir = workdir / name
    proc = embviz("train", "tiny.txt", "--out", name, *TRAIN_ARGS, cwd=workdir)
    killed = 0
    for i, moment in enumerate(moments):
        killed += kill_when(proc, run_dir, rng, moment)
        if i + 1 < len(moments):
            proc = embviz("train", "--resume", name, "-q", cwd=workdir)
    assert killed, "every kill came too late: the run had already finished"
    assert (run_dir / LOCK).exists()  # a killed process cannot clean up: its lock is stale now
    code, err = finish(embviz("train", "--resume", name, "-q", cwd=workdir))
    assert code == 0, err
    assert_same_as_reference(run_dir, reference)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_finishes_the_step_saves_and_says_how_to_resume(workdir, reference, signum):
    name = f"stopped-{signum.name}"
    run_dir = workdir / name
    proc = embviz("train", "tiny.txt", "--out", name, *TRAIN_ARGS, cwd=workdir)
    assert wait_for(lambda: len(listed_steps(run_dir)) >= 5, proc)
    proc.send_signal(signum)
    code, err = finish(proc)
    assert code == 130
    assert f"embviz train --resume {name}" in err and "Traceback" not in err
    run = Run.open(run_dir)
    assert run.manifest().status == "interrupted"
    stopped_at = run.snapshots()[-1].step
    assert 0 < stopped_at < reference["steps"][-1]
    assert run.metrics()[-1]["step"] == stopped_at  # the checkpoint is at the last snapshot
    assert not (run_dir / LOCK).exists()
    code, err = finish(embviz("train", "--resume", name, "-q", cwd=workdir))
    assert code == 0, err
    state = run_state(run_dir)
    np.testing.assert_array_equal(state["final"], reference["final"])
    assert state["metrics"] == reference["metrics"]
    assert set(state["steps"]) - set(reference["steps"]) <= {stopped_at}  # plus the snapshot taken on stop


HOLD_LOCK = """
import sys, time
from embviz.rundir.run import Run
with Run(sys.argv[1]).lock():
    print("locked", flush=True)
    time.sleep(120)
"""


def test_a_second_process_is_refused_while_the_first_lives_and_takes_over_once_it_is_dead(workdir, reference):
    name = "locked"
    run_dir = workdir / name
    assert kill_when(embviz("train", "tiny.txt", "--out", name, *TRAIN_ARGS, cwd=workdir), run_dir,
                     random.Random(5), "snapshots")
    (run_dir / LOCK).unlink()  # the killed trainer's stale lock: taken over below
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, name], cwd=workdir, env=ENV,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert (run_dir / LOCK).read_text() == str(holder.pid)
        before = tree_hashes(run_dir)
        for args in (["--resume", name], ["tiny.txt", "--out", name, "--overwrite", *TRAIN_ARGS]):
            code, err = finish(embviz("train", *args, cwd=workdir))
            assert code == 1
            assert len(err.strip().splitlines()) == 1 and err.startswith("Error:"), err
            assert "in use by another embviz process" in err and f"pid {holder.pid}" in err
        assert tree_hashes(run_dir) == before  # refused before touching anything
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (run_dir / LOCK).read_text() == str(holder.pid)  # stale now
    code, err = finish(embviz("train", "--resume", name, "-q", cwd=workdir))
    assert code == 0, err
    assert_same_as_reference(run_dir, reference)


def tree_hashes(root: Path) -> dict[str, str]:
    import hashlib

    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_stray_temp_files_are_ignored_by_readers_and_cleaned_by_resume(workdir, reference):
    name = "stray"
    run_dir = workdir / name
    proc = embviz("train", "tiny.txt", "--out", name, *TRAIN_ARGS, cwd=workdir)
    assert kill_when(proc, run_dir, random.Random(7), "snapshots")
    run = Run.open(run_dir)
    listed = [s.step for s in run.snapshots()]
    # what a kill in the middle of each kind of write leaves behind
    (run.snapshot_dir / ".step-99999999.npy.k3j2.tmp").write_bytes(b"\x93NUMPY half a file")
    (run.snapshot_dir / ".index.json.x81.tmp").write_text('[{"file": "step-99999999.npy", "st')
    (run.checkpoint_path.parent / ".state.pt.q0.tmp").write_bytes(b"PK\x03\x04 half a zip")
    (run_dir / ".metrics.csv.a1.tmp").write_text("step,epoch\n1,")
    assert [s.step for s in Run.open(run_dir).snapshots()] == listed
    code, err = finish(embviz("train", "--resume", name, "-q", cwd=workdir))
    assert code == 0, err
    assert_same_as_reference(run_dir, reference)
