"""``embviz import`` of 20 checkpoints shaped like GPT-2 small vs just reading their embedding bytes.

Writes 20 random checkpoints once to a temporary folder, each a whole GPT-2 small state dict
(50,257 × 768 token embedding plus every other weight, 124 M parameters, ≈ 500 MB), as Hugging Face
``checkpoint-N/model.safetensors`` folders (or nanoGPT-style ``.pt`` files with ``--kind pt``). Then,
side by side, with the files' pages dropped from the page cache before each (``posix_fadvise``):

* reference: read the embedding's bytes of every file straight from disk into one buffer, and
  (timed apart) write each as a ``.npy`` with fsync — the least any importer into a run must do;
* ``embviz import`` as a subprocess: the library call's time (reading, checking, hashing, writing the
  snapshots with fsync), the whole command's, and its peak RSS (``VmHWM``).

    .venv/bin/python benchmarks/bench_import.py
    .venv/bin/python benchmarks/bench_import.py --kind pt
    .venv/bin/python benchmarks/bench_import.py --smoke      # toy sizes, seconds

Floors (issue 13): import time dominated by reading the embedding bytes; peak RSS < 1.5 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_emergence import matmul_peak  # noqa: E402

CHILD = """
import atexit, re, sys
atexit.register(lambda: print("VmHWM", re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1), file=sys.stderr))
from embviz.cli import main
main(sys.argv[1:])
"""
"""Runs ``embviz`` and reports its own peak RSS (VmHWM: this process's memory only, not its parent's)."""
GPT2_SMALL = dict(vocab=50_257, d=768, layers=12, context=1024)
SMOKE = dict(vocab=1_000, d=64, layers=2, context=64)


def gpt2_state(vocab: int, d: int, layers: int, context: int, seed: int) -> dict[str, torch.Tensor]:
    """A GPT-2-shaped state dict (Hugging Face names, Conv1D layout) of random float32 weights."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *shape: torch.randn(*shape, generator=g) * 0.02  # noqa: E731
    state = {"transformer.wte.weight": r(vocab, d), "transformer.wpe.weight": r(context, d)}
    for i in range(layers):
        p = f"transformer.h.{i}."
        state.update({p + "ln_1.weight": torch.ones(d), p + "ln_1.bias": torch.zeros(d),
                      p + "attn.c_attn.weight": r(d, 3 * d), p + "attn.c_attn.bias": torch.zeros(3 * d),
                      p + "attn.c_proj.weight": r(d, d), p + "attn.c_proj.bias": torch.zeros(d),
                      p + "ln_2.weight": torch.ones(d), p + "ln_2.bias": torch.zeros(d),
                      p + "mlp.c_fc.weight": r(d, 4 * d), p + "mlp.c_fc.bias": torch.zeros(4 * d),
                      p + "mlp.c_proj.weight": r(4 * d, d), p + "mlp.c_proj.bias": torch.zeros(d)})
    state.update({"transformer.ln_f.weight": torch.ones(d), "transformer.ln_f.bias": torch.zeros(d)})
    return state


def write_series(root: Path, n: int, kind: str, shape: dict) -> list[Path]:
    """``n`` checkpoints sharing every weight but the token embedding (a new random one each)."""
    from safetensors.torch import save_file

    state = gpt2_state(**shape, seed=0)
    files = []
    for i in range(n):
        step = 1000 * i
        state["transformer.wte.weight"] = torch.randn(shape["vocab"], shape["d"], generator=torch.Generator().manual_seed(i + 1))
        if kind == "safetensors":
            folder = root / f"checkpoint-{step}"
            folder.mkdir()
            save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
            (folder / "trainer_state.json").write_text(json.dumps({"global_step": step, "epoch": i / n}))
            files.append(folder / "model.safetensors")
        else:
            path = root / f"ckpt-{step}.pt"
            torch.save({"model": {f"_orig_mod.{k}": v for k, v in state.items()}, "iter_num": step,
                        "model_args": {"vocab_size": shape["vocab"]}}, path)
            files.append(path)
    return files


def drop_cache(paths) -> None:
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def embedding_range(path: Path, kind: str) -> tuple[int, int]:
    """Byte offset and length of the token embedding inside the file."""
    if kind == "safetensors":
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(n))
        start, stop = header["transformer.wte.weight"]["data_offsets"]
        return 8 + n + start, stop - start
    import zipfile

    with zipfile.ZipFile(path) as z:  # a torch file is a zip of stored (uncompressed) tensor records
        state = torch.load(path, map_location="cpu", mmap=True, weights_only=True)["model"]
        key = state["_orig_mod.transformer.wte.weight"].untyped_storage()
        size = key.nbytes()
        for info in z.infolist():
            if "/data/" in info.filename and info.file_size == size:
                with open(path, "rb") as f:
                    f.seek(info.header_offset + 26)
                    name_len, extra_len = struct.unpack("<HH", f.read(4))
                return info.header_offset + 30 + name_len + extra_len, size
    raise RuntimeError(f"embedding not found in {path}")


