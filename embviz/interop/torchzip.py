"""One tensor out of a remote PyTorch checkpoint (``pytorch_model.bin``, torch's zip format) by range
requests, without running a pickle.

``torch.save`` writes a zip archive, stored uncompressed: ``<archive>/data.pkl`` (the state dict, each
tensor a reference to a storage by key), ``<archive>/data/<key>`` (each storage's raw bytes) and
``<archive>/byteorder``. Read here: the archive's tail (end-of-central-directory record, zip64 too),
its central directory, ``data.pkl`` and ``byteorder`` — a few kB — then the chosen tensor's bytes
alone. ``data.pkl`` is read by torch's ``weights_only`` unpickler (tensors, dicts, numbers: no other
class, no function), every storage a ``meta`` one that holds no data, so no pickle is ever run.
"""

from __future__ import annotations

import io
import math
import struct
from dataclasses import dataclass

from embviz.errors import CheckpointError
from embviz.interop.ranges import RemoteFile, TensorRange

TAIL = 4096
"""Bytes read from the end first: the end records and, for most checkpoints, the central directory."""
_EOCD, _ZIP64_LOCATOR, _ZIP64_EOCD = b"PK\x05\x06", b"PK\x06\x07", b"PK\x06\x06"
_CENTRAL, _LOCAL = b"PK\x01\x02", b"PK\x03\x04"
SAFETENSORS_DTYPES = {"float16": "F16", "bfloat16": "BF16", "float32": "F32", "float64": "F64"}


@dataclass(frozen=True)
class _Entry:
    offset: int
    size: int
    method: int


@dataclass(frozen=True)
class _Located:
    dtype: str
    shape: tuple[int, ...]
    key: str
    offset: int
    contiguous: bool


