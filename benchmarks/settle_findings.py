"""Check Papadimitriou & Prince (2025) on runs: do frequent words and function words settle first, do rare words
keep their initial vector, does the RSA with part of speech, field and frequency rise early — and how much the
answer depends on the settle rule's k and threshold.

    .venv/bin/python benchmarks/settle_findings.py runs/demo runs/lee runs/pd

Per run: the findings at the default rule (k 10, Jaccard ≥ 0.5) and at k 5 / 20 and thresholds 0.3 / 0.7, with
the Spearman of each rule's settle steps against the default's (``rank_agreement``); Spearman of log count with
``init_cosine`` and the function / content medians of it; the whole vocabulary's RSA (100,000 sampled pairs) at
the first and last snapshot and the first step each reaches 90% of its last value.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
from scipy import stats

from embviz.film.selection import category_levels, word_classes
from embviz.measure import rsa
from embviz.measure.settle import measure_settle, rank_agreement, settle_findings
from embviz.rundir.run import Run
from embviz.text.lexicon import LEVELS, at_level

RULES = [(10, 0.5), (5, 0.5), (20, 0.5), (10, 0.3), (10, 0.7)]


def median_text(value) -> str:
    return "never" if value is None else ("–" if isinstance(value, float) and math.isnan(value) else f"{value:,.0f}")


def report(path: Path) -> None:
    run = Run.open(path)
    snaps = run.snapshots()
    tokens, counts, categories = run.vocab()
    classes = word_classes(tokens, categories)
    steps = [s.step for s in snaps]
    cache: dict[int, np.ndarray] = {}

    def load(t: int) -> np.ndarray:
        if t not in cache:
            cache[t] = run.load_snapshot(snaps[t])
        return cache[t]

    n_class = {c: classes.count(c) for c in ("function", "content", "other")}
    print(f"\n## {path}  ({len(tokens):,} tokens, {len(snaps)} snapshots to step {steps[-1]:,}; "
          f"function {n_class['function']:,} · content {n_class['content']:,} · other {n_class['other']:,})")
    start = time.perf_counter()
    by_k = {k: measure_settle(load, steps, k) for k in sorted({k for k, _ in RULES})}
    seconds = time.perf_counter() - start
    default = by_k[10].settle_step(0.5)
    print("| rule | Spearman(log count, settle step) | median settle step: function | content | never settle "
          "(all · function · content) | rank agreement with default |")
    print("|---|---|---|---|---|---|")
    for k, threshold in RULES:
        mine = by_k[k].settle_step(threshold)
        f = settle_findings(mine, counts, classes)
        print(f"| k {k}, J ≥ {threshold} | {f['spearman_logfreq']:+.3f} | {median_text(f['function_median'])} | "
              f"{median_text(f['content_median'])} | {f['never']:.0%} · {f['function_never']:.0%} · "
              f"{f['content_never']:.0%} | {rank_agreement(default, mine):.3f} |")
    init = by_k[10].init_cosine
    seen = np.asarray(counts) > 0
    cls = np.asarray(classes)
    rho = stats.spearmanr(np.log(np.asarray(counts)[seen]), init[seen]).statistic
    medians = {c: float(np.median(init[seen & (cls == c)])) if (seen & (cls == c)).any() else math.nan
               for c in ("function", "content")}
    print(f"init_cosine: Spearman with log count {rho:+.3f}; median function {medians['function']:.3f} · "
          f"content {medians['content']:.3f}; rarest quarter {np.median(init[seen][np.argsort(np.asarray(counts)[seen])][: seen.sum() // 4]):.3f}"
          f" · most frequent quarter {np.median(init[seen][np.argsort(np.asarray(counts)[seen])][-(seen.sum() // 4):]):.3f}")
    levels = category_levels(categories)
    level_labels = {lvl: [at_level(c, 0 if lvl == "category" else LEVELS.index(lvl)) for c in categories]
                    for lvl in levels}
    probes = rsa.probes(level_labels, counts if any(counts) else None)
    scores = [rsa.rsa_scores(load(t), probes) for t in range(len(snaps))]
    curves = {name: np.array([row[name] for row in scores]) for name in probes}
    for name, curve in curves.items():
        reach = next((steps[t] for t in range(len(steps)) if curve[t] >= 0.9 * curve[-1]), None) \
            if curve[-1] > 0 else None
        when = f"{reach:,} ({reach / steps[-1]:.0%} of training)" if reach is not None else "–"
        print(f"{name}: {curve[0]:+.3f} at init → {curve[-1]:+.3f} at the end (max {curve.max():+.3f}); "
              f"90% of the last value first at step {when}")
    print(f"(settle measured for k 5, 10, 20 in {seconds:.1f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    for path in parser.parse_args().runs:
        report(path)


if __name__ == "__main__":
    main()
