"""``explore``: a run's snapshots → one self-contained HTML page to play, pause, search and click through training.

The page (``embviz/web/explorer.{html,js,css}``, inlined at write time) needs no network and no
server. It shows the same words, layout and emergence curves as ``animate`` for the same options,
and adds what a film cannot: hover, search, and for a clicked word its 10 nearest neighbours in the
original d-dimensional space at every snapshot (cosine, :func:`embviz.measure.metrics.knn_graph`) and its
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

from embviz.errors import ConfigError, EmbvizError
from embviz.film.animate_options import DEFAULT_VIEW, AnimateOptions
from embviz.film.selection import Selection, choose_words, display_names
from embviz.film.stages import (
    Stages,
    describe_snapshot,
    film_snapshots,
    film_stages,
    projector_for,
)
from embviz.layout.projectors import align_to
from embviz.layout.trajectory import TrajectoryCache, project_snapshots
from embviz.measure.emergence import Emergence
from embviz.measure.metrics import knn_graph
from embviz.progress import Progress, for_stage
from embviz.rundir import output
from embviz.rundir.files import check_writable, write_text
from embviz.rundir.run import WORD2VEC, Run

NEIGHBOURS = 10
MAX_WORDS = 20_000
"""Neighbour indices travel as uint16; the page also stays responsive well below this."""
MAX_CELLS = 250_000
"""At most this many words × snapshots (≈ 23 MB of page): above it the page is slow to open and to mail."""
DEFAULT_NAME = "explorer.html"
_ESCAPES = str.maketrans({ch: f"\\u{ord(ch):04x}" for ch in "<>&\u2028\u2029"})


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
    return text.translate(_ESCAPES)


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
        i, d = knn_graph(matrices[t], k + 1, "cosine")
        idx[t], cos[t] = i[:, 1:], 1.0 - d[:, 1:]
        if progress:
            progress(t + 1, t_count)
    return idx, cos


def check_output(path: Path, overwrite: bool) -> None:
    """Fail before any work when ``path`` cannot be written or would be replaced without ``overwrite``."""
    output.check_output(path, overwrite)
    check_writable(path)


def _check_size(n_words: int, n_snapshots: int) -> None:
    cells = n_words * n_snapshots
    if n_words > MAX_WORDS or cells > MAX_CELLS:
        raise ConfigError(
            f"{n_words:,} words × {n_snapshots} snapshots is too much for one page (at most {MAX_WORDS:,} words and "
            f"{MAX_CELLS:,} words × snapshots); narrow the words with --top, --content-only, or --words/--words-file "
            "with --only")


def word2vec_layout(run: Run, selection: Selection, final: np.ndarray, options: AnimateOptions
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The Word2Vec vectors of the selection projected like the run (``options``, cached like it) and fitted
    onto ``final`` [n, 2] (scale + Procrustes), with their neighbours; None when the run has no baseline.

    Returns ``(positions float32 [n, 2], indices uint16 [n, k], cosines float32 [n, k])``; words without a
    Word2Vec vector are at nan with no neighbours (index 65535).
    """
    rows, words = selection.rows, selection.words
    if options.matrix != "token" or not (run.path / WORD2VEC).is_dir():  # the baseline is a token table
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
    cache = TrajectoryCache(run.path) if options.cache else None
    layout = project_snapshots(projector_for(options), [vectors[present]], rows[present], [words[i] for i in present],
                               [describe_snapshot(base, snap)], cache).positions[0]
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


def page_words(selection: Selection, title: str, view: str = DEFAULT_VIEW) -> dict:
    """The part of the page's JSON that names the words: title, words, counts, paths, category levels."""
    from embviz.film.drawing import category_colors

    levels = []
    for level in selection.levels:
        labels = selection.labels(level)
        colours = category_colors(labels)
        order = list(colours)
        names = display_names(order)
        code = {c: i for i, c in enumerate(order)}
        levels.append({"name": level, "categories": [names[c] for c in order],
                       "colours": ["#%02x%02x%02x" % tuple(round(255 * v) for v in colours[c][:3]) for c in order],
                       "codes": [code.get(lab, -1) for lab in labels]})
    return {"title": title, "n": len(selection.words), "view": view, "words": selection.words,
            "counts": [int(c) for c in selection.counts], "paths": selection.paths, "levels": levels,
            "level": selection.levels.index(selection.level) if selection.level in selection.levels else 0}


def page_curves(table: Emergence) -> tuple[dict[str, list[float | None]], dict[str, float | None]]:
    """The emergence panel's curves (name → one value per snapshot) and each purity curve's chance level."""
    curves = {f"purity · {lvl}": _nan_to_none(table.columns[f"purity_{lvl}"]) for lvl in table.levels}
    curves.update({f"purity in 2-D · {lvl}": _nan_to_none(table.columns[f"purity2d_{lvl}"]) for lvl in table.levels})
    curves["trustworthiness of 2-D"] = _nan_to_none(table.columns["trustworthiness"])
    chance = {f"purity · {lvl}": _nan_to_none(table.columns[f"chance_{lvl}"][:1])[0] for lvl in table.levels}
    return curves, chance


