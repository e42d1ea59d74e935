"""When a run has stopped learning what the film shows: the map and validation loss have levelled.

The rule reads one record per epoch end (:class:`EpochRecord`): the validation loss and how much the
embedding moved since the previous epoch end, ``1 - linear CKA`` of the two snapshots (0: the same
map up to rotation and scale). The map has settled when, over the last :attr:`Rule.window` epochs,
every epoch moved it by less than :attr:`Rule.change_tol` and the validation loss has not fallen more
than :attr:`Rule.loss_tol` (relative) below its earlier best; never before :attr:`Rule.min_epochs`.
The map decides; the loss only keeps a run going while it still falls fast (on real text it goes
on falling for epochs after purity has peaked). A settled run then cools down for one epoch (its
learning rate falls linearly to the schedule's floor, ``training.Session.lr_at``) and stops.
``docs/defaults.md`` gives the measurements.

The history is rebuilt from a run's own epoch snapshots (:meth:`Watch.of_run`), so a resumed run
decides exactly as an unbroken one would.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from embviz.rundir.run import Run, Snapshot


@dataclass(frozen=True)
class EpochRecord:
    """One epoch end: its number, step, validation loss and the map's change since the previous one."""

    epoch: int
    step: int
    val_loss: float
    change: float | None
    """``1 - linear CKA`` with the previous epoch end's snapshot; None for the first record."""


@dataclass(frozen=True)
class Rule:
    """Stop when both signals have levelled for ``window`` epochs, not before ``min_epochs``."""

    min_epochs: int = 3
    window: int = 2
    loss_tol: float = 0.1
    change_tol: float = 0.1


RULE = Rule()


def map_change(previous: np.ndarray, current: np.ndarray) -> float:
    """``1 - linear CKA`` of two snapshots ``[V, d]`` of the same vocabulary (0 = unchanged map)."""
    from embviz.measure.metrics import linear_cka  # scipy and scikit-learn load only when a run measures

    return 1.0 - linear_cka(previous, current)


def settled(history: Sequence[EpochRecord], rule: Rule = RULE) -> str | None:
    """Why the run should stop after the last record of ``history`` (epoch 0 first), or None to go on."""
    if len(history) < rule.window + 1 or history[-1].epoch < rule.min_epochs:
        return None
    recent, before = history[-rule.window:], history[:-rule.window]
    best_before = min(r.val_loss for r in before)
    best_recent = min(r.val_loss for r in recent)
    if best_recent < best_before * (1 - rule.loss_tol):
        return None  # validation loss still improving
    changes = [r.change for r in recent]
    if any(c is None or not c < rule.change_tol for c in changes):
        return None  # the map still moving
    return (f"settled at epoch {history[-1].epoch}: the map moved at most {max(changes):.3f} (1 - CKA) per "
            f"epoch for {rule.window} epochs; validation loss {best_recent:.3f} (best before {best_before:.3f})")


def first_settled(history: Sequence[EpochRecord], before_epoch: int, rule: Rule = RULE) -> tuple[int, str] | None:
    """The first epoch end of ``history`` before ``before_epoch`` at which the map had settled, and why."""
    for i, record in enumerate(history):
        if record.epoch < before_epoch and (why := settled(history[:i + 1], rule)):
            return record.epoch, why
    return None


@dataclass
class Watch:
    """The per-epoch history of a run as it trains (what :func:`settled` reads)."""

    history: list[EpochRecord] = field(default_factory=list)
    last: np.ndarray | None = field(default=None, repr=False)
    """The previous epoch end's snapshot ``[V, d]``."""

    @classmethod
    def of_run(cls, run: Run) -> "Watch":
        """The history of the epoch snapshots ``run`` holds (those with a validation loss)."""
        watch = cls()
        for snap in run.snapshots():
            if snap.val_loss is not None:
                watch.add(snap, run.load_snapshot(snap))
        return watch

    def add(self, snap: Snapshot, matrix: np.ndarray) -> None:
        """Record an epoch snapshot and its matrix ``[V, d]`` as saved."""
        change = None if self.last is None else map_change(self.last, matrix)
        self.history.append(EpochRecord(round(snap.epoch), snap.step, snap.val_loss, change))
        self.last = matrix