class TorchZip:
    """The tensors of a remote torch zip checkpoint: ``shapes`` (name → shape) and :meth:`tensor_range`."""

    def __init__(self, remote: RemoteFile):
        self.remote = remote
        if remote.read(0, 4) != _LOCAL:
            raise CheckpointError(f"{remote.label} is not a zip-format PyTorch file (torch < 1.6 wrote another, which "
                                  "cannot be read by range); download it and import the folder")
        self.entries = self._central_directory(remote.size)
        pkl = next((n for n in self.entries if n.endswith("/data.pkl")), None)
        if pkl is None:
            raise CheckpointError(f"{remote.label} holds no data.pkl: it is not a PyTorch checkpoint")
        self.prefix = pkl[:-len("data.pkl")]
        order = self.prefix + "byteorder"
        if order in self.entries and self._read_entry(order).strip() != b"little":
            raise CheckpointError(f"{remote.label} is stored big-endian, which embviz does not read")
        self.tensors = self._state(self._read_entry(pkl))
        self.shapes = {name: t.shape for name, t in self.tensors.items()}

    def _central_directory(self, size: int) -> dict[str, _Entry]:
        tail_start = max(0, size - TAIL)
        tail = self.remote.read(tail_start, size - tail_start)
        at = tail.rfind(_EOCD)
        if at < 0 or len(tail) - at < 22:
            raise CheckpointError(f"{self.remote.label} is not a whole zip file (no end-of-central-directory record)")
        _, _, _, _, count, cd_size, cd_offset, _ = struct.unpack("<4s4H2LH", tail[at:at + 22])
        if count == 0xFFFF or cd_offset == 0xFFFFFFFF or cd_size == 0xFFFFFFFF:
            loc = tail[at - 20:at]
            if at < 20 or loc[:4] != _ZIP64_LOCATOR:
                raise CheckpointError(f"{self.remote.label} has a zip64 directory without its locator")
            (z64,) = struct.unpack("<Q", loc[8:16])
            record = tail[z64 - tail_start:z64 - tail_start + 56] if z64 >= tail_start else self.remote.read(z64, 56)
            if record[:4] != _ZIP64_EOCD:
                raise CheckpointError(f"{self.remote.label} has a broken zip64 end record")
            count, cd_size, cd_offset = struct.unpack("<3Q", record[32:56])
        if cd_offset + cd_size > size:
            raise CheckpointError(f"{self.remote.label}'s zip directory lies past the end of the file")
        cd = (tail[cd_offset - tail_start:cd_offset - tail_start + cd_size] if cd_offset >= tail_start
              else self.remote.read(cd_offset, cd_size))
        entries, pos = {}, 0
        for _ in range(count):
            if cd[pos:pos + 4] != _CENTRAL:
                raise CheckpointError(f"{self.remote.label} has a broken zip directory")
            fields = struct.unpack("<4s6H3L5H2L", cd[pos:pos + 46])
            method, csize, usize, name_len, extra_len, comment_len, offset = (
                fields[4], fields[8], fields[9], fields[10], fields[11], fields[12], fields[16])
            name = cd[pos + 46:pos + 46 + name_len].decode("utf-8", "replace")
            extra = cd[pos + 46 + name_len:pos + 46 + name_len + extra_len]
            csize, offset = _zip64_sizes(extra, usize, csize, offset)
            entries[name] = _Entry(offset, csize, method)
            pos += 46 + name_len + extra_len + comment_len
        return entries

    def _data_start(self, entry: _Entry) -> int:
        local = self.remote.read(entry.offset, 30)
        if local[:4] != _LOCAL or entry.method != 0:
            raise CheckpointError(f"{self.remote.label} has a compressed or broken zip entry; torch stores them plain")
        name_len, extra_len = struct.unpack("<2H", local[26:30])
        return entry.offset + 30 + name_len + extra_len

    def _read_entry(self, name: str) -> bytes:
        entry = self.entries[name]
        return self.remote.read(self._data_start(entry), entry.size)

    def _state(self, pkl: bytes) -> dict[str, _Located]:
        import pickle

        import torch
        from torch._weights_only_unpickler import Unpickler

        keys: dict[int, str] = {}

        def persistent_load(pid):
            if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
                raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
            _, storage_type, key, _, numel = pid
            dtype = torch.uint8 if storage_type is torch.UntypedStorage else storage_type.dtype
            storage = torch.UntypedStorage(numel * torch._utils._element_size(dtype), device="meta")
            keys[storage._cdata] = str(key)
            return torch.storage.TypedStorage(wrap_storage=storage, dtype=dtype, _internal=True)

        unpickler = Unpickler(io.BytesIO(pkl), encoding="utf-8")
        unpickler.persistent_load = persistent_load
        try:
            state = unpickler.load()
        except Exception as e:  # the weights_only unpickler refuses anything but tensors and containers
            raise CheckpointError(f"{self.remote.label}'s data.pkl needs pickle beyond weights_only, which embviz "
                                  f"never runs ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
        if isinstance(state, dict) and isinstance(state.get("model"), dict):
            state = state["model"]
        if not isinstance(state, dict):
            raise CheckpointError(f"{self.remote.label} holds no state dict")
        return {str(name): _Located(str(t.dtype).removeprefix("torch."), tuple(t.shape),
                                    keys[t.untyped_storage()._cdata], t.storage_offset() * t.element_size(),
                                    t.is_contiguous())
                for name, t in state.items() if isinstance(t, torch.Tensor)}

    def tensor_range(self, name: str) -> TensorRange:
        """Where tensor ``name``'s bytes lie, checked against its storage's entry in the archive."""
        t = self.tensors[name]
        where = f"{name} in {self.remote.label}"
        if t.dtype not in SAFETENSORS_DTYPES:
            raise CheckpointError(f"{where} is {t.dtype}, not a float matrix")
        if not t.contiguous:
            raise CheckpointError(f"{where} is a strided view, which is not one byte range")
        entry = self.entries.get(f"{self.prefix}data/{t.key}")
        nbytes = math.prod(t.shape) * {"float64": 8, "float32": 4}.get(t.dtype, 2)
        if entry is None or t.offset + nbytes > entry.size:
            raise CheckpointError(f"the archive lies about {where}: its bytes are not inside storage {t.key}")
        start = self._data_start(entry) + t.offset
        if start + nbytes > self.remote.size:
            raise CheckpointError(f"the archive lies about {where}: its bytes end past the end of the file")
        return TensorRange(name, SAFETENSORS_DTYPES[t.dtype], t.shape, start, nbytes)


def _zip64_sizes(extra: bytes, usize: int, csize: int, offset: int) -> tuple[int, int]:
    """The compressed size and local-header offset, from the zip64 extra field where they overflow."""
    pos = 0
    while pos + 4 <= len(extra):
        tag, length = struct.unpack("<2H", extra[pos:pos + 4])
        if tag == 1:
            values = iter(struct.unpack(f"<{length // 8}Q", extra[pos + 4:pos + 4 + length // 8 * 8]))
            if usize == 0xFFFFFFFF:
                next(values, None)
            if csize == 0xFFFFFFFF:
                csize = next(values, csize)
            if offset == 0xFFFFFFFF:
                offset = next(values, offset)
        pos += 4 + length
    return csize, offset
