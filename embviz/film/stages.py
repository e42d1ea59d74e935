"""The stages a film is made of, shared by ``animate`` and ``explore``: each a function another command can
call to get exactly the film's words, layouts and numbers without a film.

1. :func:`film_snapshots` — the run's snapshots, checked to be whole [V, d] matrices of one shape;
2. :func:`~embviz.film.selection.choose_words` — the words shown (a :class:`~embviz.film.selection.Selection`);
3. :class:`SnapshotRows` — their rows of every snapshot, gathered through memory maps on first use;
4. :func:`project` — aligned 2-D layouts [T, n, 2] (a :class:`~embviz.layout.trajectory.Trajectory`), cached
   under ``projections/``;
5. :func:`measure` — purity, silhouette, neighbour overlap, CKA, drift and word-similarity scores per
   snapshot on the full-dimensional rows, and how faithful the layout is to them (2-D purity,
   trustworthiness), plus the position table's order, an untied head's agreement with the token table or a
   probe layer's contextual measures (:func:`matrix_columns`) — an
   :class:`~embviz.measure.emergence.Emergence` table, cached too.

6. :func:`settle` — who settles first: each vocabulary word's settle step and its cosine with its initial
   vector (:class:`~embviz.measure.settle.Settle`, over the whole token table), cached too.

:func:`film_stages` runs 3–6 for chosen snapshots and words.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embviz.errors import ConfigError, EmbvizError, RunError
from embviz.film.animate_options import AnimateOptions
from embviz.film.selection import Selection, word_classes
from embviz.layout.projectors import Projector, make_projector
from embviz.layout.trajectory import Trajectory, TrajectoryCache, project_snapshots
from embviz.measure.emergence import CONTEXTUAL, Emergence, EmergenceCache, compute_emergence
from embviz.measure.settle import K as SETTLE_K
from embviz.measure.settle import Settle, SettleCache, measure_settle, settle_findings
from embviz.progress import Progress, Ticks, for_stage
from embviz.rundir.files import write_text
from embviz.rundir.run import Run, Snapshot
from embviz.rundir.snapshot import DEFAULT_MATRIX, layer_of
from embviz.text.tokenizer import word_form

SETTLE_CSV = "settle.csv"
PROJECTING = {"umap": "projecting (UMAP; numba compiles once per environment)"}
"""The projecting stage's name by method, where the first film pays more than the projection itself."""


# -- 1. snapshots -----------------------------------------------------------------------------


def film_snapshots(run: Run, matrix: str = DEFAULT_MATRIX) -> list[Snapshot]:
    """The run's snapshots in step order, each checked to be whole float matrices (headers only), the token
    table and head [V, d] with V the vocabulary size, and to hold ``matrix``; a film needs at least 2."""
    snapshots = run.snapshots()
    if len(snapshots) < 2:
        raise RunError(f"{run.path} has {len(snapshots)} snapshot(s); a film needs at least 2 "
                       "(train longer or with --snapshot-schedule log)")
    return run.check_snapshots(rows=len(run.vocab()[0]), matrix=matrix)


