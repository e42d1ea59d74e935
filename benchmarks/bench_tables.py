"""What the extra tables cost: a snapshot's write with the position table (and an untied head) beside the token table
alone, on the same model, side by side; the disk bytes per snapshot; and the share of a training run that is.

``train`` has no switch to leave the position table or the head out, so the writes are timed directly. Three arms
write ``--snapshots`` snapshots of one model of the demo's size each, alternating, every one through the training's
own snapshot path (``RunRecorder.snapshot``: tensor to NumPy, ``.npy`` files written atomically, ``index.json``
rewritten):

- reference: the token table alone (``Run.add_snapshot`` of the embedding, as before the extra tables existed);
- tied (the demo): the token table and the position table;
- untied (``--no-tie``): the token table, the position table and the output head.

Each arm's median over the snapshots counts (the disk is shared, so single writes vary). To say what the extra
write time means, a training step of the same model (batch ``--batch`` × context, forward, backward, AdamW) is
timed in the same process, and a run of ``--steps`` steps with ``--snapshots`` snapshots is costed from the two.
The fp32 matmul peak is printed beside the times (a loaded machine shows a low peak).

    python benchmarks/bench_tables.py [--vocab 497] [--dim 256] [--layers 2] [--context 64] [--snapshots 42]
                                      [--steps 556] [--smoke]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch
from bench_emergence import matmul_peak

from embviz.rundir.run import Run
from embviz.rundir.snapshot import Snapshot, snapshot_name
from embviz.training.distributed import Distributed
from embviz.training.model import ModelConfig, TinyGPT
from embviz.training.record import RunRecorder


def snapshot_at(step: int) -> Snapshot:
    return Snapshot(file=snapshot_name(step), step=step, epoch=0.0, tokens_seen=step, train_loss=1.0, val_loss=None)


def step_seconds(model: TinyGPT, batch: int, context: int, vocab: int, steps: int = 5) -> float:
    """The median time of one training step: forward, cross-entropy, backward, AdamW."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    data = torch.randint(0, vocab, (batch, context + 1), generator=torch.Generator().manual_seed(0))
    times = []
    for _ in range(steps + 1):
        t = time.perf_counter()
        logits = model(data[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, vocab), data[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - t)
    return statistics.median(times[1:])  # the first step allocates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=int, default=497, help="the demo's vocabulary")
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--context", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--snapshots", type=int, default=42, help="the demo's log schedule takes 42")
    parser.add_argument("--steps", type=int, default=556, help="the demo's steps, to cost a whole run")
    parser.add_argument("--smoke", action="store_true", help="a toy model and 3 snapshots, seconds")
    args = parser.parse_args()
    if args.smoke:
        args.vocab, args.dim, args.layers, args.context, args.batch, args.snapshots = 50, 16, 1, 8, 4, 3
    torch.manual_seed(0)
    models = {tie: TinyGPT(ModelConfig(vocab_size=args.vocab, d_model=args.dim, layers=args.layers, heads=2,
                                       context=args.context, tie=tie)) for tie in (True, False)}
    root = Path(tempfile.mkdtemp(prefix="bench-tables-"))
    try:
        runs = {arm: Run.create(root / arm) for arm in ("reference", "tied", "untied")}
        dist = Distributed(0, 1, torch.device("cpu"))
        recorders = {arm: RunRecorder(runs[arm], dist, "float32", args.batch * args.context, None)
                     for arm in ("tied", "untied")}
        seconds: dict[str, list[float]] = {arm: [] for arm in runs}
        peak = matmul_peak()
        for i in range(args.snapshots):
            for arm in runs:  # alternating, so a busy moment of the disk falls on every arm alike
                t = time.perf_counter()
                if arm == "reference":
                    token = models[True].embedding().detach().float().cpu().numpy().astype("float32")
                    runs[arm].add_snapshot(token, snapshot_at(i))
                else:
                    recorders[arm].snapshot(i, 0.0, None, models[arm == "tied"])
                seconds[arm].append(time.perf_counter() - t)
        step = step_seconds(models[True], args.batch, args.context, args.vocab)
        sizes = {arm: sum(p.stat().st_size for p in (root / arm / "snapshots").glob("step-*.npy")) / args.snapshots
                 for arm in runs}
    finally:
        shutil.rmtree(root, ignore_errors=True)

    median = {arm: statistics.median(s) for arm, s in seconds.items()}
    print(f"snapshot writes: vocab {args.vocab} × d {args.dim}, context {args.context}, {args.snapshots} snapshots "
          f"per arm, alternating (median per snapshot)")
    print(f"matmul peak (fp32)     {peak / 1e9:7.1f} GFLOP/s")
    print(f"{'arm':<34}{'ms/snapshot':>12}{'× reference':>13}{'bytes/snapshot':>16}{'× reference':>13}")
    names = {"reference": "reference: token table only", "tied": "tied: token + position (demo)",
             "untied": "untied: token + position + head"}
    for arm in runs:
        print(f"{names[arm]:<34}{median[arm] * 1e3:>12.2f}{median[arm] / median['reference']:>13.2f}"
              f"{sizes[arm]:>16,.0f}{sizes[arm] / sizes['reference']:>13.3f}")
    run_s = args.steps * step + args.snapshots * median["reference"]
    print(f"training step (batch {args.batch} × {args.context}): {step * 1e3:.1f} ms; a run of {args.steps} steps and "
          f"{args.snapshots} snapshots ≈ {run_s:.1f} s")
    for arm in ("tied", "untied"):
        extra = args.snapshots * (median[arm] - median["reference"])
        print(f"  {arm}: extra writes {extra:+.3f} s = {100 * extra / run_s:+.2f} % of that run; extra disk "
              f"{args.snapshots * (sizes[arm] - sizes['reference']) / 2**20:,.2f} MiB")


if __name__ == "__main__":
    main()
