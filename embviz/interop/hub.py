"""``import hf:OWNER/NAME``: a checkpoint series on the Hugging Face Hub → an ordinary run, fetching only
the bytes of the tables imported.

``tokenizer.json`` is fetched first (once), for the rows to fetch. For each revision (see
:mod:`embviz.interop.revisions`): its file list, the tensor table of the file holding the tables by
range requests — a safetensors header (:mod:`embviz.interop.ranges`), or for ``pytorch_model.bin`` the
zip directory and ``data.pkl`` (:mod:`embviz.interop.torchzip`), through the ``*.index.json`` when
sharded — then each table's byte range alone (the token table, the position table where there is one,
the untied head with ``head``; of a vocabulary table only the tokenizer's rows), several at once. Each
table is cached as a one-tensor safetensors file under the huggingface_hub cache directory,
``<HF_HUB_CACHE>/embviz/models--OWNER--NAME/<commit>/<input|position|output>.safetensors``, written
atomically: a killed import continues where it stopped, a second import (into any folder) fetches no
table again, and nothing half-fetched is ever read. Each revision's cached files are then imported as
one checkpoint (:class:`~embviz.interop.checkpoints.Checkpoint` ``parts``) by
:func:`~embviz.interop.importer.import_checkpoints`, the writer of every import.

``huggingface_hub`` is the client: ``HF_ENDPOINT``, ``HF_HUB_CACHE`` and the user's token are honoured.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from embviz.errors import CheckpointError
from embviz.interop import checkpoints as ck
from embviz.interop import ranges
from embviz.interop.importer import (
    ImportResult,
    check_options,
    check_target,
    import_checkpoints,
    load_token_list,
    load_vocabulary,
    rows_to_keep,
)
from embviz.interop.revisions import Revision, check_spec, pick_revisions, step_revisions
from embviz.interop.torchzip import TorchZip
from embviz.progress import Progress, bytes_stage
from embviz.rundir.files import atomic_path

WORKERS = 4
"""Revisions fetched at once."""
STALE_S = 3600
"""A cache temp file untouched this long belongs to a fetch that was killed (a live one writes every chunk)."""
SAFETENSORS, INDEX = "model.safetensors", "model.safetensors.index.json"
BIN, BIN_INDEX = "pytorch_model.bin", "pytorch_model.bin.index.json"
TOKENIZER = "tokenizer.json"
CACHE_FOLDER = "embviz"
"""Our folder inside the huggingface_hub cache directory."""
_COMMIT = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class Hub:
    """Where and as whom: ``endpoint`` (default ``HF_ENDPOINT``), ``token`` (default the user's) and the
    cache directory (default ``HF_HUB_CACHE``)."""

    endpoint: str | None = None
    token: str | None = None
    cache_dir: Path | None = None

    @property
    def url(self) -> str:
        """The endpoint: given, or ``HF_ENDPOINT`` as huggingface_hub read it."""
        from huggingface_hub import constants

        return (self.endpoint or constants.ENDPOINT).rstrip("/")

    def api(self):
        from huggingface_hub import HfApi

        return HfApi(endpoint=self.url, token=self.token)

    def cache(self, repo: str) -> Path:
        from huggingface_hub import constants

        return Path(self.cache_dir or constants.HF_HUB_CACHE) / CACHE_FOLDER / f"models--{repo.replace('/', '--')}"

    def remote(self, repo: str, revision: Revision, filename: str) -> ranges.RemoteFile:
        from huggingface_hub import constants, hf_hub_url
        from huggingface_hub.utils import build_hf_headers

        url = hf_hub_url(repo, filename, revision=revision.commit, endpoint=self.url)
        return ranges.RemoteFile(url, build_hf_headers(token=self.token), f"{repo}@{revision.name}/{filename}",
                                 timeout=constants.HF_HUB_DOWNLOAD_TIMEOUT)

    def download(self, repo: str, revision: Revision, filename: str) -> Path:
        """One small file of the repository, through huggingface_hub's own cache."""
        from huggingface_hub import hf_hub_download
        from tqdm.auto import tqdm

        class Silent(tqdm):  # library code never prints; the CLI draws its own bars
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **{**kwargs, "disable": True})

        return Path(hf_hub_download(repo, filename, revision=revision.commit, endpoint=self.url,
                                    token=self.token, cache_dir=self.cache_dir, tqdm_class=Silent))


