"""``embviz animate`` and ``embviz explore``: a film and an explorer page of one run, with the same word
and projection options (defaults from :class:`~embviz.film.animate_options.AnimateOptions`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from embviz.cli import options as opt
from embviz.cli.core import Bars, app, defaults_of, finite, options_from, out, split
from embviz.errors import ConfigError
from embviz.film.animate import animate as run_animate
from embviz.film.animate_options import AnimateOptions, FilmOptions
from embviz.film.explore import explore as run_explore
from embviz.film.explore_serve import serve_explore

_ANIMATE = AnimateOptions()
_FILM = _ANIMATE.film
_EXPLORE = defaults_of(run_explore)
_ANIMATE_DEFAULTS = defaults_of(run_animate)
_SERVE = defaults_of(serve_explore)


def _film_options(params: dict, **given) -> AnimateOptions:
    """The options of ``animate`` or ``explore`` from the command's ``params`` (``given`` replacing them)."""
    return options_from(AnimateOptions, params, words=split(params["words"]), **given)


def _size(value: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise ConfigError(f"--size must look like 1280x720, got {value!r}") from None
    return width, height


@app.command()
def animate(
    ctx: typer.Context,
    run_dir: Path = typer.Argument(..., help="A run directory written by embviz train."),
    out_file: Optional[Path] = typer.Option(None, "--out", help="Film file, .mp4 or .gif [default: <run>/film.mp4]; "
                                                                "also writes <out>-grid.png, -metrics.png, -metrics.csv, "
                                                                "-settle.png and <run>/settle.csv."),
    fmt: Optional[str] = typer.Option(_ANIMATE.fmt, "--format", help="mp4 or gif [default: from --out, else mp4]."),
    overwrite: opt.Overwrite = _ANIMATE_DEFAULTS["overwrite"],
    matrix: opt.Matrix = _ANIMATE.matrix,
    method: opt.Method = _ANIMATE.method,
    align: opt.Align = _ANIMATE.align,
    umap_mode: opt.UmapMode = _ANIMATE.umap_mode,
    metric: opt.Metric = _ANIMATE.metric,
    words: opt.Words = None,
    words_file: opt.WordsFile = _ANIMATE.words_file,
    only: opt.Only = _ANIMATE.only,
    top: opt.Top = _ANIMATE.top,
    content_only: opt.ContentOnly = _ANIMATE.content_only,
    level: opt.Level = _ANIMATE.level,
    fps: float = typer.Option(_FILM.fps, help="Frames per second (gifs are capped at 20)."),
    seconds_per_snapshot: float = typer.Option(_FILM.seconds_per_snapshot, help="Seconds of film between two "
                                                                                "snapshots."),
    label: int = typer.Option(_FILM.label, help="How many words to label, spread over the categories."),
    label_words: Optional[str] = typer.Option(None, help="Comma-separated words that are always labelled."),
    font: Optional[Path] = typer.Option(_FILM.font, help="Font file for non-Latin tokens (e.g. a CJK font)."),
    size: str = typer.Option("x".join(map(str, _FILM.size)), help="Film size in pixels, WIDTHxHEIGHT."),
    view: str = typer.Option(_FILM.view, help="Scale: 'fixed' for the whole run (distances compare across the film) "
                                             "or 'follow' the points (each snapshot fitted, eased; the zoom is shown)."),
    grid: Optional[str] = typer.Option(None, help="Comma-separated snapshot indices for the grid figure "
                                                  "[default: about 6, evenly spaced in how far the map has moved]."),
    cache: opt.Cache = _ANIMATE.cache,
    seed: opt.Seed = _ANIMATE.seed,
    quiet: opt.Quiet = False,
) -> None:
    """Film the run's snapshots as an aligned 2-D map, with the small-multiples grid and emergence metrics."""
    try:
        grid_snapshots = tuple(int(v) for v in split(grid)) or None
    except ValueError:
        raise ConfigError(f"--grid must be comma-separated snapshot indices, got {grid!r}") from None
    film = options_from(FilmOptions, ctx.params, label_words=split(label_words), size=_size(size))
    options = _film_options(ctx.params, film=film, grid_snapshots=grid_snapshots)
    with Bars(quiet) as bars:
        result = run_animate(run_dir, out_file, options, overwrite=overwrite, progress=bars.update)
    if not quiet:
        _summary(result)


def _summary(r, max_rows: int = 20) -> None:
    import numpy as np
    from rich import box

    from embviz.compare.report import fmt

    e = r.emergence
    c = e.columns
    t = len(e.steps)
    shown = sorted({int(round(x)) - 1 for x in np.geomspace(1, t, min(t, max_rows))}) if t > max_rows else range(t)
    points = "positions" if "position_order" in c else "words"
    title = (f"emergence · {len(r.words):,} {points} · {r.n_snapshots} snapshots"
             + (f" (showing {len(shown)}; all in {r.metrics_csv.name})" if t > max_rows else ""))
    short = {"subfield": "subfld", "category": "categ"}
    columns = [(f"purity\n{short.get(lvl, lvl)}", f"purity_{lvl}", 2) for lvl in e.levels]
    if e.levels:
        columns.append((f"silh.\n{short.get(r.level, r.level)}", f"silhouette_{r.level}", 2))
    columns += [("Jacc.\n@10", "jaccard10_final", 2), ("CKA", "cka_final", 2), ("drift", "drift_prev", 3)]
    columns += [(head, key, 2) for head, key in (("WS353\nρ", "wordsim353_spearman"), ("SL999\nρ", "simlex999_spearman"))
                if key in c]
    geometry = [(head, key, digits) for head, key, digits in (
        ("Jacc.@10\nprevious", "jaccard10_prev", 2), ("drift\nfrom init", "drift_init", 3),
        ("effective\nrank", "effective_rank", 1), ("aniso-\ntropy", "anisotropy", 3),
        ("centred\naniso.", "anisotropy_centred", 3), ("TwoNN\ndim.", "twonn_dim", 1),
        ("ρ norm\n~ freq.", "norm_freq_spearman", 2)) if key in c and np.isfinite(c[key]).any()]
    faithful = [(f"purity\n{short.get(lvl, lvl)}", f"purity2d_{lvl}", 2) for lvl in e.levels]
    faithful += [("trust-\nworthiness", "trustworthiness", 3)] if "trustworthiness" in c else []
    own = [(head, key, 2) for head, key in (
        ("nearest is\nadjacent", "position_adjacent"), ("Spearman\n|i−j|~dist.", "position_order"),
        ("variance\nPC1–3", "position_top3"), ("CKA with\ntoken table", "head_cka_token"),
        ("Jacc.@10 with\ntoken table", "head_jaccard10_token")) if key in c]
    whose = "the position table" if "position_order" in c else "the head against the token table"
    for heading, cols in ((whose, own), (title, columns),
                          (f"the {r.method} layout (2-D; purity in the space above)", faithful), ("geometry", geometry)):
        if not cols:
            continue
        table = Table(title=heading, box=box.SIMPLE_HEAD, padding=(0, 0, 0, 1), pad_edge=False)
        for name in ("step", "loss", *(head for head, _, _ in cols)):
            table.add_column(name, justify="right", no_wrap=True)
        for i in shown:
            values = [f"{int(e.steps[i]):,}", fmt(finite(e.losses[i]), 2)]
            values += [fmt(finite(c[key][i]), digits) for _, key, digits in cols]
            table.add_row(*values)
        out.print(table)
    notes = []
    if e.levels:
        notes.append("purity@10 chance: " + " · ".join(f"{lvl} {fmt(finite(c[f'chance_{lvl}'][0]), 2)}"
                                                      for lvl in e.levels))
        notes.append(e.crossing_line())
        layout, space = e.faithfulness(r.level)
        notes.append(f"{r.method} layout at the final snapshot: {r.level} purity@10 {fmt(finite(layout), 2)} in 2-D "
                     f"of {fmt(finite(space), 2)} in the space · trustworthiness "
                     f"{fmt(finite(c['trustworthiness'][-1]), 3)}")
    if "chance_position_adjacent" in c:
        notes.append(f"nearest-is-adjacent chance: {fmt(finite(c['chance_position_adjacent'][0]), 2)} · Spearman chance 0")
    for key, name in (("wordsim353", "WordSim-353"), ("simlex999", "SimLex-999")):
        if f"{key}_coverage" in c:
            notes.append(f"{name} pairs in vocabulary: {np.nanmax(c[f'{key}_coverage']):.0%}")
    if r.settled is not None:
        from embviz.measure.settle import findings_line

        notes.append(findings_line(r.settled.findings))
    cached = [name for name, hit in (("projection", r.projection_cached), ("metrics", r.metrics_cached)) if hit]
    if cached:
        notes.append(f"Reused the cached {' and '.join(cached)}.")
    for note in notes:
        out.print(note, highlight=False, soft_wrap=True)
    out.print(f"Film: {r.film} ({r.n_frames} frames, {r.width}x{r.height}, {r.fmt})", highlight=False, soft_wrap=True)
    settle = [("Settle table", r.settled.path), ("Settle plot", r.settle_png)] if r.settled is not None else []
    for name, path in (("Grid", r.grid), ("Metrics plot", r.metrics_png), ("Metrics table", r.metrics_csv), *settle):
        out.print(f"{name}: {path}", highlight=False, soft_wrap=True)


@app.command()
def explore(
    ctx: typer.Context,
    run_dir: Path = typer.Argument(..., help="A run directory written by embviz train."),
    out_file: Optional[Path] = typer.Option(None, "--out", help="HTML file [default: <run>/explorer.html]."),
    overwrite: opt.Overwrite = _EXPLORE["overwrite"],
    matrix: opt.Matrix = _ANIMATE.matrix,
    method: opt.Method = _ANIMATE.method,
    align: opt.Align = _ANIMATE.align,
    umap_mode: opt.UmapMode = _ANIMATE.umap_mode,
    metric: opt.Metric = _ANIMATE.metric,
    words: opt.Words = None,
    words_file: opt.WordsFile = _ANIMATE.words_file,
    only: opt.Only = _ANIMATE.only,
    top: opt.Top = _ANIMATE.top,
    content_only: opt.ContentOnly = _ANIMATE.content_only,
    level: opt.Level = _ANIMATE.level,
    cache: opt.Cache = _ANIMATE.cache,
    seed: opt.Seed = _ANIMATE.seed,
    serve: bool = typer.Option(False, "--serve", help="Serve the page on 127.0.0.1 instead of writing it, with each "
                                                     "word's neighbours read from the snapshots when clicked (for runs "
                                                     "too big for one file); Ctrl-C stops."),
    port: opt.Port = _SERVE["port"],
    quiet: opt.Quiet = False,
) -> None:
    """Write one self-contained HTML page to play, pause, search and click through the run's training."""
    if serve:
        if out_file is not None:
            raise ConfigError("--serve serves the page instead of writing it; leave out --out")
        return _serve(run_dir, _film_options(ctx.params), port, quiet)
    with Bars(quiet) as bars:
        result = run_explore(run_dir, out_file, _film_options(ctx.params), overwrite=overwrite, progress=bars.update)
    if not quiet:
        w2v = " with the Word2Vec space" if result.word2vec else ""
        out.print(f"Explorer: {result.path} ({result.n_words:,} words × {result.n_snapshots} snapshots{w2v}, "
                  f"{result.size_bytes / 1e6:.1f} MB)", highlight=False, soft_wrap=True)


def _serve(run_dir: Path, options: AnimateOptions, port: int, quiet: bool) -> None:
    import time

    with Bars(quiet) as bars:
        served = serve_explore(run_dir, options, port=port or 0, progress=bars.update)
    with served.server:
        if not quiet:
            out.print(f"Explorer: {served.url} ({served.n_words:,} words × {served.n_snapshots} snapshots, page "
                      f"{served.page_bytes / 1e6:.1f} MB, neighbours {served.engine.mode}); Ctrl-C stops",
                      highlight=False, soft_wrap=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