def describe_snapshot(run: Run, snap: Snapshot, matrix: str = DEFAULT_MATRIX) -> dict:
    """What names a snapshot file's contents in the cache keys: file (of ``matrix``), step, size, mtime."""
    path = run.matrix_file(snap, matrix)
    st = path.stat()
    described = {"file": path.name, "step": snap.step, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    return {**described, "matrix": matrix} if layer_of(matrix) is not None else described


# -- 3. rows ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Benchmarks:
    """The word-similarity files (``{"wordsim353": path, "simlex999": path}``, empty when gensim lacks
    them), the vocabulary rows [m] whose word is in one of them, within gensim's 300,000-row limit, and
    those words (tokens without a BPE ``▁``)."""

    files: dict[str, Path]
    rows: np.ndarray
    words: list[str]


def word_benchmarks(tokens: Sequence[str]) -> Benchmarks:
    """The :class:`Benchmarks` of a vocabulary; warns (and scores nothing) when gensim lacks the files.

    A BPE token matches a benchmark word without its ``▁`` (:func:`~embviz.text.tokenizer.word_form`); where a vocabulary holds
    both ``▁cat`` and the word piece ``cat``, the word-start token stands for the word."""
    from embviz.measure.gensim_eval import RESTRICT_VOCAB, SIMLEX999, WORDSIM353, file_key, gensim_test_file, read_pairs

    try:
        files = {"wordsim353": gensim_test_file(WORDSIM353), "simlex999": gensim_test_file(SIMLEX999)}
    except EmbvizError as e:
        warnings.warn(f"word-similarity scores skipped: {e}", stacklevel=2)
        return Benchmarks({}, np.zeros(0, dtype=np.int64), [])
    wanted: set[str] = set()
    for path in files.values():
        for w1, w2, _ in read_pairs(file_key(path)):
            wanted.update((w1, w2))
    limit = min(len(tokens), RESTRICT_VOCAB)
    forms = [word_form(t) for t in tokens[:limit]]
    starts = {form for t, form in zip(tokens, forms) if t != form}
    rows = np.array([i for i, form in enumerate(forms) if form.upper() in wanted
                     and (tokens[i] != form or form not in starts)], dtype=np.int64)
    return Benchmarks(files, rows, [forms[i] for i in rows])


MAX_GATHERED = 2 * 2**30
"""At most this many bytes of rows (float32, every snapshot: 2,300 words × 154 snapshots × d 768 are 1.1 GB) are
gathered into memory; more are streamed: read one snapshot at a time from its memory map
(:class:`StreamedRows`), laid out only by the methods in :data:`STREAMED_METHODS` and measured on a sample."""
STREAMED_METHODS = ("pca",)
"""The layouts that read one snapshot at a time and keep nothing of it: PCA (one float64 copy [n, d] at once).
UMAP's and t-SNE's minutes per frame at a vocabulary's size make 154 frames hours (docs/explore.md)."""
METRICS_SAMPLE = 2000
"""Streamed words are measured on a fixed random sample of this many of them (neighbours among the sample)."""


class StreamedRows(Sequence):
    """Rows ``rows`` of every snapshot's ``matrix`` as a sequence of T float32 arrays [n, d], each read from
    its memory map when indexed (nothing is kept): what the layout and the measures read of words too many
    to gather. A nan or infinite value is a RunError."""

    def __init__(self, run: Run, snapshots: list[Snapshot], rows: np.ndarray, matrix: str = DEFAULT_MATRIX):
        self.run, self.snapshots, self.rows, self.matrix = run, snapshots, rows, matrix

    def __len__(self) -> int:
        return len(self.snapshots)

    def __getitem__(self, t: int) -> np.ndarray:
        snap = self.snapshots[t]
        block = self.run.load_snapshot(snap, self.rows, self.matrix)
        if not np.isfinite(block).all():
            raise RunError(f"snapshot {snap.file} contains nan or infinite values")
        return block


class SnapshotRows:
    """The shown words' rows ``shown`` [T, n, d] and the benchmark words' rows ``bench`` [T, m, d] of every
    snapshot's ``matrix``, float32, gathered in one pass through memory maps (:meth:`Run.gather`) on first
    use, so a cached projection and cached metrics read no snapshot at all; rows of more than ``limit``
    bytes are ``streamed`` (:class:`StreamedRows`) instead."""

    def __init__(self, run: Run, snapshots: list[Snapshot], rows: np.ndarray,
                 bench_rows: np.ndarray = np.zeros(0, dtype=np.int64), *, progress: Ticks | None = None,
                 matrix: str = DEFAULT_MATRIX, limit: int = MAX_GATHERED):
        self.run, self.snapshots, self.rows, self.bench_rows, self.progress = run, snapshots, rows, bench_rows, progress
        self.matrix, self.limit = matrix, limit

    @functools.cached_property
    def dim(self) -> int:
        """d, from the first snapshot's first row."""
        return self.run.load_snapshot(self.snapshots[0], self.rows[:1], self.matrix).shape[1]

    @property
    def size(self) -> int:
        """The bytes the rows take gathered (float32 [T, n + m, d])."""
        return 4 * (self.rows.size + self.bench_rows.size) * len(self.snapshots) * self.dim

    @property
    def streamed(self) -> bool:
        return self.size > self.limit

    @functools.cached_property
    def _gathered(self) -> np.ndarray:
        return self.run.gather(np.concatenate([self.rows, self.bench_rows]), self.snapshots, progress=self.progress,
                               matrix=self.matrix)

    @property
    def shown(self) -> np.ndarray | StreamedRows:
        if self.streamed:
            return StreamedRows(self.run, self.snapshots, self.rows, self.matrix)
        return self._gathered[:, : self.rows.size]

    @property
    def bench(self) -> np.ndarray | StreamedRows:
        if self.streamed:
            return StreamedRows(self.run, self.snapshots, self.bench_rows, self.matrix)
        return self._gathered[:, self.rows.size:]

    def sample(self, size: int = METRICS_SAMPLE) -> np.ndarray:
        """The shown words measured: all of them [n] when gathered, else a fixed random ``size`` of them (sorted)."""
        n = self.rows.size
        if not self.streamed or n <= size:
            return np.arange(n)
        return np.sort(np.random.default_rng(0).choice(n, size, replace=False))

    def subset(self, picked: np.ndarray) -> "SnapshotRows":
        """The same rows restricted to the shown words ``picked`` [k] (streamed when these are)."""
        return SnapshotRows(self.run, self.snapshots, self.rows[picked], self.bench_rows, progress=self.progress,
                            matrix=self.matrix, limit=-1 if self.streamed else self.limit)


def check_streamable(rows: SnapshotRows, method: str) -> None:
    """Refuse a layout ``method`` that cannot stream rows too many to gather, naming what can."""
    if rows.streamed and method not in STREAMED_METHODS:
        raise ConfigError(
            f"--method {method} reads every snapshot's rows in memory: {rows.rows.size:,} words × "
            f"{len(rows.snapshots)} snapshots × d {rows.dim} are {rows.size / 1e9:,.1f} GB (at most "
            f"{rows.limit / 1e9:.1f} GB); --method pca streams them, or narrow the words with --top, "
            "--content-only, or --words/--words-file with --only")


# -- 4. projection ----------------------------------------------------------------------------


def projector_for(options: AnimateOptions) -> Projector:
    """The projector ``options`` names (method, alignment, UMAP mode, metric, seed)."""
    return make_projector(options.method, align=options.align, umap_mode=options.umap_mode, metric=options.metric,
                          seed=options.seed)


def project(run: Run, snapshots: list[Snapshot], selection: Selection, options: AnimateOptions,
            matrices: np.ndarray | Callable[[], np.ndarray], *, progress: Ticks | None = None) -> Trajectory:
    """The aligned layouts [T, n, 2] of the selection, from the run's cache when ``options.cache`` and
    an equal projection is stored; ``matrices`` ([T, n, d] or a function giving it) is read only on a miss."""
    cache = TrajectoryCache(run.path) if options.cache else None
    described = [describe_snapshot(run, s, options.matrix) for s in snapshots]
    return project_snapshots(projector_for(options), matrices, selection.rows, selection.words, described, cache,
                             progress=progress)


# -- 5. metrics -------------------------------------------------------------------------------


def measure(run: Run, snapshots: list[Snapshot], selection: Selection, bench: Benchmarks, rows: SnapshotRows,
            trajectory: Trajectory, *, cache: bool = True, progress: Ticks | None = None) -> tuple[Emergence, bool]:
    """The emergence table of the selection (one row per snapshot), with the faithfulness of
    ``trajectory``'s layouts, and whether it came from the cache; of streamed rows, of their
    :meth:`SnapshotRows.sample` only. Warns when the final layout keeps much less purity than the space holds
    (:meth:`Emergence.unfaithful`)."""
    picked = rows.sample()
    if picked.size < rows.rows.size:
        rows = rows.subset(picked)
    labels = {level: [labels[i] for i in picked] for level, labels in selection.level_labels.items()}
    words = [selection.words[i] for i in picked]
    counts = [selection.counts[i] for i in picked]
    steps = [s.step for s in snapshots]
    epochs = [s.epoch for s in snapshots]
    losses = [s.train_loss if s.train_loss is not None else s.val_loss for s in snapshots]
    store = EmergenceCache(run.path) if cache else None
    matrices = (rows.matrix, DEFAULT_MATRIX) if rows.matrix == "head" else (rows.matrix,)  # the head is measured
    described = [describe_snapshot(run, s, matrix) for matrix in matrices for s in snapshots]  # against the tokens
    key = EmergenceCache.key(rows.rows, words, labels, described, bench.files, trajectory.key)
    table = store.load(key, steps, epochs, losses, selection.levels) if store else None
    cached = table is not None
    if cached:
        if progress:
            progress(len(snapshots), len(snapshots))
    else:
        table = compute_emergence(rows.shown, labels, steps, epochs, losses,
                                  layouts=trajectory.positions[:, picked], benchmark_vectors=rows.bench,
                                  benchmark_words=bench.words, benchmark_files=bench.files, progress=progress,
                                  frequencies=counts if any(counts) else None)
        table.columns.update(matrix_columns(rows))
        if store:
            store.save(key, table)
    warning = table.unfaithful(selection.level)
    if warning:
        hint = " (try --method umap)" if trajectory.method == "pca" else ""
        warnings.warn(warning + hint, stacklevel=2)
    return table, cached


def layer_measures(run: Run, snapshots: list[Snapshot], layer: int) -> dict[str, np.ndarray]:
    """Ethayarajh's measures and the sense purity (:mod:`embviz.measure.contextual`) of the probe's occurrences at
    ``layer`` in every snapshot: {measure: [T]}."""
    from embviz.measure import contextual

    occ = run.occurrences()
    rows = [contextual.measure_layer(np.asarray(run.load_probe(s)[:, layer], dtype=np.float32), occ.words,
                                     occ.sentences.tolist(), occ.senses) for s in snapshots]
    return {f"{CONTEXTUAL}{name}": np.array([r[name] for r in rows]) for name in contextual.COLUMNS}


def matrix_columns(rows: SnapshotRows) -> dict[str, np.ndarray]:
    """The columns [T] of the filmed matrix itself: the position table's order (``position_columns``), an untied
    head's agreement with the same rows of the token table (``head_columns``), a probe layer's contextual measures
    (:func:`layer_measures`); none for the token table."""
    from embviz.measure.positions import head_columns, position_columns

    if layer_of(rows.matrix) is not None:
        return layer_measures(rows.run, rows.snapshots, layer_of(rows.matrix))
    if rows.matrix == "position":
        return position_columns(rows.shown)
    if rows.matrix == "head":
        return head_columns(rows.shown, SnapshotRows(rows.run, rows.snapshots, rows.rows, limit=rows.limit).shown)
    return {}


# -- 6. settling ------------------------------------------------------------------------------


def settle(run: Run, snapshots: list[Snapshot], options: AnimateOptions, *,
           progress: Ticks | None = None) -> Settle | None:
    """Who settles first in the run's token table, every word of the vocabulary (None when the film shows
    another matrix), from the run's cache when ``options.cache`` allows."""
    if options.matrix != DEFAULT_MATRIX:
        return None
    steps = [s.step for s in snapshots]
    store = SettleCache(run.path) if options.cache else None
    key = SettleCache.key([describe_snapshot(run, s) for s in snapshots], SETTLE_K)
    found = store.load(key, steps, SETTLE_K) if store else None
    if found is not None:
        if progress:
            progress(len(steps), len(steps))
        return found
    found = measure_settle(lambda t: run.load_snapshot(snapshots[t]), steps, SETTLE_K, progress=progress)
    if store:
        store.save(key, found)
    return found


@dataclass(frozen=True)
class Settled:
    """``<run>/settle.csv`` as written, and what it holds per vocabulary word [V]: settle step (nan = never),
    corpus count, word class; with :func:`~embviz.measure.settle.settle_findings` of them."""

    path: Path
    steps: np.ndarray
    counts: np.ndarray
    classes: list[str]
    findings: dict


def write_settle(run: Run, settled: Settle) -> Settled:
    """Write ``<run>/settle.csv`` (atomically; regenerated freely, like the default film) and say what it holds."""
    tokens, counts, categories = run.vocab()
    classes = word_classes(tokens, categories)
    path = run.path / SETTLE_CSV
    try:
        write_text(path, settled.to_csv(tokens, counts, categories, classes))
    except OSError as e:
        raise EmbvizError(f"cannot write {path}: {e.strerror or e}") from None
    steps = settled.settle_step()
    return Settled(path, steps, np.asarray(counts), classes, settle_findings(steps, counts, classes))


# -- the title --------------------------------------------------------------------------------


def film_title(run: Run, selection: Selection, options: AnimateOptions) -> str:
    """``<corpus> · <method (alignment)> · <n> words by <level>``."""
    how = options.method + (f" ({options.align})" if options.method == "pca"
                            else f" ({options.umap_mode})" if options.method == "umap" else "")
    layer = layer_of(options.matrix)
    shown = (f"{len(selection.words):,} positions" if options.matrix == "position" else
             f"layer {layer} · {len(run.occurrences()):,} occurrences by {selection.level}" if layer is not None else
             f"{len(selection.words):,} {'head rows' if options.matrix == 'head' else 'words'} by {selection.level}")
    return f"{corpus_name(run) or run.path.name} · {how} · {shown}"


def corpus_name(run: Run) -> str | None:
    """The corpus name run.json gives (None when it gives none)."""
    corpus = run.manifest().corpus
    return corpus.name if corpus else None


# -- the stages together -----------------------------------------------------------------------


@dataclass(frozen=True)
class Stages:
    """The film's stages for one set of options: its snapshots, words, trajectory [T, n, 2], emergence
    table (and whether it came from the cache), the gathered rows, the film's title and who settles first
    (None for the position table)."""

    snapshots: list[Snapshot]
    selection: Selection
    trajectory: Trajectory
    emergence: Emergence
    metrics_cached: bool
    rows: SnapshotRows
    title: str
    settle: Settle | None = None


def film_stages(run: Run, snapshots: list[Snapshot], selection: Selection, options: AnimateOptions, *,
                progress: Progress | None = None, laps: Callable[[str], None] = lambda name: None,
                gather_limit: int = MAX_GATHERED) -> Stages:
    """Stages 3–5 for ``snapshots`` (from :func:`film_snapshots`) and ``selection`` (from
    :func:`~embviz.film.selection.choose_words`): rows, projection and metrics, from the run's caches where
    ``options.cache`` allows; rows of more than ``gather_limit`` bytes are streamed (:class:`SnapshotRows`), and
    a method that cannot stream them is refused before any is read. ``laps(name)`` is called after each of
    "setup", "project", "metrics" and "settle"."""
    bench = word_benchmarks(run.vocab()[0]) if options.matrix in ("token", "head") else Benchmarks(
        {}, np.zeros(0, dtype=np.int64), [])  # positions and occurrences are not words: no word-similarity scores
    rows = SnapshotRows(run, snapshots, selection.rows, bench.rows, progress=for_stage(progress, "loading"),
                        matrix=options.matrix, limit=gather_limit)
    check_streamable(rows, options.method)
    laps("setup")
    trajectory = project(run, snapshots, selection, options, lambda: rows.shown,
                         progress=for_stage(progress, PROJECTING.get(options.method, "projecting")))
    laps("project")
    table, metrics_cached = measure(run, snapshots, selection, bench, rows, trajectory, cache=options.cache,
                                    progress=for_stage(progress, "metrics"))
    laps("metrics")
    settled = settle(run, snapshots, options, progress=for_stage(progress, "settling (whole vocabulary)"))
    laps("settle")
    return Stages(snapshots, selection, trajectory, table, metrics_cached, rows, film_title(run, selection, options),
                  settled)
