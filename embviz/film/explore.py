"""``explore``: a run's snapshots → one self-contained HTML page to play, pause, search and click through training.

The page (``embviz/web/explorer.{html,js,css}``, inlined at write time) needs no network and no
server. It shows the same words, layout and emergence curves as ``animate`` for the same options,
and adds what a film cannot: hover, search, and for a clicked word its 10 nearest neighbours in the
original d-dimensional space at every snapshot (cosine, :func:`embviz.measure.metrics.knn_graph`) and its
trail. Each word carries its settle step (``settle``, null where it never settles or for the position table), and
``<run>/settle.csv`` is written as ``animate`` writes it. When ``compare-word2vec`` has run, the Word2Vec space (projected like the run, scaled and
rotated onto the final snapshot) and its neighbours come along.

Numbers travel as base64 of little-endian typed arrays inside one JSON block; tokens only as JSON
strings, which the page puts into the DOM as text. Layout coordinates travel quantised (:func:`quantise`):
uint16 per axis per snapshot within that snapshot's bounds. A page whose neighbours would make it larger
than :data:`MAX_PAGE_BYTES` is refused; ``explore --serve`` writes it without neighbour arrays
(``"serve": true``) and the page asks ``neighbours?word=<index>&snapshot=<index>`` of the server.
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
    MAX_GATHERED,
    Stages,
    describe_snapshot,
    film_snapshots,
    film_stages,
    projector_for,
    write_settle,
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
MAX_PAGE_BYTES = 160_000_000
"""The largest page ``explore`` writes. Each word × snapshot costs 4 bytes of layout, and 4 bytes per
neighbour when they are inlined, ×4/3 for base64. Measured (``benchmarks/bench_explore_scale.py --part
sizes``): headless chromium on this 2-core machine opens a 167 MB page in 1.9–3.4 s to first paint and a
498 MB one in 5.0–8.7 s, and no page of 539 MB, whose data block is longer than V8's longest string
(2²⁹ − 24 characters) and reads empty. The limit keeps first paint within about 3 s."""
COS_SCALE = 32767
"""Neighbour cosines travel as int16: ``round(cos × COS_SCALE)`` (3e-5 apart, the page shows 3 decimals)."""
DEFAULT_NAME = "explorer.html"
SCRIPTS = ("points.js", "labels.js", "curves.js", "explorer.js", "controls.js")
"""The page's script files, concatenated in this order into one function scope."""
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


def index_dtype(n: int) -> np.dtype:
    """The unsigned type of word indices among ``n`` words, its largest value left for "none"."""
    return np.dtype(np.uint16 if n < 65535 else np.uint32)