def page_data(stages: Stages, idx: np.ndarray, cos: np.ndarray, w2v, view: str = DEFAULT_VIEW) -> dict:
    """The JSON the page reads: words, categories per level, snapshots, curves and the packed arrays."""
    table = stages.emergence
    curves, chance = page_curves(table)
    snaps = stages.snapshots
    data = {
        **page_words(stages.selection, stages.title, view), "T": len(snaps), "k": int(idx.shape[2]),
        "steps": [s.step for s in snaps], "epochs": [s.epoch for s in snaps],
        "trainLoss": [s.train_loss for s in snaps], "valLoss": [s.val_loss for s in snaps],
        "curves": curves, "chance": chance, "loss": _nan_to_none(table.losses),
        "positions": _b64(stages.trajectory.positions, "f4"), "nbrIndex": _b64(idx, "u2"), "nbrCos": _b64(cos, "f4"),
    }
    if w2v is not None:
        pos, widx, wcos = w2v
        data["word2vec"] = {"positions": _b64(pos, "f4"), "nbrIndex": _b64(widx, "u2"), "nbrCos": _b64(wcos, "f4")}
    return data


def render_page(data: dict, live: bool = False) -> str:
    """The explorer page: the template with its style, script and ``data`` inlined. The page's
    Content-Security-Policy runs only that script (by its SHA-256) and allows no network request; a ``live``
    page also runs ``live.js`` and may open the event stream of the server it came from."""
    web = resources.files("embviz.film") / "web"
    html = (web / "explorer.html").read_text(encoding="utf-8")
    script = (web / "explorer.js").read_text(encoding="utf-8")
    if live:
        script += (web / "live.js").read_text(encoding="utf-8")
        html = html.replace("default-src 'none';", "default-src 'none'; connect-src 'self';", 1)
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()
    parts = {"/*EMBVIZ_STYLE*/": (web / "explorer.css").read_text(encoding="utf-8"),
             "EMBVIZ_SCRIPT_HASH": f"sha256-{digest}", "/*EMBVIZ_SCRIPT*/": script, "EMBVIZ_DATA": script_json(data)}
    for key, value in parts.items():
        html = html.replace(key, value, 1)
    return html


@dataclass(frozen=True)
class ExplorerPage:
    """The explorer page of a run, built but not written: its HTML and what it holds."""

    html: str
    n_words: int
    n_snapshots: int
    word2vec: bool
    projection_cached: bool


def explorer_page(run: Run, options: AnimateOptions = AnimateOptions(), *,
                  progress: Progress | None = None) -> ExplorerPage:
    """The explorer page of ``run`` for ``options`` (animate's word, level and projection options, and of the
    film options only ``film.view``, where the page's scale toggle starts). Writes only the projection cache
    (``options.cache``). Raises EmbvizError subclasses for bad input."""
    options.validate()
    snapshots = film_snapshots(run, options.matrix)
    selection = choose_words(run, options)
    _check_size(selection.rows.size, len(snapshots))  # before any snapshot is read
    stages = film_stages(run, snapshots, selection, options, progress=progress)
    idx, cos = neighbours(stages.rows.shown, progress=for_stage(progress, "neighbours"))
    w2v = word2vec_layout(run, stages.selection, stages.trajectory.positions[-1], options)
    html = render_page(page_data(stages, idx, cos, w2v, options.film.view))
    return ExplorerPage(html=html, n_words=len(stages.selection.words), n_snapshots=len(stages.snapshots),
                        word2vec=w2v is not None, projection_cached=stages.trajectory.cached)


def explore(run_dir: Path, out: Path | None = None, options: AnimateOptions = AnimateOptions(), *,
            overwrite: bool = False, progress: Progress | None = None) -> ExploreResult:
    """Write the explorer page of the run in ``run_dir`` (default ``<run>/explorer.html``; see :func:`explorer_page`).

    Raises EmbvizError subclasses for bad input, before anything is written.
    """
    start = time.perf_counter()
    options.validate()
    run = Run.open(Path(run_dir))
    path = Path(out) if out is not None else run.path / DEFAULT_NAME
    check_output(path, overwrite or out is None)  # the default <run>/explorer.html is regenerated freely
    page = explorer_page(run, options, progress=progress)
    if progress:
        progress("writing", 0, 1)
    try:
        write_text(path, page.html)
    except OSError as e:
        raise EmbvizError(f"cannot write {path}: {e.strerror or e}") from None
    if progress:
        progress("writing", 1, 1)
    return ExploreResult(path=path, n_words=page.n_words, n_snapshots=page.n_snapshots,
                         size_bytes=path.stat().st_size, word2vec=page.word2vec,
                         projection_cached=page.projection_cached, seconds={"total": time.perf_counter() - start})
