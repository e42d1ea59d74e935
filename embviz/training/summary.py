"""What a run reports: the progress status after each step and the result at its end."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from embviz.rundir.run import Run
from embviz.training.defaults import Chosen


@dataclass
class TrainStatus:
    """What a progress callback is told after every step."""

    step: int
    total_steps: int
    epoch: int
    epochs: int
    loss: float
    tokens_per_s: float


@dataclass
class TrainResult:
    run_dir: Path
    status: str
    steps: int
    epochs_done: int
    snapshots: int
    final_train_loss: float | None
    final_val_loss: float | None
    best_step: int | None
    stopped_early: bool
    stop_reason: str | None
    """Why training stopped before its last epoch (the settle rule or patience); None if it did not."""
    purity_init: float | None
    purity_final: float | None
    purity_chance: float | None
    tokens_per_s: float
    seconds: float
    chosen: dict = field(default_factory=dict)
    positions: dict = field(default_factory=dict)
    """Position order at init and at the end: ``{"init": {adjacent, order, top3}, "final": {...}}`` (empty
    when the run has no position table)."""
    head: dict = field(default_factory=dict)
    """An untied run's head vs its input table at init and at the end: ``{"init": {cka, jaccard}, "final": ...}``."""


def summarize(run: Run, writer: bool, chosen: Chosen, labels: list[str | None], status: str, step: int, epoch: int,
              best: dict, stop_reason: str | None, tokens: int, seconds_training: float, seconds: float) -> TrainResult:
    """The result of a run that ended at ``step``/``epoch`` (purity at init and at the end, read back from the
    run's snapshots on rank 0; ``labels`` are the vocabulary's categories at the purity level)."""
    snaps = run.snapshots() if writer else []
    purity_init = purity_final = chance = None
    if len(snaps) >= 2 and writer:
        from embviz.measure.metrics import knn_purity, purity_chance

        rows = np.array([i for i, lab in enumerate(labels) if lab is not None])
        if len(rows) >= 3:
            cats = [labels[i] for i in rows]
            purity_init = knn_purity(run.load_snapshot(snaps[0], rows), cats)
            purity_final = knn_purity(run.load_snapshot(snaps[-1], rows), cats)
            chance = purity_chance(cats)
    positions, head = _position_and_head(run, snaps) if len(snaps) >= 2 and writer else ({}, {})
    final = snaps[-1] if snaps else None
    last_val = next((s.val_loss for s in reversed(snaps) if s.val_loss is not None), None)
    return TrainResult(
        run_dir=run.path, status=status, steps=step, epochs_done=epoch, snapshots=len(snaps),
        final_train_loss=final.train_loss if final else None, final_val_loss=last_val,
        best_step=best["step"], stopped_early=stop_reason is not None, stop_reason=stop_reason,
        purity_init=purity_init, purity_final=purity_final, purity_chance=chance,
        tokens_per_s=tokens / seconds_training if seconds_training else 0.0, seconds=seconds,
        chosen=asdict(chosen), positions=positions, head=head)


def _position_and_head(run: Run, snaps: list) -> tuple[dict, dict]:
    """Position order and head agreement at the first and the last snapshot (empty where the run lacks the matrix)."""
    from embviz.measure.positions import head_agreement, position_order

    ends = {"init": snaps[0], "final": snaps[-1]}
    positions = {when: asdict(position_order(run.load_snapshot(s, matrix="position")))
                 for when, s in ends.items() if "position" in s.files}
    head = {when: dict(zip(("cka", "jaccard"), head_agreement(run.load_snapshot(s, matrix="head"), run.load_snapshot(s))))
            for when, s in ends.items() if "head" in s.files}
    return positions, head


def jsonable(result: TrainResult) -> dict:
    """``result`` as JSON values (the run directory a string, non-finite numbers None)."""
    data = asdict(result)
    data["run_dir"] = str(result.run_dir)
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in data.items()}
