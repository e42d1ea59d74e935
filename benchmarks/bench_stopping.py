"""Does the settle rule stop real text when the map stops changing? Every epoch vs the default rule.

For each corpus (and seed), two runs with defaults side by side: ``--all-epochs`` (every epoch, the
reference) and the default (once validation loss and the map have both levelled, ``embviz.training.stopping``,
it cools down for one epoch and stops). Printed: where the default stopped and why, wall time of each
and their ratio, field purity (lexicon level 1, k = 10) of each final snapshot and of the reference's
snapshot at the same epoch (what the cooldown adds). Then, from the reference run's epoch snapshots:
validation loss, purity, the map's change from the previous epoch (``1 - linear CKA``, the rule's
signal, and mean Jaccard@10 of each word's neighbours), and where other rules would have settled.

    .venv/bin/python benchmarks/bench_stopping.py
    .venv/bin/python benchmarks/bench_stopping.py --corpora wiki-head --seeds 0,1,2 --keep runs/bench-stopping
    .venv/bin/python benchmarks/bench_stopping.py --smoke    # a toy model on a small synthetic corpus

``pydoc`` is a held-out real text the rule was not tuned on: the Python reference manual's topics
as CPython ships them (``pydoc_data.topics``, 65k words of technical English), written by this
benchmark. ``wiki-head`` is ``bench_emergence``'s (the first 41 articles of gensim's Wikipedia sample).
With ``--keep DIR`` the runs stay in ``DIR/<corpus>/seed-<seed>/{all,rule}``, and a complete run already there is
reused (its own session time stands in for the wall time).
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_emergence import SMOKE, matmul_peak, wiki_head

from embviz import TrainConfig, train
from embviz.measure.metrics import cosine_knn, knn_jaccard, knn_purity
from embviz.rundir.run import Run
from embviz.text.lexicon import at_level
from embviz.training.stopping import RULE, EpochRecord, Rule, Watch, first_settled

CORPORA = ("lee", "wiki-head", "pydoc", "synthetic")
K = 10
OTHER_RULES = {
    "validation loss only (map ignored)": Rule(change_tol=2.0),
    "map only (loss ignored)": Rule(loss_tol=1.0),
    f"window {RULE.window + 1}": dataclasses.replace(RULE, window=RULE.window + 1),
    f"change limit {RULE.change_tol / 2:g}": dataclasses.replace(RULE, change_tol=RULE.change_tol / 2),
}


def pydoc_text(path: Path) -> Path:
    """Write the topics of the Python reference manual that CPython ships (``pydoc_data``) to ``path``."""
    from pydoc_data.topics import topics

    path.write_text("\n\n".join(topics[k] for k in sorted(topics)) + "\n", encoding="utf-8")
    return path


def source(corpus: str, root: Path) -> str:
    if corpus == "wiki-head":
        return str(wiki_head(root / "wiki-head.txt"))
    if corpus == "pydoc":
        return str(pydoc_text(root / "pydoc.txt"))
    return corpus


def run_once(config: TrainConfig, out: Path) -> tuple[float, Run]:
    """Train ``config`` into ``out`` (or reuse a complete run there); wall seconds and the run."""
    if (out / "run.json").is_file() and Run.open(out).manifest().status == "complete":
        return Run.open(out).manifest().result["seconds"], Run.open(out)
    t0 = time.perf_counter()
    train(config, out, overwrite=True)
    return time.perf_counter() - t0, Run.open(out)


def records(run: Run, history: list[EpochRecord]) -> list[dict]:
    """One row per epoch snapshot (``history`` is the run's ``Watch.of_run``): epoch, step, validation
    loss, field purity, change from the previous."""
    _, _, categories = run.vocab()
    labels = [at_level(c, 1) for c in categories]
    rows = np.array([i for i, lab in enumerate(labels) if lab], dtype=np.int64)
    names = [labels[i] for i in rows]
    out, previous = [], None
    for record, snap in zip(history, [s for s in run.snapshots() if s.val_loss is not None]):
        x = run.load_snapshot(snap)
        knn = cosine_knn(x, K)
        out.append({"epoch": record.epoch, "step": record.step, "val": record.val_loss, "change": record.change,
                    "jaccard": None if previous is None else float(knn_jaccard(previous, knn).mean()),
                    "purity": knn_purity(x[rows], names, k=K)})
        previous = knn
    return out


def bench(corpus: str, seed: int, root: Path, smoke: bool = False) -> dict:
    config = TrainConfig(corpus=source(corpus, root), device="cpu", seed=seed,
                         **({**SMOKE, "epochs": 6} if smoke else {}))
    where = root / corpus / f"seed-{seed}"
    wall_all, run_all = run_once(dataclasses.replace(config, stop_when_settled=False), where / "all")
    wall_rule, run_rule = run_once(config, where / "rule")
    result = run_rule.manifest().result
    history = Watch.of_run(run_all).history
    table = records(run_all, history)
    purity = {x["epoch"]: x["purity"] for x in table}
    return {"corpus": corpus, "seed": seed, "wall_all": wall_all, "wall_rule": wall_rule, "table": table,
            "history": history, "epochs": run_all.manifest().chosen["epochs"],
            "stopped": result["epochs_done"], "reason": result["stop_reason"], "purity_all": table[-1]["purity"],
            "purity_rule": result["purity_final"], "purity_all_there": purity[result["epochs_done"]]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", default=",".join(CORPORA), help="comma-separated subset of " + ", ".join(CORPORA))
    parser.add_argument("--seeds", default="0", help="comma-separated seeds: each corpus is run with each")
    parser.add_argument("--keep", type=Path, help="keep (and reuse) the runs in this folder")
    parser.add_argument("--smoke", action="store_true", help="toy sizes: check that the benchmark runs")
    args = parser.parse_args()
    if args.smoke:
        args.corpora = "synthetic"
    print(f"matmul peak: {matmul_peak(256 if args.smoke else 1024) / 1e9:.1f} GFLOP/s", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_stopping-") as tmp:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        for corpus in args.corpora.split(","):
            for seed in map(int, args.seeds.split(",")):
                rows.append(bench(corpus, seed, root, args.smoke))
                print(f"... {corpus} seed {seed} done ({rows[-1]['wall_all']:.0f} s + {rows[-1]['wall_rule']:.0f} s)",
                      flush=True)
    print()
    print("| corpus | seed | epochs: all → rule | wall s: all → rule (ratio) | field purity: all → rule "
          "(all at that epoch) |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['corpus']} | {r['seed']} | {r['epochs']} → {r['stopped']} | {r['wall_all']:.0f} → "
              f"{r['wall_rule']:.0f} ({r['wall_rule'] / r['wall_all']:.2f}) | {r['purity_all']:.3f} → "
              f"{r['purity_rule']:.3f} ({r['purity_all_there']:.3f}) |")
    for r in rows:
        print(f"\n{r['corpus']}, seed {r['seed']}: {r['reason'] or 'ran every epoch'}")
        t = r["table"]
        cells = {"val loss": [f"{x['val']:.2f}" for x in t], "field purity": [f"{x['purity']:.3f}" for x in t],
                 "1 - CKA, previous": ["" if x["change"] is None else f"{x['change']:.3f}" for x in t],
                 "Jaccard@10, previous": ["" if x["jaccard"] is None else f"{x['jaccard']:.2f}" for x in t]}
        print("| epoch | " + " | ".join(str(x["epoch"]) for x in t) + " |")
        print("|---" * (len(t) + 1) + "|")
        for name, values in cells.items():
            print(f"| {name} | " + " | ".join(values) + " |")
        purity = {x["epoch"]: x["purity"] for x in t}
        for name, rule in {"default rule": RULE, **OTHER_RULES}.items():
            settle = first_settled(r["history"], r["epochs"] - 1, rule)
            if settle is None:
                print(f"  {name:>36}: never settles (runs every epoch)")
                continue
            e = settle[0] + 1
            print(f"  {name:>36}: settles after epoch {settle[0]:>3}, stops after {e} of {r['epochs']} "
                  f"({e / r['epochs']:.2f} of the steps); every-epoch run's purity there {purity[e]:.3f}")


if __name__ == "__main__":
    main()
