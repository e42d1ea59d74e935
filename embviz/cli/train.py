"""``embviz train``: its options (defaults from :class:`~embviz.training.config.TrainConfig`) and its summary."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from embviz.cli import options as opt
from embviz.cli.core import Bars, app, auto_default, err, options_from, out
from embviz.training.config import TrainConfig, default_run_dir

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
    min_count: str = typer.Option(auto_default(_TRAIN.min_count), help="Drop word/char types rarer than this (auto: "
                                                                       "from corpus size)."),
    max_vocab: Optional[int] = typer.Option(_TRAIN.max_vocab, help="Keep at most this many tokens (word/char)."),
    vocab_size: int = typer.Option(_TRAIN.vocab_size, help="BPE vocabulary size."),
    categories: Optional[Path] = typer.Option(_TRAIN.categories, help="TSV of word<TAB>category to label the "
                                                                      "vocabulary."),
    synthetic_tokens: Optional[int] = typer.Option(_TRAIN.synthetic_tokens, help="Size of the synthetic corpus in "
                                                                                 "tokens."),
    difficulty: Optional[float] = typer.Option(_TRAIN.difficulty, help="Synthetic corpus noise, 0 (crisp) to 1."),
    d_model: str = typer.Option(auto_default(_TRAIN.d_model), help="Embedding width (auto: from corpus size)."),
    layers: str = typer.Option(auto_default(_TRAIN.layers), help="Transformer blocks (auto)."),
    heads: str = typer.Option(auto_default(_TRAIN.heads), help="Attention heads; must divide --d-model (auto)."),
    context: int = typer.Option(_TRAIN.context, help="Context window in tokens."),
    dropout: float = typer.Option(_TRAIN.dropout, help="Dropout rate."),
    tie: bool = typer.Option(_TRAIN.tie, help="Tie the LM head to the token embedding."),
    epochs: str = typer.Option(auto_default(_TRAIN.epochs), help="Passes over the training tokens (auto: from a token budget)."),
    batch_size: int = typer.Option(_TRAIN.batch_size, help="Windows per optimiser step (global, over all processes)."),
    lr: str = typer.Option(auto_default(_TRAIN.lr), help="Peak learning rate (auto)."),
    weight_decay: float = typer.Option(_TRAIN.weight_decay, help="AdamW weight decay."),
    warmup: str = typer.Option(auto_default(_TRAIN.warmup), help="Warmup steps (auto)."),
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
    probe: opt.Probe = _TRAIN.probe,
    probe_words: opt.ProbeWords = _TRAIN.probe_words,
    live: bool = typer.Option(False, "--live", help="Serve the map on 127.0.0.1 while it forms (the explorer, fed "
                                                   "each snapshot as it is written; log-spaced snapshots unless a "
                                                   "schedule is given). After training it keeps serving until Ctrl-C."),
    port: opt.Port = None,
    quiet: opt.Quiet = False,
) -> None:
    """Train a small GPT on CORPUS and save its token embedding at init, every epoch and on schedule."""
    from embviz.cli.live import keep_serving, live_page, serving_rank
    from embviz.film.warmup import start_warming
    from embviz.training import loop as training

    warming = False
    target = resume or out_dir or default_run_dir(corpus)
    live = live and serving_rank()  # under torchrun only rank 0 serves; the other ranks train as without --live
    chosen = {ctx.get_parameter_source(name).name for name in ("snapshot_schedule", "snapshot_every")}
    if live and chosen == {"DEFAULT"}:  # watchable: early training moves fastest
        ctx.params["snapshot_schedule"] = "log"
    config = None
    if resume is None:  # checked before the page starts: bad options are one Error line
        config = options_from(TrainConfig, ctx.params, categories=str(categories) if categories is not None else None)
        config.validate()
    page = live_page(target, port) if live else contextlib.nullcontext()

    with page as child:
        with Bars(quiet, "loss", "tok/s") as bars:

            def report(st: training.TrainStatus) -> None:
                nonlocal warming
                if not warming:  # training has begun: the film's numba code compiles meanwhile, in the background
                    warming = True
                    if child:  # the run directory now holds this run (an old one under --overwrite is gone)
                        child.begin()
                    start_warming()
                bars.update("training", st.step, st.total_steps, description=f"epoch {st.epoch}/{st.epochs}",
                            **{"loss": f"{st.loss:.3f}", "tok/s": f"{st.tokens_per_s:,.0f}"})

            if config is None:
                result = training.resume(resume, progress=report)
            else:
                result = training.train(config, target, overwrite=overwrite, progress=report)
        if not quiet and result.snapshots:
            _summary(result)
        if result.status == "interrupted":  # Ctrl-C stops training, and the page with it
            err.print(f"Interrupted at step {result.steps}; continue with: embviz train --resume {result.run_dir}")
            raise typer.Exit(130)
        if child:
            keep_serving(child.url)


def _summary(r) -> None:
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
    if r.positions:
        a, b = r.positions["init"], r.positions["final"]
        rows.insert(-1, ("position order", f"adjacent {fmt(a['adjacent'])} → {fmt(b['adjacent'])} · Spearman "
                                           f"{fmt(a['order'])} → {fmt(b['order'])} · top-3 variance "
                                           f"{fmt(a['top3'])} → {fmt(b['top3'])}"))
    if r.head:
        a, b = r.head["init"], r.head["final"]
        rows.insert(-1, ("head vs input", f"CKA {fmt(a['cka'])} → {fmt(b['cka'])} · Jaccard@10 "
                                          f"{fmt(a['jaccard'])} → {fmt(b['jaccard'])}"))
    for key, value in rows:
        table.add_row(key, value)
    out.print(table)
    out.print(f"Run directory: {r.run_dir}", soft_wrap=True, highlight=False)
