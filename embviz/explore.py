"""``explore``: a run's snapshots → one self-contained HTML page to play, pause, search and click through training.

The page (``embviz/web/explorer.{html,js,css}``, inlined at write time) needs no network and no
server. It shows the same words, layout and emergence curves as ``animate`` for the same options,
and adds what a film cannot: hover, search, and for a clicked word its 10 nearest neighbours in the
original d-dimensional space at every snapshot (cosine, :func:`embviz.project.exact_knn`) and its
trail. When ``compare-word2vec`` has run, the Word2Vec space (projected like the run, scaled and
rotated onto the final snapshot) and its neighbours come along.

Numbers travel as base64 of little-endian typed arrays inside one JSON block; tokens only as JSON
strings, which the page puts into the DOM as text.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from embviz.errors import ConfigError, EmbvizError, RunError
from embviz.lexicon import LEVELS, at_level
from embviz.project import align_to, exact_knn, make_projector, project_snapshots
from embviz.run import WORD2VEC, Run, write_text

StageProgress = Callable[[str, int, int], None]
"""progress(stage, done, total); stages: animate's, then "neighbours" and "writing"."""

NEIGHBOURS = 10
MAX_WORDS = 20_000
"""Neighbour indices travel as uint16; the page also stays responsive well below this."""
MAX_CELLS = 250_000
"""At most this many words × snapshots (≈ 23 MB of page): above it the page is slow to open and to mail."""
DEFAULT_NAME = "explorer.html"
_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


@dataclass(frozen=True)
class ExploreResult:
    """What ``explore`` wrote."""

    path: Path
    n_words: int
    n_snapshots: int
    size_bytes: int
    word2vec: bool
    projection_cached: bool
    seconds: dict[str, float] = field(default_factory=dict)


