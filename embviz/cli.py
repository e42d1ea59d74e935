"""The ``embviz`` command line: parse options, call one library function, show progress and results.

Every error embviz raises on purpose reaches the user as one ``Error:`` line and a non-zero exit.
"""

from __future__ import annotations

import contextlib
import sys
import time
import typing
import warnings
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from typer.exceptions import TyperException

from embviz.errors import ConfigError, EmbvizError
from embviz.film.options import DEFAULT_METHOD, AnimateOptions, FilmOptions
from embviz.training.config import TrainConfig

app = typer.Typer(
    help="Watch the token embeddings of a small language model learn, and compare them with Word2Vec.",
    add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None,
)
out = Console()
err = Console(stderr=True)

AUTO = "auto"


@app.callback()
def _root() -> None:
    """Watch the token embeddings of a small language model learn, and compare them with Word2Vec."""


def _auto(value: str, name: str, kind: type) -> int | float | None:
    """``auto`` → None (chosen from the corpus); otherwise the number, or a one-line error."""
    if value == AUTO:
        return None
    try:
        return kind(value)
    except ValueError:
        raise ConfigError(f"--{name} must be a number or 'auto', got {value!r}") from None


class Bars:
    """Rich progress bars on stderr, one per stage, started on the first report (so bad input that
    fails before any progress prints only its ``Error:`` line); nothing at all when ``quiet``.

    Use as a context manager; ``fields`` are extra per-task columns (e.g. ``loss``).
    """

    def __init__(self, quiet: bool, *fields: str):
        self.quiet, self.fields = quiet, fields
        self.stack = contextlib.ExitStack()
        self.bar: Progress | None = None
        self.tasks: dict[str, int] = {}

    def __enter__(self) -> "Bars":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stack.close()

    def update(self, stage: str, done: int, total: int, *, description: str | None = None, **fields: str) -> None:
        if self.quiet:
            return
        if self.bar is None:
            extra = [TextColumn(f"{name} {{task.fields[{name}]}}") for name in self.fields]
            self.bar = self.stack.enter_context(Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), *extra,
                TimeElapsedColumn(), TimeRemainingColumn(), console=err))
        if stage not in self.tasks:
            self.tasks[stage] = self.bar.add_task(stage, total=total, **{name: "" for name in self.fields})
        self.bar.update(self.tasks[stage], completed=done, total=total, description=description or stage, **fields)


_TRAIN = TrainConfig()


