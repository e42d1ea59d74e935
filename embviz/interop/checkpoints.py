"""Checkpoints written by other trainers: finding a series, telling each one's step, and reading
only the token-embedding matrix (and the tables beside it) out of each.

Kinds (one per series):

``safetensors``  ``model.safetensors``, any ``*.safetensors``, or a ``model.safetensors.index.json`` shard index
``bin``          ``pytorch_model.bin`` or ``pytorch_model.bin.index.json`` (Hugging Face's older format)
``pt``           nanoGPT's ``ckpt.pt`` (``{"model": state_dict, "model_args", "iter_num", ...}``) or a plain
                 ``torch.save(model.state_dict())`` file (``.pt``, ``.pth``, ``.ckpt``)

Only the tensors imported are read: safetensors through ``safe_open`` slices, torch files through
``torch.load(mmap=True, weights_only=True)``, so the rest of the checkpoint stays on disk. Nothing is
ever unpickled beyond what ``weights_only`` allows.
"""

from __future__ import annotations

import glob
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embviz.errors import CheckpointError

EMBEDDING_KEYS = ("transformer.wte.weight", "wte.weight", "gpt_neox.embed_in.weight", "model.embed_tokens.weight",
                  "embeddings.word_embeddings.weight")
"""Token-embedding names of GPT-2 / nanoGPT, GPT-2 hub files, GPT-NeoX (Pythia), Llama-style and BERT-style models."""
OUTPUT_KEYS = ("lm_head.weight", "embed_out.weight")
"""Names of an untied LM head (``--matrix output``)."""
POSITION_KEYS = ("transformer.wpe.weight", "wpe.weight")
"""Learned position tables of GPT-2 / nanoGPT and GPT-2 hub files, imported beside the token table."""
MATRICES = ("input", "output")
PREFIXES = ("_orig_mod.", "module.")
"""Stripped from names: ``torch.compile`` and ``DistributedDataParallel`` wrappers."""
FOLDER_FILES = ("model.safetensors.index.json", "model.safetensors", "pytorch_model.bin.index.json",
                "pytorch_model.bin", "ckpt.pt")
"""What makes a folder a checkpoint, in order of preference."""
TRAINER_STATE = "trainer_state.json"
_SHARD = re.compile(r"-\d+-of-\d+\.")


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint: its weights file (or shard index), kind, and the folder it is named by (if any)."""

    path: Path
    kind: str
    folder: Path | None = None
    parts: tuple[tuple[str, Path], ...] = ()
    """(tensor name, one-tensor safetensors file) of a checkpoint held as separate files, ``path`` the first
    (a Hub import's cache); empty for a checkpoint on disk."""

    @property
    def name(self) -> str:
        return str(self.folder if self.folder is not None else self.path)


@dataclass(frozen=True)
class Tensor:
    """The chosen matrix of one checkpoint: its stored name, shape, and the step the file records."""

    key: str
    shape: tuple[int, ...]
    dtype: str
    iter_num: int | None
    others: tuple[tuple[str, str], ...] = ()
    """(run matrix, stored name) of the tables read beside it: ``position`` [context, d], ``head`` [V, d]."""


def kind_of(path: Path) -> str | None:
    """The kind of a weights file by its name, or None."""
    name = path.name
    if name.endswith((".safetensors", ".safetensors.index.json")):
        return "safetensors"
    if name.endswith((".bin", ".bin.index.json")):
        return "bin"
    if path.suffix in (".pt", ".pth", ".ckpt"):
        return "pt"
    return None


def _natural(path: Path) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(path))]


def _folder_weights(folder: Path) -> Path | None:
    for name in FOLDER_FILES:
        if (folder / name).is_file():
            return folder / name
    return None


def _from_file(path: Path) -> Checkpoint:
    kind = kind_of(path)
    if kind is None:
        raise CheckpointError(f"{path} is not a checkpoint file (expected .safetensors, .bin, .pt or a shard index)")
    folder = path.parent if path.name in FOLDER_FILES else None
    return Checkpoint(path, kind, folder)


def _from_dir(folder: Path) -> list[Checkpoint]:
    own = _folder_weights(folder)
    if own is not None:
        return [_from_file(own)]
    found = []
    for child in sorted(folder.iterdir(), key=_natural):
        if child.is_dir() and (weights := _folder_weights(child)) is not None:
            found.append(_from_file(weights))
        elif child.is_file() and kind_of(child) is not None and not _SHARD.search(child.name):
            found.append(_from_file(child))
    if not found:
        raise CheckpointError(f"no checkpoints found in {folder} (looked for checkpoint folders holding "
                              f"{', '.join(FOLDER_FILES)}, and for .safetensors, .bin and .pt files)")
    return found