def script_json(data: object) -> str:
    """``data`` as JSON safe inside ``<script type="application/json">``: ``< > &`` and U+2028/9 escaped."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return "".join(_ESCAPES.get(ch, ch) for ch in text) if any(ch in text for ch in _ESCAPES) else text


def _b64(array: np.ndarray, dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()).decode()


def _nan_to_none(values: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(v) else round(float(v), 6) for v in values]


def neighbours(matrices: np.ndarray, k: int = NEIGHBOURS, progress: Callable[[int, int], None] | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
    """Each word's ``k`` nearest other words by cosine in every snapshot of ``matrices`` [T, n, d].

    Returns ``(indices uint16 [T, n, k], cosines float32 [T, n, k])``, most similar first.
    """
    t_count, n, _ = matrices.shape
    k = min(k, n - 1)
    idx = np.empty((t_count, n, k), dtype=np.uint16)
    cos = np.empty((t_count, n, k), dtype=np.float32)
    for t in range(t_count):
        i, d = exact_knn(matrices[t], k + 1, "cosine")
        idx[t], cos[t] = i[:, 1:], 1.0 - d[:, 1:]
        if progress:
            progress(t + 1, t_count)
    return idx, cos


def check_output(path: Path, overwrite: bool) -> None:
    """Fail before any work when ``path`` cannot be written or would be replaced without ``overwrite``."""
    from embviz.animate import _check_writable

    if path.exists() and not path.is_dir() and not overwrite:
        raise ConfigError(f"{path} already exists; pass --overwrite to replace it")
    _check_writable(path)


def _check_size(n_words: int, n_snapshots: int) -> None:
    cells = n_words * n_snapshots
    if n_words > MAX_WORDS or cells > MAX_CELLS:
        raise ConfigError(
            f"{n_words:,} words × {n_snapshots} snapshots is too much for one page (at most {MAX_WORDS:,} words and "
            f"{MAX_CELLS:,} words × snapshots); narrow the words with --top, --content-only, or --words/--words-file "
            "with --only")


@dataclass
class Stages:
    """The film's stages for one set of options: words [n], trajectory [T, n, 2], emergence table and
    the shown rows of every snapshot ``matrices`` [T, n, d] float32."""

    snapshots: list
    rows: np.ndarray
    words: list[str]
    counts: list[int]
    paths: list[str | None]
    levels: list[str]
    level: str
    positions: np.ndarray
    emergence: object
    matrices: np.ndarray
    projector: object
    cache: object
    projection_cached: bool
    title: str


def _film_stages(run: Run, options: dict, progress: StageProgress | None) -> Stages:
    """animate's word choice, projection (cached) and emergence table for ``options``."""
    from embviz.animate import (FLAT_LEVEL, _describe, _warn_unknown, category_levels, check_snapshots,
                                read_words_file, select_words)
    from embviz.emergence import compute_emergence
    from embviz.project import TrajectoryCache

    method = options.get("method", "pca")
    projector = make_projector(method, align=options.get("align", "final"), metric=options.get("metric", "cosine"),
                               umap_mode=options.get("umap_mode", "chain"), seed=options.get("seed", 0))
    snaps = run.snapshots()
    if len(snaps) < 2:
        raise RunError(f"{run.path} has {len(snaps)} snapshot(s); exploring needs at least 2")
    tokens, counts, categories = run.vocab()
    dim = check_snapshots(run, snaps, len(tokens))[1]
    words_file = options.get("words_file")
    requested = list(options.get("words", ())) + (read_words_file(words_file) if words_file else [])
    rows, unknown = select_words(tokens, counts, categories, top=options.get("top", 300),
                                 content_only=options.get("content_only", False), words=requested,
                                 only=options.get("only", False))
    if rows.size < 3:
        raise ConfigError(f"none of the requested words is in the vocabulary ({', '.join(unknown[:10])})"
                          if requested and rows.size == 0 else f"exploring needs at least 3 words, found {rows.size}")
    _warn_unknown(unknown)
    _check_size(rows.size, len(snaps))
    words, paths = [tokens[i] for i in rows], [categories[i] for i in rows]
    levels = category_levels(paths)
    level = options.get("level") or (levels[len(levels) // 2] if levels else FLAT_LEVEL)
    if levels and level not in levels:
        raise ConfigError(f"--level {level}: this run's categories have the level(s) {', '.join(levels)}")
    matrices = np.empty((len(snaps), rows.size, dim), dtype=np.float32)
    for t, snap in enumerate(snaps):
        matrices[t] = run.load_snapshot(snap, rows)
        if not np.isfinite(matrices[t]).all():
            raise RunError(f"snapshot {snap.file} contains nan or infinite values")
        if progress:
            progress("loading", t + 1, len(snaps))
    cache = TrajectoryCache(run.path) if options.get("cache", True) else None
    trajectory = project_snapshots(projector, matrices, rows, words, [_describe(run, s) for s in snaps], cache,
                                   progress=(lambda d, n: progress("projecting", d, n)) if progress else None)
    level_labels = {lvl: [at_level(p, 0 if lvl == FLAT_LEVEL else LEVELS.index(lvl)) for p in paths] for lvl in levels}
    table = compute_emergence(matrices, level_labels, [s.step for s in snaps], [s.epoch for s in snaps],
                              [s.train_loss if s.train_loss is not None else s.val_loss for s in snaps],
                              progress=(lambda d, n: progress("metrics", d, n)) if progress else None)
    return Stages(snaps, rows, words, [counts[i] for i in rows], paths, levels, level, trajectory.positions,
                  table, matrices, projector, cache, trajectory.cached, f"{run.path.name} · {method}")


def _word2vec_layout(run: Run, rows: np.ndarray, words: list[str], final: np.ndarray, projector,
                     cache) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The Word2Vec vectors of ``rows`` projected like the run and fitted onto ``final`` [n, 2] (scale +
    Procrustes), with their neighbours; None when the run has no readable baseline.

    Returns ``(positions float32 [n, 2], indices uint16 [n, k], cosines float32 [n, k])``; words without a
    Word2Vec vector are at nan with no neighbours (index 65535).
    """
    from embviz.animate import _describe

    if not (run.path / WORD2VEC).is_dir():
        return None
    try:
        base = Run.open(run.path / WORD2VEC)
        snap = base.snapshots()[-1]
        vectors = base.load_snapshot(snap, rows)
    except (EmbvizError, IndexError) as e:
        warnings.warn(f"Word2Vec space left out: {e}", stacklevel=3)
        return None
    present = np.flatnonzero(np.any(vectors != 0, axis=1) & np.isfinite(vectors).all(axis=1))
    if present.size < 3:
        return None
    described = [_describe(base, snap)]
    layout = project_snapshots(projector, [vectors[present]], rows[present], [words[i] for i in present],
                               described, cache).positions[0]
    target = final[present]
    spread = np.sqrt(((layout - layout.mean(0)) ** 2).sum(1).mean())
    scale = np.sqrt(((target - target.mean(0)) ** 2).sum(1).mean()) / max(spread, 1e-12)
    positions = np.full((len(rows), 2), np.nan, dtype=np.float32)
    positions[present] = align_to(layout * scale, target)
    idx, cos = neighbours(vectors[present][None])
    full_idx = np.full((len(rows), idx.shape[2]), 65535, dtype=np.uint16)
    full_cos = np.zeros((len(rows), idx.shape[2]), dtype=np.float32)
    full_idx[present], full_cos[present] = present[idx[0]], cos[0]
    return positions, full_idx, full_cos


def page_data(stages: Stages, idx: np.ndarray, cos: np.ndarray, w2v) -> dict:
    """The JSON the page reads: words, categories per level, snapshots, curves and the packed arrays."""
    from embviz.animate import FLAT_LEVEL, display_names
    from embviz.render import category_colors

    n = len(stages.words)
    levels = []
    for level in stages.levels:
        labels = [at_level(p, 0 if level == FLAT_LEVEL else LEVELS.index(level)) for p in stages.paths]
        colours = category_colors(labels)
        order = list(colours)
        names = display_names(order)
        code = {c: i for i, c in enumerate(order)}
        levels.append({"name": level, "categories": [names[c] for c in order],
                       "colours": ["#%02x%02x%02x" % tuple(round(255 * v) for v in colours[c][:3]) for c in order],
                       "codes": [code.get(lab, -1) for lab in labels]})
    table = stages.emergence
    curves = {f"purity · {lvl}": _nan_to_none(table.columns[f"purity_{lvl}"]) for lvl in table.levels}
    chance = {f"purity · {lvl}": _nan_to_none(table.columns[f"chance_{lvl}"][:1])[0] for lvl in table.levels}
    snaps = stages.snapshots
    data = {
        "title": stages.title, "n": n, "T": len(snaps), "k": int(idx.shape[2]),
        "words": stages.words, "counts": [int(c) for c in stages.counts], "paths": stages.paths,
        "levels": levels, "level": stages.levels.index(stages.level) if stages.level in stages.levels else 0,
        "steps": [s.step for s in snaps], "epochs": [s.epoch for s in snaps],
        "trainLoss": [s.train_loss for s in snaps], "valLoss": [s.val_loss for s in snaps],
        "curves": curves, "chance": chance, "loss": _nan_to_none(table.losses),
        "positions": _b64(stages.positions, "f4"), "nbrIndex": _b64(idx, "u2"), "nbrCos": _b64(cos, "f4"),
    }
    if w2v is not None:
        pos, widx, wcos = w2v
        data["word2vec"] = {"positions": _b64(pos, "f4"), "nbrIndex": _b64(widx, "u2"), "nbrCos": _b64(wcos, "f4")}
    return data


def render_page(data: dict) -> str:
    """The explorer page: the template with its style, script and ``data`` inlined. The page's
    Content-Security-Policy runs only that script (by its SHA-256) and allows no network request."""
    web = resources.files("embviz") / "web"
    html = (web / "explorer.html").read_text(encoding="utf-8")
    script = (web / "explorer.js").read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()
    parts = {"/*EMBVIZ_STYLE*/": (web / "explorer.css").read_text(encoding="utf-8"),
             "EMBVIZ_SCRIPT_HASH": f"sha256-{digest}", "/*EMBVIZ_SCRIPT*/": script, "EMBVIZ_DATA": script_json(data)}
    for key, value in parts.items():
        html = html.replace(key, value, 1)
    return html


def explore(
    run_dir: Path,
    out: Path | None = None,
    *,
    overwrite: bool = False,
    progress: StageProgress | None = None,
    **options,
) -> ExploreResult:
    """Write the explorer page of the run in ``run_dir`` (default ``<run>/explorer.html``).

    ``options`` are animate's word, level and projection options (``method``, ``align``, ``umap_mode``,
    ``words``, ``words_file``, ``only``, ``top``, ``content_only``, ``level``, ``cache``, ``seed``…).
    Raises EmbvizError subclasses for bad input, before anything is written.
    """
    start = time.perf_counter()
    run = Run.open(Path(run_dir))
    path = Path(out) if out is not None else run.path / DEFAULT_NAME
    check_output(path, overwrite)
    stages = _film_stages(run, options, progress)
    idx, cos = neighbours(stages.matrices, progress=(lambda d, n: progress("neighbours", d, n)) if progress else None)
    w2v = _word2vec_layout(run, stages.rows, stages.words, stages.positions[-1], stages.projector, stages.cache)
    data = page_data(stages, idx, cos, w2v)
    if progress:
        progress("writing", 0, 1)
    page = render_page(data)
    try:
        write_text(path, page)
    except OSError as e:
        raise EmbvizError(f"cannot write {path}: {e.strerror or e}") from None
    if progress:
        progress("writing", 1, 1)
    return ExploreResult(path=path, n_words=len(stages.words), n_snapshots=len(stages.snapshots),
                         size_bytes=path.stat().st_size, word2vec=w2v is not None,
                         projection_cached=stages.projection_cached, seconds={"total": time.perf_counter() - start})

