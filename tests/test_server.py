"""The one HTTP server: real sockets on 127.0.0.1, real clients (urllib, http.client)."""

import http.client
import itertools
import json
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

from embviz.errors import ConfigError
from embviz.serve.server import HOST, Request, Response, Routes, Server


def _ticks(request: Request):
    for i in itertools.count():
        if request.stopping.wait(0.01):
            return
        yield None if i % 2 else f"tick {i}\nline two"


def _routes(closed: list) -> Routes:
    def stream(request):
        try:
            yield from _ticks(request)
        finally:
            closed.append(True)

    return Routes(pages={"/": lambda r: Response.html("<p>hi</p>"),
                         "/echo": lambda r: Response.json({"q": r.query})},
                  streams={"/events": stream})


@pytest.fixture
def server():
    closed: list = []
    with Server(_routes(closed)) as s:
        s.closed = closed
        yield s


def _get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.headers["Content-Type"], r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], e.read()


def test_pages_answer_on_loopback_only(server):
    assert server.url.startswith(f"http://{HOST}:")
    assert _get(server.url) == (200, "text/html; charset=utf-8", b"<p>hi</p>")
    status, kind, body = _get(server.url + "echo?word=%3Cb%3E&word=7")
    assert (status, kind, json.loads(body)) == (200, "application/json", {"q": {"word": "7"}})
    other = [a[4][0] for a in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)]
    for address in set(other) - {HOST}:
        with pytest.raises(OSError):
            socket.create_connection((address, server.port), timeout=1).close()


@pytest.mark.parametrize("path", ["/missing", "/../run.json", "/%2e%2e/run.json", "//etc/passwd", "/echo/../../x", "/events/x"])
def test_only_its_own_routes(server, path):
    status, _, body = _get(f"http://{HOST}:{server.port}{path}")
    assert (status, body) == (404, b"not found\n")


def test_other_methods_and_foreign_hosts_are_refused(server):
    conn = http.client.HTTPConnection(HOST, server.port, timeout=5)
    conn.request("POST", "/", body=b"x")
    assert conn.getresponse().status == 405
    conn = http.client.HTTPConnection(HOST, server.port, timeout=5)
    conn.request("GET", "/", headers={"Host": f"evil.example:{server.port}"})
    assert conn.getresponse().status == 403


def test_a_stream_sends_events_and_ends_when_the_client_leaves(server):
    with urllib.request.urlopen(server.url + "events", timeout=5) as r:
        assert r.headers["Content-Type"] == "text/event-stream; charset=utf-8"
        lines = [r.readline().decode() for _ in range(6)]
    assert lines == ["data: tick 0\n", "data: line two\n", "\n", ": keep-alive\n", "\n", "data: tick 2\n"]
    deadline = time.monotonic() + 60
    while not server.closed and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.closed == [True]
    assert _get(server.url)[0] == 200


def test_stop_ends_open_streams_and_frees_the_port():
    closed: list = []
    s = Server(_routes(closed)).start()
    r = urllib.request.urlopen(s.url + "events", timeout=5)
    r.readline()
    threads = threading.active_count()
    s.stop()
    assert r.read() is not None
    deadline = time.monotonic() + 60
    while not closed and time.monotonic() < deadline:
        time.sleep(0.02)
    assert closed == [True] and threading.active_count() < threads
    Server(Routes(), port=s.port).stop()


def test_a_port_in_use_is_one_clear_error():
    with Server(Routes()) as s:
        with pytest.raises(ConfigError, match=rf"^port {s.port} on 127.0.0.1 is in use; choose another with --port"):
            Server(Routes(), port=s.port)
    with pytest.raises(ConfigError, match="between 0 and 65535"):
        Server(Routes(), port=70000)
