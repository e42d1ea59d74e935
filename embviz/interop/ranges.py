"""Reading one tensor out of a remote safetensors file by HTTP range requests, checked byte for byte.

A safetensors file is an 8-byte little-endian header length ``n``, ``n`` bytes of JSON (name →
``dtype``, ``shape``, ``data_offsets`` relative to the end of the header), then the data. Reading one
tensor costs two small requests for the header and one for the tensor's bytes; nothing else of the
file is fetched. Every answer is checked: the range the server says it sent, the file's size, the
header's offsets against that size and against ``dtype`` × ``shape``, and the bytes that arrived.

The requests go through ``huggingface_hub``'s shared HTTP session with its headers (the user's
token), so redirects to the Hub's storage are followed as the Hub's own downloads follow them.
"""

from __future__ import annotations

import json
import math
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import BinaryIO

from embviz.errors import CheckpointError

DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1,
               "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
"""Bytes per element of each safetensors dtype."""
MAX_HEADER = 100 * 2**20
"""Largest safetensors header accepted (safetensors itself refuses more)."""
CHUNK = 2**20
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class TruncatedError(CheckpointError):
    """A response that ended before the bytes it promised."""


@dataclass(frozen=True)
class TensorRange:
    """Where one tensor lies in a remote file: absolute byte ``start``, ``nbytes``, ``dtype``, ``shape``."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    start: int
    nbytes: int

    def rows(self, n: int) -> TensorRange:
        """Its first ``n`` rows, ``[n, *shape[1:]]``: a row-major tensor's leading rows are one contiguous block."""
        row = self.nbytes // self.shape[0] if self.shape and self.shape[0] else 0
        return replace(self, shape=(n, *self.shape[1:]), nbytes=n * row)


class RemoteFile:
    """A file behind ``url``, read by ranges; ``size`` is known after the first read (from Content-Range)."""

    def __init__(self, url: str, headers: dict[str, str], label: str, timeout: float | None = 10.0):
        self.url, self.headers, self.label, self.timeout = url, headers, label, timeout
        self.size: int | None = None

    def read(self, start: int, length: int) -> bytes:
        """Bytes ``[start, start + length)``, all of them, or an error."""
        parts: list[bytes] = []
        self.copy(start, length, parts.append)
        return b"".join(parts)

    def copy(self, start: int, length: int, write: Callable[[bytes], object],
             tick: Callable[[int], None] | None = None) -> None:
        """Stream bytes ``[start, start + length)`` to ``write`` (``tick(n)`` after each chunk of n bytes)."""
        import httpx2
        from huggingface_hub.utils import get_session, hf_raise_for_status

        end = start + length - 1
        got = 0
        try:
            with get_session().stream("GET", self.url, headers={**self.headers, "Range": f"bytes={start}-{end}"},
                                      timeout=self.timeout) as response:
                if response.status_code >= 400:
                    response.read()
                    hf_raise_for_status(response)
                self._check_range(response, start, end)
                for chunk in response.iter_bytes(CHUNK):
                    chunk = chunk[:length - got]
                    got += len(chunk)
                    write(chunk)
                    if tick:
                        tick(len(chunk))
                    if got == length:
                        break
        except httpx2.TransportError as e:  # the connection dropped, timed out, or the body ended early
            if got or isinstance(e, httpx2.RemoteProtocolError):
                raise TruncatedError(f"the response for {self.label} broke off after {got:,} of {length:,} bytes "
                                     f"({e}); run the import again to continue") from None
            raise CheckpointError(f"cannot reach {self.url} ({e})") from None
        if got < length:
            raise TruncatedError(f"the response for {self.label} was truncated: {got:,} of {length:,} bytes "
                                 "arrived; run the import again to continue")

    def _check_range(self, response, start: int, end: int) -> None:
        if response.status_code != 206:
            raise CheckpointError(f"the server answered the range request for {self.label} with status "
                                  f"{response.status_code}, not 206 Partial Content; it does not serve ranges")
        m = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
        if m is None or (int(m.group(1)), int(m.group(2))) != (start, end):
            raise CheckpointError(f"the server sent {self.label} bytes "
                                  f"{response.headers.get('Content-Range', '(no Content-Range)')!r}, "
                                  f"not bytes {start}-{end}")
        if m.group(3) != "*":
            self.size = int(m.group(3))


class SafetensorsHeader:
    """The tensors of a remote safetensors file, from its header (two small range requests):
    ``shapes`` (name → shape) and :meth:`tensor_range` of one of them."""

    def __init__(self, remote: RemoteFile):
        self.remote = remote
        first = remote.read(0, 8)
        (n,) = struct.unpack("<Q", first)
        if n < 2 or n > MAX_HEADER or remote.size is not None and 8 + n > remote.size:
            raise CheckpointError(f"{remote.label} is not a safetensors file: its header claims {n:,} bytes"
                                  + (f" of a {remote.size:,}-byte file" if remote.size is not None else ""))
        try:
            header = json.loads(remote.read(8, n))
            if not isinstance(header, dict):
                raise ValueError("not an object")
        except (UnicodeDecodeError, ValueError) as e:
            raise CheckpointError(f"{remote.label} has a safetensors header that is not a JSON object ({e})") from None
        header.pop("__metadata__", None)
        self.data_start, self.header = 8 + n, header
        self.shapes = {name: tuple(entry["shape"]) for name, entry in header.items()
                       if isinstance(entry, dict) and isinstance(entry.get("shape"), list)}

    def tensor_range(self, name: str) -> TensorRange:
        """Where tensor ``name`` lies, after checking its entry: a known dtype, offsets inside the file,
        and a byte count equal to dtype × shape."""
        entry = self.header[name]
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        where = f"{name} in {self.remote.label}"
        if dtype not in DTYPE_BYTES:
            raise CheckpointError(f"{where} has the unknown dtype {dtype!r}")
        if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)
                and isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
            raise CheckpointError(f"{where} has a malformed header entry {entry!r}")
        begin, end = offsets
        expected = math.prod(shape) * DTYPE_BYTES[dtype]
        if not 0 <= begin <= end or end - begin != expected:
            raise CheckpointError(f"the header lies about {where}: offsets {begin}-{end} hold {end - begin:,} bytes, "
                                  f"but {dtype} × {shape} needs {expected:,}")
        size = self.remote.size
        if size is not None and self.data_start + end > size:
            raise CheckpointError(f"the header lies about {where}: its bytes end at {self.data_start + end:,}, past "
                                  f"the end of the {size:,}-byte file")
        return TensorRange(name, dtype, tuple(shape), self.data_start + begin, expected)


def write_single_tensor(f: BinaryIO, tensor: TensorRange, metadata: dict[str, str]) -> None:
    """The header of a safetensors file holding ``tensor`` alone (its bytes are to follow), padded to 8 bytes."""
    header = json.dumps({"__metadata__": metadata,
                         tensor.name: {"dtype": tensor.dtype, "shape": list(tensor.shape),
                                       "data_offsets": [0, tensor.nbytes]}}).encode()
    header += b" " * (-len(header) % 8)
    f.write(struct.pack("<Q", len(header)) + header)
