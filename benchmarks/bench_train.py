"""Training speed: embviz's loop against a bare loop over the same model and batches.

    python benchmarks/bench_train.py [--corpus synthetic] [--epochs 2]
    python benchmarks/bench_train.py --smoke     # the same code path on a toy model, in seconds

Prints, measured side by side in one process: tokens/s of ``embviz.train`` (snapshots, checkpoints,
validation and logging included) and of a bare loop (same model, same batches, nothing else), their
ratio, the achieved FLOP/s against a matmul peak measured in the same run, and what the per-epoch
snapshots cost as a share of training time and on disk: the token table alone (the reference), with
the position table (every run), and with the untied head (``--no-tie`` runs).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from embviz.rundir.files import read_json
from embviz.rundir.run import Run, Snapshot, snapshot_name
from embviz.text.corpus import load_corpus
from embviz.text.tokenizer import Tokenizer
from embviz.training.loop import Session, TrainConfig, train
from embviz.training.model import TinyGPT

SMOKE = dict(synthetic_tokens=2000, d_model=16, layers=1, heads=2, context=16, batch_size=8)
"""``--smoke``: a toy model on a small synthetic corpus (the same code path, seconds)."""


def matmul_peak(n: int = 1024, repeats: int = 30) -> float:
    """fp32 FLOP/s of an n×n matmul, best of three timings."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    best = 0.0
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(repeats):
            a @ b
        best = max(best, 2 * n**3 * repeats / (time.perf_counter() - t))
    return best


def embviz_loop(config: TrainConfig, out: Path) -> tuple[float, int, dict]:
    """Tokens/s between the first and the last step of a real ``train`` call, overheads included."""
    marks: list[tuple[int, float]] = []
    train(config, out, progress=lambda s: marks.append((s.step, time.perf_counter())))
    (first, t0), (last, t1) = marks[0], marks[-1]
    manifest = Run.open(out).manifest()
    tokens_per_step = manifest.chosen["batch_size"] * config.context
    return (last - first) * tokens_per_step / (t1 - t0), last, manifest


def bare_loop(config: TrainConfig, run_dir: Path, steps: int) -> tuple[float, TinyGPT]:
    """Tokens/s of model + AdamW + the same batches, and nothing else."""
    corpus = load_corpus(config.corpus, synthetic_tokens=config.synthetic_tokens, seed=config.seed,
                         difficulty=config.difficulty)
    tokenizer = Tokenizer.from_json(read_json(run_dir / "tokenizer.json"))
    session = Session.local(config, corpus.text, tokenizer)
    torch.manual_seed(config.seed)
    model = TinyGPT(session.model_cfg)
    optimizer = torch.optim.AdamW(model.parameters(), lr=session.chosen.lr, betas=(0.9, 0.95))
    offsets = torch.arange(config.context + 1)
    per_epoch = session.steps_per_epoch
    batches = [session.train_ids[session.batch_windows(s // per_epoch, s % per_epoch)[:, None] + offsets]
               for s in range(steps)]
    t0 = 0.0
    for i, chunk in enumerate(batches):
        if i == 1:  # time steps 2..N, as for the embviz loop
            t0 = time.perf_counter()
        logits = model(chunk[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), chunk[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    tokens = (steps - 1) * batches[0].shape[0] * config.context
    return tokens / (time.perf_counter() - t0), model


def snapshot_cost(matrix: np.ndarray, others: dict[str, np.ndarray], repeats: int = 10) -> tuple[float, int]:
    """Seconds to save one snapshot the way a run does (atomic .npy files + index update), and its bytes on disk."""
    with tempfile.TemporaryDirectory() as tmp:
        run = Run.create(Path(tmp) / "run")
        t0 = time.perf_counter()
        for step in range(repeats):
            run.add_snapshot(matrix, Snapshot(snapshot_name(step), step, 0.0, 0, None, None), others)
        seconds = (time.perf_counter() - t0) / repeats
        size = sum(p.stat().st_size for p in run.snapshot_dir.glob("step-00000000*.npy"))
        return seconds, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="synthetic")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--smoke", action="store_true", help="toy sizes: check that the benchmark runs")
    args = parser.parse_args()
    torch.manual_seed(0)
    config = TrainConfig(corpus=args.corpus, epochs=args.epochs, device="cpu", **(SMOKE if args.smoke else {}))
    peak_size = 256 if args.smoke else 1024
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        peak_before = matmul_peak(peak_size)
        ours, steps, manifest = embviz_loop(config, run_dir)
        bare, model = bare_loop(config, run_dir, steps)
        peak = max(peak_before, matmul_peak(peak_size))
        token = model.embedding().detach().numpy()
        position, head = model.positions().detach().numpy(), np.ascontiguousarray(token[::-1])  # head: [V, d]
        costs = {"token table alone [V, d]": snapshot_cost(token, {}),
                 "+ position table [context, d]": snapshot_cost(token, {"position": position}),
                 "+ position + untied head [V, d]": snapshot_cost(token, {"position": position, "head": head})}
    flops = model.flops_per_token()
    chosen = manifest.chosen
    train_seconds = steps * chosen["batch_size"] * config.context / ours
    epoch_snapshots = args.epochs + 1
    print(f"corpus {args.corpus}: {manifest.corpus.train_tokens:,} training tokens, vocabulary "
          f"{manifest.model['vocab_size']:,}; model d_model {chosen['d_model']} · layers {chosen['layers']} · "
          f"heads {chosen['heads']} · context {config.context} · batch {chosen['batch_size']}; {steps} steps")
    print(f"{'embviz train loop':38s} {ours:10,.0f} tokens/s")
    print(f"{'bare loop (same model, same batches)':38s} {bare:10,.0f} tokens/s")
    print(f"{'ratio embviz / bare':38s} {ours / bare:10.3f}   (floor 0.95)")
    print(f"{f'matmul peak (fp32, {peak_size}², best of 6)':38s} {peak / 1e9:10.1f} GFLOP/s")
    print(f"{'achieved, embviz loop':38s} {ours * flops / 1e9:10.1f} GFLOP/s = {ours * flops / peak:.3f} of peak   (floor 0.6)")
    print(f"{'achieved, bare loop':38s} {bare * flops / 1e9:10.1f} GFLOP/s = {bare * flops / peak:.3f} of peak")
    base_seconds, base_bytes = costs["token table alone [V, d]"]
    for name, (seconds, size) in costs.items():
        print(f"{'snapshot: ' + name:38s} {seconds * 1e3:10.2f} ms ({seconds / base_seconds:.2f}x), "
              f"{size / 1e3:,.1f} kB ({size / base_bytes:.2f}x); {epoch_snapshots} per-epoch snapshots = "
              f"{100 * epoch_snapshots * seconds / train_seconds:.3f} % of training time   (floor < 1 %)")


if __name__ == "__main__":
    main()
