"""``import hf:`` fetching a Pythia-160m-shaped series from a Hub on 127.0.0.1 vs a bare range download.

The series: ``--revisions`` branches (default 154, Pythia's step0, 1, 2, 4 … 512, 1000 … 143000), each a
``model.safetensors`` of Pythia-160m's size (162,322,944 fp16 parameters, 325 MB): the token embedding
``gpt_neox.embed_in.weight`` and the untied head ``embed_out.weight``, F16 [50,304, 768] (77 MB each),
and one dummy tensor holding the other parameters, with a tokenizer of Pythia's 50,277 tokens (the
27 rows past it are padding). To keep the disk bounded the dummy is a hole (a sparse file) and the
revisions share four distinct files (hard links), so the server's disk holds 4 × 155 MB.
Served by tests/hubserver.py (which counts every byte it sends), side by side, each client its own process:

* reference: a bare range download of the same table bytes (known in advance, no header read),
  the same number of threads, straight into files (no checks, no fsync);
* ours: ``fetch_series`` (refs, file list and safetensors header per revision, each table's rows the
  tokenizer labels checked and written to the cache with fsync, atomically) — the fetching half of
  ``embviz import hf:``; the cache is cleared first. ``--head`` fetches the head too, as the import's.

Prints bytes fetched ÷ bytes of the checkpoints and ÷ the tables', wall time ÷ the bare download's, and
peak RSS (VmHWM).

    .venv/bin/python benchmarks/bench_hub.py
    .venv/bin/python benchmarks/bench_hub.py --revisions 40 --head
    .venv/bin/python benchmarks/bench_hub.py --smoke      # toy sizes, seconds
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).parent))
from bench_emergence import matmul_peak  # noqa: E402

from hubserver import FakeHub  # noqa: E402

PYTHIA_160M = dict(vocab=50_304, tokens=50_277, d=768, params=162_322_944)
SMOKE = dict(vocab=1_024, tokens=1_000, d=64, params=400_000)
PYTHIA_STEPS = [0, *(2**i for i in range(10)), *range(1000, 143_001, 1000)]
DISTINCT = 4
REPO = "bench/pythia-160m-shaped"

CHILD = """
import json, re, sys, time
mode, endpoint, cache, workers, ranges = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
tokens, head = int(sys.argv[6]), sys.argv[7] == "head"
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from huggingface_hub.utils import get_session
from embviz.interop.hub import Hub, fetch_series, resolve

def get(job):
    url, start, n, out = job
    with get_session().stream("GET", url, headers={"Range": f"bytes={start}-{start + n - 1}"}) as r, \\
            open(out, "wb") as f:
        for chunk in r.iter_bytes(1 << 20):
            f.write(chunk)

t0 = time.perf_counter()
if mode == "ours":
    hub = Hub(endpoint=endpoint, cache_dir=cache)
    fetch_series("%s", resolve("%s", "all", hub), hub, head=head, tokens=tokens, workers=workers)