@app.command()
def train(
    ctx: typer.Context,
    corpus: str = typer.Argument(_TRAIN.corpus, help="A UTF-8 text file, a .gz file, a folder of *.txt files, "
                                                     "or a built-in corpus: synthetic, synthetic-zh, lee, wiki, "
                                                     "peoples-daily."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Run directory [default: runs/<corpus>-<time>]."),
    overwrite: bool = typer.Option(False, help="Replace an existing run directory."),
    resume: Optional[Path] = typer.Option(None, help="Continue the interrupted run in this directory."),
    tokenizer: str = typer.Option(_TRAIN.tokenizer, help="word, char or bpe."),
    segmenter: str = typer.Option(_TRAIN.segmenter, help="How --tokenizer word finds Chinese words: jieba, whitespace "
                                                         "(already segmented), none, or auto (from the text)."),
    max_tokens: Optional[int] = typer.Option(_TRAIN.max_tokens, help="Use only the first lines of the corpus holding "
                                                                     "this many space-separated words (peoples-daily: "
                                                                     "gold words)."),
    lowercase: bool = typer.Option(_TRAIN.lowercase, help="Lowercase the text first."),
    min_count: str = typer.Option(AUTO, help="Drop word/char types rarer than this (auto: from corpus size)."),
    max_vocab: Optional[int] = typer.Option(_TRAIN.max_vocab, help="Keep at most this many tokens (word/char)."),
    vocab_size: int = typer.Option(_TRAIN.vocab_size, help="BPE vocabulary size."),
    categories: Optional[Path] = typer.Option(_TRAIN.categories, help="TSV of word<TAB>category to label the "
                                                                      "vocabulary."),
    synthetic_tokens: Optional[int] = typer.Option(_TRAIN.synthetic_tokens, help="Size of the synthetic corpus in "
                                                                                 "tokens."),
    difficulty: Optional[float] = typer.Option(_TRAIN.difficulty, help="Synthetic corpus noise, 0 (crisp) to 1."),
    d_model: str = typer.Option(AUTO, help="Embedding width (auto: from corpus size)."),
    layers: str = typer.Option(AUTO, help="Transformer blocks (auto)."),
    heads: str = typer.Option(AUTO, help="Attention heads; must divide --d-model (auto)."),
    context: int = typer.Option(_TRAIN.context, help="Context window in tokens."),
    dropout: float = typer.Option(_TRAIN.dropout, help="Dropout rate."),
    tie: bool = typer.Option(_TRAIN.tie, help="Tie the LM head to the token embedding."),
    epochs: str = typer.Option(AUTO, help="Passes over the training tokens (auto: from a token budget)."),
    batch_size: int = typer.Option(_TRAIN.batch_size, help="Windows per optimiser step (global, over all processes)."),
    lr: str = typer.Option(AUTO, help="Peak learning rate (auto)."),
    weight_decay: float = typer.Option(_TRAIN.weight_decay, help="AdamW weight decay."),
    warmup: str = typer.Option(AUTO, help="Warmup steps (auto)."),
    patience: Optional[int] = typer.Option(_TRAIN.patience, help="Stop after this many epochs without a better "
                                                                 "validation loss [default: never; the best step is "
                                                                 "recorded]."),
    stop_when_settled: bool = typer.Option(_TRAIN.stop_when_settled, "--stop-when-settled/--all-epochs",
                                           help="Once the map has settled and validation loss no longer falls "
                                                "fast, cool down for one epoch and stop (docs/defaults.md); or run "
                                                "every epoch."),
    seed: int = typer.Option(_TRAIN.seed, help="Random seed (same seed + config on CPU = identical snapshots)."),
    device: str = typer.Option(_TRAIN.device, help="auto, cpu, cuda or mps."),
    snapshot_every: Optional[int] = typer.Option(_TRAIN.snapshot_every, help="Also snapshot every N steps."),
    snapshot_schedule: str = typer.Option(_TRAIN.snapshot_schedule, help="epoch, or log: also log-spaced steps (early "
                                                                         "training moves fastest)."),
    log_snapshots: int = typer.Option(_TRAIN.log_snapshots, help="How many log-spaced snapshots the log schedule "
                                                                 "takes."),
    snapshot_dtype: str = typer.Option(_TRAIN.snapshot_dtype, help="float32 or float16 (half the disk)."),
    compile: bool = typer.Option(_TRAIN.compile, "--compile", help="torch.compile the model (slow start, faster "
                                                                   "steps)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
) -> None:
    """Train a small GPT on CORPUS and save its token embedding at init, every epoch and on schedule."""
    from embviz.training import loop as training

    with Bars(quiet, "loss", "tok/s") as bars:

        def report(st: training.TrainStatus) -> None:
            bars.update("training", st.step, st.total_steps, description=f"epoch {st.epoch}/{st.epochs}",
                        **{"loss": f"{st.loss:.3f}", "tok/s": f"{st.tokens_per_s:,.0f}"})

        if resume is not None:
            result = training.resume(resume, progress=report)
        else:
            target = out_dir or Path("runs") / f"{Path(corpus).name.split('.')[0]}-{time.strftime('%Y%m%d-%H%M%S')}"
            result = training.train(_train_config(ctx.params), target, overwrite=overwrite, progress=report)
    if not quiet and result.snapshots:
        _train_summary(result)
    if result.status == "interrupted":
        err.print(f"Interrupted at step {result.steps}; continue with: embviz train --resume {result.run_dir}")
        raise typer.Exit(130)


def _train_config(params: dict) -> TrainConfig:
    """The config of the ``train`` options named like its fields; ``auto`` in a number field becomes None."""
    hints = typing.get_type_hints(TrainConfig)
    given = {name: params[name] for name in hints if name in params}
    for name, value in given.items():
        kind = (typing.get_args(hints[name]) or (hints[name],))[0]
        if isinstance(value, str) and kind in (int, float):
            given[name] = _auto(value, name.replace("_", "-"), kind)
    if given["categories"] is not None:
        given["categories"] = str(given["categories"])
    return TrainConfig(**given)


def _train_summary(r) -> None:
    from embviz.compare.report import fmt

    table = Table(title="training", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    chosen = r.chosen
    rows = [
        ("status", r.status + (f" ({r.stop_reason})" if r.stop_reason else "")),
        ("steps · epochs", f"{r.steps} · {r.epochs_done} of {chosen['epochs']}"),
        ("snapshots", str(r.snapshots)),
        ("model", f"d_model {chosen['d_model']} · layers {chosen['layers']} · heads {chosen['heads']}"),
        ("schedule", f"lr {chosen['lr']:g} · warmup {chosen['warmup']} · batch {chosen['batch_size']} · "
                     f"epochs {chosen['epochs']} · patience {chosen['patience'] or 'off'}"),
        ("train loss · val loss", f"{fmt(r.final_train_loss)} · {fmt(r.final_val_loss)}"
                                  + (f" (best at step {r.best_step})" if r.best_step is not None else "")),
        ("category purity@10", f"{fmt(r.purity_init)} → {fmt(r.purity_final)} (chance {fmt(r.purity_chance)})"),
        ("speed", f"{r.tokens_per_s:,.0f} tokens/s · {r.seconds:.1f} s"),
    ]
    for key, value in rows:
        table.add_row(key, value)
    out.print(table)
    out.print(f"Run directory: {r.run_dir}", soft_wrap=True, highlight=False)


@app.command("compare-word2vec")
def compare_word2vec(
    run_dir: Path = typer.Argument(..., help="A complete run directory (from embviz train)."),
    sg: bool = typer.Option(True, "--sg/--cbow", help="Skip-gram (default) or CBOW."),
    vector_size: str = typer.Option(AUTO, help="Word2Vec dimensions (auto: the run's d_model)."),
    window: int = typer.Option(5, help="Word2Vec context window (tokens each side)."),
    negative: int = typer.Option(5, help="Negative samples per positive one."),
    epochs: str = typer.Option(AUTO, help="Word2Vec passes over the corpus (auto: the run's epochs)."),
    seed: str = typer.Option(AUTO, help="Word2Vec seed (auto: the run's seed)."),
    workers: str = typer.Option(AUTO, help="Word2Vec threads (auto: all cores; 1 = deterministic)."),
    k: int = typer.Option(10, help="Neighbours for Jaccard@k and purity@k."),
    words: Optional[str] = typer.Option(None, help="Comma-separated words: show their nearest neighbours in both spaces."),
    neighbours: int = typer.Option(8, help="Neighbours listed per --words entry."),
    method: str = typer.Option(DEFAULT_METHOD, help="How side-by-side.png lays out each space: umap, pca or tsne."),
    probe: bool = typer.Option(False, "--probe", help="Retrain the run's model with the Word2Vec vectors as a "
                                                      "frozen embedding and compare validation losses."),
    probe_finetune: bool = typer.Option(False, "--probe-finetune", help="Also (or, alone, only) a Word2Vec-"
                                                                        "initialised embedding that keeps training."),
    retrain: bool = typer.Option(False, "--retrain", help="Train Word2Vec again even if an equal baseline is stored."),
    json_out: bool = typer.Option(False, "--json", help="Print report.json to stdout (and nothing else)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or table."),
) -> None:
    """Train gensim Word2Vec on the run's own tokens and compare it with the run's token embedding."""
    import json

    from embviz.compare.comparison import CompareOptions, compare
    from embviz.compare.word2vec import Word2VecOptions

    options = CompareOptions(
        word2vec=Word2VecOptions(sg=sg, vector_size=_auto(vector_size, "vector-size", int), window=window,
                                 negative=negative, epochs=_auto(epochs, "epochs", int),
                                 seed=_auto(seed, "seed", int), workers=_auto(workers, "workers", int)),
        k=k, words=tuple(w.strip() for w in (words or "").split(",") if w.strip()), neighbours=neighbours,
        probe=probe, probe_finetune=probe_finetune, retrain=retrain, method=method)
    with Bars(quiet or json_out) as bars:
        result = compare(run_dir, options, progress=bars.update)
    if json_out:
        sys.stdout.write(json.dumps(result.data, indent=2, ensure_ascii=False) + "\n")
        return
    if not quiet:
        _compare_summary(result.data)


def _compare_summary(d: dict) -> None:
    from embviz.compare.report import fmt

    sim, pur, bench = d["similarity"], d["purity"], d["benchmarks"]
    table = Table(title=f"LM vs Word2Vec · {d['shared']['n_tokens']:,} shared tokens ({d['tokenizer']})")
    for name in ("measure", "language model", "Word2Vec"):
        table.add_column(name)
    table.add_row("linear CKA", fmt(sim["linear_cka"]), "")
    table.add_row("Procrustes disparity", fmt(sim["procrustes_disparity"]), "")
    table.add_row(f"mean Jaccard@{sim['jaccard']['k']} (median)",
                  f"{fmt(sim['jaccard']['mean'])} ({fmt(sim['jaccard']['quantiles']['0.5'])})", "")
    table.add_row(f"category purity@{pur['k']} (chance {fmt(pur['chance'])})", fmt(pur["lm"]), fmt(pur["word2vec"]))
    for key, title in (("wordsim353", "WordSim-353 ρ"), ("simlex999", "SimLex-999 ρ")):
        table.add_row(f"{title} (coverage {bench[key]['lm']['coverage']:.1%})", fmt(bench[key]["lm"]["spearman"]),
                      fmt(bench[key]["word2vec"]["spearman"]))
    an = bench["analogies"]
    table.add_row(f"analogy accuracy (coverage {an['lm']['coverage']:.1%})", fmt(an["lm"]["accuracy"]),
                  fmt(an["word2vec"]["accuracy"]))
    out.print(table)
    for entry in d["neighbours"]:
        nb = Table(title=f"nearest neighbours of {entry['word']}")
        for name in ("#", "language model", "cos", "Word2Vec", "cos"):
            nb.add_column(name)
        for i, (a, b) in enumerate(zip(entry["lm"], entry["word2vec"]), start=1):
            nb.add_row(str(i), a["word"], f"{a['cosine']:.3f}", b["word"], f"{b['cosine']:.3f}")
        out.print(nb)
    if d.get("probe"):
        out.print(d["probe"]["verdict"], highlight=False, soft_wrap=True)
    for name, path in d["files"].items():
        out.print(f"{name}: {path}", highlight=False, soft_wrap=True)


@app.command()
def export(
    run_dir: Path = typer.Argument(..., metavar="RUN_DIR", help="A complete run directory (from embviz train)."),
    out_path: Path = typer.Argument(..., metavar="OUT", help="A folder for projector, a file for word2vec and npz."),
    to: str = typer.Option(..., "--to", help="projector (TensorBoard's embedding projector), word2vec (gensim, "
                                             "one snapshot) or npz (every snapshot in one NumPy file)."),
    snapshot: Optional[str] = typer.Option(None, help="final, init or a step number [default: final for word2vec, "
                                                      "every snapshot for projector and npz]."),
    binary: bool = typer.Option(False, "--binary", help="word2vec: the binary format instead of text."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing export."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
) -> None:
    """Export the run's snapshots for TensorBoard's projector, gensim (word2vec) or NumPy (npz)."""
    from embviz.interop.export import export as run_export

    with Bars(quiet) as bars:
        result = run_export(run_dir, to, out_path, snapshot=snapshot, binary=binary, overwrite=overwrite,
                            progress=bars.update)
    if not quiet:
        steps = ", ".join(map(str, result.steps)) if len(result.steps) <= 6 else f"{result.steps[0]} … {result.steps[-1]}"
        out.print(f"Wrote {result.path} ({result.fmt}): {len(result.steps)} snapshot(s) "
                  f"(step{'s' if len(result.steps) > 1 else ''} {steps}) of {result.tokens:,} tokens × {result.dim}",
                  highlight=False, soft_wrap=True)
        if result.fmt == "projector":
            out.print(f"View it with: tensorboard --logdir {result.path}", highlight=False, soft_wrap=True)


@app.command("import")
def import_(
    sources: list[str] = typer.Argument(..., metavar="SOURCE", help="Checkpoint files (.safetensors, .bin, .pt, "
                                        "shard indexes), checkpoint folders, folders of them, or globs."),
    out_dir: Path = typer.Option(..., "--out", help="The run directory to write."),
    key: Optional[str] = typer.Option(None, help="Name of the tensor to import [default: the token embedding, "
                                                 "found by its usual names]."),
    matrix: str = typer.Option("input", help="input (token embedding) or output (an untied LM head)."),
    steps: Optional[str] = typer.Option(None, help="Comma-separated step of each checkpoint, in the order found "
                                                   "[default: trainer_state.json, iter_num, or the name's number]."),
    tokenizer: Optional[Path] = typer.Option(None, help="tokenizer.json, vocab.json (+ merges.txt) or a folder "
                                                        "holding one [default: found beside the checkpoints]."),
    vocab: Optional[Path] = typer.Option(None, help="A file of tokens, one per line, instead of a tokenizer."),
    corpus: Optional[str] = typer.Option(None, help="Text to count token frequencies in (a file, folder or "
                                                    "built-in name); needed by --top and compare-word2vec."),
    categories: Optional[Path] = typer.Option(None, help="TSV of word<TAB>category to label the vocabulary."),
    overwrite: bool = typer.Option(False, help="Replace an existing run directory."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
) -> None:
    """Turn a series of checkpoints (Hugging Face, nanoGPT, plain state dicts) into a run that animate and
    compare-word2vec read."""
    from embviz.interop.importer import import_checkpoints

    try:
        step_list = [int(v) for v in _split(steps)] if steps is not None else None
    except ValueError:
        raise ConfigError(f"--steps must be comma-separated integers, got {steps!r}") from None
    with Bars(quiet) as bars:
        r = import_checkpoints(sources, out_dir, key=key, matrix=matrix, steps=step_list, tokenizer=tokenizer,
                               vocab=vocab, corpus=corpus, categories=categories, overwrite=overwrite,
                               progress=bars.update)
    if not quiet:
        out.print(f"Imported {len(r.steps)} snapshot(s) of {r.key} {list(r.shape)} at steps "
                  f"{', '.join(f'{s:,}' for s in r.steps)} in {r.seconds:.1f} s"
                  + (f"; {len(r.dropped)} duplicate(s) dropped" if r.dropped else ""), highlight=False, soft_wrap=True)
        out.print(f"Run directory: {r.run_dir}", highlight=False, soft_wrap=True)


def _split(value: Optional[str]) -> tuple[str, ...]:
    return tuple(w.strip() for w in (value or "").split(",") if w.strip())


def _size(value: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise ConfigError(f"--size must look like 1280x720, got {value!r}") from None
    return width, height


_ANIMATE = AnimateOptions()
_FILM = _ANIMATE.film

# Word, level and projection options shared by animate and explore (a film and an explorer of one run
# show the same words in the same layout).
METHOD = typer.Option(_ANIMATE.method, help="pca, umap or tsne.")
ALIGN = typer.Option(_ANIMATE.align, help="PCA alignment: final (one basis from the final snapshot), chain "
                                          "(Procrustes onto the neighbouring frame) or none.")
UMAP_MODE = typer.Option(_ANIMATE.umap_mode, help="UMAP: chain (each frame warm-started from the previous one, then "
                                                  "all refined together) or aligned (umap-learn's AlignedUMAP, much "
                                                  "slower).")
METRIC = typer.Option(_ANIMATE.metric, help="cosine or euclidean.")
WORDS = typer.Option(None, help="Comma-separated words to add to the words shown (or, with --only, to show alone).")
WORDS_FILE = typer.Option(_ANIMATE.words_file, help="A file of words to add (or show alone with --only).")
ONLY = typer.Option(_ANIMATE.only, "--only", help="Show only --words / --words-file.")
TOP = typer.Option(_ANIMATE.top, help="Also show the N most frequent tokens (besides every categorised word).")
CONTENT_ONLY = typer.Option(_ANIMATE.content_only, "--content-only", help="Leave out punctuation and function words.")
LEVEL = typer.Option(_ANIMATE.level, help="Category level to colour by: pos, field or subfield [default: the middle "
                                          "level].")
CACHE = typer.Option(_ANIMATE.cache, help="Reuse cached projections and metrics from <run>/projections.")
SEED = typer.Option(_ANIMATE.seed, help="Random seed of UMAP / t-SNE.")


@app.command()
def animate(
    run_dir: Path = typer.Argument(..., help="A run directory written by embviz train."),
    out_file: Optional[Path] = typer.Option(None, "--out", help="Film file, .mp4 or .gif [default: <run>/film.mp4]; "
                                                                "also writes <out>-grid.png, -metrics.png, -metrics.csv."),
    fmt: Optional[str] = typer.Option(_ANIMATE.fmt, "--format", help="mp4 or gif [default: from --out, else mp4]."),
    method: str = METHOD,
    align: str = ALIGN,
    umap_mode: str = UMAP_MODE,
    metric: str = METRIC,
    words: Optional[str] = WORDS,
    words_file: Optional[Path] = WORDS_FILE,
    only: bool = ONLY,
    top: int = TOP,
    content_only: bool = CONTENT_ONLY,
    level: Optional[str] = LEVEL,
    fps: float = typer.Option(_FILM.fps, help="Frames per second (gifs are capped at 20)."),
    seconds_per_snapshot: float = typer.Option(_FILM.seconds_per_snapshot, help="Seconds of film between two "
                                                                                "snapshots."),
    label: int = typer.Option(_FILM.label, help="How many words to label, spread over the categories."),
    label_words: Optional[str] = typer.Option(None, help="Comma-separated words that are always labelled."),
    font: Optional[Path] = typer.Option(_FILM.font, help="Font file for non-Latin tokens (e.g. a CJK font)."),
    size: str = typer.Option("x".join(map(str, _FILM.size)), help="Film size in pixels, WIDTHxHEIGHT."),
    grid: Optional[str] = typer.Option(None, help="Comma-separated snapshot indices for the grid figure "
                                                  "[default: about 6, evenly spaced in how far the map has moved]."),
    cache: bool = CACHE,
    seed: int = SEED,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or table."),
) -> None:
    """Film the run's snapshots as an aligned 2-D map, with the small-multiples grid and emergence metrics."""
    from embviz.film.animate import animate as run_animate

    try:
        grid_snapshots = tuple(int(v) for v in _split(grid)) or None
    except ValueError:
        raise ConfigError(f"--grid must be comma-separated snapshot indices, got {grid!r}") from None
    options = AnimateOptions(
        words=_split(words), words_file=words_file, only=only, top=top, content_only=content_only, level=level,
        method=method, align=align, umap_mode=umap_mode, metric=metric, seed=seed, cache=cache, fmt=fmt,
        film=FilmOptions(fps=fps, seconds_per_snapshot=seconds_per_snapshot, label=label,
                         label_words=_split(label_words), font=font, size=_size(size)),
        grid_snapshots=grid_snapshots)
    with Bars(quiet) as bars:
        result = run_animate(run_dir, out_file, options, progress=bars.update)
    if not quiet:
        _animate_summary(result)


def _animate_summary(r, max_rows: int = 20) -> None:
    import numpy as np
    from rich import box

    from embviz.compare.report import fmt

    e = r.emergence
    c = e.columns
    t = len(e.steps)
    shown = sorted({int(round(x)) - 1 for x in np.geomspace(1, t, min(t, max_rows))}) if t > max_rows else range(t)
    title = (f"emergence · {len(r.words):,} words · {r.n_snapshots} snapshots"
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
        ("ρ norm\n~ freq.", "norm_freq_spearman", 2)) if key in c]
    faithful = [(f"purity\n{short.get(lvl, lvl)}", f"purity2d_{lvl}", 2) for lvl in e.levels]
    faithful += [("trust-\nworthiness", "trustworthiness", 3)] if "trustworthiness" in c else []
    for heading, cols in ((title, columns), (f"the {r.method} layout (2-D; purity in the space above)", faithful),
                          ("geometry", geometry)):
        if not cols:
            continue
        table = Table(title=heading, box=box.SIMPLE_HEAD, padding=(0, 0, 0, 1), pad_edge=False)
        for name in ("step", "loss", *(head for head, _, _ in cols)):
            table.add_column(name, justify="right", no_wrap=True)
        for i in shown:
            values = [f"{int(e.steps[i]):,}", fmt(_finite(e.losses[i]), 2)]
            values += [fmt(_finite(c[key][i]), digits) for _, key, digits in cols]
            table.add_row(*values)
        out.print(table)
    notes = []
    if e.levels:
        notes.append("purity@10 chance: " + " · ".join(f"{lvl} {fmt(_finite(c[f'chance_{lvl}'][0]), 2)}"
                                                      for lvl in e.levels))
        notes.append(e.crossing_line())
        layout, space = e.faithfulness(r.level)
        notes.append(f"{r.method} layout at the final snapshot: {r.level} purity@10 {fmt(_finite(layout), 2)} in 2-D "
                     f"of {fmt(_finite(space), 2)} in the space · trustworthiness "
                     f"{fmt(_finite(c['trustworthiness'][-1]), 3)}")
    for key, name in (("wordsim353", "WordSim-353"), ("simlex999", "SimLex-999")):
        if f"{key}_coverage" in c:
            notes.append(f"{name} pairs in vocabulary: {np.nanmax(c[f'{key}_coverage']):.0%}")
    cached = [name for name, hit in (("projection", r.projection_cached), ("metrics", r.metrics_cached)) if hit]
    if cached:
        notes.append(f"Reused the cached {' and '.join(cached)}.")
    for note in notes:
        out.print(note, highlight=False, soft_wrap=True)
    out.print(f"Film: {r.film} ({r.n_frames} frames, {r.width}x{r.height}, {r.fmt})", highlight=False, soft_wrap=True)
    for name, path in (("Grid", r.grid), ("Metrics plot", r.metrics_png), ("Metrics table", r.metrics_csv)):
        out.print(f"{name}: {path}", highlight=False, soft_wrap=True)


@app.command()
def explore(
    run_dir: Path = typer.Argument(..., help="A run directory written by embviz train."),
    out_file: Optional[Path] = typer.Option(None, "--out", help="HTML file [default: <run>/explorer.html]."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing file."),
    method: str = METHOD,
    align: str = ALIGN,
    umap_mode: str = UMAP_MODE,
    metric: str = METRIC,
    words: Optional[str] = WORDS,
    words_file: Optional[Path] = WORDS_FILE,
    only: bool = ONLY,
    top: int = TOP,
    content_only: bool = CONTENT_ONLY,
    level: Optional[str] = LEVEL,
    cache: bool = CACHE,
    seed: int = SEED,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
) -> None:
    """Write one self-contained HTML page to play, pause, search and click through the run's training."""
    from embviz.film.explore import explore as run_explore

    options = AnimateOptions(words=_split(words), words_file=words_file, only=only, top=top, content_only=content_only,
                             level=level, method=method, align=align, umap_mode=umap_mode, metric=metric, seed=seed,
                             cache=cache)
    with Bars(quiet) as bars:
        result = run_explore(run_dir, out_file, options, overwrite=overwrite, progress=bars.update)
    if not quiet:
        w2v = " with the Word2Vec space" if result.word2vec else ""
        out.print(f"Explorer: {result.path} ({result.n_words:,} words × {result.n_snapshots} snapshots{w2v}, "
                  f"{result.size_bytes / 1e6:.1f} MB)", highlight=False, soft_wrap=True)


def _finite(value: float) -> float | None:
    value = float(value)
    return None if value != value else value


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    err.print(f"Warning: {message}", highlight=False, markup=False)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``embviz`` console script and ``python -m embviz``."""
    warnings.showwarning = _show_warning
    args = sys.argv[1:] if argv is None else argv
    try:
        code = app(args=args or ["--help"], prog_name="embviz", standalone_mode=False)
    except TyperException as e:  # a usage error: unknown option, bad value, missing argument
        ctx = getattr(e, "ctx", None)
        hint = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
        err.print(f"Error: {e.format_message()}{hint}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(getattr(e, "exit_code", 2))
    except EmbvizError as e:
        err.print(f"Error: {e}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(1)
    except (typer.Abort, KeyboardInterrupt):
        err.print("Aborted.")
        sys.exit(130)
    sys.exit(code or 0)
