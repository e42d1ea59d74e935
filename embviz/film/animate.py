"""``animate``: a run's snapshots → an aligned film, the small-multiples figure and the emergence metrics.

Reads only the run directory (never retrains). :func:`animate` is a list of stages, each a function
another command can call to get exactly the film's words, layouts and numbers without a film:

1. :func:`film_snapshots` — the run's snapshots, checked to be whole [V, d] matrices of one shape;
2. :func:`choose_words` — the words shown, their categories and levels (a :class:`Selection`);
3. :class:`SnapshotRows` — their rows of every snapshot, gathered through memory maps on first use;
4. :func:`project` — aligned 2-D layouts [T, n, 2] (a :class:`~embviz.layout.projectors.Trajectory`), cached
   under ``projections/``;
5. :func:`measure` — purity, silhouette, neighbour overlap, CKA, drift and word-similarity scores per
   snapshot on the full-dimensional rows, and how faithful the layout is to them (2-D purity,
   trustworthiness) — an :class:`~embviz.measure.emergence.Emergence` table, cached too;
6. :func:`write_outputs` — ``<out>.mp4|gif``, ``<out>-grid.png``, ``<out>-metrics.png``, ``<out>-metrics.csv``.
"""

from __future__ import annotations

import functools
import re
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from embviz.errors import ConfigError, EmbvizError, RunError
from embviz.film.options import DEFAULT_TOP, FORMATS, MAX_CATEGORISED, AnimateOptions
from embviz.layout.projectors import Projector, Trajectory, TrajectoryCache, make_projector, project_snapshots
from embviz.measure.emergence import Emergence, EmergenceCache, compute_emergence
from embviz.rundir.files import check_writable, write_text
from embviz.rundir.run import Run, Snapshot
from embviz.text.lexicon import LEVELS, at_level
from embviz.text.tokenizer import BPE_MARK

StageProgress = Callable[[str, int, int], None]
"""progress(stage, done, total); stages: "loading", "projecting" (:data:`PROJECTING` names UMAP's), "metrics",
"rendering"."""
Progress = Callable[[int, int], None]

PROJECTING = {"umap": "projecting (UMAP; a first run compiles numba, ~10 s)"}
"""The projecting stage's name by method, where the first film pays more than the projection itself."""
FLAT_LEVEL = "category"
"""Name of the only level of a flat (one-level) lexicon."""
_SPECIAL = re.compile(r"^<[^<>\s]+>$")


@dataclass(frozen=True)
class AnimateResult:
    """What ``animate`` wrote and measured."""

    film: Path
    fmt: str
    n_frames: int
    width: int
    height: int
    grid: Path
    metrics_png: Path
    metrics_csv: Path
    words: list[str]
    n_snapshots: int
    method: str
    params: dict
    level: str
    emergence: Emergence
    projection_cached: bool
    metrics_cached: bool
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def files(self) -> list[Path]:
        return [self.film, self.grid, self.metrics_png, self.metrics_csv]


# -- the command ------------------------------------------------------------------------------


def animate(run_dir: Path, out: Path | None = None, options: AnimateOptions = AnimateOptions(), *,
            progress: StageProgress | None = None) -> AnimateResult:
    """Render the film, grid and metrics of the run in ``run_dir``; see the module docstring.

    ``out`` is the film path (default ``<run>/film.<fmt>``). Raises EmbvizError subclasses for bad
    input; warns (``warnings.warn``) about unknown words, a layout that hides the space's structure
    (:func:`measure`), a missing ffmpeg (then writes a gif) and missing fonts.
    """
    laps = _Laps()
    options.validate()
    run = Run.open(Path(run_dir))
    snapshots = film_snapshots(run)
    film_path, fmt = output_paths(run, out, options.fmt)
    check_writable(film_path)
    selection = choose_words(run, options)
    bench = word_benchmarks(run.vocab()[0])
    rows = SnapshotRows(run, snapshots, selection.rows, bench.rows, progress=_stage(progress, "loading"))
    laps("setup")
    trajectory = project(run, snapshots, selection, options, lambda: rows.shown,
                         progress=_stage(progress, PROJECTING.get(options.method, "projecting")))
    laps("project")
    table, metrics_cached = measure(run, snapshots, selection, bench, rows, trajectory, cache=options.cache,
                                    progress=_stage(progress, "metrics"))
    laps("metrics")
    film, grid, metrics_png, metrics_csv = write_outputs(run, snapshots, selection, trajectory, table, film_path, fmt,
                                                         options, progress=_stage(progress, "rendering"), laps=laps)
    return AnimateResult(
        film=film.path, fmt=film.fmt, n_frames=film.n_frames, width=film.width, height=film.height, grid=grid,
        metrics_png=metrics_png, metrics_csv=metrics_csv, words=selection.words, n_snapshots=len(snapshots),
        method=options.method, params=trajectory.params, level=selection.level, emergence=table,
        projection_cached=trajectory.cached, metrics_cached=metrics_cached, seconds=laps.seconds,
    )


