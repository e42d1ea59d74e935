"""The live page (``train --live``, ``watch``): a real server on 127.0.0.1, real clients (chromium through
selenium, http.client, raw sockets), real training in a subprocess."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from test_explorer_page import js, settled_js

from embviz.errors import ConfigError, RunError
from embviz.rundir.run import RUN_JSON, VOCAB_TSV, Run
from embviz.serve.live import LiveService

from conftest import CHROMEDRIVER, CHROMIUM, HOSTILE, tiny_args, tiny_text
from toyrun import make_toy_run

REPO = Path(__file__).resolve().parents[1]
needs_browser = pytest.mark.skipif(not (CHROMIUM.exists() and CHROMEDRIVER.exists()), reason="no system browser")


def frames_of(url: str, start: int = 0, timeout: float = 60) -> list[dict]:
    """Every event of ``/frames?from=start`` up to the final one, read with http.client."""
    host, port = url.removeprefix("http://").strip("/").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    conn.request("GET", f"/frames?from={start}")
    response = conn.getresponse()
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/event-stream")
    events = []
    for line in response:
        if line.startswith(b"data: "):
            events.append(json.loads(line[6:]))
            if events[-1].get("finished"):
                break
    conn.close()
    return events


def get(url: str, path: str) -> tuple[int, bytes]:
    """A raw GET of ``path`` exactly as written (no client-side normalising of ``..``)."""
    host, port = url.removeprefix("http://").strip("/").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


FINISHED = "!!(window.embvizLive && embvizLive.finished())"
"""True once the live page has had the stream's last event."""
SHOWN_STEPS = "embvizLive.shown().map((s) => s.step)"
"""The steps of the snapshots the live page has drawn (each noted two frames after its event)."""


@pytest.fixture
def hostile_run(tmp_path: Path) -> Run:
    tokens = [HOSTILE] + [f"w{i}" for i in range(1, 60)]
    return make_toy_run(tmp_path / "run", n_snapshots=5, tokens=tokens, dim=16)


def test_watch_serves_every_frame_and_only_its_routes(hostile_run: Run) -> None:
    with LiveService(hostile_run.path, first_timeout=30) as service:
        assert service.wait(120) and service.error is None
        events = frames_of(service.url)
        assert [e["step"] for e in events[:-1]] == [s.step for s in hostile_run.snapshots()]
        assert events[-1] == {"finished": True, "snapshots": len(events) - 1}
        assert [e["step"] for e in frames_of(service.url, start=3)[:-1]] == [s.step for s in hostile_run.snapshots()[3:]]
        status, page = get(service.url, "/")
        assert status == 200 and b"connect-src 'self'" in page and HOSTILE.encode() not in page
        for path in ("/../run.json", "/%2e%2e/run.json", "//etc/passwd", "/etc/passwd", "/snapshots/index.json",
                     "/run.json", "/frames/../run.json", "http://127.0.0.1/../run.json"):
            assert get(service.url, path)[0] == 404, path
        assert get(service.url, "/frames?from=-1")[1] == b""  # a bad start is an empty stream


def test_two_watchers_and_a_client_that_leaves_mid_stream(hostile_run: Run) -> None:
    """Two ``watch`` on one run each serve it whole; a client closing mid-stream ends only its stream."""
    before = sorted(p.name for p in hostile_run.path.rglob("*"))
    with LiveService(hostile_run.path) as one, LiveService(hostile_run.path) as two:
        assert one.wait(120) and two.wait(120)
        host, port = one.url.removeprefix("http://").strip("/").split(":")
        with socket.create_connection((host, int(port)), timeout=30) as s:
            s.sendall(f"GET /frames HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
            got = b""
            while b"data: " not in got and (chunk := s.recv(4096)):
                got += chunk
            assert b"data: " in got  # one frame read, then the tab is gone
        assert len(frames_of(one.url)) == len(frames_of(two.url)) == len(hostile_run.snapshots()) + 1
    assert sorted(p.name for p in hostile_run.path.rglob("*")) == before  # following writes nothing


def test_bad_input_is_one_error(tmp_path: Path, hostile_run: Run, cli_error) -> None:
    assert cli_error(["watch", str(tmp_path)]).startswith(f"Error: {tmp_path} is not an embviz run")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError, match=f"port {port} on 127.0.0.1 is in use"):
            LiveService(hostile_run.path, port=port)
        assert "is in use" in cli_error(["watch", str(hostile_run.path), "--port", str(port)])
        corpus = tmp_path / "c.txt"
        corpus.write_text(tiny_text(50))
        line = cli_error(["train", str(corpus), "--out", str(tmp_path / "new"), "--live", "--port", str(port),
                          *tiny_args()])
        assert "is in use" in line and not (tmp_path / "new").exists()  # refused before anything is written


def test_watch_on_a_run_that_never_writes_a_snapshot(tmp_path: Path, hostile_run: Run, cli_error) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    for name in (RUN_JSON, VOCAB_TSV):
        shutil.copy(hostile_run.path / name, empty / name)
    Run.open(empty).set_status("running")
    line = cli_error(["watch", str(empty), "--wait", "0.5"])
    assert line.startswith("Error: ") and "no snapshot appeared in 0.5 s" in line
    with LiveService(empty, first_timeout=0.3) as service:
        assert service.wait(30) and isinstance(service.error, str)
        status, body = get(service.url, "/")
        assert status == 503 and b"no snapshot appeared" in body
    with pytest.raises(RunError):
        LiveService(tmp_path / "missing")