def find_checkpoints(sources: Sequence[str | Path | Checkpoint]) -> list[Checkpoint]:
    """The checkpoints named by ``sources`` (files, checkpoint folders, folders of them, globs, or
    checkpoints already found), in the order given (natural order within a folder or glob); every one of one kind."""
    found: list[Checkpoint] = []
    for source in sources:
        if isinstance(source, Checkpoint):
            found.append(source)
            continue
        text = str(source)
        if glob.has_magic(text):
            paths = sorted((Path(p) for p in glob.glob(text)), key=_natural)
            if not paths:
                raise CheckpointError(f"no checkpoints match {text}")
        else:
            paths = [Path(text)]
        for path in paths:
            if path.is_dir():
                found += _from_dir(path)
            elif path.is_file():
                found.append(_from_file(path))
            else:
                raise CheckpointError(f"{path} does not exist")
    if not found:
        raise CheckpointError("no checkpoints given")
    unique = list({c.path.resolve(): c for c in found}.values())
    kinds = {c.kind: c for c in unique}
    if len(kinds) > 1:
        listed = ", ".join(f"{c.name} ({k})" for k, c in kinds.items())
        raise CheckpointError(f"mixed checkpoint kinds: {listed}; import one kind at a time")
    return unique


# -- steps ------------------------------------------------------------------------------------


