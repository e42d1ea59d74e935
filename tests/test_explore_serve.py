"""``explore --serve``: real HTTP requests to the real server on 127.0.0.1, neighbours checked against numpy;
the neighbour engine's modes on tiny data."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from embviz.errors import ConfigError
from embviz.film import explore as ex
from embviz.film.animate_options import AnimateOptions
from embviz.film.explore_serve import serve_explore
from embviz.film.stages import SnapshotRows, StreamedRows
from embviz.measure.neighbours import NeighbourEngine
from embviz.rundir.run import Run

from toyrun import make_toy_run

PCA = AnimateOptions(method="pca", cache=False)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return make_toy_run(tmp_path_factory.mktemp("serve") / "run", n_words=80, n_snapshots=5, dim=16).path


@pytest.fixture(scope="module")
def served(run_dir):
    served = serve_explore(run_dir, PCA)
    with served.server:
        yield served


def _get(served, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", served.server.port, timeout=10)
    try:
        conn.request("GET", path)
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


def _page_data(html: str) -> dict:
    start = html.index('<script type="application/json"')
    start = html.index(">", start) + 1
    return json.loads(html[start:html.index("</script>", start)])


def reference(matrix: np.ndarray, word: int, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """The plain numpy answer: every row's cosine with ``word``'s, in float64, highest first, itself left out."""
    unit = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    cos = unit @ unit[word]
    cos[word] = -np.inf
    order = np.argsort(-cos, kind="stable")[:k]
    return order, cos[order]


def test_page_is_explores_without_neighbour_arrays(served, run_dir):
    status, body = _get(served, "/")
    assert status == 200
    data = _page_data(body.decode())
    assert data["serve"] is True and "nbrIndex" not in data and "nbrCos" not in data
    assert data["n"] == served.n_words == len(data["words"]) and data["T"] == served.n_snapshots == 5
    assert data["k"] == 10
    words = Run.open(run_dir).vocab()[0]
    assert set(data["words"]) <= set(words)


def test_neighbours_equal_numpy(served, run_dir):
    run = Run.open(run_dir)
    snapshots = run.snapshots()
    rows = served.engine.rows
    for snapshot in (0, 2, 4):
        matrix = np.load(run.snapshot_dir / snapshots[snapshot].file, allow_pickle=False).astype(np.float64)[rows]
        for word in (0, 7, len(rows) - 1):
            status, body = _get(served, f"/neighbours?word={word}&snapshot={snapshot}")
            assert status == 200
            got = np.array(json.loads(body)["neighbours"])
            idx, cos = reference(matrix, word)
            assert got.shape == (10, 2)
            assert list(got[:, 0].astype(int)) == list(idx)
            assert np.allclose(got[:, 1], cos, atol=1e-5)


@pytest.mark.parametrize("query, needle", [
    ("word=80&snapshot=0", "not one of the 80 words"),
    ("word=3&snapshot=5", "snapshot 5 is out of range (0 to 4)"),
    ("word=abc&snapshot=0", "word must be an index"),
    ("word=-1&snapshot=0", "word must be an index"),
    ("word=1.5&snapshot=0", "word must be an index"),
    ("word=3&snapshot=", "snapshot=<index> is missing"),
    ("snapshot=1", "word=<index> is missing"),
    ("word=99999999999999999999&snapshot=0", "word must be an index"),
])
def test_bad_queries_are_clear_errors(served, query, needle):
    status, body = _get(served, f"/neighbours?{query}")
    assert status == 400
    assert needle in json.loads(body)["error"]


@pytest.mark.parametrize("path", ["/run.json", "/../run.json", "/%2e%2e/run.json", "/snapshots/index.json",
                                  "//etc/passwd", "/..%2f..%2fetc%2fpasswd", "/etc/passwd", "/neighbours/../run.json",
                                  "/explorer.html", "/nope"])
def test_nothing_but_the_routes(served, run_dir, path):
    status, body = _get(served, path)
    assert status == 404
    assert b"vocab_size" not in body and b"root:" not in body


def test_server_stops_and_frees_its_port(run_dir):
    served = serve_explore(run_dir, PCA)
    with served.server:
        with urllib.request.urlopen(served.url + "neighbours?word=1&snapshot=1", timeout=10) as answer:
            assert len(json.loads(answer.read())["neighbours"]) == 10
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(served.url, timeout=2)
    socket.create_server(("127.0.0.1", served.server.port)).close()  # the port is free again


@pytest.mark.filterwarnings("ignore:the 2-D layout keeps")
def test_port_in_use_is_refused_before_any_work(tmp_path):
    run = make_toy_run(tmp_path / "run", n_words=30, n_snapshots=3, dim=8)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"port {port} on 127.0.0.1 is in use"):
            serve_explore(run.path, AnimateOptions(method="pca"), port=port)
    assert not (run.path / "projections").exists()  # refused before the layout (which would be cached there)
    serve_explore(run.path, AnimateOptions(method="pca"), port=0).server.stop()
    assert (run.path / "projections").is_dir()


def test_a_run_too_big_for_one_file_is_served(run_dir, monkeypatch):
    monkeypatch.setattr(ex, "MAX_PAGE_BYTES", ex.page_bytes(80, 5, inline_neighbours=False))
    with pytest.raises(ConfigError, match="explore --serve keeps the neighbours in the run"):
        ex.explore(run_dir, options=PCA)
    served = serve_explore(run_dir, PCA)
    with served.server:
        status, body = _get(served, "/")
    assert status == 200 and _page_data(body.decode())["n"] == 80


def test_rows_too_many_to_gather_are_streamed_and_laid_out_as_gathered(run_dir):
    run = Run.open(run_dir)
    gathered, _ = ex.explore_data(run, PCA, serve=True)
    streamed, data = ex.explore_data(run, PCA, serve=True, gather_limit=1000)  # 80 words × 5 × 16 × 4 bytes > 1000
    assert not gathered.rows.streamed and streamed.rows.streamed and data["n"] == 80
    assert isinstance(streamed.rows.shown, StreamedRows) and len(streamed.rows.shown) == 5
    scale = np.abs(gathered.trajectory.positions).max()
    assert np.abs(streamed.trajectory.positions - gathered.trajectory.positions).max() < 1e-9 * scale
    for name, column in gathered.emergence.columns.items():  # 80 words: the sample is every word
        assert np.allclose(streamed.emergence.columns[name], column, equal_nan=True, atol=1e-6), name


def test_streamed_words_are_measured_on_a_fixed_sample(run_dir):
    run = Run.open(run_dir)
    snapshots = run.snapshots()
    rows = SnapshotRows(run, snapshots, np.arange(80), limit=1000)
    picked = rows.sample(30)
    assert picked.size == 30 and np.unique(picked).size == 30 and list(picked) == sorted(picked)
    assert list(picked) == list(rows.sample(30))  # the same sample every time: the metrics cache holds
    sub = rows.subset(picked)
    assert sub.streamed and np.array_equal(sub.shown[2], run.load_snapshot(snapshots[2], picked))
    assert list(SnapshotRows(run, snapshots, np.arange(80)).sample(30)) == list(range(80))  # gathered: all


@pytest.mark.parametrize("method", ["umap", "tsne"])
def test_a_layout_that_cannot_stream_is_refused_in_one_line(run_dir, method):
    with pytest.raises(ConfigError) as refused:
        serve_explore(run_dir, AnimateOptions(method=method, cache=False), gather_limit=1000)
    said = str(refused.value)
    assert "\n" not in said and f"--method {method} reads every snapshot" in said
    assert "80 words × 5 snapshots × d 16" in said and "--method pca streams them" in said


def test_serve_with_out_is_an_error(cli_error, run_dir, tmp_path):
    assert "leave out --out" in cli_error(["explore", str(run_dir), "--serve", "--out", str(tmp_path / "x.html")])


def test_exact_engine_on_blocks_and_zero_rows(monkeypatch):
    import embviz.measure.neighbours as nb

    monkeypatch.setattr(nb, "BLOCK_ROWS", 7)  # several blocks and a short last one
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 50, 6)).astype(np.float32)
    x[1, 3] = 0.0
    rows = np.arange(1, 50, 2)
    engine = NeighbourEngine(lambda t, r: x[t][r], 2, rows, 6, k=5, mode="exact")
    for word in range(rows.size):
        idx, cos = engine.query(word, 0)
        ref_idx, ref_cos = reference(x[0][rows].astype(np.float64), word, 5)
        assert list(idx) == list(ref_idx) and np.allclose(cos, ref_cos, atol=1e-6)
    idx, cos = engine.query(1, 1)  # row 3 is word 1: zero, cosine 0 with every row
    assert np.all(cos == 0) and 1 not in idx


@pytest.mark.slow
def test_approximate_recall_and_cache_bound():
    """pynndescent's graph finds ≥ 0.9 of the exact 10 neighbours of clustered points; graphs beyond the
    byte bound are dropped, least recently used first."""
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((20, 24))
    x = np.stack([centres[np.arange(600) % 20] + 0.6 * rng.standard_normal((600, 24)) for _ in range(3)]).astype(np.float32)
    rows = np.arange(600)
    read = lambda t, r: x[t][r]  # noqa: E731
    exact = NeighbourEngine(read, 3, rows, 24, mode="exact")
    one_graph = 600 * 10 * 8
    approx = NeighbourEngine(read, 3, rows, 24, mode="approximate", cache_bytes=int(1.5 * one_graph))
    hits = total = 0
    for t in (0, 1, 0, 2):
        for word in range(0, 600, 5):
            a, _ = approx.query(word, t)
            e, _ = exact.query(word, t)
            assert word not in a
            hits += len(set(a) & set(e))
            total += 10
    assert hits / total >= 0.9, hits / total
    assert list(approx._graphs) == [2]  # one graph fits the bound; the most recent is kept
    a, cos = approx.query(5, 2)
    unit = x[2] / np.linalg.norm(x[2], axis=1, keepdims=True)
    assert np.allclose(cos, unit[a] @ unit[5], atol=1e-5)  # the cosines are the true ones of those words


@pytest.mark.slow
def test_cli_serves_until_interrupted(run_dir):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                        os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "embviz", "explore", str(run_dir), "--serve", "--method", "pca",
                             "--no-cache"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert line.startswith("Explorer: http://127.0.0.1:"), (line, proc.stderr.read() if proc.poll() else "")
        url = line.split()[1]
        with urllib.request.urlopen(url + "neighbours?word=2&snapshot=3", timeout=10) as answer:
            assert len(json.loads(answer.read())["neighbours"]) == 10
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
