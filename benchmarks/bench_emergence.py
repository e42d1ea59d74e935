"""Do the defaults make structure emerge? Train with no tuning flags on synthetic, lee, wiki, wiki-head.

For each corpus: wall time of ``train`` (everything: corpus, tokenizer, training, snapshots,
purity), the chosen values, field purity (lexicon level 1, k = 10) before → after training next to
chance, Word2Vec's purity on the same tokens (``compare-word2vec``'s baseline: skip-gram, the run's
width and epochs), and WordSim-353 Spearman for both. Then, for each run: purity per lexicon level
(part of speech, field, sub-field) at every epoch with the epoch at which each first reaches 0.9,
and the achieved FLOP/s of the training loop ÷ a 1024² fp32 matmul peak measured in the same
process, before and after (the larger peak is used).

    .venv/bin/python benchmarks/bench_emergence.py
    .venv/bin/python benchmarks/bench_emergence.py --corpora lee,wiki-head
    .venv/bin/python benchmarks/bench_emergence.py --smoke    # a toy model on a small synthetic corpus

Two cores, timings vary with the machine's load: the peak is measured side by side for that reason.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from embviz import TrainConfig, train
from embviz.compare.word2vec import Word2VecOptions, baseline_for_run
from embviz.measure.gensim_eval import WORDSIM353, gensim_test_file, word_pair_spearman
from embviz.measure.metrics import knn_purity, purity_chance
from embviz.rundir.run import Run
from embviz.text.lexicon import at_level
from embviz.training.model import ModelConfig, TinyGPT

CORPORA = ("synthetic", "lee", "wiki", "wiki-head")
"""``wiki-head``: the first articles of the ``wiki`` file up to 70,000 words, a second real text of
Lee's size (the size the 3-minute floor is set for), written by this benchmark."""
HEAD_WORDS = 70_000
LEVELS = (0, 1, 2)
K = 10
SMOKE = dict(synthetic_tokens=4000, d_model=16, layers=1, heads=2, context=16, batch_size=8, epochs=2)
"""``--smoke``: these training options on ``synthetic`` only (the same code path, seconds)."""


def matmul_peak(n: int = 1024, reps: int = 20) -> float:
    """Best-of-3 fp32 FLOP/s of an ``n × n`` matmul on this process's threads."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = math.inf
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(reps):
            a @ b
        best = min(best, (time.perf_counter() - t) / reps)
    return 2 * n**3 / best


def labelled(categories: list[str | None], level: int) -> tuple[np.ndarray, list[str]]:
    labels = [at_level(c, level) for c in categories]
    rows = np.array([i for i, lab in enumerate(labels) if lab], dtype=np.int64)
    return rows, [labels[i] for i in rows]


def wordsim(vectors: np.ndarray, tokens: list[str]) -> float:
    return word_pair_spearman(vectors, tokens, gensim_test_file(WORDSIM353)).spearman


def wiki_head(path: Path) -> Path:
    """Write the first articles of gensim's Wikipedia sample, up to :data:`HEAD_WORDS` words, to ``path``."""
    articles, words = [], 0
    for line in gensim_test_file("head500.noblanks.cor").read_text(encoding="utf-8").splitlines():
        articles.append(line)
        words += len(line.split())
        if words >= HEAD_WORDS:
            break
    path.write_text("\n".join(articles) + "\n", encoding="utf-8")
    return path


