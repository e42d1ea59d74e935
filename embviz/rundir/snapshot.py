"""One entry of ``snapshots/index.json``: when a snapshot was taken and the file of each matrix it holds.

The matrices a run can hold (:data:`MATRICES`): ``token`` ``[V, d]`` (the input embedding, always),
``position`` ``[context, d]`` (the learned position table) and ``head`` ``[V, d]`` (the output head,
only when it is not tied to the token table). An entry written before ``files`` existed names only
``file``, the token table, and reads as ``{"token": file}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embviz.errors import RunError
from embviz.rundir.manifest import require

MATRICES = ("token", "position", "head")
DEFAULT_MATRIX = "token"
PROBE = "probe"
"""The name in ``files`` of the probe's contextual vectors ``probe/step-NNNNNNNN.npy`` ``[occurrences, layers + 1,
d]`` (:mod:`embviz.rundir.occurrences`); not a table of rows, so not one of :data:`MATRICES`."""
LAYER = "layer:"
"""``--matrix layer:N``: the probe's occurrences at layer N (0 = token + position, N = after block N)."""


def snapshot_name(step: int, matrix: str = DEFAULT_MATRIX) -> str:
    """``step-NNNNNNNN.npy`` for the token table, ``step-NNNNNNNN.<matrix>.npy`` for the others."""
    return f"step-{step:08d}.npy" if matrix == DEFAULT_MATRIX else f"step-{step:08d}.{matrix}.npy"


@dataclass(frozen=True)
class Snapshot:
    """The matrices saved at one step and when: ``files`` maps each matrix the run has to its file."""

    file: str
    step: int
    epoch: float
    tokens_seen: int
    train_loss: float | None
    val_loss: float | None
    files: dict[str, str] = field(default=None, hash=False)  # None: only the token table, in ``file``

    def __post_init__(self) -> None:
        object.__setattr__(self, "files", {DEFAULT_MATRIX: self.file, **(self.files or {})})

    @property
    def matrices(self) -> tuple[str, ...]:
        """The matrices this snapshot holds, in :data:`MATRICES` order."""
        return tuple(m for m in MATRICES if m in self.files)

    def to_json(self) -> dict:
        return {"file": self.file, "step": self.step, "epoch": self.epoch, "tokens_seen": self.tokens_seen,
                "train_loss": self.train_loss, "val_loss": self.val_loss, "files": dict(self.files)}

    @classmethod
    def from_json(cls, data: Any, where: Path) -> "Snapshot":
        num = (int, float)
        file = _plain_name(require(data, "file", str, where), where)
        losses = {}
        for key in ("train_loss", "val_loss"):
            value = data.get(key) if isinstance(data, dict) else None
            if value is not None and not isinstance(value, num):
                raise RunError(f"{where}: {key!r} has the wrong type ({type(value).__name__})")
            losses[key] = None if value is None else float(value)
        files = data.get("files", {DEFAULT_MATRIX: file})
        if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
            raise RunError(f"{where}: 'files' must map matrix names to file names")
        unknown = sorted(set(files) - set(MATRICES) - {PROBE})
        if unknown:
            raise RunError(f"{where}: unknown matrix {unknown[0]!r} in 'files' (known: {', '.join(MATRICES)})")
        if files.get(DEFAULT_MATRIX, file) != file:
            raise RunError(f"{where}: 'files' names {files[DEFAULT_MATRIX]!r} for the token table, 'file' {file!r}")
        return cls(
            file=file,
            step=require(data, "step", int, where),
            epoch=float(require(data, "epoch", num, where)),
            tokens_seen=require(data, "tokens_seen", int, where),
            files={m: _plain_name(name, where) for m, name in files.items()},
            **losses,
        )


def _plain_name(file: str, where: Path) -> str:
    if Path(file).name != file or not file.endswith(".npy"):
        raise RunError(f"{where}: snapshot file {file!r} must be a plain .npy name inside the run")
    return file


def layer_of(matrix: str) -> int | None:
    """N of ``layer:N`` (a RunError when N is not a whole number ≥ 0), None for any other matrix name."""
    if not matrix.startswith(LAYER):
        return None
    number = matrix[len(LAYER):]
    if not number.isdigit():
        raise RunError(f"--matrix {matrix!r}: N in layer:N must be a whole number ≥ 0")
    return int(number)


def require_matrix(snapshots: list[Snapshot], matrix: str, imported: dict | None) -> None:
    """Raise a one-line RunError naming the matrices the run has when its snapshots lack ``matrix``
    (``imported``: ``run.json``'s ``import`` of an imported run, None for a trained one)."""
    if layer_of(matrix) is not None:
        if snapshots and PROBE not in snapshots[0].files:
            raise RunError(f"--matrix {matrix}: this run has no probe (train it without --no-probe to save "
                           f"contextual vectors); it has: {', '.join(snapshots[0].matrices)}")
        return
    if matrix not in MATRICES:
        raise RunError(f"unknown --matrix {matrix!r}; choose one of {', '.join(MATRICES)}")
    if not snapshots or matrix in snapshots[0].files:
        return
    have = ", ".join(snapshots[0].matrices)
    left = (imported or {}).get("left_out") or {}
    if matrix in left:
        raise RunError(f"--matrix {matrix}: the import left the checkpoints' {left[matrix]} out (import again "
                       f"with --head to read it); this run has: {have}")
    why = {("head", False): "the run's output head is tied to its token table (train with --no-tie for a head "
                            "of its own)",
           ("head", True): "the imported checkpoints hold no separate output head",
           ("position", True): "the imported checkpoints hold no position table",
           ("position", False): "the run was written before position tables were saved"}[matrix, imported is not None]
    raise RunError(f"--matrix {matrix}: {why}; this run has: {have}")