def trainer_state(checkpoint: Checkpoint) -> dict | None:
    """The Hugging Face ``trainer_state.json`` beside the weights, or None."""
    if checkpoint.folder is None or not (checkpoint.folder / TRAINER_STATE).is_file():
        return None
    where = checkpoint.folder / TRAINER_STATE
    try:
        data = json.loads(where.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{where} is not readable JSON ({e})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{where} is not a JSON object")
    return data


def checkpoint_step(checkpoint: Checkpoint, state: dict | None, iter_num: int | None) -> int | None:
    """``trainer_state.json`` ``global_step``, else nanoGPT's ``iter_num``, else the last number in the
    checkpoint's name (its folder's, or the file's stem); None when there is none."""
    if state is not None and isinstance(state.get("global_step"), int):
        return state["global_step"]
    if iter_num is not None:
        return iter_num
    for name in (checkpoint.folder.name if checkpoint.folder else checkpoint.path.name.split(".")[0],
                 checkpoint.path.parent.name):
        numbers = re.findall(r"\d+", name)
        if numbers:
            return int(numbers[-1])
    return None


# -- reading ----------------------------------------------------------------------------------


def strip_prefixes(name: str) -> str:
    """``_orig_mod.module.transformer.wte.weight`` → ``transformer.wte.weight``."""
    changed = True
    while changed:
        changed = False
        for prefix in PREFIXES:
            if name.startswith(prefix):
                name, changed = name[len(prefix):], True
    return name


def choose_key(shapes: dict[str, tuple[int, ...]], where: str, key: str | None = None, matrix: str = "input") -> str:
    """The stored name of the matrix to import, or a CheckpointError listing the candidates with their shapes."""
    if matrix not in MATRICES:
        raise CheckpointError(f"unknown --matrix {matrix!r}; choose one of {', '.join(MATRICES)}")
    stripped: dict[str, list[str]] = {}
    for name in shapes:
        stripped.setdefault(strip_prefixes(name), []).append(name)
    if key is not None:
        found = [key] if key in shapes else stripped.get(strip_prefixes(key), [])
        if len(found) == 1:
            return found[0]
        raise CheckpointError(f"no tensor named {key} in {where}; {_listing(shapes)}")
    wanted = EMBEDDING_KEYS if matrix == "input" else OUTPUT_KEYS
    found = [name for k in wanted for name in stripped.get(k, [])]
    if len(found) == 1:
        return found[0]
    if found:
        listed = ", ".join(f"{n} {list(shapes[n])}" for n in found)
        raise CheckpointError(f"several {matrix} embedding tensors in {where}: {listed}; pass --key NAME")
    if matrix == "output" and any(k in stripped for k in EMBEDDING_KEYS):
        raise CheckpointError(f"{where} has no separate LM head ({', '.join(OUTPUT_KEYS)}): its head is tied to "
                              "the token embedding; import without --matrix output")
    raise CheckpointError(f"no {'token-embedding' if matrix == 'input' else 'LM-head'} tensor found in {where}; "
                          f"{_listing(shapes)}")


def _listing(shapes: dict[str, tuple[int, ...]], limit: int = 8) -> str:
    matrices = sorted((n for n, s in shapes.items() if len(s) == 2), key=lambda n: -int(np.prod(shapes[n])))
    if not matrices:
        return "it holds no 2-D tensor"
    shown = ", ".join(f"{n} {list(shapes[n])}" for n in matrices[:limit])
    more = f" and {len(matrices) - limit} more" if len(matrices) > limit else ""
    return f"2-D tensors (largest first): {shown}{more}; pass --key NAME"


def read_weight_map(path: Path) -> dict[str, str]:
    """The tensor name → shard file map of a shard index (``*.index.json``)."""
    try:
        weight_map = json.loads(Path(path).read_text(encoding="utf-8"))["weight_map"]
        if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
            raise TypeError
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
        raise CheckpointError(f"{path} is not a shard index (a JSON object with a weight_map)") from None
    return weight_map


class _Reader:
    """Names → shapes of one checkpoint, and ``read(name, rows)`` of one of them as float32 [rows, d]."""

    def __init__(self, checkpoint: Checkpoint):
        self.checkpoint = checkpoint
        self.iter_num: int | None = None
        path = checkpoint.path
        if checkpoint.parts:
            self._open_shards(dict(checkpoint.parts))
        elif path.name.endswith(".index.json"):
            self._open_index(path)
        elif checkpoint.kind == "safetensors":
            self._files = {None: path}
            self.shapes, self.dtypes = _safetensors_header(path)
            self._where = dict.fromkeys(self.shapes)
        else:
            self._open_torch(path)

    def _open_index(self, path: Path) -> None:
        weight_map = read_weight_map(path)
        for shard in set(weight_map.values()):
            if Path(shard).name != shard:
                raise CheckpointError(f"{path} lists the shard {shard!r}, which is not a file beside it")
            if not (path.parent / shard).is_file():
                raise CheckpointError(f"{path} lists the shard {shard}, which is missing")
        self._open_shards({name: path.parent / shard for name, shard in weight_map.items()})

    def _open_shards(self, where: dict[str, Path]) -> None:
        """The tensors named in ``where`` (name → the shard file holding it)."""
        path = self.checkpoint.path
        self._where = where
        self.shapes, self.dtypes = {}, {}
        if self.checkpoint.kind == "safetensors":
            for shard in sorted(set(self._where.values())):
                shapes, dtypes = _safetensors_header(shard)
                self.shapes.update({n: s for n, s in shapes.items() if n in self._where})
                self.dtypes.update({n: d for n, d in dtypes.items() if n in self._where})
        else:
            self._states = {}
            for shard in sorted(set(self._where.values())):
                state = _state_dict(_torch_load(shard), shard)[0]
                self._states[shard] = state
                self.shapes.update({n: tuple(t.shape) for n, t in state.items() if n in self._where})
                self.dtypes.update({n: str(t.dtype).removeprefix("torch.") for n, t in state.items() if n in self._where})
        missing = [n for n in self._where if n not in self.shapes]
        if missing:
            raise CheckpointError(f"{path} lists {missing[0]}, which its shard does not hold")

    def _open_torch(self, path: Path) -> None:
        state, self.iter_num = _state_dict(_torch_load(path), path)
        self._states = {None: state}
        self._where = dict.fromkeys(state)
        self.shapes = {n: tuple(t.shape) for n, t in state.items()}
        self.dtypes = {n: str(t.dtype).removeprefix("torch.") for n, t in state.items()}

    def read(self, name: str, rows: int | None = None) -> np.ndarray:
        """Rows ``[:rows]`` of tensor ``name`` as a float32 array [rows, d]; nothing else is read."""
        import torch

        where = self._where[name]
        try:
            if self.checkpoint.kind == "safetensors":
                from safetensors import safe_open

                with safe_open(where if where is not None else self.checkpoint.path, framework="pt") as f:
                    tensor = f.get_slice(name)[:rows]
            else:
                tensor = self._states[where][name][:rows]
            array = tensor.to(torch.float32).numpy()
        except CheckpointError:
            raise
        except Exception as e:  # a file cut short or changed under us: the data past the header is missing
            raise CheckpointError(f"cannot read {name} from {self.checkpoint.name}: {_first_line(e)}") from None
        return np.ascontiguousarray(array)


def _first_line(e: BaseException) -> str:
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    return lines[0] if lines else type(e).__name__


def _safetensors_header(path: Path) -> tuple[dict[str, tuple[int, ...]], dict[str, str]]:
    from safetensors import safe_open

    try:
        with safe_open(path, framework="pt") as f:
            shapes, dtypes = {}, {}
            for name in f.keys():
                sl = f.get_slice(name)
                shapes[name] = tuple(sl.get_shape())
                dtypes[name] = sl.get_dtype()
    except Exception as e:  # safetensors raises its own error type for a bad header, a short file, ...
        raise CheckpointError(f"{path} is not a readable safetensors file ({_first_line(e)})") from None
    return shapes, dtypes


def _torch_load(path: Path):
    import pickle

    import torch

    try:
        return torch.load(path, map_location="cpu", mmap=True, weights_only=True)
    except pickle.UnpicklingError as e:
        reason = next((line.strip() for line in str(e).splitlines() if "Unsupported global" in line), _first_line(e))
        raise CheckpointError(f"{path} needs pickle beyond weights_only, which embviz never runs ({reason}); "
                              "save the state dict alone, or as safetensors") from None
    except Exception as e:  # torch raises RuntimeError/ValueError/EOFError/... for short or damaged files
        raise CheckpointError(f"{path} is not a readable PyTorch file ({_first_line(e)})") from None


def _state_dict(obj, path: Path) -> tuple[dict, int | None]:
    """The name → tensor dict of a loaded torch file (nanoGPT's ``model`` entry or the file itself) and
    nanoGPT's ``iter_num``."""
    import torch

    iter_num = None
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        iter_num = obj.get("iter_num") if isinstance(obj.get("iter_num"), int) else None
        obj = obj["model"]
    if not isinstance(obj, dict) or not obj:
        raise CheckpointError(f"{path} holds no state dict (expected a dict of tensors, or nanoGPT's "
                              "{'model': state_dict, ...})")
    tensors = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise CheckpointError(f"{path} holds no tensors")
    return tensors, iter_num


def open_checkpoint(checkpoint: Checkpoint) -> _Reader:
    """A reader of ``checkpoint``'s tensor names and shapes (no tensor data is read yet)."""
    return _Reader(checkpoint)


def inspect(checkpoint: Checkpoint, key: str | None = None, matrix: str = "input") -> Tensor:
    """The chosen matrix of ``checkpoint`` (name, shape, dtype) and the ``iter_num`` a nanoGPT file records."""
    reader = open_checkpoint(checkpoint)
    name = choose_key(reader.shapes, checkpoint.name, key, matrix)
    shape = reader.shapes[name]
    if len(shape) != 2 or not reader.dtypes[name].lower().startswith(("f", "bf")):
        raise CheckpointError(f"{name} in {checkpoint.name} is not a 2-D float matrix "
                              f"(shape {list(shape)}, {reader.dtypes[name]})")
    return Tensor(name, shape, reader.dtypes[name], reader.iter_num, others_of(reader.shapes, matrix, shape[1]))


def others_of(shapes: dict[str, tuple[int, ...]], matrix: str, dim: int) -> tuple[tuple[str, str], ...]:
    """The position table and (beside the input embedding) the LM head, each where exactly one 2-D float
    tensor of width ``dim`` has its name; a head tied to the embedding is dropped when read."""
    stripped: dict[str, list[str]] = {}
    for name, shape in shapes.items():
        if len(shape) == 2 and shape[1] == dim:
            stripped.setdefault(strip_prefixes(name), []).append(name)
    wanted = {"position": POSITION_KEYS, **({"head": OUTPUT_KEYS} if matrix == "input" else {})}
    others = []
    for run_matrix, keys in wanted.items():
        found = [name for k in keys for name in stripped.get(k, [])]
        if len(found) == 1:
            others.append((run_matrix, found[0]))
    return tuple(others)


def beside(others: Sequence[tuple[str, str]], head: bool) -> tuple[tuple[str, str], ...]:
    """The tables imported beside the chosen matrix: the position table always (it is small), the untied
    head only with ``head`` (it is as large as the token table)."""
    return tuple((m, name) for m, name in others if m != "head" or head)


def read_matrix(checkpoint: Checkpoint, name: str, rows: int | None) -> np.ndarray:
    """Rows ``[:rows]`` of tensor ``name`` of ``checkpoint`` as float32 [rows, d], finite."""
    array = open_checkpoint(checkpoint).read(name, rows)
    # a float64 sum of float32 values cannot overflow, so it is finite exactly when every value is
    # (one pass, no [rows, d] temporary)
    with np.errstate(invalid="ignore", over="ignore"):
        total = array.sum(dtype=np.float64)
    if not math.isfinite(total):
        raise CheckpointError(f"{name} in {checkpoint.name} contains nan or infinite values")
    return array
