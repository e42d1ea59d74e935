"""``animate``: a run's snapshots → an aligned film, the small-multiples figure and the emergence metrics.

Reads only the run directory (never retrains). The stages:

1. choose the words (categorised vocabulary + the most frequent tokens, or a given list);
2. gather their rows from every snapshot through memory maps (never a whole matrix in memory);
3. project them to aligned 2-D layouts (cached under ``projections/``);
4. measure purity, silhouette, neighbour overlap, CKA, drift and word-similarity scores per
   snapshot on the full-dimensional rows (cached too);
5. render ``<out>.mp4|gif``, ``<out>-grid.png``, ``<out>-metrics.png`` and write ``<out>-metrics.csv``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from embviz import metrics as m
from embviz.emergence import THRESHOLD, Emergence, compute_emergence
from embviz.errors import ConfigError, EmbvizError, RunError
from embviz.lexicon import LEVELS, at_level
from embviz.project import (
    METHODS,
    METRICS,
    PCA_ALIGN,
    UMAP_MODES,
    TrajectoryCache,
    make_projector,
    project_snapshots,
)
from embviz.run import PROJECTIONS, Run, Snapshot, read_json, write_json, write_text

StageProgress = Callable[[str, int, int], None]
"""progress(stage, done, total); stages: "loading", "projecting", "metrics", "rendering"."""

FORMATS = ("mp4", "gif")
DEFAULT_TOP = 300
MAX_CATEGORISED = 2000
"""At most this many categorised words in the default word set (a film of tens of thousands of points
is unreadable and its metrics slow): the most frequent of each category in turn, see :func:`select_words`."""
DEFAULT_UMAP_MODE = "chain"
"""Warm-started UMAP chain: 3.4x faster than AlignedUMAP on 20 snapshots x 2,000 words, same
trustworthiness, but AlignedUMAP is steadier between frames (benchmarks/bench_umap.py, docs/animate.md)."""
FLAT_LEVEL = "category"
"""Name of the only level of a flat (one-level) lexicon."""
METRICS_CACHE_VERSION = 2
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


# -- words ------------------------------------------------------------------------------------


def _stop_words() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


def is_content(token: str, category: str | None, stop_words: frozenset[str]) -> bool:
    """False for punctuation (no letter or digit), special tokens and function words."""
    bare = token.strip("▁")
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
        for candidate in (word, word.lower(), "▁" + word, "▁" + word.lower()):
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


# -- categories -------------------------------------------------------------------------------


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


# -- snapshots --------------------------------------------------------------------------------


def _snapshot_shape(run: Run, snap: Snapshot) -> tuple[int, ...]:
    path = run.snapshot_dir / snap.file
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise RunError(f"snapshot {path} is missing") from None
    except (ValueError, OSError) as e:
        raise RunError(f"snapshot {path} is corrupt ({str(e).splitlines()[0]})") from None
    if not isinstance(array, np.ndarray) or array.ndim != 2 or array.dtype.kind != "f":
        raise RunError(f"snapshot {path} is not a 2-D float matrix")
    return array.shape


def check_snapshots(run: Run, snaps: Sequence[Snapshot], vocab_size: int) -> tuple[int, int]:
    """Check that every snapshot file is readable and of one shape [V, d] with V = vocabulary size."""
    first = None
    for snap in snaps:
        shape = _snapshot_shape(run, snap)
        if first is None:
            first = shape
            if shape[0] != vocab_size:
                raise RunError(f"snapshot {snap.file} has {shape[0]} rows but the vocabulary has {vocab_size} tokens")
        elif shape != first:
            raise RunError(f"snapshots differ in shape: {snaps[0].file} is {list(first)}, "
                           f"{snap.file} is {list(shape)}")
    assert first is not None
    return first


def _describe(run: Run, snap: Snapshot) -> dict:
    st = (run.snapshot_dir / snap.file).stat()
    return {"file": snap.file, "step": snap.step, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


# -- projection, one snapshot at a time --------------------------------------------------------


# -- outputs ----------------------------------------------------------------------------------


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


def _check_writable(path: Path) -> None:
    folder = path.parent
    if path.is_dir():
        raise ConfigError(f"output {path} is a directory")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".embviz-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise EmbvizError(f"cannot write to {folder}: {e.strerror or e}") from None


# -- metrics cache ----------------------------------------------------------------------------


def _metrics_key(rows, words, level_labels, snapshots, bench_files) -> str:
    bench = {name: list(m._file_key(path)) for name, path in bench_files.items()}
    blob = json.dumps({"version": METRICS_CACHE_VERSION, "rows": [int(r) for r in rows], "words": list(words),
                       "labels": {k: list(v) for k, v in level_labels.items()}, "snapshots": list(snapshots),
                       "bench": bench, "threshold": THRESHOLD}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:20]


def _load_metrics(path: Path, steps, epochs, losses, levels) -> Emergence | None:
    if not path.is_file():
        return None
    try:
        data = read_json(path)
        columns = {k: np.array([np.nan if v is None else v for v in vals], dtype=float)
                   for k, vals in data["columns"].items()}
        crossings = {k: (None if v is None else int(v)) for k, v in data["first_crossing"].items()}
    except (EmbvizError, KeyError, TypeError, ValueError, AttributeError):
        return None
    if any(len(v) != len(steps) for v in columns.values()) or list(crossings) != list(levels):
        return None
    return Emergence(np.asarray(steps, dtype=float), np.asarray(epochs, dtype=float),
                     np.asarray(losses, dtype=float), list(levels), columns, THRESHOLD, crossings)


def _save_metrics(path: Path, table: Emergence) -> None:
    try:
        path.parent.mkdir(exist_ok=True)
        write_json(path, {"columns": {k: [None if math.isnan(x) else float(x) for x in v]
                                      for k, v in table.columns.items()},
                          "first_crossing": table.first_crossing})
    except OSError as e:
        warnings.warn(f"could not cache the metrics in {path.parent}: {e.strerror or e}", stacklevel=2)


def _benchmark_files() -> dict[str, Path]:
    from embviz.benchmarks_data import SIMLEX999, WORDSIM353, gensim_test_file

    try:
        return {"wordsim353": gensim_test_file(WORDSIM353), "simlex999": gensim_test_file(SIMLEX999)}
    except EmbvizError as e:
        warnings.warn(f"word-similarity scores skipped: {e}", stacklevel=3)
        return {}


def _benchmark_rows(tokens: Sequence[str], files: dict[str, Path]) -> np.ndarray:
    """Vocabulary rows (in order, within gensim's 300,000-row limit) whose word is in a benchmark file."""
    wanted: set[str] = set()
    for path in files.values():
        for w1, w2, _ in m._read_pairs(m._file_key(path)):
            wanted.update((w1, w2))
    limit = min(len(tokens), m.RESTRICT_VOCAB)
    return np.array([i for i in range(limit) if tokens[i].upper() in wanted], dtype=np.int64)


# -- the command ------------------------------------------------------------------------------


def animate(
    run_dir: Path,
    out: Path | None = None,
    *,
    method: str = "pca",
    align: str = "final",
    umap_mode: str = DEFAULT_UMAP_MODE,
    metric: str = "cosine",
    words: Sequence[str] = (),
    words_file: Path | None = None,
    only: bool = False,
    top: int = DEFAULT_TOP,
    content_only: bool = False,
    max_categorised: int | None = MAX_CATEGORISED,
    level: str | None = None,
    fmt: str | None = None,
    fps: float = 30,
    seconds_per_snapshot: float = 0.5,
    label: int = 30,
    label_words: Sequence[str] = (),
    font: Path | None = None,
    size: tuple[int, int] = (1280, 720),
    grid_snapshots: Sequence[int] | None = None,
    cache: bool = True,
    seed: int = 0,
    progress: StageProgress | None = None,
) -> AnimateResult:
    """Render the film, grid and metrics of the run in ``run_dir``; see the module docstring.

    Options mirror ``embviz animate --help``. Raises EmbvizError subclasses for bad input; warns
    (``warnings.warn``) about unknown words, a missing ffmpeg (then writes a gif) and missing fonts.
    """
    from embviz import render

    clock = {"start": time.perf_counter()}
    seconds: dict[str, float] = {}

    def lap(name: str) -> None:
        now = time.perf_counter()
        seconds[name] = now - clock["start"]
        clock["start"] = now

    def report(stage: str) -> Callable[[int, int], None] | None:
        return None if progress is None else (lambda done, total: progress(stage, done, total))

    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if align not in PCA_ALIGN:
        raise ConfigError(f"unknown alignment {align!r}; choose one of {', '.join(PCA_ALIGN)}")
    if umap_mode not in UMAP_MODES:
        raise ConfigError(f"unknown UMAP mode {umap_mode!r}; choose one of {', '.join(UMAP_MODES)}")
    if metric not in METRICS:
        raise ConfigError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    if fps <= 0 or seconds_per_snapshot <= 0:
        raise ConfigError("--fps and --seconds-per-snapshot must be positive")
    projector = make_projector(method, align=align, umap_mode=umap_mode, metric=metric, seed=seed)

    run = Run.open(Path(run_dir))
    snaps = run.snapshots()
    if len(snaps) < 2:
        raise RunError(f"{run.path} has {len(snaps)} snapshot(s); a film needs at least 2 "
                       "(train longer or with --snapshot-schedule log)")
    film_path, fmt = output_paths(run, out, fmt)
    grid_path, metrics_png, metrics_csv = side_paths(film_path)
    _check_writable(film_path)

    tokens, counts, categories = run.vocab()
    frequencies_known = any(counts)
    if not frequencies_known:
        warnings.warn("token frequencies are unknown (the run was imported without --corpus): --top takes the "
                      "lowest token ids, and the norm-frequency measure stays empty", stacklevel=2)
        counts = list(range(len(tokens), 0, -1))
    dim = check_snapshots(run, snaps, len(tokens))[1]
    requested = list(words) + (read_words_file(words_file) if words_file is not None else [])
    rows, unknown = select_words(tokens, counts, categories, top=top, content_only=content_only,
                                 words=requested, only=only, max_categorised=max_categorised)
    if rows.size == 0:
        if requested:
            listed = ", ".join(unknown[:10]) + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
            raise ConfigError(f"none of the requested words is in the vocabulary ({listed})")
        raise ConfigError("no words to show: the vocabulary is empty after filtering")
    _warn_unknown(unknown)
    if rows.size < 3:
        raise ConfigError(f"a film needs at least 3 words, only {rows.size} found in the vocabulary")
    shown = [tokens[i] for i in rows]
    paths = [categories[i] for i in rows]

    levels = category_levels(paths)
    if level is None:
        level = levels[len(levels) // 2] if levels else FLAT_LEVEL
    elif level not in levels:
        if not levels:
            raise ConfigError(f"--level {level}: none of the shown words has a category")
        raise ConfigError(f"--level {level}: this run's categories have the level(s) {', '.join(levels)}")
    level_labels = {lvl: [at_level(p, 0 if lvl == FLAT_LEVEL else LEVELS.index(lvl)) for p in paths]
                    for lvl in levels}

    bench_files = _benchmark_files()
    bench_rows = _benchmark_rows(tokens, bench_files) if bench_files else np.zeros(0, dtype=np.int64)
    described = [_describe(run, s) for s in snaps]
    lap("setup")

    loaded: dict[str, np.ndarray] = {}

    def load() -> tuple[np.ndarray, np.ndarray]:
        """The shown rows [T, n, d] and benchmark rows [T, m, d] of every snapshot, float32, each
        allocated once and filled snapshot by snapshot through memory maps."""
        if not loaded:
            gather = np.concatenate([rows, bench_rows])
            shown_mats = np.empty((len(snaps), rows.size, dim), dtype=np.float32)
            bench_mats = np.empty((len(snaps), bench_rows.size, dim), dtype=np.float32)
            tick = report("loading")
            for i, snap in enumerate(snaps):
                block = run.load_snapshot(snap, gather)
                if not np.isfinite(block).all():
                    raise RunError(f"snapshot {snap.file} contains nan or infinite values")
                shown_mats[i] = block[: rows.size]
                bench_mats[i] = block[rows.size:]
                del block
                if tick:
                    tick(i + 1, len(snaps))
            loaded["shown"], loaded["bench"] = shown_mats, bench_mats
        return loaded["shown"], loaded["bench"]

    trajectory_cache = TrajectoryCache(run.path) if cache else None
    trajectory = project_snapshots(projector, lambda: load()[0], rows, shown, described, trajectory_cache,
                                   progress=report("projecting"))
    lap("project")

    steps = [s.step for s in snaps]
    epochs = [s.epoch for s in snaps]
    losses = [s.train_loss if s.train_loss is not None else s.val_loss for s in snaps]
    losses_arr = np.array([np.nan if v is None else v for v in losses], dtype=float)
    metrics_cache = run.path / PROJECTIONS / f"metrics-{_metrics_key(rows, shown, level_labels, described, bench_files)}.json"
    table = _load_metrics(metrics_cache, steps, epochs, losses_arr, levels) if cache else None
    metrics_cached = table is not None
    if table is None:
        shown_mats, bench_mats = load()
        table = compute_emergence(shown_mats, level_labels, steps, epochs, losses,
                                  benchmark_vectors=bench_mats, benchmark_words=[tokens[i] for i in bench_rows],
                                  benchmark_files=bench_files, progress=report("metrics"),
                                  frequencies=np.asarray(counts)[rows] if frequencies_known else None)
        if cache:
            _save_metrics(metrics_cache, table)
    elif progress:
        progress("metrics", len(snaps), len(snaps))
    lap("metrics")

    level_index = 0 if level == FLAT_LEVEL else LEVELS.index(level)
    colour_paths = [at_level(p, level_index) for p in paths]
    names = display_names(colour_paths)
    labels = [None if p is None else names[p] for p in colour_paths]
    curve = run.metrics()
    loss_curve = (np.array([r["step"] for r in curve], dtype=float), np.array([r["loss"] for r in curve], dtype=float))
    corpus = run.manifest().get("corpus", {})
    corpus_name = corpus.get("name") if isinstance(corpus, dict) else None
    how = method + (f" ({align})" if method == "pca" else f" ({umap_mode})" if method == "umap" else "")
    title = f"{corpus_name or run.path.name} · {how} · {len(shown):,} words by {level}"
    film = render.Film(trajectory.positions, shown, labels, np.array(steps, dtype=float),
                       np.array(epochs, dtype=float), losses_arr, loss_curve, title)
    render_opts = dict(fps=fps, seconds_per_snapshot=seconds_per_snapshot, label=label, label_words=label_words,
                       font=font, size=size, progress=report("rendering"))
    try:
        result = render.render_film(film, film_path, fmt=fmt, **render_opts)
    except render.FfmpegUnavailable as e:
        film_path = film_path.with_suffix(".gif")
        warnings.warn(f"{e}; writing {film_path.name} instead", stacklevel=2)
        result = render.render_film(film, film_path, fmt="gif", **render_opts)
    lap("film")
    grid_film = render.Film(trajectory.positions, shown, labels, film.steps, film.epochs, film.losses,
                            title=title)
    render.render_grid(grid_film, grid_path, snapshots=list(grid_snapshots) if grid_snapshots else None, font=font)
    curves, chance = table.curves()
    subtitle = f"{corpus_name or run.path.name} — {table.crossing_line()}" if levels else (corpus_name or "")
    render.render_curves(curves, table.steps, metrics_png, chance=chance, title=subtitle)
    try:
        write_text(metrics_csv, table.to_csv())
    except OSError as e:
        raise EmbvizError(f"cannot write {metrics_csv}: {e.strerror or e}") from None
    lap("figures")
    return AnimateResult(
        film=result.path, fmt=result.fmt, n_frames=result.n_frames, width=result.width, height=result.height,
        grid=grid_path, metrics_png=metrics_png, metrics_csv=metrics_csv, words=shown, n_snapshots=len(snaps),
        method=method, params=trajectory.params, level=level, emergence=table,
        projection_cached=trajectory.cached, metrics_cached=metrics_cached, seconds=seconds,
    )
