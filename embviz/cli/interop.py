"""``embviz export`` and ``embviz import``: runs out to other tools' formats and checkpoints in (defaults from
:func:`~embviz.interop.export.export` and :func:`~embviz.interop.importer.import_checkpoints`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from embviz.cli import options as opt
from embviz.cli.core import Bars, app, defaults_of, err, out, split
from embviz.errors import ConfigError
from embviz.interop.export import export as run_export
from embviz.interop.hub import WORKERS, Hub, import_hub, list_revisions, resolve, tables_of, vocabulary
from embviz.interop.importer import import_checkpoints
from embviz.interop.revisions import hub_repo

_EXPORT = defaults_of(run_export)
_IMPORT = defaults_of(import_checkpoints)


@app.command()
def export(
    run_dir: Path = typer.Argument(..., metavar="RUN_DIR", help="A complete run directory (from embviz train)."),
    out_path: Path = typer.Argument(..., metavar="OUT", help="A folder for projector, a file for word2vec and npz."),
    to: str = typer.Option(..., "--to", help="projector (TensorBoard's embedding projector), word2vec (gensim, "
                                             "one snapshot) or npz (every snapshot in one NumPy file)."),
    snapshot: Optional[str] = typer.Option(_EXPORT["snapshot"], help="final, init or a step number [default: final for "
                                                                     "word2vec, every snapshot for projector and npz]."),
    binary: bool = typer.Option(_EXPORT["binary"], "--binary", help="word2vec: the binary format instead of text."),
    overwrite: bool = typer.Option(_EXPORT["overwrite"], "--overwrite", help="Replace an existing export."),
    matrix: opt.Matrix = _EXPORT["matrix"],
    quiet: opt.Quiet = False,
) -> None:
    """Export the run's snapshots for TensorBoard's projector, gensim (word2vec) or NumPy (npz)."""
    with Bars(quiet) as bars:
        result = run_export(run_dir, to, out_path, snapshot=snapshot, binary=binary, overwrite=overwrite,
                            matrix=matrix, progress=bars.update)
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
                                        "shard indexes), checkpoint folders, folders of them, or globs; or one "
                                        "Hub repository hf:OWNER/NAME."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="The run directory to write."),
    revisions: Optional[str] = typer.Option(None, help="hf: sources: a comma list (step0,step1000), all, log:N "
                                                       "(N steps log-spaced) or every:K (multiples of K)."),
    list_: bool = typer.Option(False, "--list", help="hf: sources: list the repository's stepN revisions and stop."),
    workers: int = typer.Option(WORKERS, min=1, help="hf: sources: revisions fetched at once."),
    key: Optional[str] = typer.Option(_IMPORT["key"], help="Name of the tensor to import [default: the token "
                                                           "embedding, found by its usual names]."),
    matrix: str = typer.Option(_IMPORT["matrix"], help="input (token embedding) or output (an untied LM head)."),
    head: bool = typer.Option(_IMPORT["head"], "--head", help="Also import an untied LM head (lm_head, embed_out) "
                                                              "beside the token embedding, for --matrix head: as "
                                                              "large as the embedding (on the Hub, twice the bytes). "
                                                              "The position table is always imported where there is one."),
    steps: Optional[str] = typer.Option(None, help="Comma-separated step of each checkpoint, in the order found "
                                                   "[default: trainer_state.json, iter_num, or the name's number]."),
    tokenizer: Optional[Path] = typer.Option(_IMPORT["tokenizer"], help="tokenizer.json, vocab.json (+ merges.txt) or "
                                                                        "a folder holding one [default: found beside the "
                                                                        "checkpoints]."),
    vocab: Optional[Path] = typer.Option(_IMPORT["vocab"], help="A file of tokens, one per line, instead of a tokenizer."),
    corpus: Optional[str] = typer.Option(_IMPORT["corpus"], help="Text to count token frequencies in (a file, folder "
                                                                 "or built-in name); needed by --top and "
                                                                 "compare-word2vec."),
    categories: Optional[Path] = typer.Option(_IMPORT["categories"], help="TSV of word<TAB>category to label the "
                                                                          "vocabulary."),
    overwrite: bool = typer.Option(_IMPORT["overwrite"], help="Replace an existing run directory."),
    quiet: opt.Quiet = False,
) -> None:
    """Turn a series of checkpoints (Hugging Face, nanoGPT, plain state dicts; on disk or on the Hub) into a
    run that animate and compare-word2vec read."""
    repos = [hub_repo(s) for s in sources]
    if any(repos):
        _import_from_hub(sources, repos[0], out_dir, revisions, list_, steps, workers, dict(
            key=key, matrix=matrix, head=head, tokenizer=tokenizer, vocab=vocab, corpus=corpus, categories=categories,
            overwrite=overwrite), quiet)
        return
    if revisions is not None or list_:
        raise ConfigError("--revisions and --list are for Hub sources (hf:OWNER/NAME)")
    if out_dir is None:
        raise ConfigError("name the run directory to write with --out")
    try:
        step_list = [int(v) for v in split(steps)] if steps is not None else None
    except ValueError:
        raise ConfigError(f"--steps must be comma-separated integers, got {steps!r}") from None
    with Bars(quiet) as bars:
        r = import_checkpoints(sources, out_dir, key=key, matrix=matrix, head=head, steps=step_list, tokenizer=tokenizer,
                               vocab=vocab, corpus=corpus, categories=categories, overwrite=overwrite,
                               progress=bars.update)
    _report(r, quiet)


def _import_from_hub(sources: list[str], repo: str, out_dir: Optional[Path], revisions: Optional[str], list_: bool,
                     steps: Optional[str], workers: int, options: dict, quiet: bool) -> None:
    if len(sources) > 1:
        raise ConfigError("import one Hub repository at a time (hf:OWNER/NAME), without other sources")
    if steps is not None:
        raise ConfigError("--steps is for checkpoints on disk; a Hub revision's step is the number in its name")
    if list_:
        _list(repo, revisions, options, quiet)
        return
    if revisions is None:
        raise ConfigError(f"name the revisions to import with --revisions (all, log:N, every:K or a comma list); "
                          f"embviz import hf:{repo} --list shows them")
    if out_dir is None:
        raise ConfigError("name the run directory to write with --out")
    with Bars(quiet) as bars:
        r = import_hub(repo, out_dir, revisions, workers=workers, progress=bars.update, **options)
    _report(r, quiet)


def _size(n: int) -> str:
    return f"{n / 1e9:,.2f} GB" if n >= 1e9 else f"{n / 1e6:,.1f} MB" if n >= 1e6 else f"{n:,} bytes"


def _list(repo: str, revisions: Optional[str], options: dict, quiet: bool) -> None:
    """The stepN revisions on stdout; on stderr what the import of each (and of ``--revisions``) fetches."""
    found = list_revisions(repo)[0]
    for r in found:
        out.print(r.name, highlight=False)
    if quiet:
        return
    err.print(f"{len(found)} stepN revision(s) in {repo}", highlight=False)
    picked = resolve(repo, revisions) if revisions is not None else found[-1:]
    if not picked:
        return
    tokens = vocabulary(Hub(), repo, picked[-1], options["tokenizer"], options["vocab"])[1]
    tables = tables_of(repo, picked[-1], key=options["key"], matrix=options["matrix"], tokens=tokens)
    for m, t in tables:
        extra = "" if m != "head" or options["head"] else " (only with --head)"
        err.print(f"  {m}: {t.name} {t.dtype} [{', '.join(f'{n:,}' for n in t.shape)}], {_size(t.nbytes)} "
                  f"per revision{extra}", highlight=False, soft_wrap=True)
    fetched = sum(t.nbytes for m, t in tables if m != "head" or options["head"])
    err.print(f"{'--revisions ' + revisions if revisions else 'Each revision'}: {len(picked)} revision(s), "
              f"{_size(fetched * len(picked))} to fetch"
              + (f", {_size(sum(t.nbytes for _, t in tables) * len(picked))} with --head"
                 if not options["head"] and any(m == "head" for m, _ in tables) else ""), highlight=False, soft_wrap=True)


def _report(r, quiet: bool) -> None:
    if not quiet:
        out.print(f"Imported {len(r.steps)} snapshot(s) of {r.key} {list(r.shape)} at steps "
                  f"{', '.join(f'{s:,}' for s in r.steps)} in {r.seconds:.1f} s"
                  + (f"; {len(r.dropped)} duplicate(s) dropped" if r.dropped else ""), highlight=False, soft_wrap=True)
        if r.fetched is not None:
            each = ", ".join(f"{m} {_size(n)}" for m, n in r.fetched.items())
            out.print(f"Fetched {_size(r.fetched_bytes)} from the Hub{f' ({each})' if len(r.fetched) > 1 else ''}; cached tables "
                      "are not fetched again", highlight=False, soft_wrap=True)
        out.print(f"Run directory: {r.run_dir}", highlight=False, soft_wrap=True)
