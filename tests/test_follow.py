"""Following a run another process writes (:class:`embviz.rundir.follow.Follower`): new snapshots once, in
order, only when whole; a rewritten index (``--resume``); a synced folder's half files; the end of the run."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from embviz.errors import RunError
from embviz.rundir.files import write_npy, write_text
from embviz.rundir.follow import Follower, whole_npy
from embviz.rundir.run import RUN_JSON, VOCAB_TSV, Run, Snapshot, snapshot_name


def growing_run(toy: Path, tmp_path: Path) -> tuple[Run, list[Snapshot]]:
    """A copy of the toy run with no snapshots yet (status running), and the toy's snapshots to add."""
    target = tmp_path / "run"
    target.mkdir()
    for name in (RUN_JSON, VOCAB_TSV):
        shutil.copy(toy / name, target / name)
    run = Run.open(target)
    run.set_status("running")
    return run, Run.open(toy).snapshots()


def add(run: Run, toy: Path, snap: Snapshot) -> None:
    run.add_snapshot(Run.open(toy).load_snapshot(snap), snap)


def test_new_snapshots_come_once_in_step_order(toy: Path, tmp_path: Path) -> None:
    run, snaps = growing_run(toy, tmp_path)
    follower = Follower(run.path)
    assert follower.poll() == [] and not follower.finished
    add(run, toy, snaps[0])
    assert [s.step for s in follower.poll()] == [snaps[0].step]
    assert follower.poll() == []
    for snap in snaps[1:4]:
        add(run, toy, snap)
    assert [s.step for s in follower.poll()] == [s.step for s in snaps[1:4]]
    assert [s.step for s in follower.given] == [s.step for s in snaps[:4]]
    assert not follower.finished  # still running


def test_finished_once_complete_and_every_snapshot_given(toy: Path, tmp_path: Path) -> None:
    run, snaps = growing_run(toy, tmp_path)
    follower = Follower(run.path)
    for snap in snaps:
        add(run, toy, snap)
    run.set_status("complete")
    got = list(follower.follow(interval=0.01))  # returns by itself: the run has finished
    assert [s.step for s in got] == [s.step for s in snaps]
    assert follower.finished


def test_a_half_synced_file_waits_with_every_later_entry(toy: Path, tmp_path: Path) -> None:
    """A folder synced from elsewhere: the index may name a file that is not whole yet."""
    run, snaps = growing_run(toy, tmp_path)
    follower = Follower(run.path)
    add(run, toy, snaps[0])
    follower.poll()
    whole = (toy / "snapshots" / snaps[1].file).read_bytes()
    run._write_index(snaps[:3])  # the index arrived before files 1 and 2
    assert follower.poll() == []
    (run.snapshot_dir / snaps[1].file).write_bytes(whole[: len(whole) // 2])  # half of file 1
    shutil.copy(toy / "snapshots" / snaps[2].file, run.snapshot_dir / snaps[2].file)  # all of file 2
    assert not whole_npy(run.snapshot_dir / snaps[1].file)
    assert follower.poll() == []  # 2 is whole but waits for 1: the order holds
    (run.snapshot_dir / snaps[1].file).write_bytes(whole)
    assert [s.step for s in follower.poll()] == [snaps[1].step, snaps[2].step]


def test_a_half_synced_probe_file_waits_too(toy: Path, tmp_path: Path) -> None:
    """The probe's file lives under probe/, not snapshots/: its entry waits until that file is whole."""
    run, snaps = growing_run(toy, tmp_path)
    follower = Follower(run.path)
    probe = np.ones((6, 3, 4), dtype=np.float32)
    run.add_snapshot(Run.open(toy).load_snapshot(snaps[0]), snaps[0], {"probe": probe})
    path = run.matrix_file(run.snapshots()[0], "layer:0")
    assert path.parent == run.probe_dir
    whole = path.read_bytes()
    path.write_bytes(whole[:-8])  # a synced folder: the token table is whole, the probe not yet
    assert follower.poll() == []
    path.write_bytes(whole)
    assert [s.step for s in follower.poll()] == [snaps[0].step]


def test_a_half_synced_index_or_manifest_is_no_news(toy: Path, tmp_path: Path) -> None:
    run, snaps = growing_run(toy, tmp_path)
    add(run, toy, snaps[0])
    follower = Follower(run.path)
    good = (run.snapshot_dir / "index.json").read_text()
    write_text(run.snapshot_dir / "index.json", good[: len(good) // 2])
    write_text(run.path / RUN_JSON, "{")
    assert follower.poll() == [] and not follower.finished and follower.status() is None
    write_text(run.snapshot_dir / "index.json", good)
    assert [s.step for s in follower.poll()] == [snaps[0].step]


def test_resume_rewrites_the_index_and_the_follower_goes_on(toy: Path, tmp_path: Path) -> None:
    """``--resume`` drops the snapshots after the checkpoint and takes them again: each step comes once."""
    run, snaps = growing_run(toy, tmp_path)
    follower = Follower(run.path)
    for snap in snaps[:5]:
        add(run, toy, snap)
    assert len(follower.poll()) == 5
    run.truncate_snapshots(after_step=snaps[2].step)  # what resume does
    assert follower.poll() == []
    for snap in snaps[3:]:
        add(run, toy, snap)
    assert [s.step for s in follower.poll()] == [s.step for s in snaps[5:]]
    assert [s.step for s in follower.given] == [s.step for s in snaps]


def test_no_snapshot_in_time_is_one_error(toy: Path, tmp_path: Path) -> None:
    run, _ = growing_run(toy, tmp_path)
    with pytest.raises(RunError, match="no snapshot appeared in 0.2 s"):
        list(Follower(run.path).follow(interval=0.02, first_timeout=0.2))


def test_stop_ends_following(toy: Path, tmp_path: Path) -> None:
    run, _ = growing_run(toy, tmp_path)
    stop = threading.Event()
    stop.set()
    assert list(Follower(run.path).follow(stop=stop)) == []


def test_a_folder_that_is_not_a_run_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="not an embviz run"):
        Follower(tmp_path)


def test_whole_npy_reads_only_the_header(tmp_path: Path) -> None:
    path = tmp_path / snapshot_name(3)
    write_npy(path, np.ones((50, 4), dtype=np.float16))
    assert whole_npy(path)
    data = path.read_bytes()
    path.write_bytes(data + b"\0")
    assert not whole_npy(path)
    path.write_bytes(data[:20])
    assert not whole_npy(path)
    assert not whole_npy(tmp_path / "missing.npy")