@contextmanager
def answers(hub: Hub, repo: str, revision: str | None = None) -> Iterator[None]:
    """The Hub's refusals as one-line CheckpointErrors: a missing revision or file, 401, gated, offline."""
    import httpx2
    from huggingface_hub import errors, get_token

    at = f"{repo}@{revision}" if revision else repo
    try:
        yield
    except errors.RevisionNotFoundError:
        raise CheckpointError(f"revision {revision} does not exist in {repo} "
                              f"(embviz import hf:{repo} --list shows those that do)") from None
    except errors.GatedRepoError:
        raise CheckpointError(f"{repo} is gated: accept its conditions on the Hub, then log in "
                              "(hf auth login, or set HF_TOKEN)") from None
    except errors.RemoteEntryNotFoundError as e:
        name = e.response.request.url.path.rsplit("/", 1)[-1] if e.response is not None else "asked for"
        raise CheckpointError(f"{at} has no file {name}"
                              + ("; pass --tokenizer FILE or --vocab FILE" if name == TOKENIZER else "")) from None
    except errors.HfHubHTTPError as e:
        status = e.response.status_code if e.response is not None else None
        if status == 401 and (hub.token or get_token()) is None:
            raise CheckpointError(f"the Hub answered 401 Unauthorized for {at}: it is private or does not exist; "
                                  "to read a private repository log in (hf auth login) or set HF_TOKEN") from None
        if status in (401, 403):
            raise CheckpointError(f"the Hub refused the token for {at} ({status}); check HF_TOKEN or "
                                  "hf auth login") from None
        if status == 404:
            raise CheckpointError(f"{repo} does not exist on {hub.url} (404)") from None
        raise CheckpointError(f"the Hub answered {status} for {at}: {ck._first_line(e)}") from None
    except errors.OfflineModeIsEnabled:
        raise CheckpointError("HF_HUB_OFFLINE is set, and importing from the Hub needs the network") from None
    except httpx2.TransportError as e:
        raise CheckpointError(f"cannot reach the Hub for {at} ({e})") from None


def list_revisions(repo: str, hub: Hub = Hub()) -> tuple[list[Revision], dict[str, str]]:
    """The ``stepN`` branches of ``repo`` in step order, and every branch and tag name → its commit."""
    with answers(hub, repo):
        refs = hub.api().list_repo_refs(repo)
    names = {ref.name: ref.target_commit for ref in [*refs.branches, *refs.tags]}
    return step_revisions({ref.name: ref.target_commit for ref in refs.branches}), names


def resolve(repo: str, spec: str, hub: Hub = Hub()) -> list[Revision]:
    """The revisions ``spec`` picks, in step order, each with its commit; one per commit."""
    available, names = list_revisions(repo, hub)
    picked, seen = [], set()
    for r in pick_revisions(spec, available):
        commit = r.commit or names.get(r.name) or (r.name if _COMMIT.fullmatch(r.name) else None)
        if commit is None:
            with answers(hub, repo, r.name):
                commit = hub.api().model_info(repo, revision=r.name).sha
        if commit not in seen:
            seen.add(commit)
            picked.append(Revision(r.name, r.step, commit))
    return picked


CACHE_NAMES = {"position": "position", "head": "output"}
"""The cache file of each table read beside the token table (an untied head is the ``--matrix output`` matrix)."""


@dataclass(frozen=True)
class Table:
    """One tensor of one revision: the run matrix it becomes (``token``, ``position`` or ``head``), the file
    and range it lies in (all its stored rows), and its place in the cache."""

    matrix: str
    remote: ranges.RemoteFile
    tensor: ranges.TensorRange
    path: Path


@dataclass(frozen=True)
class Plan:
    """One revision's tables to fetch, the token table first, and every table found beside it (run
    matrix → stored name, recorded in each cache file so a finished revision needs no header again)."""

    revision: Revision
    tables: tuple[Table, ...]
    beside: dict[str, str]

    @property
    def rows(self) -> int:
        return self.tables[0].tensor.shape[0]


