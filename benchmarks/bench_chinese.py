"""Does meaning emerge on real Chinese? ``peoples-daily`` with default settings, read at the gold
part-of-speech level and the finer level, next to Word2Vec on the same tokens.

For a slice of the gold corpus (default 60,000 words, Lee's size): train with no tuning flags (or
read a finished run with ``--run``), then print for each level the kNN purity@10 at init and at
the end next to chance and to Word2Vec (``compare-word2vec``'s baseline: skip-gram, the run's
width and epochs), and the step at which purity first reaches halfway from its initial to its final
value. Then the three claims of the article: numerals (``m`` → ``num``) gather, time words (``t``
→ ``time``) gather — the share of each such word's 10 nearest labelled neighbours in its own class,
next to that class's share of the labelled words — and verbs and nouns part: purity@10 among
nouns and verbs alone, next to its chance.

    python benchmarks/bench_chinese.py [--tokens 60000] [--run DIR] [--smoke]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from embviz import TrainConfig, train
from embviz.compare.word2vec import Word2VecOptions, baseline_for_run
from embviz.measure.emergence import first_crossing
from embviz.measure.metrics import cosine_knn, knn_purity, purity_chance
from embviz.rundir.run import Run
from embviz.text.lexicon import at_level

K = 10
LEVELS = {0: "part of speech", 1: "finer"}


def gathering(x: np.ndarray, labels: list[str], name: str) -> float:
    """Mean share of the ``name`` words' K nearest labelled neighbours that are ``name`` words too."""
    own = np.array([lab == name for lab in labels])
    neighbours = cosine_knn(x, K)
    return float(own[neighbours[own]].mean())


def measure(run: Run, w2v: np.ndarray, present: np.ndarray) -> None:
    tokens, _, categories = run.vocab()
    snaps = run.snapshots()
    steps = [s.step for s in snaps]
    print(f"vocabulary {len(tokens):,} tokens, {sum(c is not None for c in categories):,} with a gold category; "
          f"{len(snaps)} snapshots, final step {steps[-1]:,}")
    print()
    print("| level | classes | chance | LM init | LM final | Word2Vec | halfway step (of "
          f"{steps[-1]:,}) |")
    print("|---|---|---|---|---|---|---|")
    for level, name in LEVELS.items():
        labels = [at_level(c, level) for c in categories]
        rows = np.array([i for i, lab in enumerate(labels) if lab and present[i]], dtype=np.int64)
        picked = [labels[i] for i in rows]
        curve = [knn_purity(run.load_snapshot(s, rows), picked, k=K) for s in snaps]
        half = curve[0] + (curve[-1] - curve[0]) / 2
        print(f"| {name} | {len(set(picked))} | {purity_chance(picked):.3f} | {curve[0]:.3f} | {curve[-1]:.3f} | "
              f"{knn_purity(w2v[rows], picked, k=K):.3f} | {first_crossing(steps, curve, half)} |")
    print()
    labels = [at_level(c, 0) for c in categories]
    rows = np.array([i for i, lab in enumerate(labels) if lab and present[i]], dtype=np.int64)
    picked = [labels[i] for i in rows]
    init, final = run.load_snapshot(snaps[0], rows), run.load_snapshot(snaps[-1], rows)
    print("| claim | words | base rate / chance | LM init | LM final | Word2Vec |")
    print("|---|---|---|---|---|---|")
    for cls, claim in (("num", "numerals (m) gather"), ("time", "time words (t) gather")):
        share = picked.count(cls) / len(picked)
        print(f"| {claim} | {picked.count(cls)} | {share:.3f} | {gathering(init, picked, cls):.3f} | "
              f"{gathering(final, picked, cls):.3f} | {gathering(w2v[rows], picked, cls):.3f} |")
    nv = np.array([i for i, lab in enumerate(picked) if lab in ("noun", "verb")])
    nv_labels = [picked[i] for i in nv]
    print(f"| verbs and nouns part (purity among them) | {len(nv)} | {purity_chance(nv_labels):.3f} | "
          f"{knn_purity(init[nv], nv_labels, k=K):.3f} | {knn_purity(final[nv], nv_labels, k=K):.3f} | "
          f"{knn_purity(w2v[rows][nv], nv_labels, k=K):.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=60_000, help="Gold words in the slice (whole lines).")
    parser.add_argument("--run", type=Path, help="Measure this finished peoples-daily run instead of training one.")
    parser.add_argument("--smoke", action="store_true", help="A 5,000-word slice and a tiny model, to check the script.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_chinese-") as tmp:
        run_dir = args.run
        if run_dir is None:
            run_dir = Path(tmp) / "run"
            tiny = dict(d_model=32, layers=1, heads=2, epochs=2) if args.smoke else {}
            config = TrainConfig(corpus="peoples-daily", max_tokens=5_000 if args.smoke else args.tokens,
                                 device="cpu", **tiny)
            start = time.perf_counter()
            result = train(config, run_dir)
            print(f"trained in {time.perf_counter() - start:.0f} s at {result.tokens_per_s:,.0f} tokens/s")
        run = Run.open(run_dir)
        manifest = run.manifest()
        print(f"corpus: {manifest.config['corpus']}, {manifest.corpus.tokens:,} tokens; "
              f"chosen: {manifest.chosen}")
        baseline, options = baseline_for_run(run, manifest, Word2VecOptions())
        print(f"Word2Vec: {'reused' if baseline.reused else 'trained'}, {options.vector_size} dims, "
              f"{options.epochs} epochs, {baseline.seconds:.0f} s")
        measure(run, baseline.vectors, baseline.present)


if __name__ == "__main__":
    main()