else:
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(get, json.loads(Path(ranges).read_text())))
seconds = time.perf_counter() - t0
rss = int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) * 1024
print(json.dumps({"seconds": seconds, "rss": rss}))
""" % (REPO, REPO)


def write_series(root: Path, n: int, vocab: int, tokens: int, d: int, params: int) -> tuple[dict[str, Path], int, int]:
    """``n`` revision folders (hard links to DISTINCT files); returns them, the embedding's start (the head
    follows it) and the file size."""
    rng = np.random.default_rng(0)
    table = vocab * d * 2
    rest = params - 2 * vocab * d
    header = json.dumps({"__metadata__": {"format": "pt"},
                         "gpt_neox.embed_in.weight": {"dtype": "F16", "shape": [vocab, d], "data_offsets": [0, table]},
                         "embed_out.weight": {"dtype": "F16", "shape": [vocab, d], "data_offsets": [table, 2 * table]},
                         "gpt_neox.rest": {"dtype": "F16", "shape": [rest], "data_offsets": [2 * table, params * 2]}}).encode()
    header += b" " * (-len(header) % 8)
    start = 8 + len(header)
    files = []
    for k in range(DISTINCT):
        path = root / f"distinct-{k}.safetensors"
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", len(header)) + header)
            f.write((rng.standard_normal((2 * vocab, d), dtype=np.float32) * 0.02).astype(np.float16).tobytes())
            f.truncate(start + params * 2)  # the other parameters: a hole
        files.append(path)
    from tokenizers import Tokenizer, models

    tokenizer = Tokenizer(models.WordLevel({f"t{i}": i for i in range(tokens)}, unk_token="t0")).to_str()
    branches = {}
    for i, step in enumerate(PYTHIA_STEPS[:n]):
        folder = root / "revisions" / f"step{step}"
        folder.mkdir(parents=True)
        os.link(files[i % DISTINCT], folder / "model.safetensors")
        (folder / "tokenizer.json").write_text(tokenizer)
        branches[f"step{step}"] = folder
    return branches, start, start + params * 2


def child(mode: str, endpoint: str, cache: Path, workers: int, ranges: Path, tokens: int, head: bool) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_DISABLE_TELEMETRY": "1"}
    done = subprocess.run([sys.executable, "-c", CHILD, mode, endpoint, str(cache), str(workers), str(ranges),
                           str(tokens), "head" if head else "-"], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--revisions", type=int, default=len(PYTHIA_STEPS))
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--head", action="store_true", help="fetch the untied head too (import --head)")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    shape = SMOKE if args.smoke else PYTHIA_160M
    n = 6 if args.smoke else args.revisions
    tmp = Path(tempfile.mkdtemp(prefix="bench-hub-"))
    try:
        branches, start, size = write_series(tmp, n, shape["vocab"], shape["tokens"], shape["d"], shape["params"])
        table, row = shape["vocab"] * shape["d"] * 2, shape["d"] * 2
        emb = shape["tokens"] * row  # the rows the tokenizer labels
        starts = [start, start + table] if args.head else [start]
        with FakeHub({REPO: branches}) as hub:
            from embviz.interop.hub import Hub, resolve

            revisions = resolve(REPO, "all", Hub(endpoint=hub.endpoint))
            (tmp / "bare").mkdir()
            jobs = [[f"{hub.endpoint}/{REPO}/resolve/{r.commit}/model.safetensors", a, emb,
                     str(tmp / "bare" / f"{r.name}-{a}")] for r in revisions for a in starts]
            (tmp / "ranges.json").write_text(json.dumps(jobs))
            hub.sent.clear()
            bare = child("bare", hub.endpoint, tmp / "cache", args.workers, tmp / "ranges.json", shape["tokens"], args.head)
            bare_bytes = hub.file_bytes()
            shutil.rmtree(tmp / "bare")
            hub.sent.clear()
            ours = child("ours", hub.endpoint, tmp / "cache", args.workers, tmp / "ranges.json", shape["tokens"], args.head)
            ours_bytes, api_bytes = hub.file_bytes(), hub.sent["api"]
        peak = matmul_peak()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    total, tables = n * size, n * len(starts) * emb
    print(f"{n} revisions of {shape['vocab']:,} × {shape['d']} F16 embedding and head ({table / 1e6:,.1f} MB each) in "
          f"{size / 1e6:,.1f} MB checkpoints ({total / 1e9:,.2f} GB in all); tokenizer {shape['tokens']:,} tokens; "
          f"fetching {'token, head' if args.head else 'token'}; {args.workers} threads")
    print(f"reference: bare range download       {bare['seconds']:8.2f} s   {bare_bytes / 1e6:10,.1f} MB   "
          f"({bare_bytes / bare['seconds'] / 1e6:,.0f} MB/s)   peak RSS {bare['rss'] / 1e6:,.0f} MB")
    print(f"embviz fetch_series (cache, fsync)   {ours['seconds']:8.2f} s   {ours_bytes / 1e6:10,.1f} MB   "
          f"({ours_bytes / ours['seconds'] / 1e6:,.0f} MB/s)   peak RSS {ours['rss'] / 1e6:,.0f} MB")
    print(f"bytes fetched / bytes of the checkpoints   {ours_bytes / total:.4f}   (the tables' share "
          f"{tables / total:.4f}; + {api_bytes / 1e3:,.1f} kB of JSON API answers)")
    print(f"bytes fetched / the tables' labelled rows  {ours_bytes / tables:.5f}   (padding left on the server: "
          f"{n * len(starts) * (table - emb) / 1e6:,.2f} MB)")
    print(f"wall time ours / bare download             {ours['seconds'] / bare['seconds']:.2f}")
    print(f"matmul peak (fp32, 1024², best of 3)       {peak / 1e9:8.1f} GFLOP/s")


if __name__ == "__main__":
    main()