@dataclass(frozen=True)
class Series:
    """The cached tables of each revision as one checkpoint [len(revisions)], the token table's stored
    rows, and the bytes fetched for each run matrix."""

    checkpoints: list[ck.Checkpoint]
    rows: int
    fetched: dict[str, int]
    beside: dict[str, str]
    """Every table found beside the token table (run matrix → stored name), fetched or not."""


def cache_path(hub: Hub, repo: str, revision: Revision, key: str | None, matrix: str) -> Path:
    """Where one tensor of one revision is cached: by repository, commit and tensor asked for."""
    what = re.sub(r"[^\w.-]", "_", key) if key is not None else matrix
    return hub.cache(repo) / revision.commit / f"{what}.safetensors"


WEIGHTS = ((SAFETENSORS, ranges.SafetensorsHeader), (INDEX, ranges.SafetensorsHeader),
           (BIN, TorchZip), (BIN_INDEX, TorchZip))
"""A revision's weights, in order of preference, and the reader of each file's tensor table."""


def plan(hub: Hub, repo: str, revision: Revision, key: str | None, matrix: str, head: bool) -> Plan:
    """Find the tables in one revision: its file list, then the tensor table of the file (or the shards)
    holding them by range requests (a safetensors header, or a torch zip's directory and data.pkl)."""
    where = f"{repo}@{revision.name}"
    with answers(hub, repo, revision.name):
        files = {s.rfilename for s in hub.api().model_info(repo, revision=revision.commit).siblings or []}
        found = next(((name, reader) for name, reader in WEIGHTS if name in files), None)
        if found is None:
            raise CheckpointError(f"{where} holds none of {', '.join(name for name, _ in WEIGHTS)}")
        name, reader = found
        shards = [name]
        if name.endswith(".index.json"):
            weight_map = ck.read_weight_map(hub.download(repo, revision, name))
            wanted = {key} if key else set(ck.EMBEDDING_KEYS if matrix == "input" else ck.OUTPUT_KEYS)
            wanted |= set(ck.POSITION_KEYS) | (set(ck.OUTPUT_KEYS) if head else set())
            shards = sorted({f for n, f in weight_map.items() if n == key or ck.strip_prefixes(n) in wanted}
                            or set(weight_map.values()))
        tables = {}
        for shard in shards:
            table = reader(hub.remote(repo, revision, shard))
            tables.update(dict.fromkeys(table.shapes, table))
    shapes = {n: s for table in set(tables.values()) for n, s in table.shapes.items()}
    chosen = ck.choose_key(shapes, where, key, matrix)
    tensor = tables[chosen].tensor_range(chosen)
    if len(tensor.shape) != 2 or not tensor.dtype.startswith(("F", "BF")):
        raise CheckpointError(f"{chosen} in {where} is not a 2-D float matrix ({tensor.dtype} {list(tensor.shape)})")
    others = ck.others_of(shapes, matrix, tensor.shape[1])
    picked = [Table("token", tables[chosen].remote, tensor, cache_path(hub, repo, revision, key, matrix))]
    picked += [Table(m, tables[n].remote, tables[n].tensor_range(n), cache_path(hub, repo, revision, None, CACHE_NAMES[m]))
               for m, n in ck.beside(others, head)]
    return Plan(revision, tuple(picked), dict(others))


def wanted_rows(matrix: str, stored: int, keep: int) -> int:
    """Rows fetched of a table: all of the position table's, the tokenizer's ``keep`` of a vocabulary one."""
    return stored if matrix == "position" else keep


def _cache_file(path: Path) -> tuple[str, tuple[int, ...], dict[str, str]] | None:
    """The tensor name, shape and metadata of a cache file, or None when there is none (or it is unreadable)."""
    from safetensors import safe_open

    try:
        with safe_open(path, framework="pt") as f:
            (name,) = f.keys()
            return name, tuple(f.get_slice(name).get_shape()), f.metadata() or {}
    except Exception:  # missing, or not ours: fetched again
        return None


