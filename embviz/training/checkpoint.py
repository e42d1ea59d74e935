"""A run's checkpoint file: what it holds (:data:`CHECKPOINT_KEYS`), saved atomically, loaded and type-checked,
and the loop's :class:`Position` it records."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from embviz.errors import RunError
from embviz.rundir.files import atomic_write
from embviz.rundir.run import Run

CHECKPOINT_KEYS: dict[str, type | tuple[type, ...]] = {
    "model": dict, "optimizer": dict, "rng": torch.Tensor, "step": int, "epoch": int, "batch": int,
    "best": dict, "losses_since_snapshot": list}


@dataclass
class Position:
    """Where training stands: the global step, the epoch and the batch within it, the best validation so far."""

    step: int = 0
    epoch: int = 0
    batch: int = 0
    best: dict = field(default_factory=lambda: {"step": None, "val": math.inf, "since": 0})

    @classmethod
    def of(cls, state: dict) -> "Position":
        """The position a checkpoint (see :func:`load_checkpoint`) was saved at."""
        return cls(state["step"], state["epoch"], state["batch"], state["best"])


def state_of(model: torch.nn.Module, optimizer: torch.optim.Optimizer, at: Position,
             losses_since_snapshot: list[float]) -> dict:
    """What a checkpoint holds (:data:`CHECKPOINT_KEYS`): model, optimiser and RNG at ``at``."""
    return {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "rng": torch.get_rng_state(),
            "step": at.step, "epoch": at.epoch, "batch": at.batch, "best": at.best,
            "losses_since_snapshot": list(losses_since_snapshot)}


def restore(model: torch.nn.Module, optimizer: torch.optim.Optimizer, state: dict, where: Path) -> None:
    """Load a checkpoint's model, optimiser and RNG; a mismatch is a one-line :class:`RunError`."""
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
    except (RuntimeError, ValueError, KeyError, TypeError, IndexError, AttributeError) as e:
        detail = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise RunError(f"{where} does not match this run's model ({detail})") from None


def load_checkpoint(path: Path) -> dict:
    """The checkpoint as a dict, loaded with ``weights_only=True`` (no code from the file ever runs)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # unpickling refused, truncated zip, not a torch file at all...
        raise RunError(f"{path} is not a loadable checkpoint ({type(e).__name__}); it is truncated, corrupt "
                       "or not made by embviz") from None
    if not isinstance(state, dict):
        raise RunError(f"{path} is not an embviz checkpoint")
    for key, kind in CHECKPOINT_KEYS.items():
        if key not in state:
            raise RunError(f"{path}: checkpoint has no {key!r}")
        if isinstance(state[key], bool) or not isinstance(state[key], kind):
            raise RunError(f"{path}: checkpoint {key!r} has the wrong type ({type(state[key]).__name__})")
    best = state["best"]
    if not (isinstance(best.get("val"), (int, float)) and isinstance(best.get("since"), int)
            and (best.get("step") is None or isinstance(best.get("step"), int))):
        raise RunError(f"{path}: checkpoint 'best' is malformed")
    if not all(isinstance(x, (int, float)) for x in state["losses_since_snapshot"]):
        raise RunError(f"{path}: checkpoint 'losses_since_snapshot' is malformed")
    return state


def save_checkpoint(run: Run, state: dict) -> None:
    """Write ``state`` (see :data:`CHECKPOINT_KEYS`) as the run's checkpoint, atomically."""
    run.checkpoint_path.parent.mkdir(exist_ok=True)
    atomic_write(run.checkpoint_path, lambda f: torch.save(state, f))
