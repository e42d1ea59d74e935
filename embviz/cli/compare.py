"""``embviz compare-word2vec`` and ``embviz compare``: their options (defaults from
:class:`~embviz.compare.comparison.CompareOptions`, :class:`~embviz.compare.word2vec.Word2VecOptions` and
:class:`~embviz.compare.runs.RunsOptions`) and their tables."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.table import Table

from embviz.cli import options as opt
from embviz.cli.core import Bars, app, auto_default, options_from, out, split
from embviz.compare.comparison import CompareOptions, compare
from embviz.compare.runs import RunsOptions, compare_runs
from embviz.compare.word2vec import Word2VecOptions

_COMPARE = CompareOptions()
_W2V = _COMPARE.word2vec


@app.command("compare-word2vec")
def compare_word2vec(
    ctx: typer.Context,
    run_dir: Path = typer.Argument(..., help="A complete run directory (from embviz train)."),
    sg: bool = typer.Option(_W2V.sg, "--sg/--cbow", help="Skip-gram (default) or CBOW."),
    vector_size: str = typer.Option(auto_default(_W2V.vector_size), help="Word2Vec dimensions (auto: the run's d_model)."),
    window: int = typer.Option(_W2V.window, help="Word2Vec context window (tokens each side)."),
    negative: int = typer.Option(_W2V.negative, help="Negative samples per positive one."),
    epochs: str = typer.Option(auto_default(_W2V.epochs), help="Word2Vec passes over the corpus (auto: the epochs the run trained)."),
    seed: str = typer.Option(auto_default(_W2V.seed), help="Word2Vec seed (auto: the run's seed)."),
    workers: str = typer.Option(auto_default(_W2V.workers), help="Word2Vec threads (auto: all cores; 1 = deterministic)."),
    k: int = typer.Option(_COMPARE.k, help="Neighbours for Jaccard@k and purity@k."),
    words: opt.NeighbourWords = None,
    neighbours: opt.Neighbours = _COMPARE.neighbours,
    method: str = typer.Option(_COMPARE.method, help="How side-by-side.png lays out each space: umap, pca or tsne."),
    probe: bool = typer.Option(_COMPARE.probe, "--probe", help="Retrain the run's model with the Word2Vec vectors as a "
                                                               "frozen embedding and compare validation losses."),
    probe_finetune: bool = typer.Option(_COMPARE.probe_finetune, "--probe-finetune",
                                        help="Also (or, alone, only) a Word2Vec-initialised embedding that keeps training."),
    retrain: bool = typer.Option(_COMPARE.retrain, "--retrain", help="Train Word2Vec again even if an equal baseline is "
                                                                     "stored."),
    json_out: bool = typer.Option(False, "--json", help="Print report.json to stdout (and nothing else)."),
    quiet: opt.Quiet = False,
) -> None:
    """Train gensim Word2Vec on the run's own tokens and compare it with the run's token embedding."""
    import json


    options = options_from(CompareOptions, ctx.params, word2vec=options_from(Word2VecOptions, ctx.params),
                           words=split(words))
    with Bars(quiet or json_out) as bars:
        result = compare(run_dir, options, progress=bars.update)
    if json_out:
        sys.stdout.write(json.dumps(result.data, indent=2, ensure_ascii=False) + "\n")
        return
    if not quiet:
        _summary(result.data)


def _summary(d: dict) -> None:
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
        _neighbour_table(entry["word"], ("language model", entry["lm"]), ("Word2Vec", entry["word2vec"]))
    if d.get("probe"):
        out.print(d["probe"]["verdict"], highlight=False, soft_wrap=True)
    for name, path in d["files"].items():
        out.print(f"{name}: {path}", highlight=False, soft_wrap=True)


_RUNS = RunsOptions()


@app.command("compare")
def compare_two_runs(
    ctx: typer.Context,
    run_a: Path = typer.Argument(..., help="A complete run directory (trained or imported)."),
    run_b: Path = typer.Argument(..., help="Another complete run directory, compared on the tokens both hold."),
    match: str = typer.Option(_RUNS.match, help="Pair snapshots by step, tokens (seen) or fraction (of each "
                                                "run's training)."),
    tolerance: float = typer.Option(_RUNS.tolerance, help="Pair two snapshots only when they differ by at most "
                                                          "this share of the larger step, token count or fraction."),
    k: int = typer.Option(_RUNS.k, help="Neighbours for Jaccard@k."),
    sample: int = typer.Option(_RUNS.sample, help="Jaccard@k (and its splits) of this many shared words drawn at "
                                                  "random (seed 0), each against all shared words; 0: every one."),
    words: opt.NeighbourWords = None,
    neighbours: opt.Neighbours = _RUNS.neighbours,
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON to stdout (and nothing else)."),
    quiet: opt.Quiet = False,
) -> None:
    """Compare two runs (two seeds, two sizes, a trained and an imported one) snapshot by matched snapshot."""
    import json

    options = options_from(RunsOptions, ctx.params, words=split(words))
    with Bars(quiet or json_out) as bars:
        result = compare_runs(run_a, run_b, options, progress=bars.update)
    if json_out:
        sys.stdout.write(json.dumps(result.data, indent=2, ensure_ascii=False) + "\n")
    elif not quiet:
        _runs_summary(result.data)


def _neighbour_table(word: str, *sides: tuple[str, list[dict]]) -> None:
    """One word's nearest neighbours in two spaces, side by side."""
    nb = Table(title=f"nearest neighbours of {word}")
    nb.add_column("#")
    for name, _ in sides:
        nb.add_column(name)
        nb.add_column("cos")
    for i, rows in enumerate(zip(*(near for _, near in sides)), start=1):
        nb.add_row(str(i), *(cell for r in rows for cell in (r["word"], f"{r['cosine']:.3f}")))
    out.print(nb)