def cached(hub: Hub, repo: str, revision: Revision, key: str | None, matrix: str, head: bool,
           tokens: int | None) -> tuple[ck.Checkpoint, int, dict[str, str]] | None:
    """The revision's cached tables as one checkpoint, the token table's stored rows and the tables found
    beside it, when every table this import needs is cached with the rows it needs; else None (no request made)."""
    main = cache_path(hub, repo, revision, key, matrix)
    got = _cache_file(main)
    try:
        name, shape, meta = got
        rows, beside = int(meta["rows"]), json.loads(meta["beside"])
    except (TypeError, KeyError, ValueError):
        return None
    keep = rows_to_keep(tokens, rows) if tokens else rows
    if shape[0] != keep:
        return None
    parts = [(name, main)]
    for m, _ in ck.beside(list(beside.items()), head):
        path = cache_path(hub, repo, revision, None, CACHE_NAMES[m])
        other = _cache_file(path)
        if other is None or other[1][0] != wanted_rows(m, int(other[2].get("rows", -1)), keep):
            return None
        parts.append((other[0], path))
    return ck.Checkpoint(main, "safetensors", parts=tuple(parts)), rows, beside


def download(plan: Plan, table: Table, rows: int, repo: str, tick) -> None:
    """Stream the first ``rows`` rows of one table into its cache file (a one-tensor safetensors file),
    atomically; temp files of a killed fetch of the same table, untouched for STALE_S, are removed first."""
    table.path.parent.mkdir(parents=True, exist_ok=True)
    for old in table.path.parent.glob(f".{table.path.name}.*.tmp"):
        with contextlib.suppress(OSError):
            if time.time() - old.stat().st_mtime > STALE_S:
                old.unlink()
    t, r = table.tensor.rows(rows), plan.revision
    with atomic_path(table.path) as tmp, open(tmp, "wb") as f:
        ranges.write_single_tensor(f, t, {"repo": repo, "revision": r.name, "commit": r.commit,
                                          "file": table.remote.label.rsplit("/", 1)[-1],
                                          "rows": str(table.tensor.shape[0]), "beside": json.dumps(plan.beside)})
        table.remote.copy(t.start, t.nbytes, f.write, tick)
        f.flush()
        os.fsync(f.fileno())


def fetch_series(repo: str, revisions: Sequence[Revision], hub: Hub = Hub(), *, key: str | None = None,
                 matrix: str = "input", head: bool = False, tokens: int | None = None, workers: int = WORKERS,
                 progress: Progress | None = None) -> Series:
    """Each revision's tables (the token table, the position table where there is one, the untied head
    with ``head``) from the cache, fetching those not cached yet: of a table with a vocabulary axis only
    the first ``tokens`` rows (the tokenizer's; padding past them is left on the server; None: all).

    Nothing fetched lands in the cache unless whole.
    """
    found = [cached(hub, repo, r, key, matrix, head, tokens) for r in revisions]
    missing = [r for r, c in zip(revisions, found) if c is None]
    fetched = dict.fromkeys(["token", *CACHE_NAMES], 0)
    lock, stop = threading.Lock(), threading.Event()
    done = [0, 0]  # headers read, bytes fetched

    def header(r: Revision) -> Plan:
        p = plan(hub, repo, r, key, matrix, head)
        with lock:
            done[0] += 1
            if progress:
                progress("reading headers", done[0], len(missing))
        return p

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        plans = dict(zip(missing, _all(pool, header, missing, stop)))
        stored = {p.rows for p in plans.values()} | {c[1] for c in found if c is not None}
        if len(stored) > 1:
            raise CheckpointError(f"shapes change: the revisions' token tables have {sorted(stored)} rows")
        rows = stored.pop()
        keep = rows_to_keep(tokens, rows) if tokens else rows
        jobs = []
        for p in plans.values():
            for t in p.tables:
                n = wanted_rows(t.matrix, t.tensor.shape[0], keep)
                got = _cache_file(t.path)
                if got is None or got[1][0] != n or "beside" not in got[2]:
                    jobs.append((p, t, n))
        total = sum(t.tensor.rows(n).nbytes for _, t, n in jobs)
        label = bytes_stage("fetching " + ", ".join(dict.fromkeys(t.matrix for _, t, _ in jobs)))

        def fetch(job: tuple[Plan, Table, int]) -> None:
            def tick(n: int) -> None:
                if stop.is_set():
                    raise CheckpointError("stopped: another fetch failed or the import was interrupted")
                with lock:
                    done[1] += n
                    fetched[job[1].matrix] += n
                    if progress:
                        progress(label, done[1], total)

            download(*job, repo, tick)

        _all(pool, fetch, jobs, stop)
    checkpoints = [c[0] if c is not None else
                   ck.Checkpoint(plans[r].tables[0].path, "safetensors",
                                 parts=tuple((t.tensor.name, t.path) for t in plans[r].tables))
                   for r, c in zip(revisions, found)]
    beside = next(iter([*(p.beside for p in plans.values()), *(c[2] for c in found if c is not None)]))
    return Series(checkpoints, rows, {m: n for m, n in fetched.items() if n}, beside)


