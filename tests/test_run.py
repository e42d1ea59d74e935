import json
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from embviz.errors import RunError
from embviz.rundir.files import write_npy
from embviz.rundir.manifest import RunManifest
from embviz.rundir.run import LOCK, Run, Snapshot, snapshot_name


def snap(step):
    return Snapshot(file=snapshot_name(step), step=step, epoch=step / 10, tokens_seen=step * 100,
                    train_loss=None, val_loss=1.0)


def new_run(tmp_path):
    run = Run.create(tmp_path / "run")
    run.write_manifest(RunManifest(status="running", config={}))
    return run


def test_snapshots_round_trip_and_rows_are_gathered(tmp_path):
    run = new_run(tmp_path)
    m = np.arange(20, dtype=np.float32).reshape(5, 4)
    run.add_snapshot(m, snap(0))
    run.add_snapshot(m * 2, snap(10))
    assert [s.step for s in run.snapshots()] == [0, 10]
    np.testing.assert_array_equal(run.load_snapshot(run.snapshots()[1], rows=np.array([1, 3])), (m * 2)[[1, 3]])


def test_truncate_forgets_later_snapshots_and_their_files(tmp_path):
    run = new_run(tmp_path)
    for step in (0, 5, 10):
        run.add_snapshot(np.zeros((2, 2), np.float32), snap(step))
    run.truncate_snapshots(after_step=5)
    assert [s.step for s in run.snapshots()] == [0, 5]
    assert not (run.snapshot_dir / snapshot_name(10)).exists()


def test_index_paths_cannot_escape_the_run(tmp_path):
    run = new_run(tmp_path)
    run.add_snapshot(np.zeros((2, 2), np.float32), snap(0))
    index = run.snapshot_dir / "index.json"
    data = json.loads(index.read_text())
    data[0]["file"] = "../../etc/passwd"
    index.write_text(json.dumps(data))
    with pytest.raises(RunError, match="plain .npy name"):
        run.snapshots()


@pytest.mark.parametrize("entry, message", [
    ({"file": "step-00000000.npy", "epoch": 0, "tokens_seen": 0}, "missing key 'step'"),
    ({"file": "step-00000000.npy", "step": "0", "epoch": 0, "tokens_seen": 0}, "wrong type"),
    ({"file": "step-00000000.npy", "step": 0, "epoch": 0, "tokens_seen": 0, "val_loss": "x"}, "wrong type"),
])
def test_a_tampered_index_is_a_clear_error(tmp_path, entry, message):
    run = new_run(tmp_path)
    run.snapshot_dir.mkdir()
    (run.snapshot_dir / "index.json").write_text(json.dumps([entry]))
    with pytest.raises(RunError, match=message):
        run.snapshots()


def test_pickled_or_corrupt_snapshots_are_refused(tmp_path):
    run = new_run(tmp_path)
    run.add_snapshot(np.zeros((2, 2), np.float32), snap(0))
    path = run.snapshot_dir / snapshot_name(0)
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(RunError, match="corrupt"):
        run.load_snapshot(run.snapshots()[0])
    path.write_bytes(b"garbage")
    with pytest.raises(RunError, match="corrupt"):
        run.load_snapshot(run.snapshots()[0])