@needs_browser
def test_hostile_tokens_stay_text_on_the_live_page(browser, hostile_run: Run) -> None:  # noqa: F811
    with LiveService(hostile_run.path) as service:
        browser.get(service.url)
        assert settled_js(browser, FINISHED, True, timeout=120)
        assert js(browser, "embviz.snapshotCount()") == len(hostile_run.snapshots())
        assert js(browser, "embviz.words()[0]") == HOSTILE
        assert js(browser, "document.querySelectorAll('img').length") == 0
        browser.execute_script("const s = document.getElementById('search'); s.value = arguments[0];"
                               "s.dispatchEvent(new Event('change'));", HOSTILE)
        assert settled_js(browser, "document.getElementById('word-title').textContent", HOSTILE) == HOSTILE
        assert js(browser, "document.querySelectorAll('img').length") == 0
        assert js(browser, "embviz.drawnPoints()") == js(browser, "embviz.n")
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []


@needs_browser
def test_a_page_opened_before_the_first_snapshot_waits_then_fills(browser, tmp_path: Path) -> None:  # noqa: F811
    source = make_toy_run(tmp_path / "source", n_snapshots=4, dim=16)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    for name in (RUN_JSON, VOCAB_TSV):
        shutil.copy(source.path / name, run_dir / name)
    Run.open(run_dir).set_status("running")
    with LiveService(run_dir) as service:
        browser.get(service.url)
        assert "Waiting for the run's first snapshot" in js(browser, "document.body.textContent")
        time.sleep(2.5)  # the waiting page asks again each second
        assert js(browser, "!!document.getElementById('waiting') && !window.embviz")
        shutil.copytree(source.snapshot_dir, run_dir / source.snapshot_dir.name)
        Run.open(run_dir).set_status("complete")
        assert settled_js(browser, FINISHED, True, timeout=120)
        assert js(browser, "embviz.snapshotCount()") == js(browser, "embvizLive.settled()") == 4
        steps = [s.step for s in source.snapshots()]  # each noted two frames after it was drawn
        assert settled_js(browser, SHOWN_STEPS, steps) == steps
        assert js(browser, "embviz.drawnPoints()") == js(browser, "embviz.n")


def _train(tmp_path: Path, name: str, *extra: str) -> subprocess.Popen:
    corpus = tmp_path / "c.txt"
    if not corpus.exists():
        corpus.write_text(tiny_text(400))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "embviz", "train", str(corpus), "--out", str(tmp_path / name),
                             *tiny_args(epochs=3), "--quiet", *extra], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@needs_browser
def test_train_live_page_grows_and_ends_as_the_finished_run(browser, tmp_path: Path) -> None:  # noqa: F811
    """The page connects while a tiny run trains; a reload mid-run changes nothing; at the end it holds every
    snapshot, and the snapshots are those of the same run trained without --live, bit for bit."""
    proc = _train(tmp_path, "live", "--live")
    try:
        url = proc.stdout.readline().split("Live page: ")[1].strip()
        browser.get(url)
        counts, reloaded = [], False
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if js(browser, FINISHED):
                break
            if js(browser, "!!window.embviz"):
                counts.append((js(browser, "embviz.snapshotCount()"), js(browser, "embvizLive.settled()")))
                if not reloaded and counts[-1][0] >= 3:
                    browser.refresh()  # a reloaded tab starts again from the server's frames
                    reloaded = True
            time.sleep(0.2)
        assert js(browser, FINISHED), "the page did not finish in 300 s"
        run = Run.open(tmp_path / "live")
        steps = [s.step for s in run.snapshots()]
        assert run.manifest().status == "complete"
        assert len(set(counts)) >= 3 and reloaded, counts  # it grew (snapshots, then their final layouts)
        assert js(browser, "embviz.snapshotCount()") == len(steps) > 10  # log-spaced by default under --live
        assert js(browser, "embvizLive.settled()") == len(steps)  # every snapshot in its final layout
        info = settled_js(browser, "document.getElementById('info').textContent", lambda t: f"step {steps[-1]:,}" in t)
        assert f"step {steps[-1]:,}" in info  # drawn in the frame after the last snapshot came
        shown = settled_js(browser, SHOWN_STEPS, lambda s: s[-1:] == steps[-1:])
        assert shown == [s for s in steps if s >= shown[0]]  # since the reload, each drawn
        proc.send_signal(signal.SIGINT)  # after training the page stays until Ctrl-C
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Training finished" in proc.stderr.read()
    plain = _train(tmp_path, "plain", "--snapshot-schedule", "log")
    assert plain.wait(300) == 0
    a, b = Run.open(tmp_path / "live"), Run.open(tmp_path / "plain")
    assert [s.step for s in b.snapshots()] == steps
    for x, y in zip(a.snapshots(), b.snapshots()):
        assert np.array_equal(a.load_snapshot(x), b.load_snapshot(y))
        assert (a.snapshot_dir / x.file).read_bytes() == (b.snapshot_dir / y.file).read_bytes()


@pytest.mark.slow
def test_live_on_a_non_zero_rank_trains_without_a_page(tmp_path: Path) -> None:
    """Under torchrun only rank 0 serves: another rank (RANK set) trains as it would without --live."""
    corpus = tmp_path / "c.txt"
    corpus.write_text(tiny_text(100))
    env = {**os.environ, "PYTHONPATH": str(REPO), "RANK": "1"}
    done = subprocess.run([sys.executable, "-m", "embviz", "train", str(corpus), "--out", str(tmp_path / "r1"),
                           *tiny_args(epochs=1), "--quiet", "--live"], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0 and "Live page" not in done.stdout + done.stderr
    assert Run.open(tmp_path / "r1").manifest().status == "complete"