def bench(corpus: str, root: Path, smoke: bool = False) -> dict:
    out = root / corpus
    source = str(wiki_head(root / "wiki-head.txt")) if corpus == "wiki-head" else corpus
    peak_size = 256 if smoke else 1024
    peak_before = matmul_peak(peak_size)
    t0 = time.perf_counter()
    result = train(TrainConfig(corpus=source, device="cpu", **(SMOKE if smoke else {})), out, overwrite=True)
    wall = time.perf_counter() - t0
    peak_after = matmul_peak(peak_size)
    run = Run.open(out)
    manifest = run.manifest()
    tokens, _, categories = run.vocab()
    flops = TinyGPT(ModelConfig(**manifest.model)).flops_per_token()
    snaps = run.snapshots()
    curves = {}
    for level in LEVELS:
        rows, labels = labelled(categories, level)
        curves[level] = [(s.epoch, knn_purity(run.load_snapshot(s, rows), labels, k=K)) for s in snaps
                         if s.val_loss is not None]
    rows, labels = labelled(categories, 1)
    baseline, _ = baseline_for_run(run, manifest, Word2VecOptions())
    w2v_rows = np.array([r for r in rows if baseline.present[r]], dtype=np.int64)
    w2v_labels = [lab for r, lab in zip(rows, labels) if baseline.present[r]]
    final = run.load_snapshot(snaps[-1], np.arange(len(tokens)))
    return {
        "corpus": corpus, "wall": wall, "result": result, "chosen": manifest.chosen,
        "train_tokens": manifest.corpus.train_tokens, "vocab": len(tokens),
        "chance": purity_chance(labels), "n_labelled": len(rows),
        "w2v_purity": knn_purity(baseline.vectors[w2v_rows], w2v_labels, k=K), "w2v_seconds": baseline.seconds,
        "ws_lm": wordsim(final, tokens), "ws_w2v": wordsim(baseline.vectors, tokens),
        "curves": curves, "mfu": result.tokens_per_s * flops / max(peak_before, peak_after),
        "flops": flops, "peaks": (peak_before, peak_after),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", default=",".join(CORPORA), help="comma-separated subset of " + ", ".join(CORPORA))
    parser.add_argument("--smoke", action="store_true", help="toy sizes: check that the benchmark runs")
    args = parser.parse_args()
    if args.smoke:
        args.corpora = "synthetic"
    torch.set_num_threads(torch.get_num_threads())
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_emergence-") as tmp:
        for corpus in args.corpora.split(","):
            rows.append(bench(corpus, Path(tmp), args.smoke))
            print(f"... {corpus} done in {rows[-1]['wall']:.0f} s", flush=True)
    print()
    print("| corpus | train tokens | vocab | d × layers, epochs (ran) | wall s | purity init → final (chance) "
          "| Word2Vec purity | WordSim-353 LM / W2V |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        c, res = r["chosen"], r["result"]
        print(f"| {r['corpus']} | {r['train_tokens']:,} | {r['vocab']:,} | {c['d_model']} × {c['layers']}, "
              f"{c['epochs']} ({res.epochs_done}) | {r['wall']:.0f} | {res.purity_init:.3f} → "
              f"{res.purity_final:.3f} ({r['chance']:.3f}) | {r['w2v_purity']:.3f} | "
              f"{r['ws_lm']:.3f} / {r['ws_w2v']:.3f} |")
    print()
    for r in rows:
        print(f"{r['corpus']}: training {r['result'].tokens_per_s:,.0f} tokens/s × {r['flops'] / 1e6:.2f} MFLOP/token"
              f" = {r['result'].tokens_per_s * r['flops'] / 1e9:.0f} GFLOP/s; matmul peak "
              f"{r['peaks'][0] / 1e9:.0f} / {r['peaks'][1] / 1e9:.0f} GFLOP/s (before / after) → MFU {r['mfu']:.2f}")
        print("  purity per epoch (k=10):  epoch " + " ".join(f"{e:5.0f}" for e, _ in r["curves"][0]))
        for level, name in zip(LEVELS, ("part of speech", "field", "sub-field")):
            values = r["curves"][level]
            first = next((e for e, p in values if p >= 0.9), None)
            print(f"  {name:>15} (L{level}) " + " ".join(f"{p:5.2f}" for _, p in values)
                  + f"   ≥0.9 at epoch {first if first is None else int(first)}")


if __name__ == "__main__":
    main()
