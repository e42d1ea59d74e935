"""A Hugging Face Hub on 127.0.0.1 for the tests and the benchmark: the routes ``embviz import hf:`` and
``huggingface_hub`` use, over folders on disk, counting every body byte it sends.

Routes (as huggingface_hub calls them):

``GET  /api/models/{repo}/refs``                   branches (``targetCommit``), tags, converts
``GET  /api/models/{repo}/revision/{rev}``         ``sha`` and ``siblings`` (404 ``RevisionNotFound``)
``HEAD /{repo}/resolve/{rev}/{file}``              ``ETag``, ``X-Repo-Commit``, ``Content-Length``
``GET  /{repo}/resolve/{rev}/{file}``              the file, or with ``Range: bytes=a-b`` 206 + ``Content-Range``

A repository is ``{branch name: folder}``; its commits are made up from the names. Faults for the
tests: ``private`` (repositories that answer 401 without ``Authorization: Bearer <token>``), ``gone``
(branches listed in refs whose revision answers 404), ``cut_after`` (range requests past this many
large ones send half their bytes and close the connection) and ``stall`` (seconds to wait before each
large range answer).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

LARGE = 4096
"""Range answers longer than this count as tensor fetches (for ``cut_after`` and ``stall``)."""


def commit_of(repo: str, branch: str) -> str:
    return hashlib.sha1(f"{repo}@{branch}".encode()).hexdigest()


class FakeHub(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, repos: dict[str, dict[str, Path]], *, private: dict[str, str] | None = None):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.repos, self.private = repos, private or {}
        self.gone: set[str] = set()
        self.cut_after: int | None = None
        self.stall = 0.0
        self.sent: Counter = Counter()
        """Body bytes sent per (repo, revision, file); ``"api"`` for the JSON routes."""
        self.large = 0
        self.lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def file_bytes(self) -> int:
        """Body bytes of the files sent (the JSON routes left out)."""
        return sum(n for k, n in self.sent.items() if k != "api")

    def __enter__(self) -> "FakeHub":
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()

    def handle_error(self, request, client_address) -> None:
        """A client that hangs up mid-answer (killed, or giving up) is no server error; others are raised."""
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)

    def revision(self, repo: str, rev: str) -> tuple[str, Path] | None:
        """(branch, folder) of ``rev`` (a branch name or a commit), None when it does not exist."""
        for branch, folder in self.repos.get(repo, {}).items():
            if rev in (branch, commit_of(repo, branch)) and branch not in self.gone:
                return branch, folder
        return None


class _Handler(BaseHTTPRequestHandler):
    server: FakeHub
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def _send(self, status: int, headers: dict, body: bytes = b"", key="api", send_body=True) -> None:
        self.send_response(status)
        for k, v in {"Content-Length": str(len(body)), **headers}.items():
            self.send_header(k, v)
        self.end_headers()
        if send_body and body:
            self.wfile.write(body)
            with self.server.lock:
                self.server.sent[key] += len(body)

    def _json(self, data, status=200, headers=None) -> None:
        self._send(status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(data).encode())

    def _not_found(self, code: str, message: str) -> None:
        self._json({"error": message}, 404, {"X-Error-Code": code, "X-Error-Message": message})

    def _answer(self, body: bool) -> None:
        hub = self.server
        path = unquote(urlparse(self.path).path)
        api = path.startswith("/api/models/")
        parts = path.removeprefix("/api/models/" if api else "/").split("/")
        repo = "/".join(parts[:2])
        if repo not in hub.repos:
            return self._not_found("RepoNotFound", "Repository not found")
        token = hub.private.get(repo)
        if token is not None and self.headers.get("Authorization") != f"Bearer {token}":
            return self._json({"error": "Invalid credentials"}, 401, {"X-Error-Code": "RepoNotFound"})
        if api and parts[2:] == ["refs"]:
            branches = [{"name": b, "ref": f"refs/heads/{b}", "targetCommit": commit_of(repo, b)} for b in hub.repos[repo]]
            return self._json({"branches": branches, "converts": [], "tags": []})
        if api and len(parts) >= 4 and parts[2] == "revision":
            found = hub.revision(repo, "/".join(parts[3:]))
            if found is None:
                return self._not_found("RevisionNotFound", "Invalid rev id")
            branch, folder = found
            return self._json({"id": repo, "modelId": repo, "sha": commit_of(repo, branch), "private": token is not None,
                               "siblings": [{"rfilename": p.name} for p in sorted(folder.iterdir())]})
        if api or len(parts) < 5 or parts[2] != "resolve":
            return self._not_found("EntryNotFound", "Unknown route")
        found = hub.revision(repo, parts[3])
        if found is None:
            return self._not_found("RevisionNotFound", "Invalid rev id")
        branch, folder = found
        file = folder / "/".join(parts[4:])
        if not file.is_file():
            return self._not_found("EntryNotFound", "Entry not found")
        self._file(repo, branch, file, body)

    def _file(self, repo: str, branch: str, file: Path, body: bool) -> None:
        hub = self.server
        size = file.stat().st_size
        headers = {"ETag": f'"{hashlib.sha256(file.name.encode() + str(size).encode()).hexdigest()}"',
                   "X-Repo-Commit": commit_of(repo, branch), "Accept-Ranges": "bytes"}
        key = (repo, branch, file.name)
        wanted = self.headers.get("Range")
        if not body or wanted is None:
            data = file.read_bytes() if body else b""
            self.send_response(200)
            for k, v in {**headers, "Content-Length": str(size)}.items():
                self.send_header(k, v)
            self.end_headers()
            if body:
                self.wfile.write(data)
                with hub.lock:
                    hub.sent[key] += len(data)
            return
        a, _, b = wanted.removeprefix("bytes=").partition("-")
        start, end = int(a), min(int(b) if b else size - 1, size - 1)
        length = end - start + 1
        with file.open("rb") as f:
            f.seek(start)
            data = f.read(length)
        cut = False
        if length > LARGE:
            with hub.lock:
                hub.large += 1
                cut = hub.cut_after is not None and hub.large > hub.cut_after
            time.sleep(hub.stall)
        self.send_response(206)
        for k, v in {**headers, "Content-Length": str(length), "Content-Range": f"bytes {start}-{end}/{size}"}.items():
            self.send_header(k, v)
        self.end_headers()
        if cut:
            data = data[:length // 2]
            self.close_connection = True
        self.wfile.write(data)
        with hub.lock:
            hub.sent[key] += len(data)


def cli_env(hub: FakeHub, tmp_path: Path) -> dict:
    """The environment of an ``embviz`` subprocess that talks to ``hub`` only, its cache under ``tmp_path``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_ENDPOINT=hub.endpoint, HF_HUB_CACHE=str(tmp_path / "cache"), HF_HOME=str(tmp_path / "home"),
               HF_HUB_DISABLE_TELEMETRY="1", PYTHONPATH=str(Path(__file__).parents[1]))
    return env


def save_series(model, root: Path, tok: Path, steps, tables) -> tuple[dict[str, Path], dict[int, dict]]:
    """``save_pretrained`` at each step (weights nudged between), tokenizer.json beside; each step's tables."""
    import torch

    branches, expected = {}, {}
    for step in steps:
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.01 * torch.randn_like(p))
        folder = root / f"step{step}"
        model.save_pretrained(folder, safe_serialization=True)
        (folder / "tokenizer.json").write_bytes(tok.read_bytes())
        branches[f"step{step}"] = folder
        expected[step] = {m: t.detach().numpy().copy() for m, t in tables(model).items()}
    return branches, expected