def test_an_atomic_write_that_fails_leaves_the_old_file_and_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "a.npy"
    write_npy(path, np.ones(3))
    monkeypatch.setattr(np, "save", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        write_npy(path, np.zeros(3))
    np.testing.assert_array_equal(np.load(path), np.ones(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy"]


def test_existing_runs_are_not_overwritten_without_permission(tmp_path):
    run = new_run(tmp_path)
    with pytest.raises(RunError, match="--overwrite"):
        Run.create(run.path)
    other = tmp_path / "other"
    other.mkdir()
    (other / "precious.txt").write_text("keep")
    with pytest.raises(RunError, match="not an embviz run"):
        Run.create(other, overwrite=True)
    assert (other / "precious.txt").read_text() == "keep"


def test_lock_refuses_a_live_holder_and_takes_over_a_dead_ones(tmp_path):
    run = new_run(tmp_path)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (run.path / LOCK).write_text(str(sleeper.pid))
        with pytest.raises(RunError, match="in use"):
            with run.lock():
                pass
    finally:
        sleeper.kill()
        sleeper.wait()
    with run.lock():
        assert (run.path / LOCK).read_text() == str(os.getpid())
    assert not (run.path / LOCK).exists()


def test_vocab_tsv_round_trips_awkward_tokens(tmp_path):
    run = new_run(tmp_path)
    tokens = ["<unk>", "tab\there", "new\nline", "back\\slash", "北京", "cr\rx", "form\x0cfeed", "v\x0btab", "ls\u2028ps\u2029",
              "nl\x85fs\x1c"]
    categories = [None, "a/b/c", None, None, "noun/place/city"] + [None] * 5
    run.write_vocab(tokens, list(range(10)), categories)
    assert run.vocab() == (tokens, list(range(10)), categories)
    assert len((run.path / "vocab.tsv").read_text(encoding="utf-8").splitlines()) == len(tokens) + 1


def test_a_vocab_tsv_written_before_control_characters_were_escaped_still_reads(tmp_path):
    run = new_run(tmp_path)
    (run.path / "vocab.tsv").write_text("id\ttoken\tcount\tcategory\n0\tform\x0cfeed\t3\t\n1\tls\u2028\t2\ta/b\n",
                                        encoding="utf-8")
    assert run.vocab() == (["form\x0cfeed", "ls\u2028"], [3, 2], [None, "a/b"])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tokens=st.lists(st.text(max_size=12), min_size=1, max_size=20))
def test_any_token_round_trips_through_vocab_tsv_on_one_line(tmp_path, tokens):
    run = Run(tmp_path)
    run.write_vocab(tokens, [1] * len(tokens), [None] * len(tokens))
    text = (run.path / "vocab.tsv").read_text(encoding="utf-8")
    assert len(text.splitlines()) == len(tokens) + 1
    assert all(len(line.split("\t")) == 4 for line in text.splitlines())
    assert run.vocab()[0] == tokens


def test_gather_stacks_rows_of_every_snapshot(tmp_path):
    run = new_run(tmp_path)
    for step in (0, 5, 10):
        run.add_snapshot(np.full((4, 3), step, np.float16), snap(step))
    got = run.gather(np.array([3, 1]))
    assert got.shape == (3, 2, 3) and got.dtype == np.float32
    np.testing.assert_array_equal(got[:, 0, 0], [0, 5, 10])


def test_a_run_killed_before_its_manifest_can_be_created_again(tmp_path):
    path = tmp_path / "run"
    path.mkdir()
    (path / LOCK).write_text("999999999")  # no such process
    (path / ".run.json.abc.tmp").write_text("{")
    run = Run.create(path)
    with run.lock():
        assert (path / LOCK).read_text() == str(os.getpid())


def test_every_matrix_is_listed_under_files_and_loads_by_name(tmp_path):
    run = new_run(tmp_path)
    token, pos, head = (np.full(shape, v, np.float32) for shape, v in (((5, 4), 1), ((3, 4), 2), ((5, 4), 3)))
    run.add_snapshot(token, snap(0), {"position": pos, "head": head})
    entry = json.loads((run.snapshot_dir / "index.json").read_text())[0]
    assert entry["file"] == snapshot_name(0)
    assert entry["files"] == {"token": snapshot_name(0), "position": snapshot_name(0, "position"),
                              "head": snapshot_name(0, "head")}
    got = run.check_snapshots(rows=5)[0]
    assert got.matrices == ("token", "position", "head")
    for name, want in (("token", token), ("position", pos), ("head", head)):
        np.testing.assert_array_equal(run.load_snapshot(got, matrix=name), want)
    assert run.gather(np.array([2, 0]), matrix="position").shape == (1, 2, 4)


def test_an_entry_without_files_is_the_token_table_alone(tmp_path):
    run = new_run(tmp_path)
    run.add_snapshot(np.ones((2, 2), np.float32), snap(0))
    index = run.snapshot_dir / "index.json"
    data = json.loads(index.read_text())
    del data[0]["files"]  # as a run written before matrices had their own files
    index.write_text(json.dumps(data))
    got = run.check_snapshots(rows=2)[0]
    assert got.files == {"token": snapshot_name(0)} and got.matrices == ("token",)
    with pytest.raises(RunError, match="has no head matrix .it has: token."):
        run.load_snapshot(got, matrix="head")


def test_check_snapshots_checks_every_file_and_truncate_removes_them(tmp_path):
    run = new_run(tmp_path)
    for step in (0, 5):
        run.add_snapshot(np.zeros((4, 2), np.float32), snap(step), {"position": np.zeros((3, 2), np.float32)})
    (run.snapshot_dir / snapshot_name(5, "position")).unlink()
    with pytest.raises(RunError, match="position.npy is missing"):
        run.check_snapshots()
    write_npy(run.snapshot_dir / snapshot_name(5, "position"), np.zeros((6, 2), np.float32))
    with pytest.raises(RunError, match="differ in shape"):
        run.check_snapshots()
    run.add_snapshot(np.zeros((4, 2), np.float32), snap(5))
    with pytest.raises(RunError, match="different matrices: step 0 has token, position, step 5 has token"):
        run.check_snapshots()
    run.truncate_snapshots(after_step=0)
    assert sorted(p.name for p in run.snapshot_dir.glob("*.npy")) == [snapshot_name(0), snapshot_name(0, "position")]


@pytest.mark.parametrize("files, message", [
    ({"token": "step-00000000.npy", "bias": "x.npy"}, "unknown matrix 'bias'"),
    ({"token": "other.npy"}, "for the token table"),
    ({"position": "../x.npy"}, "plain .npy name"),
    (["step-00000000.npy"], "must map matrix names"),
])
def test_malformed_files_are_one_error_line(tmp_path, files, message):
    run = new_run(tmp_path)
    run.add_snapshot(np.zeros((2, 2), np.float32), snap(0))
    index = run.snapshot_dir / "index.json"
    data = json.loads(index.read_text())
    data[0]["files"] = files
    index.write_text(json.dumps(data))
    with pytest.raises(RunError, match=message):
        run.snapshots()
