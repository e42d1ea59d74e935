"""A run's checkpoint file: what it holds (:data:`CHECKPOINT_KEYS`), saved atomically, loaded and type-checked."""

from __future__ import annotations

from pathlib import Path

import torch

from embviz.errors import RunError
from embviz.rundir.files import atomic_write
from embviz.rundir.run import Run

CHECKPOINT_KEYS: dict[str, type | tuple[type, ...]] = {
    "model": dict, "optimizer": dict, "rng": torch.Tensor, "step": int, "epoch": int, "batch": int,
    "best": dict, "losses_since_snapshot": list}


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