def quantise(positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Layouts [T, n, 2] as ``(uint16 [T, n, 2], bounds float64 [T, 4])``: each snapshot's axis mapped onto
    0..65535 between its (min, max), bounds rows ``(min x, max x, min y, max y)``. A coordinate is kept to
    half a step, 1/131070 of that snapshot's extent (0.01 px of a 1,200 px view of it)."""
    positions = np.asarray(positions, dtype=np.float64)
    lo, hi = positions.min(axis=1), positions.max(axis=1)  # [T, 2]
    span = np.maximum(hi - lo, 1e-30)
    q = np.rint((positions - lo[:, None]) / span[:, None] * 65535).astype(np.uint16)
    return q, np.stack([lo[:, 0], lo[:, 0] + span[:, 0], lo[:, 1], lo[:, 1] + span[:, 1]], axis=1)


def page_bytes(n_words: int, n_snapshots: int, inline_neighbours: bool = True) -> int:
    """About how large the page of ``n_words`` × ``n_snapshots`` is (its packed arrays, base64)."""
    per_cell = 4 + (4 * NEIGHBOURS if inline_neighbours else 0)
    return n_words * n_snapshots * per_cell * 4 // 3


def neighbours(matrices: np.ndarray, k: int = NEIGHBOURS, progress: Callable[[int, int], None] | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
    """Each word's ``k`` nearest other words by cosine in every snapshot of ``matrices`` [T, n, d] (or a sequence
    of T [n, d]).

    Returns ``(indices [T, n, k] of :func:`index_dtype`, cosines float32 [T, n, k])``, most similar first.
    """
    t_count, n = len(matrices), len(matrices[0])
    k = min(k, n - 1)
    idx = np.empty((t_count, n, k), dtype=index_dtype(n))
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


def check_size(n_words: int, n_snapshots: int, inline_neighbours: bool = True) -> None:
    """Refuse a page larger than :data:`MAX_PAGE_BYTES`, naming ``--serve`` where that would fit."""
    size = page_bytes(n_words, n_snapshots, inline_neighbours)
    if size <= MAX_PAGE_BYTES:
        return
    served = page_bytes(n_words, n_snapshots, inline_neighbours=False)
    way = (f"explore --serve keeps the neighbours in the run and makes a page of ~{served / 1e6:,.0f} MB; or "
           if inline_neighbours and served <= MAX_PAGE_BYTES else "")
    raise ConfigError(
        f"{n_words:,} words × {n_snapshots} snapshots make a page of ~{size / 1e6:,.0f} MB, more than one file "
        f"holds ({MAX_PAGE_BYTES / 1e6:,.0f} MB); {way}narrow the words with --top, --content-only, or "
        "--words/--words-file with --only")


def word2vec_layout(run: Run, selection: Selection, final: np.ndarray, options: AnimateOptions
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The Word2Vec vectors of the selection projected like the run (``options``, cached like it) and fitted
    onto ``final`` [n, 2] (scale + Procrustes), with their neighbours; None when the run has no baseline.

    Returns ``(positions float32 [n, 2], indices [n, k] of :func:`index_dtype`, cosines float32 [n, k])``; words
    without a Word2Vec vector are at nan with no neighbours (the index type's largest value).
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
    full_idx = np.full((len(rows), idx.shape[2]), np.iinfo(idx.dtype).max, dtype=idx.dtype)
    full_cos = np.zeros((len(rows), idx.shape[2]), dtype=np.float32)
    full_idx[present], full_cos[present] = present[idx[0]], cos[0]
    return positions, full_idx, full_cos


def _pack_neighbours(idx: np.ndarray, cos: np.ndarray) -> dict:
    kind = "u2" if idx.dtype == np.uint16 else "u4"
    return {"nbrType": kind, "nbrIndex": _b64(idx, kind), "nbrCos": _b64(np.rint(cos * COS_SCALE), "i2")}


def page_words(selection: Selection, title: str, view: str = DEFAULT_VIEW, matrix: str = "token") -> dict:
    """The part of the page's JSON that names the words: title, words, counts, paths, category levels
    (for the position table first a level that gives each position its colour along the film's colormap)."""
    from embviz.film.drawing import category_colors, sequence_colors

    n = len(selection.words)
    levels = []
    if matrix == "position":
        levels.append({"name": "position", "categories": selection.words, "codes": list(range(n)),
                       "colours": ["#%02x%02x%02x" % tuple(round(255 * v) for v in c[:3]) for c in sequence_colors(n)]})
    for level in selection.levels:
        labels = selection.labels(level)
        colours = category_colors(labels)
        order = list(colours)
        names = display_names(order)
        code = {c: i for i, c in enumerate(order)}
        levels.append({"name": level, "categories": [names[c] for c in order],
                       "colours": ["#%02x%02x%02x" % tuple(round(255 * v) for v in colours[c][:3]) for c in order],
                       "codes": [code.get(lab, -1) for lab in labels]})
    return {"title": title, "n": n, "view": view, "words": selection.words, "cosScale": COS_SCALE,
            "counts": [int(c) for c in selection.counts], "paths": selection.paths, "levels": levels,
            "level": selection.levels.index(selection.level) if selection.level in selection.levels else 0}


def curve_names(levels: list[str]) -> list[str]:
    """The emergence panel's curves, in order: purity in the space and in 2-D at every level, trustworthiness."""
    return ([f"purity · {lvl}" for lvl in levels] + [f"purity in 2-D · {lvl}" for lvl in levels]
            + ["trustworthiness of 2-D"])


def page_curves(table: Emergence) -> tuple[dict[str, list[float | None]], dict[str, float | None]]:
    """The emergence panel's curves (name → one value per snapshot; a position, head or layer film's own columns
    too) and each purity curve's chance level."""
    from embviz.measure.emergence import CONTEXTUAL_PANELS
    from embviz.measure.positions import MATRIX_COLUMNS

    columns = [f"purity_{lvl}" for lvl in table.levels] + [f"purity2d_{lvl}" for lvl in table.levels]
    curves = {name: _nan_to_none(table.columns[col])
              for name, col in zip(curve_names(table.levels), columns + ["trustworthiness"])}
    curves.update({title: _nan_to_none(table.columns[key]) for key, title in {**MATRIX_COLUMNS, **CONTEXTUAL_PANELS}.items()
                   if key in table.columns})
    chance = {f"purity · {lvl}": _nan_to_none(table.columns[f"chance_{lvl}"][:1])[0] for lvl in table.levels}
    return curves, chance


def page_data(stages: Stages, nbrs: tuple[np.ndarray, np.ndarray] | None, w2v, view: str = DEFAULT_VIEW) -> dict:
    """The JSON the page reads: words, categories per level, snapshots, curves and the packed arrays.

    ``nbrs`` ``(indices, cosines)`` [T, n, k] from :func:`neighbours`, or None for a served page
    (``"serve": true``: the page asks the server for each word's neighbours)."""
    table = stages.emergence
    curves, chance = page_curves(table)
    snaps = stages.snapshots
    n = len(stages.selection.words)
    q, bounds = quantise(stages.trajectory.positions)
    data = {
        **page_words(stages.selection, stages.title, view, stages.rows.matrix), "T": len(snaps),
        "k": min(NEIGHBOURS, n - 1),
        "steps": [s.step for s in snaps], "epochs": [s.epoch for s in snaps],
        "trainLoss": [s.train_loss for s in snaps], "valLoss": [s.val_loss for s in snaps],
        "curves": curves, "chance": chance, "loss": _nan_to_none(table.losses),
        **({"settle": settle_of(stages)} if stages.settle is not None else {}),
        "positions": _b64(q, "u2"), "bounds": bounds.tolist(),
        **(_pack_neighbours(*nbrs) if nbrs is not None else {"serve": True}),
    }
    if w2v is not None:
        pos, widx, wcos = w2v
        data["word2vec"] = {"positions": _b64(pos, "f4"), **_pack_neighbours(widx, wcos)}
    return data


def settle_of(stages: Stages) -> list[int | None]:
    """Each shown word's settle step (None where it never settles); only for a film of the token table."""
    steps = stages.settle.settle_step()[stages.selection.rows]
    return [None if np.isnan(s) else int(s) for s in steps]


def render_page(data: dict, live: bool = False) -> str:
    """The explorer page: the template with its style, script (:data:`SCRIPTS` in one scope) and ``data``
    inlined. The page's Content-Security-Policy runs only that script (by its SHA-256) and allows no network
    request, but for a served page (``"serve": true``) requests to where it came from; a ``live`` page also
    runs ``live.js`` and may open the event stream of the server it came from."""
    web = resources.files("embviz.film") / "web"
    html = (web / "explorer.html").read_text(encoding="utf-8")
    script = "\n".join(["(function () {", '"use strict";'] + [(web / name).read_text(encoding="utf-8") for name in SCRIPTS]
                       + ["})();\n"])
    if live:
        script += (web / "live.js").read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()
    parts = {"/*EMBVIZ_STYLE*/": (web / "explorer.css").read_text(encoding="utf-8"),
             "EMBVIZ_SCRIPT_HASH": f"sha256-{digest}", "EMBVIZ_CONNECT": "'self'" if data.get("serve") or live else "'none'",
             "/*EMBVIZ_SCRIPT*/": script, "EMBVIZ_DATA": script_json(data)}
    for key, value in parts.items():
        html = html.replace(key, value, 1)
    return html


def explore_data(run: Run, options: AnimateOptions, *, serve: bool = False, progress: Progress | None = None,
                 gather_limit: int = MAX_GATHERED, settle_csv: bool = True) -> tuple[Stages, dict]:
    """The film's stages for ``options`` and the page's data (:func:`page_data`): with every snapshot's
    neighbours inlined, or for a served page (``serve``) without them. The page's size for one file is checked
    before any snapshot is read; rows of more than ``gather_limit`` bytes are streamed (:func:`film_stages`).
    Writes ``<run>/settle.csv`` unless ``settle_csv`` is False."""
    snapshots = film_snapshots(run, options.matrix)
    selection = choose_words(run, options)
    if not serve:
        check_size(selection.rows.size, len(snapshots))
    stages = film_stages(run, snapshots, selection, options, progress=progress, gather_limit=gather_limit)
    if settle_csv and stages.settle is not None:
        write_settle(run, stages.settle)
    nbrs = None if serve else neighbours(stages.rows.shown, progress=for_stage(progress, "neighbours"))
    w2v = word2vec_layout(run, stages.selection, stages.trajectory.positions[-1], options)
    return stages, page_data(stages, nbrs, w2v, options.film.view)


@dataclass(frozen=True)
class ExplorerPage:
    """The explorer page of a run, built but not written: its HTML and what it holds."""

    html: str
    n_words: int
    n_snapshots: int
    word2vec: bool
    projection_cached: bool


def explorer_page(run: Run, options: AnimateOptions = AnimateOptions(), *, progress: Progress | None = None,
                  settle_csv: bool = True) -> ExplorerPage:
    """The explorer page of ``run`` for ``options`` (animate's word, level and projection options, and of the
    film options only ``film.view``, where the page's scale toggle starts). Writes only the caches
    (``options.cache``) and, unless ``settle_csv`` is False, ``<run>/settle.csv``. Raises EmbvizError subclasses
    for bad input."""
    options.validate()
    stages, data = explore_data(run, options, progress=progress, settle_csv=settle_csv)
    return ExplorerPage(html=render_page(data), n_words=len(stages.selection.words), n_snapshots=len(stages.snapshots),
                        word2vec="word2vec" in data, projection_cached=stages.trajectory.cached)


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

