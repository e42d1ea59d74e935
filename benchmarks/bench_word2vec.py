"""compare-word2vec on a 5,000-token vocabulary with 20 snapshots: time of each part.

The run is built directly (no LM training): a 400,000-token corpus file over 5,000 word types in
50 topics (each sentence draws its words mostly from one topic), a word tokenizer, 20 snapshots
[5000, 64] that drift from noise towards a topic-structured matrix, and a complete run.json.
Then ``compare`` runs once with every core and once more reusing the stored baseline.

Run: .venv/bin/python benchmarks/bench_word2vec.py
     .venv/bin/python benchmarks/bench_word2vec.py --smoke    # 300 tokens, 3 snapshots: the same calls, in seconds
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from embviz.compare.comparison import CompareOptions, compare
from embviz.compare.word2vec import Word2VecOptions, available_cores
from embviz.rundir.run import Snapshot, snapshot_name

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # toyrun.py lives in tests/
from toyrun import make_corpus_run

SIZES = dict(vocab=5000, dim=64, snapshots=20, tokens=400_000, topics=50)
SMOKE = dict(vocab=300, dim=8, snapshots=3, tokens=5000, topics=10)


def build_run(root: Path, vocab: int, dim: int, snapshots: int, tokens: int, topics: int) -> Path:
    rng = np.random.default_rng(0)
    words = [f"w{i:04d}" for i in range(vocab - 1)]  # + <unk> = `vocab` tokens
    topic = np.arange(vocab - 1) % topics
    members = [np.flatnonzero(topic == t) for t in range(topics)]
    zipf = 1.0 / np.arange(1, vocab) ** 0.8
    zipf /= zipf.sum()
    lines, n = [], 0
    while n < tokens:
        t = rng.integers(topics)
        length = int(rng.integers(8, 16))
        own = rng.choice(members[t], size=length)
        mixed = np.where(rng.random(length) < 0.3, rng.choice(vocab - 1, size=length, p=zipf), own)
        lines.append(" ".join(words[i] for i in mixed))
        n += length
    run, vocab_tokens = make_corpus_run(root, lines, dim=dim, heads=2, epochs=snapshots - 1,
                                        categories=lambda t: f"noun/topic{int(t[1:]) % topics}" if t[1:].isdigit()
                                        else None)
    assert len(vocab_tokens) == vocab, len(vocab_tokens)
    centres = rng.normal(size=(topics, dim))
    target = np.zeros((vocab, dim))
    target[1:] = centres[[int(t[1:]) % topics for t in vocab_tokens[1:]]] + 0.7 * rng.normal(size=(vocab - 1, dim))
    noise = rng.normal(size=(vocab, dim))
    for s in range(snapshots):
        mix = s / (snapshots - 1)
        matrix = ((1 - mix) * noise + mix * target).astype(np.float32) * 0.05
        run.add_snapshot(matrix, Snapshot(file=snapshot_name(s * 100), step=s * 100, epoch=float(s),
                                          tokens_seen=s * 100 * 2048, train_loss=None, val_loss=5.0 - 0.1 * s))
    return run.path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="toy sizes: check that the benchmark runs")
    sizes = SMOKE if parser.parse_args().smoke else SIZES
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run_dir = build_run(Path(tmp), **sizes)
        print(f"built run: {sizes['vocab']:,} tokens x {sizes['snapshots']} snapshots of d={sizes['dim']}, "
              f"corpus {sizes['tokens']:,} tokens "
              f"({time.perf_counter() - t0:.1f} s)")
        w2v = Word2VecOptions(epochs=5)
        for label, options in [("first call (trains Word2Vec)", CompareOptions(word2vec=w2v)),
                               ("second call (reuses the stored vectors)", CompareOptions(word2vec=w2v))]:
            t0 = time.perf_counter()
            report = compare(run_dir, options)
            total = time.perf_counter() - t0
            print(f"\n{label}: {total:.2f} s total, {available_cores()} Word2Vec worker(s)")
            for part, seconds in report.data["timings"].items():
                print(f"  {part:<12} {seconds:8.3f} s")
        d = report.data
        print(f"\nlinear CKA {d['similarity']['linear_cka']:.3f} · Jaccard@10 {d['similarity']['jaccard']['mean']:.3f} · "
              f"purity LM {d['purity']['lm']:.3f} / Word2Vec {d['purity']['word2vec']:.3f} "
              f"(chance {d['purity']['chance']:.3f})")


if __name__ == "__main__":
    main()