class _Laps:
    """Seconds between consecutive calls, by name: ``laps("project")`` closes the lap ``project``."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.start = time.perf_counter()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = now - self.start
        self.start = now


def _stage(progress: StageProgress | None, stage: str) -> Progress | None:
    return None if progress is None else (lambda done, total: progress(stage, done, total))


# -- 1. snapshots -----------------------------------------------------------------------------


def film_snapshots(run: Run) -> list[Snapshot]:
    """The run's snapshots in step order, each checked to be a whole [V, d] float matrix (headers only)
    with V the vocabulary size; a film needs at least 2."""
    snapshots = run.snapshots()
    if len(snapshots) < 2:
        raise RunError(f"{run.path} has {len(snapshots)} snapshot(s); a film needs at least 2 "
                       "(train longer or with --snapshot-schedule log)")
    return run.check_snapshots(rows=len(run.vocab()[0]))


def describe_snapshot(run: Run, snap: Snapshot) -> dict:
    """What names a snapshot file's contents in the cache keys: file, step, size, mtime."""
    st = (run.snapshot_dir / snap.file).stat()
    return {"file": snap.file, "step": snap.step, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


# -- 2. words ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """The words a film shows: token ids ``rows`` [n] (ascending), their tokens, counts and category
    paths, the category ``levels`` those paths support and the ``level`` the film is coloured by."""

    rows: np.ndarray
    words: list[str]
    counts: list[int]
    paths: list[str | None]
    levels: list[str]
    level: str

    def labels(self, level: str) -> list[str | None]:
        """Each word's category at ``level`` (None = uncategorised)."""
        depth = 0 if level == FLAT_LEVEL else LEVELS.index(level)
        return [at_level(p, depth) for p in self.paths]

    @property
    def level_labels(self) -> dict[str, list[str | None]]:
        """{level: labels} for every level, coarse to fine."""
        return {level: self.labels(level) for level in self.levels}


def choose_words(run: Run, options: AnimateOptions) -> Selection:
    """The words ``options`` asks for (see :func:`select_words`), checked: at least 3, and ``options.level``
    one the run's categories have. Warns once about requested words not in the vocabulary."""
    tokens, counts, categories = run.vocab()
    ranks = counts
    if not any(counts):
        warnings.warn("token frequencies are unknown (the run was imported without --corpus): --top takes the "
                      "lowest token ids, and the norm-frequency measure stays empty", stacklevel=2)
        ranks = list(range(len(tokens), 0, -1))
    requested = list(options.words) + (read_words_file(options.words_file) if options.words_file is not None else [])
    rows, unknown = select_words(tokens, ranks, categories, top=options.top, content_only=options.content_only,
                                 words=requested, only=options.only, max_categorised=options.max_categorised)
    if rows.size == 0:
        if requested:
            listed = ", ".join(unknown[:10]) + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
            raise ConfigError(f"none of the requested words is in the vocabulary ({listed})")
        raise ConfigError("no words to show: the vocabulary is empty after filtering")
    _warn_unknown(unknown)
    if rows.size < 3:
        raise ConfigError(f"a film needs at least 3 words, only {rows.size} found in the vocabulary")
    paths = [categories[i] for i in rows]
    levels = category_levels(paths)
    level = options.level
    if level is None:
        level = levels[len(levels) // 2] if levels else FLAT_LEVEL
    elif level not in levels:
        if not levels:
            raise ConfigError(f"--level {level}: none of the shown words has a category")
        raise ConfigError(f"--level {level}: this run's categories have the level(s) {', '.join(levels)}")
    return Selection(rows=rows, words=[tokens[i] for i in rows], counts=[counts[i] for i in rows], paths=paths,
                     levels=levels, level=level)


def _stop_words() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


def is_content(token: str, category: str | None, stop_words: frozenset[str]) -> bool:
    """False for punctuation (no letter or digit), special tokens and function words."""
    bare = token.strip(BPE_MARK)
    if not any(ch.isalnum() for ch in bare) or _SPECIAL.match(token):
        return False
    if category is not None and category.split("/")[0] == "function":
        return False
    return bare.lower() not in stop_words


def read_words_file(path: Path) -> list[str]:
    """Words from a file: one or more per line, separated by spaces, tabs or commas; ``#`` starts a comment."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"words file {path} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"words file {path} is a directory") from None
    except UnicodeDecodeError:
        raise ConfigError(f"words file {path} is not UTF-8 text") from None
    except OSError as e:
        raise ConfigError(f"cannot read words file {path}: {e.strerror or e}") from None
    words = []
    for line in text.splitlines():
        line = line.split("#", 1)[0] if not line.lstrip().startswith("#") else ""
        words += [w for w in re.split(r"[\s,]+", line) if w]
    return words


def select_words(
    tokens: Sequence[str],
    counts: Sequence[int],
    categories: Sequence[str | None],
    *,
    top: int = DEFAULT_TOP,
    content_only: bool = False,
    words: Sequence[str] = (),
    only: bool = False,
    max_categorised: int | None = MAX_CATEGORISED,
) -> tuple[np.ndarray, list[str]]:
    """Token ids to show (ascending) and the requested words that are not in the vocabulary.

    Default: every categorised token plus the ``top`` most frequent tokens (special tokens such as
    ``<unk>`` never). ``content_only`` drops punctuation and function words from that default set.
    When more than ``max_categorised`` tokens have a category (None: no limit), only that many are
    taken, balanced across categories: each category's most frequent token, then each one's second,
    and so on (within a round by frequency); one warning says so. ``words`` are added (or, with
    ``only``, are the whole set) and are never capped; a word matches its token exactly, lowercased,
    or with a BPE ``▁`` prefix.
    """
    if top < 0:
        raise ConfigError(f"--top must be >= 0, got {top}")
    if only and not words:
        raise ConfigError("--only needs --words or --words-file")
    where: dict[str, int] = {}
    for i, tok in enumerate(tokens):
        where.setdefault(tok, i)
    chosen: set[int] = set()
    if not only:
        stop = _stop_words() if content_only else frozenset()
        keep = [i for i, tok in enumerate(tokens) if not _SPECIAL.match(tok) and counts[i] > 0
                and (not content_only or is_content(tok, categories[i], stop))]
        categorised = [i for i in keep if categories[i] is not None]
        if max_categorised is not None and len(categorised) > max_categorised:
            categorised = balanced_by_category(categorised, counts, categories, max_categorised)
        chosen.update(categorised)
        by_count = sorted(keep, key=lambda i: (-counts[i], i))
        chosen.update(by_count[:top])
    unknown = []
    for word in dict.fromkeys(words):
        for candidate in (word, word.lower(), BPE_MARK + word, BPE_MARK + word.lower()):
            if candidate in where:
                chosen.add(where[candidate])
                break
        else:
            unknown.append(word)
    return np.array(sorted(chosen), dtype=np.int64), unknown


def balanced_by_category(ids: Sequence[int], counts: Sequence[int], categories: Sequence[str | None],
                         limit: int) -> list[int]:
    """``limit`` of the categorised token ids ``ids``: round r takes every category's r-th most
    frequent token (a category with fewer tokens drops out), rounds in order, within a round the
    more frequent first; warns once that the default word set was capped."""
    members: dict[str, list[int]] = {}
    for i in sorted(ids, key=lambda i: (-counts[i], i)):
        members.setdefault(categories[i], []).append(i)
    rank = {i: r for group in members.values() for r, i in enumerate(group)}
    picked = sorted(ids, key=lambda i: (rank[i], -counts[i], i))[:limit]
    warnings.warn(f"{len(ids):,} words have a category; the film shows {limit:,} of them, balanced across "
                  f"{len(members):,} categories (the most frequent of each in turn) — pass --words or "
                  "--words-file to choose the words yourself", stacklevel=4)
    return picked


def _warn_unknown(unknown: list[str]) -> None:
    if not unknown:
        return
    shown = ", ".join(unknown[:20]) + (f" and {len(unknown) - 20} more" if len(unknown) > 20 else "")
    warnings.warn(f"{len(unknown)} word(s) not in the vocabulary, skipped: {shown}", stacklevel=3)


def category_levels(categories: Sequence[str | None]) -> list[str]:
    """Level names the vocabulary's category paths support: ``pos, field, subfield`` (as deep as the
    paths go, at most three) or ``category`` for flat categories; empty when nothing is categorised."""
    depth = max((c.count("/") + 1 for c in categories if c), default=0)
    if depth == 0:
        return []
    if depth == 1:
        return [FLAT_LEVEL]
    return list(LEVELS[: min(depth, len(LEVELS))])


def display_names(paths: Sequence[str | None]) -> dict[str, str]:
    """Readable legend names: the last part of each path (``noun/animal`` → ``animal``); when two
    paths end alike, each gets its parent in brackets (``emotion (verb)``, ``emotion (adj)``)."""
    unique = sorted({p for p in paths if p})
    last: dict[str, list[str]] = {}
    for p in unique:
        last.setdefault(p.split("/")[-1], []).append(p)
    names = {}
    for tail, group in last.items():
        for p in group:
            parts = p.split("/")
            names[p] = tail if len(group) == 1 or len(parts) == 1 else f"{tail} ({'/'.join(parts[:-1])})"
    return names


# -- 3. rows ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Benchmarks:
    """The word-similarity files (``{"wordsim353": path, "simlex999": path}``, empty when gensim lacks
    them) and the vocabulary rows [m] whose word is in one of them, within gensim's 300,000-row limit."""

    files: dict[str, Path]
    rows: np.ndarray
    words: list[str]


def word_benchmarks(tokens: Sequence[str]) -> Benchmarks:
    """The :class:`Benchmarks` of a vocabulary; warns (and scores nothing) when gensim lacks the files."""
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
    rows = np.array([i for i in range(limit) if tokens[i].upper() in wanted], dtype=np.int64)
    return Benchmarks(files, rows, [tokens[i] for i in rows])


class SnapshotRows:
    """The shown words' rows ``shown`` [T, n, d] and the benchmark words' rows ``bench`` [T, m, d] of every
    snapshot, float32, gathered in one pass through memory maps (:meth:`Run.gather`) on first use, so
    a cached projection and cached metrics read no snapshot at all."""

    def __init__(self, run: Run, snapshots: list[Snapshot], rows: np.ndarray,
                 bench_rows: np.ndarray = np.zeros(0, dtype=np.int64), *, progress: Progress | None = None):
        self.run, self.snapshots, self.rows, self.bench_rows, self.progress = run, snapshots, rows, bench_rows, progress

    @functools.cached_property
    def _gathered(self) -> np.ndarray:
        return self.run.gather(np.concatenate([self.rows, self.bench_rows]), self.snapshots, progress=self.progress)

    @property
    def shown(self) -> np.ndarray:
        return self._gathered[:, : self.rows.size]

    @property
    def bench(self) -> np.ndarray:
        return self._gathered[:, self.rows.size:]


# -- 4. projection ----------------------------------------------------------------------------


def projector_for(options: AnimateOptions) -> Projector:
    """The projector ``options`` names (method, alignment, UMAP mode, metric, seed)."""
    return make_projector(options.method, align=options.align, umap_mode=options.umap_mode, metric=options.metric,
                          seed=options.seed)


def project(run: Run, snapshots: list[Snapshot], selection: Selection, options: AnimateOptions,
            matrices: np.ndarray | Callable[[], np.ndarray], *, progress: Progress | None = None) -> Trajectory:
    """The aligned layouts [T, n, 2] of the selection, from the run's cache when ``options.cache`` and
    an equal projection is stored; ``matrices`` ([T, n, d] or a function giving it) is read only on a miss."""
    cache = TrajectoryCache(run.path) if options.cache else None
    described = [describe_snapshot(run, s) for s in snapshots]
    return project_snapshots(projector_for(options), matrices, selection.rows, selection.words, described, cache,
                             progress=progress)


# -- 5. metrics -------------------------------------------------------------------------------


def measure(run: Run, snapshots: list[Snapshot], selection: Selection, bench: Benchmarks, rows: SnapshotRows,
            trajectory: Trajectory, *, cache: bool = True, progress: Progress | None = None) -> tuple[Emergence, bool]:
    """The emergence table of the selection (one row per snapshot), with the faithfulness of
    ``trajectory``'s layouts, and whether it came from the cache. Warns when the final layout keeps
    much less purity than the space holds (:meth:`Emergence.unfaithful`)."""
    steps = [s.step for s in snapshots]
    epochs = [s.epoch for s in snapshots]
    losses = [s.train_loss if s.train_loss is not None else s.val_loss for s in snapshots]
    store = EmergenceCache(run.path) if cache else None
    key = EmergenceCache.key(selection.rows, selection.words, selection.level_labels,
                             [describe_snapshot(run, s) for s in snapshots], bench.files, trajectory.key)
    table = store.load(key, steps, epochs, losses, selection.levels) if store else None
    cached = table is not None
    if cached:
        if progress:
            progress(len(snapshots), len(snapshots))
    else:
        table = compute_emergence(rows.shown, selection.level_labels, steps, epochs, losses,
                                  layouts=trajectory.positions, benchmark_vectors=rows.bench,
                                  benchmark_words=bench.words, benchmark_files=bench.files, progress=progress,
                                  frequencies=selection.counts if any(selection.counts) else None)
        if store:
            store.save(key, table)
    warning = table.unfaithful(selection.level)
    if warning:
        hint = " (try --method umap)" if trajectory.method == "pca" else ""
        warnings.warn(warning + hint, stacklevel=2)
    return table, cached


# -- 6. outputs -------------------------------------------------------------------------------


def output_paths(run: Run, out: Path | None, fmt: str | None) -> tuple[Path, str]:
    """The film path and format: ``--out`` (its suffix gives the format) or ``<run>/film.<fmt>``."""
    if fmt is not None and fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if out is None:
        fmt = fmt or "mp4"
        return run.path / f"film.{fmt}", fmt
    out = Path(out)
    suffix = out.suffix.lower().lstrip(".")
    if suffix in FORMATS:
        if fmt is not None and fmt != suffix:
            raise ConfigError(f"--out {out.name} does not match --format {fmt}")
        return out, suffix
    if fmt is None and suffix:
        raise ConfigError(f"unknown film format {out.suffix!r} for {out.name}; use .mp4 or .gif (or --format)")
    fmt = fmt or "mp4"
    return out.with_name(out.name + f".{fmt}"), fmt


def side_paths(film: Path) -> tuple[Path, Path, Path]:
    """``<out>-grid.png``, ``<out>-metrics.png``, ``<out>-metrics.csv`` beside the film."""
    stem = film.with_suffix("")
    return (stem.with_name(stem.name + "-grid.png"), stem.with_name(stem.name + "-metrics.png"),
            stem.with_name(stem.name + "-metrics.csv"))


def film_title(run: Run, selection: Selection, options: AnimateOptions) -> str:
    """``<corpus> · <method (alignment)> · <n> words by <level>``."""
    how = options.method + (f" ({options.align})" if options.method == "pca"
                            else f" ({options.umap_mode})" if options.method == "umap" else "")
    return f"{_corpus_name(run) or run.path.name} · {how} · {len(selection.words):,} words by {selection.level}"


def _corpus_name(run: Run) -> str | None:
    corpus = run.manifest().corpus
    return corpus.name if corpus else None


def write_outputs(run: Run, snapshots: list[Snapshot], selection: Selection, trajectory: Trajectory, table: Emergence,
                  film_path: Path, fmt: str, options: AnimateOptions, *, progress: Progress | None = None,
                  laps: Callable[[str], None] = lambda name: None):
    """Render the film (a gif beside ``film_path`` when ffmpeg is missing), the grid and the metric curves,
    and write the metrics CSV. Returns ``(RenderResult, grid, metrics_png, metrics_csv)``."""
    from embviz.film import render

    grid_path, metrics_png, metrics_csv = side_paths(film_path)
    colours = selection.labels(selection.level)
    names = display_names(colours)
    labels = [None if p is None else names[p] for p in colours]
    curve = run.metrics()
    loss_curve = (np.array([r["step"] for r in curve], dtype=float), np.array([r["loss"] for r in curve], dtype=float))
    steps = np.array([s.step for s in snapshots], dtype=float)
    epochs = np.array([s.epoch for s in snapshots], dtype=float)
    title = film_title(run, selection, options)
    film = render.Film(trajectory.positions, selection.words, labels, steps, epochs, table.losses, loss_curve, title)
    try:
        result = render.render_film(film, film_path, options.film, fmt=fmt, progress=progress)
    except render.FfmpegUnavailable as e:
        film_path = film_path.with_suffix(".gif")
        warnings.warn(f"{e}; writing {film_path.name} instead", stacklevel=2)
        result = render.render_film(film, film_path, options.film, fmt="gif", progress=progress)
    laps("film")
    grid_film = render.Film(trajectory.positions, selection.words, labels, steps, epochs, table.losses, title=title)
    render.render_grid(grid_film, grid_path, snapshots=list(options.grid_snapshots) if options.grid_snapshots else None,
                       font=options.film.font)
    curves, chance = table.curves()
    corpus_name = _corpus_name(run)
    subtitle = f"{corpus_name or run.path.name} — {table.crossing_line()}" if selection.levels else (corpus_name or "")
    render.render_curves(curves, table.steps, metrics_png, chance=chance, beside=table.layout_curves(), title=subtitle)
    try:
        write_text(metrics_csv, table.to_csv())
    except OSError as e:
        raise EmbvizError(f"cannot write {metrics_csv}: {e.strerror or e}") from None
    laps("figures")
    return result, grid_path, metrics_png, metrics_csv
