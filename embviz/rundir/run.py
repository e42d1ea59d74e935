"""The run directory: the one contract between ``train``, ``animate`` and ``compare-word2vec``.

Layout (names are the module constants below)::

    run.json            the manifest (:class:`~embviz.rundir.manifest.RunManifest`): config, chosen
                        defaults, versions, corpus hash, status, result
    tokenizer.json      enough to rebuild the tokenizer exactly
    vocab.tsv           id, token, count, category path
    metrics.csv         step, epoch, loss, lr, tokens_per_s
    snapshots/index.json + step-XXXXXXXX.npy   [V, d] token tables, beside them
                        step-XXXXXXXX.position.npy [context, d] and step-XXXXXXXX.head.npy [V, d]
    probe/occurrences.tsv + step-XXXXXXXX.npy   the probe set and its contextual vectors [occurrences,
                        layers + 1, d] at every snapshot (:mod:`embviz.rundir.occurrences`)
    checkpoint/state.pt latest model + optimizer + RNG + data position + best val loss
                        (the learning rate is a function of the step: no scheduler is stored)
    projections/        cached trajectories
    word2vec/           the Word2Vec baseline and its report

Every file is written to a temporary name and renamed into place (:mod:`embviz.rundir.files`), so a
killed process never leaves a half-written file that looks whole. Nothing here unpickles: arrays load with
``allow_pickle=False``, checkpoints with ``weights_only=True``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Mapping

import numpy as np

from embviz.errors import CorpusError, RunError
from embviz.rundir.files import read_json, tsv_escape, tsv_unescape, write_json, write_npy, write_text
from embviz.rundir.manifest import RunManifest
from embviz.rundir.occurrences import Occurrences
from embviz.rundir.output import check_output
from embviz.rundir.snapshot import DEFAULT_MATRIX, MATRICES, PROBE, Snapshot, layer_of, require_matrix, snapshot_name

if TYPE_CHECKING:
    from embviz.text.tokenizer import Tokenizer

RUN_JSON = "run.json"
TOKENIZER_JSON = "tokenizer.json"
VOCAB_TSV = "vocab.tsv"
METRICS_CSV = "metrics.csv"
SNAPSHOTS = "snapshots"
INDEX_JSON = "index.json"
CHECKPOINT = "checkpoint"
CHECKPOINT_FILE = "state.pt"
PROBE_DIR = "probe"
OCCURRENCES_TSV = "occurrences.tsv"
PROJECTIONS = "projections"
WORD2VEC = "word2vec"
LOCK = ".lock"

METRICS_FIELDS = ("step", "epoch", "loss", "lr", "tokens_per_s")


class Run:
    """A run directory on disk. Create with :meth:`create`, open an existing one with :meth:`open`."""

    def __init__(self, path: Path):
        self.path = Path(path)

    # -- opening -----------------------------------------------------------------------------

    @classmethod
    def create(cls, path: Path, overwrite: bool = False) -> "Run":
        """Make a new run directory; an existing run needs ``overwrite`` (:func:`~embviz.rundir.output.check_output`)."""
        path = Path(path)
        occupied = path.is_dir() and any(not cls(path)._leftover(p) for p in path.iterdir())
        if occupied or path.exists() and not path.is_dir():
            check_output(path, overwrite, folder=True, marker=RUN_JSON, what="an embviz run",
                         hint=" or --resume to continue it")
        if occupied:  # cleared in place: the run being trained is the output (--resume needs it there)
            run = cls(path)
            run.check_unlocked()
            run.clear()
            return run
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RunError(f"cannot create run directory {path}: {e.strerror}") from None
        return cls(path)

    def _leftover(self, p: Path) -> bool:
        """A stale lock or stray temp file: what a process killed while creating the run leaves behind."""
        if p.name == LOCK:
            self.check_unlocked()  # a live holder is an error, not a leftover
            return True
        return p.is_file() and p.name.startswith(".") and p.name.endswith(".tmp")

    @classmethod
    def open(cls, path: Path) -> "Run":
        """Open an existing run, checking that ``run.json`` is readable."""
        path = Path(path)
        if not path.is_dir():
            raise RunError(f"{path} is not a run directory")
        if not (path / RUN_JSON).is_file():
            raise RunError(f"{path} is not an embviz run (no {RUN_JSON})")
        run = cls(path)
        run.manifest()
        return run

    @classmethod
    def open_complete(cls, path: Path) -> "Run":
        """Open a run that has a final snapshot (status complete), or raise a one-line RunError."""
        run = cls.open(path)
        status = run.manifest().status
        snaps = run.snapshots()
        if status != "complete" or not snaps:
            what = "no snapshots" if not snaps else f"status {status}"
            hint = f"; finish it with: embviz train --resume {run.path}" if status == "interrupted" else ""
            raise RunError(f"{run.path} has no final snapshot ({what}){hint}")
        return run

    def clear(self) -> None:
        """Remove everything embviz wrote into this run (used by ``--overwrite``)."""
        import shutil

        for name in (RUN_JSON, TOKENIZER_JSON, VOCAB_TSV, METRICS_CSV):
            with contextlib.suppress(FileNotFoundError):
                (self.path / name).unlink()
        for name in (SNAPSHOTS, PROBE_DIR, CHECKPOINT, PROJECTIONS, WORD2VEC):
            shutil.rmtree(self.path / name, ignore_errors=True)

    # -- manifest ----------------------------------------------------------------------------

    def manifest(self) -> RunManifest:
        """``run.json``, every section checked (a malformed one is a one-line RunError)."""
        where = self.path / RUN_JSON
        return RunManifest.from_json(read_json(where), where)

    def write_manifest(self, manifest: RunManifest) -> None:
        write_json(self.path / RUN_JSON, manifest.to_json())

    def set_status(self, status: str, result: dict | None = None) -> None:
        """Rewrite ``run.json`` with ``status`` (and ``result``, when given)."""
        manifest = self.manifest()
        self.write_manifest(replace(manifest, status=status, result=manifest.result if result is None else result))

    def tokenizer(self) -> "Tokenizer":
        """The run's tokenizer, rebuilt from ``tokenizer.json``."""
        from embviz.text.tokenizer import Tokenizer

        return Tokenizer.from_json(read_json(self.path / TOKENIZER_JSON))

    def corpus_text(self) -> str:
        """The corpus text the run was trained on, rebuilt from its config and checked against its hash."""
        from embviz.text.corpus import check_sha256, load_corpus

        manifest = self.manifest()
        where = self.path / RUN_JSON
        spec = manifest.setting("corpus", str, where=where)
        recorded = manifest.corpus.sha256 if manifest.corpus else None
        if spec is None or recorded is None:
            hint = " (it was imported without --corpus; import it again with --corpus FILE)" if manifest.import_ else ""
            raise RunError(f"{where} records no corpus and hash; cannot rebuild the run's text{hint}")
        try:
            corpus = load_corpus(spec, synthetic_tokens=manifest.setting("synthetic_tokens", int, where=where),
                                 seed=manifest.seed, difficulty=manifest.setting("difficulty", (int, float), where=where),
                                 max_tokens=manifest.setting("max_tokens", int, where=where))
        except CorpusError as e:
            raise CorpusError(f"the run's corpus can no longer be read: {e}") from None
        check_sha256(corpus, recorded)
        return corpus.text

    # -- snapshots ---------------------------------------------------------------------------

    @property
    def snapshot_dir(self) -> Path:
        return self.path / SNAPSHOTS

    def snapshots(self) -> list[Snapshot]:
        """Every whole snapshot, in step order (stray temp files are never listed)."""
        where = self.snapshot_dir / INDEX_JSON
        if not where.exists():
            return []
        data = read_json(where)
        if not isinstance(data, list):
            raise RunError(f"{where}: expected a list of snapshots")
        snaps = [Snapshot.from_json(item, where) for item in data]
        return sorted(snaps, key=lambda s: s.step)

    def add_snapshot(self, matrix: np.ndarray, snapshot: Snapshot, others: Mapping[str, np.ndarray] = {}) -> None:
        """Write the token table ``matrix`` [V, d] and ``others`` (matrix name → array), then list them.

        Every file is whole on disk before the index entry that names it appears: a reader polling
        ``index.json`` never sees an entry whose files are missing.
        """
        self.snapshot_dir.mkdir(exist_ok=True)
        files = {DEFAULT_MATRIX: snapshot.file}
        if PROBE in others:
            files[PROBE] = snapshot_name(snapshot.step)
            self.probe_dir.mkdir(exist_ok=True)
            write_npy(self.probe_dir / files[PROBE], others[PROBE])
        for name in MATRICES[1:]:
            if name in others:
                files[name] = snapshot_name(snapshot.step, name)
                write_npy(self.snapshot_dir / files[name], others[name])
        write_npy(self.snapshot_dir / snapshot.file, matrix)
        kept = [s for s in self.snapshots() if s.step != snapshot.step]
        self._write_index(kept + [replace(snapshot, files=files)])

    def truncate_snapshots(self, after_step: int) -> None:
        """Forget snapshots taken after ``after_step`` (a resumed run takes them again)."""
        kept = [s for s in self.snapshots() if s.step <= after_step]
        self._write_index(kept)
        names = {f for s in kept for m, f in s.files.items() if m != PROBE}
        for path in self.snapshot_dir.glob("step-*.npy"):
            if path.name not in names:
                path.unlink()
        probes = {s.files[PROBE] for s in kept if PROBE in s.files}
        for path in self.probe_dir.glob("step-*.npy"):
            if path.name not in probes:
                path.unlink()

    def _write_index(self, snaps: list[Snapshot]) -> None:
        snaps = sorted(snaps, key=lambda s: s.step)
        self.snapshot_dir.mkdir(exist_ok=True)
        write_json(self.snapshot_dir / INDEX_JSON, [s.to_json() for s in snaps])

    def check_snapshots(self, rows: int | None = None, matrix: str = DEFAULT_MATRIX) -> list[Snapshot]:
        """Every listed snapshot, after checking each of its files is a whole float matrix, one shape per matrix,
        and that they hold ``matrix``.

        ``rows`` is the vocabulary size the token table (and the head) must have. Only the ``.npy``
        headers are read (through a memory map), so this is cheap even for big runs.
        """
        snaps = self.snapshots()
        layer = layer_of(matrix)
        if (matrix if layer is None else PROBE) not in (snaps[0].files if snaps else (matrix,)):
            require_matrix(snaps, matrix, imported=self.manifest().import_)
        if layer is not None and snaps:
            depth = self.load_probe(snaps[0]).shape[1] - 1
            if layer > depth:
                raise RunError(f"--matrix {matrix}: this run's model has {depth} layer(s); choose layer:0 (token + "
                               f"position) to layer:{depth}")
        first: dict[str, tuple[Snapshot, tuple]] = {}
        for snap in snaps:
            if snap.matrices != snaps[0].matrices:
                raise RunError(f"snapshots hold different matrices: step {snaps[0].step} has "
                               f"{', '.join(snaps[0].matrices)}, step {snap.step} has {', '.join(snap.matrices)}")
            for matrix in snap.matrices:
                shape = self._open_snapshot(snap, matrix).shape
                if matrix not in first:
                    first[matrix] = (snap, shape)
                    if rows is not None and matrix != "position" and shape[0] != rows:
                        raise RunError(f"snapshot {snap.files[matrix]} has {shape[0]} rows but the vocabulary "
                                       f"has {rows} tokens")
                elif shape != first[matrix][1]:
                    raise RunError(f"snapshots differ in shape: {first[matrix][0].files[matrix]} is "
                                   f"{list(first[matrix][1])}, {snap.files[matrix]} is {list(shape)}")
        return snaps

    def _open_snapshot(self, snapshot: Snapshot, matrix: str = DEFAULT_MATRIX) -> np.ndarray:
        if matrix not in snapshot.files:
            raise RunError(f"snapshot at step {snapshot.step} has no {matrix} matrix "
                           f"(it has: {', '.join(snapshot.matrices)})")
        return _open_npy(self.matrix_file(snapshot, matrix), "snapshot", 2, "a 2-D float matrix")

    def files_of(self, snapshot: Snapshot) -> dict[str, Path]:
        """Every file ``snapshot``'s entry names, by its key in ``files`` (the probe's under ``probe/``)."""
        return {name: (self.probe_dir if name == PROBE else self.snapshot_dir) / file
                for name, file in snapshot.files.items()}

    def matrix_file(self, snapshot: Snapshot, matrix: str = DEFAULT_MATRIX) -> Path:
        """The file that holds ``matrix`` of ``snapshot`` (the probe's file for ``layer:N``)."""
        return self.files_of(snapshot)[PROBE if layer_of(matrix) is not None else matrix]

    @property
    def probe_dir(self) -> Path:
        return self.path / PROBE_DIR

    def occurrences(self) -> Occurrences:
        """The run's probe set (``probe/occurrences.tsv``)."""
        return Occurrences.read(self.probe_dir / OCCURRENCES_TSV)

    def load_probe(self, snapshot: Snapshot) -> np.ndarray:
        """The contextual vectors of ``snapshot`` ``[occurrences, layers + 1, d]`` (a memory map)."""
        if PROBE not in snapshot.files:
            raise RunError(f"snapshot at step {snapshot.step} has no probe")
        return _open_npy(self.files_of(snapshot)[PROBE], "probe file", 3,
                         "a 3-D float array [occurrences, layers + 1, d]")

    def layer_items(self, snapshot: Snapshot, layer: int) -> np.ndarray:
        """The points of ``--matrix layer:N`` [m + n, d]: the token-table row (the static vector) of each of the m
        probed words (:meth:`Occurrences.probed`), then each of the n occurrences at ``layer``."""
        static = self._open_snapshot(snapshot)[self.occurrences().probed()]
        return np.concatenate([static, np.asarray(self.load_probe(snapshot)[:, layer])]).astype(np.float32)

    def load_snapshot(self, snapshot: Snapshot, rows: np.ndarray | None = None,
                      matrix: str = DEFAULT_MATRIX) -> np.ndarray:
        """The ``matrix`` ([V, d] token or head, [context, d] position, :meth:`layer_items` for ``layer:N``; or only
        ``rows``, [n, d]) as float32."""
        layer = layer_of(matrix)
        array = self._open_snapshot(snapshot, matrix) if layer is None else self.layer_items(snapshot, layer)
        picked = array if rows is None else array[np.asarray(rows)]
        return np.asarray(picked, dtype=np.float32)

    def gather(self, rows: np.ndarray, snapshots: list[Snapshot] | None = None,
               progress: Callable[[int, int], None] | None = None, matrix: str = DEFAULT_MATRIX) -> np.ndarray:
        """Rows ``rows`` of every snapshot as one float32 array ``[T, n, d]``, read through memory maps.

        The output is allocated once and filled snapshot by snapshot, so the peak memory is the result
        plus one snapshot's rows, whatever the size of the snapshots on disk. A nan or infinite value
        is a RunError; ``progress(done, T)`` is called after each snapshot.
        """
        snaps = self.snapshots() if snapshots is None else snapshots
        rows = np.asarray(rows)
        if not snaps:
            raise RunError(f"{self.path} has no snapshots")
        out = None
        for i, snap in enumerate(snaps):
            block = self.load_snapshot(snap, rows, matrix)
            if out is None:
                out = np.empty((len(snaps), *block.shape), dtype=np.float32)
            elif block.shape != out.shape[1:]:
                raise RunError(f"snapshot {snap.file} has shape {block.shape}, unlike {snaps[0].file} {out.shape[1:]}")
            if not np.isfinite(block).all():
                raise RunError(f"snapshot {snap.file} contains nan or infinite values")
            out[i] = block
            if progress:
                progress(i + 1, len(snaps))
        return out

    # -- vocabulary and metrics --------------------------------------------------------------

    def write_vocab(self, tokens: list[str], counts: list[int], categories: list[str | None]) -> None:
        lines = ["id\ttoken\tcount\tcategory"]
        for i, (token, count, cat) in enumerate(zip(tokens, counts, categories)):
            lines.append(f"{i}\t{tsv_escape(token)}\t{count}\t{cat or ''}")
        write_text(self.path / VOCAB_TSV, "\n".join(lines) + "\n")

    def vocab(self) -> tuple[list[str], list[int], list[str | None]]:
        """Tokens, counts and category paths, indexed by token id."""
        where = self.path / VOCAB_TSV
        try:
            lines = where.read_text(encoding="utf-8").removesuffix("\n").split("\n")  # not splitlines: runs written before tsv_escape escaped \f, \u2028… hold them raw
        except FileNotFoundError:
            raise RunError(f"{where} is missing") from None
        except UnicodeDecodeError:
            raise RunError(f"{where} is not UTF-8") from None
        tokens, counts, cats = [], [], []
        for n, line in enumerate(lines[1:], start=2):
            parts = line.split("\t")
            if len(parts) != 4 or parts[0] != str(len(tokens)) or not parts[2].isdigit():
                raise RunError(f"{where}:{n}: malformed line")
            tokens.append(tsv_unescape(parts[1]))
            counts.append(int(parts[2]))
            cats.append(parts[3] or None)
        return tokens, counts, cats

    def append_metrics(self, rows: list[dict]) -> None:
        """Append rows to ``metrics.csv`` (rewritten atomically, so it is never half a row)."""
        existing = self.metrics()
        self.write_metrics(existing + rows)

    def write_metrics(self, rows: list[dict]) -> None:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=METRICS_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: row[k] for k in METRICS_FIELDS} for row in rows)
        write_text(self.path / METRICS_CSV, buf.getvalue())

    def metrics(self) -> list[dict]:
        where = self.path / METRICS_CSV
        if not where.exists():
            return []
        with where.open(encoding="utf-8", newline="") as f:
            try:
                return [
                    {"step": int(r["step"]), "epoch": float(r["epoch"]), "loss": float(r["loss"]),
                     "lr": float(r["lr"]), "tokens_per_s": float(r["tokens_per_s"])}
                    for r in csv.DictReader(f)
                ]
            except (KeyError, TypeError, ValueError):
                raise RunError(f"{where} is malformed") from None

    # -- checkpoint and lock -----------------------------------------------------------------

    @property
    def checkpoint_path(self) -> Path:
        return self.path / CHECKPOINT / CHECKPOINT_FILE

    @property
    def lock_path(self) -> Path:
        return self.path / LOCK

    def check_unlocked(self) -> None:
        """Raise if a live process other than this one holds this run's lock."""
        pid = _read_pid(self.lock_path)
        if pid is not None and pid != os.getpid() and _alive(pid):
            raise RunError(f"{self.path} is in use by another embviz process (pid {pid}); wait for it to finish, "
                           f"or delete {self.lock_path} if no such process is running")

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the run's lock; a live holder is refused, a dead holder's stale lock is taken over.

        The lock file appears whole or not at all: the pid is written to a temp file that is then
        hard-linked to the lock name (``os.link`` fails if the name exists), so no reader ever sees an
        empty lock. A stale lock is moved aside with an atomic rename before the retry; if that rename
        caught a lock a live process had just taken, it is put back.
        """
        path = self.lock_path
        fd, tmp = tempfile.mkstemp(prefix=f"{LOCK}.", suffix=".tmp", dir=self.path)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(str(os.getpid()))
                f.flush()
                os.fsync(f.fileno())
            for _ in range(100):
                try:
                    os.link(tmp, path)
                    break
                except FileExistsError:
                    self._take_over_stale_lock(path)
            else:  # pragma: no cover - only under a storm of competing processes
                raise RunError(f"could not take the lock {path}")
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        try:
            yield
        finally:
            if _read_pid(path) == os.getpid():
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()

    def _take_over_stale_lock(self, path: Path) -> None:
        pid = _read_pid(path)
        if pid is not None and _alive(pid):
            self.check_unlocked()
            raise RunError(f"{self.path} is locked by this process already")
        aside = path.with_name(f"{LOCK}.stale-{os.getpid()}")
        try:
            os.rename(path, aside)  # atomic: of two processes taking over, one moves the stale file
        except FileNotFoundError:
            return  # someone else moved it first; retry the link
        moved = _read_pid(aside)
        if moved != pid and moved is not None and _alive(moved):
            # A live process locked the run between our read and our rename: give it its lock back.
            with contextlib.suppress(FileExistsError):
                os.link(aside, path)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(aside)

    def remove_temp_files(self) -> list[Path]:
        """Delete the temp files a killed writer left behind (call only while holding the lock)."""
        stray = [p for p in self.path.rglob(".*.tmp") if p.is_file() and not p.name.startswith(f"{LOCK}.")]
        for p in stray:
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        return stray


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _open_npy(path: Path, what: str, ndim: int, shape: str) -> np.ndarray:
    """The float array of ``ndim`` dimensions in ``path`` (a memory map, never unpickled); a missing, corrupt or
    differently shaped file is one RunError naming ``what`` and the ``shape`` it should be."""
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise RunError(f"{what} {path} is missing") from None
    except (ValueError, OSError, EOFError) as e:
        raise RunError(f"{what} {path} is corrupt ({(str(e).splitlines() or [type(e).__name__])[0]})") from None
    if not isinstance(array, np.ndarray) or array.ndim != ndim or array.dtype.kind != "f":
        raise RunError(f"{what} {path} is not {shape}")
    return array
