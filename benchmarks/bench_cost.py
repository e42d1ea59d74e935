"""What does the demo's map cost? Steps against field purity for several model widths, side by side.

For each width, one ``train`` with every other option at its default (the settle rule included, so
each run stops where a user's would), snapshots every ``--every`` steps. Printed: per width the
chosen shape, steps, wall time, tokens/s, training FLOPs, final purity per lexicon level and the
first step at which part of speech reaches 0.9; then one table of field purity (lexicon level 1,
k = 10) at every snapshot step, the widths side by side, and the 1024² fp32 matmul peak measured
before and after (timings vary with the machine's load).

    .venv/bin/python benchmarks/bench_cost.py                          # synthetic, d_model 128, 192, 256
    .venv/bin/python benchmarks/bench_cost.py --widths 128,256 --keep runs/bench-cost
    .venv/bin/python benchmarks/bench_cost.py --widths 256 --epochs 3       # a shorter schedule
    .venv/bin/python benchmarks/bench_cost.py --smoke                  # a toy corpus, seconds

With ``--keep DIR`` the runs stay in ``DIR/d<width>`` (for ``bench_faithful.py``: how much of the
space's purity the film's layout keeps).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench_emergence import LEVELS, K, labelled, matmul_peak

from embviz import TrainConfig, train
from embviz.measure.metrics import knn_purity
from embviz.rundir.run import Run
from embviz.training.defaults import flops_per_token

SMOKE = dict(synthetic_tokens=6000, layers=1, context=16, batch_size=8, epochs=2)
"""``--smoke``: these options on ``synthetic`` at widths 16 and 32 (the same code path, seconds)."""
NAMES = ("part of speech", "field", "sub-field")


def bench(corpus: str, width: int, every: int, out: Path, extra: dict) -> dict:
    """Train ``corpus`` at ``width`` into ``out``; wall time, the result and purity per level per snapshot."""
    config = TrainConfig(corpus=corpus, d_model=width, snapshot_every=every, device="cpu", **extra)
    t0 = time.perf_counter()
    result = train(config, out, overwrite=True)
    wall = time.perf_counter() - t0
    run = Run.open(out)
    manifest = run.manifest()
    _, _, categories = run.vocab()
    snaps = run.snapshots()
    curves = {}
    for level in LEVELS:
        rows, labels = labelled(categories, level)
        curves[level] = {s.step: knn_purity(run.load_snapshot(s, rows), labels, k=K) for s in snaps}
    chosen = manifest.chosen
    flops = flops_per_token(chosen["d_model"], chosen["layers"], len(categories), config.context)
    tokens = result.steps * chosen["batch_size"] * config.context
    return {"width": width, "wall": wall, "result": result, "chosen": chosen, "curves": curves,
            "flops": flops * tokens, "tokens": tokens}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="synthetic")
    parser.add_argument("--widths", default="128,192,256", help="comma-separated d_model values")
    parser.add_argument("--every", type=int, default=35, help="snapshot every N steps")
    parser.add_argument("--epochs", type=int, help="a fixed epoch budget instead of the default's")
    parser.add_argument("--keep", type=Path, help="keep the runs in DIR/d<width>")
    parser.add_argument("--smoke", action="store_true", help="toy sizes: check that the benchmark runs")
    args = parser.parse_args()
    extra = SMOKE if args.smoke else {"epochs": args.epochs} if args.epochs else {}
    widths = [16, 32] if args.smoke else [int(w) for w in args.widths.split(",")]
    every = 5 if args.smoke else args.every
    peak_size = 256 if args.smoke else 1024
    peaks = [matmul_peak(peak_size)]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_cost-") as tmp:
        root = args.keep or Path(tmp)
        for width in widths:
            rows.append(bench(args.corpus, width, every, root / f"d{width}", extra))
            print(f"... d_model {width} done in {rows[-1]['wall']:.0f} s", flush=True)
    peaks.append(matmul_peak(peak_size))
    print()
    print(f"corpus {args.corpus}; matmul peak (fp32, {peak_size}², before / after) "
          f"{peaks[0] / 1e9:.0f} / {peaks[1] / 1e9:.0f} GFLOP/s")
    print("| d_model × layers, heads | batch | steps (epochs) | stop | wall s | tokens/s | train TFLOP "
          "| final purity pos / field / sub-field | part of speech ≥ 0.9 at step |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        c, res = r["chosen"], r["result"]
        finals = [r["curves"][level][max(r["curves"][level])] for level in LEVELS]
        first = next((s for s, p in sorted(r["curves"][0].items()) if p >= 0.9 and s > 0), None)
        print(f"| {c['d_model']} × {c['layers']}, {c['heads']} | {c['batch_size']} | {res.steps} "
              f"({res.epochs_done} of {c['epochs']}) | {res.stop_reason or res.status} | {r['wall']:.0f} "
              f"| {res.tokens_per_s:,.0f} | {r['flops'] / 1e12:.1f} | "
              + " / ".join(f"{p:.3f}" for p in finals) + f" | {first} |")
    print()
    steps = sorted(set().union(*(r["curves"][1] for r in rows)))
    print("field purity (lexicon level 1, k=10) against step:")
    print("| step | " + " | ".join(f"d {r['width']}" for r in rows) + " |")
    print("|---|" + "---|" * len(rows))
    for step in steps:
        cells = [f"{r['curves'][1][step]:.3f}" if step in r["curves"][1] else "" for r in rows]
        print(f"| {step} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
