"""embviz export, read back by the real clients: TensorBoard's projector plugin over HTTP, gensim's
word2vec loader, and ``np.load(allow_pickle=False)``."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embviz.cli import main
from embviz.interop.export import export, word2vec_key, word2vec_token
from embviz.rundir.files import tsv_unescape, write_npy
from embviz.rundir.run import Run
from embviz.text.lexicon import at_level

from toyrun import make_toy_run

# Tokens that break naive writers: spaces (word2vec's separator), tabs and newlines (TSV's), a
# carriage return, backslashes and the escapes' own spellings, empty and whitespace-only tokens.
AWKWARD = ["new york", "tab\there", "line\nbreak", "cr\rx", "back\\slash", " ", "", "  lead", "trail ", "ünïcödé",
           "東京", "\\s", "\\e", "a\u3000b", "x\x0by"]
DIM = 12


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Run:
    tokens = AWKWARD + [f"w{i}" for i in range(45)]
    run = make_toy_run(tmp_path_factory.mktemp("export") / "run", tokens=tokens, n_snapshots=5, dim=DIM)
    # An all-zero init snapshot: its float32 bytes are valid UTF-8, which TensorBoard's projector would
    # try to parse as a TSV tensor.
    write_npy(run.snapshot_dir / run.snapshots()[0].file, np.zeros((len(tokens), DIM), np.float32))
    return run


def cli(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    return exit_info.value.code


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# -- TensorBoard --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Projector:
    """The projector plugin of a running TensorBoard."""

    def __init__(self, base: str):
        self.base = base

    def get(self, route: str, **params: str) -> bytes:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.base}/data/plugin/projector/{route}{query}", timeout=30) as response:
            return response.read()


@pytest.fixture(scope="module")
def projector(run, tmp_path_factory):
    """``tensorboard --logdir OUT`` on a free loopback port, OUT written by ``embviz export --to projector``."""
    root = tmp_path_factory.mktemp("tensorboard")
    out = root / "projector"
    assert cli(["export", str(run.path), "--to", "projector", str(out), "-q"]) == 0
    port = free_port()
    log = (root / "tensorboard.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(out), "--host", "127.0.0.1",
                             "--port", str(port), "--load_fast=false"], stdout=log, stderr=subprocess.STDOUT)
    client = Projector(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, (root / "tensorboard.log").read_text()
            try:
                client.get("runs")
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, "TensorBoard did not answer in 90 s"
                time.sleep(0.2)
        yield out, client
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_tensorboard_lists_every_snapshot_with_its_shape(run, projector):
    out, client = projector
    assert json.loads(client.get("runs")) == ["."]
    embeddings = json.loads(client.get("info", run="."))["embeddings"]
    snaps = run.snapshots()
    assert [e["tensorName"] for e in embeddings] == [f"step-{s.step:08d}" for s in snaps]
    assert all(e["tensorShape"] == [len(run.vocab()[0]), DIM] for e in embeddings)
    assert {e["metadataPath"] for e in embeddings} == {"metadata.tsv"}


def test_tensorboard_serves_every_snapshot_exactly(run, projector):
    out, client = projector
    tokens = run.vocab()[0]
    for snap in run.snapshots():
        served = np.frombuffer(client.get("tensor", run=".", name=Path(snap.file).stem), dtype="<f4")
        assert np.array_equal(served.reshape(len(tokens), DIM), run.load_snapshot(snap)), snap.step
    # Raw float32 except the all-zero init snapshot, which TensorBoard would misread as text.
    assert sorted(p.suffix for p in out.glob("step-*")) == [".bytes"] * 4 + [".tsv"]
    assert all(p.stat().st_size == len(tokens) * DIM * 4 for p in out.glob("*.bytes"))


def test_tensorboard_metadata_has_a_header_and_one_row_per_token(run, projector):
    out, client = projector
    tokens, counts, categories = run.vocab()
    text = client.get("metadata", run=".", name="step-00000000").decode("utf-8")
    lines = text.split("\n")
    assert lines[-1] == "" and "\t" in lines[0]  # the projector's rule: a first line with a tab is a header
    header, rows = lines[0].split("\t"), [line.split("\t") for line in lines[1:-1]]
    assert header == ["token", "count", "pos", "field", "subfield"]
    assert len(rows) == len(tokens) and all(len(row) == len(header) for row in rows)
    assert [tsv_unescape(row[0]) for row in rows] == tokens
    assert [int(row[1]) for row in rows] == counts
    for level in range(3):
        assert [row[2 + level] for row in rows] == [at_level(c, level) or "" for c in categories]


def test_standalone_config_matches_what_tensorboard_reads(projector):
    out, client = projector
    standalone = json.loads((out / "projector_config.json").read_text())
    assert standalone == json.loads(client.get("info", run="."))
    assert all((out / e["tensorPath"]).is_file() for e in standalone["embeddings"])


# -- word2vec -----------------------------------------------------------------------------------


@pytest.mark.parametrize("binary, snapshot", [(False, None), (True, None), (False, "init"), (True, "step")])
def test_gensim_loads_the_snapshot_exactly(run, tmp_path, capsys, binary, snapshot):
    from gensim.models import KeyedVectors

    snaps = run.snapshots()
    expected = {None: snaps[-1], "init": snaps[0], "step": snaps[2]}[snapshot]
    path = tmp_path / ("vectors.bin" if binary else "vectors.txt")
    args = ["export", str(run.path), "--to", "word2vec", str(path)] + ["--binary"] * binary
    if snapshot is not None:
        args += ["--snapshot", str(expected.step) if snapshot == "step" else snapshot]
    assert cli(args) == 0
    assert f"1 snapshot(s) (step {expected.step}) of {len(run.vocab()[0])} tokens × {DIM}" in capsys.readouterr().out
    vectors = KeyedVectors.load_word2vec_format(str(path), binary=binary)
    assert [word2vec_token(key) for key in vectors.index_to_key] == run.vocab()[0]
    assert np.array_equal(vectors.vectors, run.load_snapshot(expected))


@settings(deadline=None)
@given(st.text(st.sampled_from(list(" \t\n\r\\esu0a\x0b\x85\u3000\u2028")) | st.characters()))
def test_word2vec_keys_hold_no_whitespace_and_give_the_token_back(token):
    key = word2vec_key(token)
    assert key and not any(c.isspace() for c in key)
    assert word2vec_token(key) == token


# -- npz ----------------------------------------------------------------------------------------


def test_npz_holds_every_snapshot_and_loads_without_pickle(run, tmp_path):
    path = tmp_path / "run.npz"
    assert cli(["export", str(run.path), "--to", "npz", str(path), "-q"]) == 0
    snaps = run.snapshots()
    tokens, counts, categories = run.vocab()
    with np.load(path, allow_pickle=False) as data:
        assert all(data[name].dtype != object for name in data.files)
        assert np.array_equal(data["embeddings"], run.gather(np.arange(len(tokens))))
        assert data["steps"].tolist() == [s.step for s in snaps]
        assert data["epochs"].tolist() == [s.epoch for s in snaps]
        assert data["tokens"].tolist() == tokens
        assert data["counts"].tolist() == counts
        assert data["levels"].tolist() == ["pos", "field", "subfield"]
        assert data["categories"].tolist() == [[at_level(c, i) or "" for c in categories] for i in range(3)]


def test_npz_of_one_snapshot(run, tmp_path):
    snap = run.snapshots()[1]
    result = export(run.path, "npz", tmp_path / "one.npz", snapshot=str(snap.step))
    with np.load(result.path, allow_pickle=False) as data:
        assert data["steps"].tolist() == [snap.step]
        assert np.array_equal(data["embeddings"][0], run.load_snapshot(snap))


# -- replacing and interrupting -----------------------------------------------------------------


def interrupt_after_first(stage: str, done: int, total: int) -> None:
    raise KeyboardInterrupt


@pytest.mark.parametrize("fmt, name", [("projector", "out"), ("npz", "out.npz"), ("word2vec", "out.txt")])
def test_an_interrupted_export_leaves_the_previous_one_whole(run, tmp_path, fmt, name):
    out = tmp_path / name
    export(run.path, fmt, out, snapshot="init")
    before = tree(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        export(run.path, fmt, out, overwrite=True, progress=interrupt_after_first)
    assert tree(tmp_path) == before and sorted(p.name for p in tmp_path.iterdir()) == [name]
    export(run.path, fmt, out, overwrite=True)
    assert tree(tmp_path) != before and sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_an_interrupted_first_export_leaves_nothing(run, tmp_path):
    with pytest.raises(KeyboardInterrupt):
        export(run.path, "projector", tmp_path / "out", progress=interrupt_after_first)
    assert list(tmp_path.iterdir()) == []


def test_projector_fills_an_empty_folder(run, tmp_path):
    (tmp_path / "out").mkdir()
    export(run.path, "projector", tmp_path / "out", snapshot="final")
    assert (tmp_path / "out" / "projector_config.pbtxt").is_file()


def test_an_uncategorised_vocabulary_keeps_a_two_column_header(tmp_path):
    run = make_toy_run(tmp_path / "run", labels=[None] * 10, n_snapshots=2, dim=4)
    export(run.path, "projector", tmp_path / "projector")
    lines = (tmp_path / "projector" / "metadata.tsv").read_text(encoding="utf-8").split("\n")
    assert lines[0] == "token\tcount" and len(lines) == 1 + 10 + 1
    export(run.path, "npz", tmp_path / "run.npz")
    with np.load(tmp_path / "run.npz", allow_pickle=False) as data:
        assert data["levels"].shape == (0,) and data["categories"].shape == (0, 10)
