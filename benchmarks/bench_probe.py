"""What the contextual probe costs: ``embviz train`` with the probe (the default) against ``--no-probe``.

    python benchmarks/bench_probe.py [--corpus synthetic] [--epochs 1] [--snapshots 50]
    python benchmarks/bench_probe.py --smoke     # the same code path on a toy model, in seconds

Prints, measured side by side in one process (the two runs alternate, twice each, and the faster of
each pair is kept): the training wall time with and without the probe and their ratio, the capture's
own time per snapshot (timed alone on the trained model) as a share of training time, the matmul peak
of this run, the probe's memory (the windows it keeps on the device and the hidden states of one
forward batch) and its disk beside the snapshots'. It also checks that the two runs' snapshots are
equal bit for bit.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train import matmul_peak  # noqa: E402

from embviz.rundir.files import read_json  # noqa: E402
from embviz.rundir.run import Run  # noqa: E402
from embviz.text.corpus import load_corpus  # noqa: E402
from embviz.text.tokenizer import Tokenizer  # noqa: E402
from embviz.training import contextual  # noqa: E402
from embviz.training.loop import Session, TrainConfig, train  # noqa: E402

SMOKE = dict(synthetic_tokens=3000, d_model=16, layers=1, heads=2, context=16, batch_size=8)
"""``--smoke``: a toy model on a small synthetic corpus (the same code path, seconds)."""


def timed_train(config: TrainConfig, out: Path) -> float:
    t0 = time.perf_counter()
    train(config, out, overwrite=True)
    return time.perf_counter() - t0


def disk(folder: Path, pattern: str) -> int:
    return sum(p.stat().st_size for p in folder.glob(pattern))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="synthetic")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--snapshots", type=int, default=50)
    parser.add_argument("--smoke", action="store_true", help="toy sizes: check that the benchmark runs")
    args = parser.parse_args()
    torch.manual_seed(0)
    base = TrainConfig(corpus=args.corpus, epochs=args.epochs, device="cpu", stop_when_settled=False,
                       **(SMOKE if args.smoke else {}))
    corpus = load_corpus(base.corpus, synthetic_tokens=base.synthetic_tokens, seed=base.seed)
    peak_size = 256 if args.smoke else 1024
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        train(dataclasses.replace(base, epochs=1, probe=False), root / "size")  # its tokenizer and step count
        steps = Run.open(root / "size").manifest().total_steps * args.epochs
        config = dataclasses.replace(base, snapshot_every=max(1, steps // args.snapshots))
        peak_before = matmul_peak(peak_size)
        seconds: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(2):
            for probe in (False, True):
                seconds[probe].append(timed_train(dataclasses.replace(config, probe=probe), root / str(probe)))
        peak = max(peak_before, matmul_peak(peak_size))
        probed, plain = Run.open(root / "True"), Run.open(root / "False")
        snaps = probed.snapshots()
        identical = all(np.array_equal(probed.load_snapshot(a), plain.load_snapshot(b))
                        for a, b in zip(snaps, plain.snapshots(), strict=True))
        occurrences = probed.occurrences()
        tokenizer = Tokenizer.from_json(read_json(probed.path / "tokenizer.json"))
        session = Session.local(config, corpus.text, tokenizer)
        model, _ = session.build(torch.device("cpu"))
        capture = contextual.Capture(occurrences, session.val_ids, config.context, torch.device("cpu"))
        capture(model)
        t0 = time.perf_counter()
        for _ in range(5):
            capture(model)
        per_capture = (time.perf_counter() - t0) / 5
        probe_disk, snapshot_disk = disk(probed.probe_dir, "step-*.npy"), disk(probed.snapshot_dir, "step-*.npy")
    with_probe, without = min(seconds[True]), min(seconds[False])
    cfg = session.model_cfg
    windows = len(capture.batch)
    batch_states = min(windows, contextual.BATCH) * config.context * (cfg.layers + 1) * cfg.d_model * 4
    print(f"corpus {args.corpus}: {len(session.train_ids):,} training tokens; model d_model {cfg.d_model} · layers "
          f"{cfg.layers} · context {config.context}; {steps} steps, {len(snaps)} snapshots; probe {len(occurrences)} "
          f"occurrences of {len(set(occurrences.words))} words in {windows} windows")
    print(f"{'train --no-probe':40s} {without:9.2f} s   (runs: {', '.join(f'{s:.2f}' for s in seconds[False])})")
    print(f"{'train (probe on, the default)':40s} {with_probe:9.2f} s   (runs: {', '.join(f'{s:.2f}' for s in seconds[True])})")
    print(f"{'ratio probe / no probe':40s} {with_probe / without:9.3f}   (floor < 1.10)")
    print(f"{'one capture, timed alone':40s} {per_capture * 1e3:9.2f} ms; × {len(snaps)} snapshots = "
          f"{100 * per_capture * len(snaps) / without:.2f} % of training time")
    print(f"{f'matmul peak (fp32, {peak_size}², best of 6)':40s} {peak / 1e9:9.1f} GFLOP/s")
    print(f"{'memory: windows kept on the device':40s} {capture.batch.numel() * 8 / 1e3:9.1f} kB; hidden states of one "
          f"batch {batch_states / 1e6:.2f} MB")
    print(f"{'disk: probe files · snapshot files':40s} {probe_disk / 1e6:9.2f} MB · {snapshot_disk / 1e6:.2f} MB "
          f"({probe_disk / len(snaps) / 1e3:.1f} kB per snapshot)")
    print(f"{'snapshots equal with and without probe':40s} {'yes' if identical else 'NO'}")
    if not identical:
        raise SystemExit("the probe changed training")


if __name__ == "__main__":
    main()