def _runs_summary(d: dict) -> None:
    from embviz.compare.report import fmt

    k = d["k"]
    table = Table(title=f"{d['a']['run']} vs {d['b']['run']} · {d['shared']['n_tokens']:,} shared tokens · "
                        f"matched by {d['match']['by']}")
    for name in ("step A", "step B", "fraction", "linear CKA", "Procrustes disparity", f"mean Jaccard@{k}"):
        table.add_column(name, justify="right")
    for s in d["snapshots"]:
        table.add_row(str(s["step_a"]), str(s["step_b"]), f"{s['fraction_a']:.3f}", fmt(s["cka"]),
                      fmt(s["procrustes_disparity"]), fmt(s["jaccard_mean"]))
    out.print(table)
    sample = d["jaccard_words"]
    if sample["sampled"]:
        out.print(f"Jaccard@{k} of {sample['n']:,} of the {sample['of']:,} shared tokens drawn at random (--sample; "
                  "each against all of them); CKA and disparity of all", highlight=False, soft_wrap=True)
    for names, title in ((("frequency",), "by corpus frequency"), (("word_class", "pos"), "by word class and part "
                                                                                           "of speech")):
        groups = [g for name in names for g in d["split"].get(name, {}).get("groups", [])]
        if not groups:
            continue
        split = Table(title=f"mean Jaccard@{k} {title} (chance {fmt(d['jaccard_chance'])})")
        split.add_column("step A", justify="right")
        for g in groups:
            split.add_column(f"{g['name']} ({g['n']})", justify="right")
        for i, s in enumerate(d["snapshots"]):
            split.add_row(str(s["step_a"]), *(fmt(g["jaccard"][i]) for g in groups))
        out.print(split)
    for entry in d["neighbours"]:
        _neighbour_table(entry["word"], (f"run A, step {entry['step_a']}", entry["a"]),
                         (f"run B, step {entry['step_b']}", entry["b"]))
    for f in d["findings"]:
        out.print(f["verdict"], highlight=False, soft_wrap=True)