def _all(pool: ThreadPoolExecutor, fn, items: Sequence, stop: threading.Event) -> list:
    """``fn`` of every item on ``pool``; on the first error (or Ctrl-C) ``stop`` is set, for the
    fetches still running to give up at their next chunk, and the error raised."""
    futures = [pool.submit(fn, item) for item in items]
    try:
        return [f.result() for f in futures]
    except BaseException:
        stop.set()
        for f in futures:
            f.cancel()
        raise


def vocabulary(hub: Hub, repo: str, revision: Revision, tokenizer: Path | None,
               vocab: Path | None) -> tuple[Path | None, int]:
    """The tokenizer file to label the rows with (``tokenizer.json`` of ``revision`` unless ``tokenizer``
    or ``vocab`` is given) and its number of tokens."""
    if tokenizer is None and vocab is None:
        with answers(hub, repo, revision.name):
            tokenizer = hub.download(repo, revision, TOKENIZER)
    words = load_token_list(vocab) if vocab is not None else load_vocabulary(tokenizer)
    return tokenizer, len(words.tokens)


def tables_of(repo: str, revision: Revision, hub: Hub = Hub(), *, key: str | None = None, matrix: str = "input",
              tokens: int | None = None) -> list[tuple[str, ranges.TensorRange]]:
    """What one revision's import fetches: each table (run matrix, range of the rows fetched), the untied
    head included (it is fetched only with ``--head``)."""
    p = plan(hub, repo, revision, key, matrix, head=matrix == "input")
    keep = rows_to_keep(tokens, p.rows) if tokens else p.rows
    return [(t.matrix, t.tensor.rows(wanted_rows(t.matrix, t.tensor.shape[0], keep))) for t in p.tables]


def import_hub(
    repo: str,
    out: Path,
    revisions: str,
    *,
    hub: Hub = Hub(),
    key: str | None = None,
    matrix: str = "input",
    head: bool = False,
    tokenizer: Path | None = None,
    vocab: Path | None = None,
    corpus: str | None = None,
    categories: Path | None = None,
    overwrite: bool = False,
    workers: int = WORKERS,
    progress: Progress | None = None,
) -> ImportResult:
    """Build the run ``out`` from the revisions ``revisions`` (a spec) of the Hub repository ``repo``: the
    same tables as :func:`~embviz.interop.importer.import_checkpoints` reads on disk (``head`` as there)."""
    t0 = time.perf_counter()
    check_options(tokenizer, vocab, matrix, head)
    check_spec(revisions)
    check_target(Path(out), overwrite)
    picked = resolve(repo, revisions, hub)
    tokenizer, tokens = vocabulary(hub, repo, picked[-1], tokenizer, vocab)
    series = fetch_series(repo, picked, hub, key=key, matrix=matrix, head=head, tokens=tokens, workers=workers,
                          progress=progress)
    origin = {"repo": repo, "endpoint": hub.url, "beside": series.beside,
              "revisions": [{"name": r.name, "step": r.step, "commit": r.commit} for r in picked]}
    result = import_checkpoints(series.checkpoints, out, key=key, matrix=matrix, head=head,
                                steps=[r.step for r in picked], tokenizer=tokenizer, vocab=vocab, corpus=corpus,
                                categories=categories, overwrite=overwrite, progress=progress, hub=origin,
                                stored_rows=series.rows)
    return replace(result, seconds=time.perf_counter() - t0, fetched=series.fetched)
