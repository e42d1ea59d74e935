"""A small HTTP server on 127.0.0.1: a fixed table of routes, answers and server-sent event streams.

The standard library's ``ThreadingHTTPServer`` is enough for one user's browser tabs: one thread
per connection, and a server-sent event stream is plain text written to a response kept open. It
adds no dependency and no event loop to a training process. Only the routes in the table exist:
no file is ever served by path, so nothing outside what a route returns can leave the machine, and
a request whose ``Host`` is not this server's (a DNS-rebinding page) is refused.
"""

from __future__ import annotations

import errno
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from embviz.errors import ConfigError

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Request:
    """One GET: its path, its query (last value wins), and an event set when the server stops."""

    path: str
    query: dict[str, str]
    stopping: threading.Event


@dataclass(frozen=True)
class Response:
    """A whole answer."""

    body: bytes
    content_type: str = "text/plain; charset=utf-8"
    status: int = 200

    @classmethod
    def json(cls, data: object, status: int = 200) -> Response:
        return cls(json.dumps(data, ensure_ascii=False, allow_nan=False).encode(), "application/json", status)

    @classmethod
    def html(cls, text: str, status: int = 200) -> Response:
        return cls(text.encode(), "text/html; charset=utf-8", status)


Handler = Callable[[Request], Response]
Events = Callable[[Request], Iterator["str | None"]]
"""A stream: yields each event's data (``None`` sends a keep-alive comment) until it returns or the server stops."""


@dataclass
class Routes:
    """What the server answers: whole responses and event streams, each at an exact path."""

    pages: Mapping[str, Handler] = field(default_factory=dict)
    streams: Mapping[str, Events] = field(default_factory=dict)


class Server:
    """Serves ``routes`` on ``127.0.0.1:port`` (``0``: a free port) in a daemon thread; a context manager."""

    def __init__(self, routes: Routes, port: int = 0):
        if not 0 <= port <= 65535:
            raise ConfigError(f"--port must be between 0 and 65535, got {port}")
        self._stopping = threading.Event()
        handler = type("Handler", (_Handler,), {"routes": routes, "stopping": self._stopping})
        try:
            self._httpd = ThreadingHTTPServer((HOST, port), handler)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise ConfigError(f"port {port} on {HOST} is in use; choose another with --port, or leave it out for a free one") from None
            raise ConfigError(f"cannot listen on {HOST}:{port}: {e.strerror}") from None
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        handler.hosts = frozenset({f"{HOST}:{self.port}", f"localhost:{self.port}"})
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def start(self) -> Server:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="embviz-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ends every open stream, stops accepting and closes the socket."""
        self._stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
        self._httpd.server_close()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    routes: Routes
    stopping: threading.Event
    hosts: frozenset[str]
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args) -> None:  # noqa: A002 - the library never prints
        pass

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if self.headers.get("Host") not in self.hosts:
            return self._send(Response(b"unknown host\n", status=403))
        request = Request(url.path, dict(parse_qsl(url.query)), self.stopping)
        if url.path in self.routes.streams:
            return self._stream(self.routes.streams[url.path](request))
        page = self.routes.pages.get(url.path)
        self._send(page(request) if page else Response(b"not found\n", status=404))

    def _refuse(self) -> None:
        self._send(Response(b"only GET\n", status=405))

    do_POST = do_PUT = do_DELETE = do_PATCH = _refuse

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self._common_headers()
        self.end_headers()
        self.wfile.write(response.body)

    def _common_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")

    def _stream(self, events: Iterator[str | None]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self._common_headers()
        self.end_headers()
        self.close_connection = True
        try:
            for data in events:
                if self.stopping.is_set():
                    break
                text = ": keep-alive\n\n" if data is None else "".join(f"data: {line}\n" for line in data.split("\n")) + "\n"
                self.wfile.write(text.encode())
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the tab closed or reloaded: that stream ends, nothing else changes
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()