def read_and_write_embeddings(files: list[Path], kind: str, out: Path) -> tuple[float, float]:
    """Seconds to read every file's embedding bytes into one reused buffer, and seconds to write each
    as a ``.npy`` file with fsync (what any importer into a run directory must do, nothing more)."""
    ranges = [embedding_range(p, kind) for p in files]
    buf = bytearray(max(n for _, n in ranges))
    view = memoryview(buf)
    out.mkdir()
    read = write = 0.0
    for i, (path, (offset, n)) in enumerate(zip(files, ranges)):
        t0 = time.perf_counter()
        with open(path, "rb", buffering=0) as f:
            f.seek(offset)
            got = 0
            while got < n:
                got += f.readinto(view[got:n])
        t1 = time.perf_counter()
        with open(out / f"{i}.npy", "wb") as f:
            np.save(f, np.frombuffer(view[:n], dtype=np.float32))
            f.flush()
            os.fsync(f.fileno())
        write += time.perf_counter() - t1
        read += t1 - t0
    return read, write


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--kind", choices=("safetensors", "pt"), default="safetensors")
    parser.add_argument("--smoke", action="store_true", help="toy sizes (seconds), to check the benchmark runs")
    parser.add_argument("--dir", type=Path, default=None, help="where to write the checkpoints [default: a temp dir]")
    args = parser.parse_args()
    shape = SMOKE if args.smoke else GPT2_SMALL
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp) / "series"
        root.mkdir()
        t0 = time.perf_counter()
        files = write_series(root, args.n, args.kind, shape)
        written = time.perf_counter() - t0
        sizes = [p.stat().st_size for p in files]
        vocab = Path(tmp) / "tokens.txt"
        vocab.write_text("\n".join(f"t{i}" for i in range(shape["vocab"])) + "\n")
        emb_bytes = shape["vocab"] * shape["d"] * 4

        drop_cache(files)
        reference, writing = read_and_write_embeddings(files, args.kind, Path(tmp) / "plain")
        shutil.rmtree(Path(tmp) / "plain")

        drop_cache(files)
        args_ = ["import", str(root), "--out", str(Path(tmp) / "run"), "--vocab", str(vocab)]
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", CHILD, *args_], capture_output=True, text=True)
        imported = time.perf_counter() - t0
        if proc.returncode != 0:
            sys.exit(f"import failed: {proc.stderr}")
        library = float(re.search(r" in ([0-9.]+) s", proc.stdout).group(1))
        peak_rss = int(re.search(r"VmHWM (\d+)", proc.stderr).group(1)) * 1024
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import embviz.interop.importer, torch, safetensors"], check=True)
        startup = time.perf_counter() - t0
        snaps = sorted((Path(tmp) / "run" / "snapshots").glob("*.npy"))
        peak = matmul_peak()

    print(f"{args.n} {args.kind} checkpoints of {np.mean(sizes) / 1e6:,.0f} MB each (embedding "
          f"{shape['vocab']:,} × {shape['d']}, {emb_bytes / 1e6:,.1f} MB), written in {written:.1f} s; page cache "
          "dropped before each measurement")
    print(f"reference: read the embedding bytes         {reference:8.2f} s   ({args.n * emb_bytes / reference / 1e6:,.0f} MB/s)")
    print(f"reference: write them as .npy with fsync    {writing:8.2f} s   ({args.n * emb_bytes / writing / 1e6:,.0f} MB/s)")
    print(f"embviz import, the library call             {library:8.2f} s   ratio import / read {library / reference:.2f}, "
          f"import / (read + write) {library / (reference + writing):.2f}")
    print(f"embviz import, the whole command            {imported:8.2f} s   (interpreter + imports alone: {startup:.2f} s)")
    print(f"peak RSS of embviz import                   {peak_rss / 1e6:8,.0f} MB   (floor < 1,500 MB; one embedding is "
          f"{emb_bytes / 1e6:,.0f} MB, one checkpoint {np.mean(sizes) / 1e6:,.0f} MB)")
    print(f"snapshots written                           {len(snaps):8d}")
    print(f"matmul peak (fp32, 1024², best of 3)        {peak / 1e9:8.1f} GFLOP/s")


if __name__ == "__main__":
    main()
