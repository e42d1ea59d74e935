"""One training process, or one rank of a ``torchrun`` job: device choice, collectives, stop signals.

:class:`Distributed` says which rank this process is, on which device, and holds the few collectives
training needs (every rank calls the same ones in the same order; an error on one rank becomes an
error on all, so none is left waiting). :class:`StopFlag` turns SIGINT/SIGTERM into a request that
every rank agrees on, so the loop finishes its step, saves and stops.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch

from embviz.errors import ConfigError, EmbvizError, RunError


class StopFlag:
    """Set by SIGINT/SIGTERM; the loop finishes its step, saves, and stops."""

    def __init__(self) -> None:
        self.was_requested = False

    @contextlib.contextmanager
    def catch_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: object) -> None:
            self.was_requested = True

        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, h in previous.items():
                signal.signal(s, h)

    def requested(self, dist: "Distributed") -> bool:
        """Whether any rank was asked to stop (all ranks agree, so none is left waiting)."""
        self.was_requested = dist.any(self.was_requested)
        return self.was_requested


@dataclass
class Distributed:
    """One process, or one rank of a ``torchrun`` job.

    Under torchrun the process group has two backends: ``gloo`` for CPU tensors (the small control
    messages below: stop flag, losses, errors, the resume state) and, when CUDA is present, ``nccl``
    for CUDA tensors (DDP's gradient all-reduce). Every rank calls the same collectives in the same
    order; the helpers below make an error on one rank an error on all, so none is left waiting.
    """

    rank: int
    world: int
    device: torch.device
    group: bool = False
    """Whether this process is in a torchrun process group (even one of size 1)."""

    @classmethod
    def start(cls, device: str | None) -> "Distributed":
        """Join the torchrun job if there is one; ``device=None`` leaves the device to :meth:`use`."""
        if not launched_by_torchrun():
            return cls(0, 1, pick_device(device or "cpu"))
        import torch.distributed as tdist

        if not tdist.is_initialized():
            backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
            tdist.init_process_group(backend=backend)
        dist = cls(tdist.get_rank(), tdist.get_world_size(), torch.device("cpu"), group=True)
        if device is not None:
            dist.use(device)
        return dist

    def use(self, name: str) -> None:
        """Pick the device by name (``auto``, ``cpu``, ``cuda``, ``mps``); a CUDA rank takes GPU ``LOCAL_RANK``."""
        def pick() -> torch.device:
            dev = pick_device(name)
            if not self.group:
                return dev
            if dev.type == "mps":
                raise ConfigError("training on several processes needs --device cpu or cuda (MPS has no "
                                  "distributed backend)")
            if dev.type == "cuda":
                local = int(os.environ.get("LOCAL_RANK", "0"))
                if local >= torch.cuda.device_count():
                    raise ConfigError(f"local rank {local} has no GPU (this node has {torch.cuda.device_count()}); "
                                      "use --nproc-per-node at most the number of GPUs")
                torch.cuda.set_device(local)
                dev = torch.device("cuda", local)
            return dev

        self.device = self.agree(pick)

    @property
    def is_writer(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.group

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """``model`` in DistributedDataParallel under torchrun, else itself."""
        if not self.distributed:
            return model
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(model, device_ids=[self.device.index] if self.device.type == "cuda" else None)

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    # -- collectives on small CPU tensors (gloo) -----------------------------------------------------

    def _all_reduce(self, values: list[float], op: str) -> list[float]:
        import torch.distributed as tdist

        t = torch.tensor(values, dtype=torch.float64)
        tdist.all_reduce(t, op=getattr(tdist.ReduceOp, op))
        return t.tolist()

    def any(self, flag: bool) -> bool:
        """Whether ``flag`` is true on any rank."""
        if not self.distributed:
            return flag
        return self._all_reduce([float(flag)], "MAX")[0] > 0

    def sum(self, value: float) -> float:
        if not self.distributed:
            return value
        return self._all_reduce([value], "SUM")[0]

    def mean(self, value: float) -> float:
        """The mean over ranks (each rank's value is the mean loss of an equal share of the batch)."""
        if not self.distributed:
            return value
        return self.sum(value) / self.world

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank (sent between this job's own processes only)."""
        if not self.distributed:
            return value
        import torch.distributed as tdist

        box = [value]
        tdist.broadcast_object_list(box, src=0, device=torch.device("cpu"))
        return box[0]

    def on_writer(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on rank 0 only; every rank gets its result, or raises its error."""
        value, error, message = None, None, None
        if self.is_writer:
            try:
                value = fn()
            except Exception as e:  # noqa: BLE001 - re-raised below, after the other ranks are told
                error = e
                message = str(e) if isinstance(e, EmbvizError) else f"rank 0 failed ({type(e).__name__}: {e})"
        if self.distributed:
            message, value = self.broadcast((message, value if error is None else None))
        if error is not None:
            raise error
        if message is not None:
            raise RunError(message)
        return value

    def agree(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on every rank; if it fails on any rank, every rank raises."""
        try:
            value, error = fn(), None
        except Exception as e:  # noqa: BLE001 - re-raised below, after the other ranks are told
            value, error = None, e
        failed = self.any(error is not None)
        if error is not None:
            raise error
        if failed:
            raise RunError("another process of this torchrun job failed; its error is printed above")
        return value

    def stop(self) -> None:
        if self.distributed:
            import torch.distributed as tdist

            if tdist.is_initialized():
                import gc

                gc.collect()  # free DDP's reducer and finished gloo work while the interpreter is whole
                tdist.destroy_process_group()


def launched_by_torchrun() -> bool:
    """torchrun (and ``torch.distributed.launch``) set all of these for every worker."""
    return all(k in os.environ for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"))


def pick_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for but no CUDA GPU is available")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("--device mps was asked for but MPS is not available")
    return torch.device(name)
