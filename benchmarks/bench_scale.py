"""Scale: a 50,000-token × d 512 run with 100 snapshots, in float16 and float32 — peak memory and time.

The run is built synthetically (no training): a Zipfian corpus over 50,000 word types, its word
tokenizer, vocab.tsv with categories, a complete run.json, and 100 snapshots written through
``Run.add_snapshot`` (float32: 10 GB on disk, float16: 5 GB). Then each case runs in a fresh child
process, which reports its wall time and its peak resident memory (``VmHWM`` from /proc, else
``getrusage``), and the memory right after its imports:

- ``gather``: rows of 2,000 words from every snapshot through ``Run.gather`` (``Run.load_snapshot``
  on memory maps, into one preallocated [100, 2000, 512] float32 array: 410 MB, the result itself);
- ``animate``: ``embviz.film.animate.animate`` with PCA on those 2,000 words (``--words … --only``; a short,
  small film);
- ``default``: ``animate`` with its default word choice (every categorised word, capped at
  ``animate.MAX_CATEGORISED`` balanced across categories, + the 300 most frequent); with
  ``--categorised 1`` every one of the 50,000 words has a category;
- ``compare``: ``embviz.compare.comparison.compare`` (Word2Vec trained on the run's corpus, one epoch).

Target: every peak < 2 GB.

    python benchmarks/bench_scale.py [--vocab 50000] [--dim 512] [--snapshots 100] [--words 2000]
                                     [--dtypes float16,float32] [--cases gather,animate,default,compare]
                                     [--categorised 10]
    python benchmarks/bench_scale.py --smoke      # every case on a 500-token run, in seconds
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from embviz.film.animate_options import AnimateOptions, FilmOptions

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # toyrun.py lives in tests/

TARGET_BYTES = 2 * 1024**3
SMALL_FILM = FilmOptions(fps=4, seconds_per_snapshot=0.25, size=(320, 240), label=10)
"""The animate cases measure memory, not rendering: a short, small film."""
CATEGORIES = 40


def build_run(root: Path, vocab: int, dim: int, snapshots: int, dtype: str, corpus_tokens: int,
              categorised: int = 10) -> Path:
    from embviz.rundir.run import Snapshot, snapshot_name

    from toyrun import make_corpus_run

    rng = np.random.default_rng(0)
    n_words = vocab - 1  # + <unk>
    words = np.array([f"w{i:05d}" for i in range(n_words)])
    # Every word once (so the vocabulary is exactly `vocab`), then Zipfian text.
    zipf = 1.0 / np.arange(1, n_words + 1) ** 1.0
    ids = np.concatenate([rng.permutation(n_words), rng.choice(n_words, size=corpus_tokens, p=zipf / zipf.sum())])
    lines = [" ".join(words[ids[i:i + 12]]) for i in range(0, len(ids), 12)]

    def category(token: str) -> str | None:
        """Like the built-in lexicon, only some words have one (one in `categorised`; 1 = every word)."""
        if not token[1:].isdigit() or int(token[1:]) % categorised:
            return None
        i = int(token[1:])
        return f"noun/field{i % CATEGORIES}/sub{i % (2 * CATEGORIES)}"

    run, tokens = make_corpus_run(root, lines, dim=dim, heads=8, epochs=snapshots - 1, categories=category,
                                  snapshot_dtype=dtype)
    assert len(tokens) == vocab, len(tokens)
    centres = rng.standard_normal((2 * CATEGORIES, dim), dtype=np.float32)
    target = np.zeros((vocab, dim), np.float32)
    target[1:] = centres[[int(t[1:]) % (2 * CATEGORIES) for t in tokens[1:]]]
    target += 0.7 * rng.standard_normal((vocab, dim), dtype=np.float32)
    noise = rng.standard_normal((vocab, dim), dtype=np.float32)
    steps = np.unique(np.round(np.geomspace(1, 100 * snapshots, snapshots - 1)).astype(int))
    steps = [0] + sorted(set(int(s) for s in steps) | set(range(1, snapshots)))[: snapshots - 1]
    for i, step in enumerate(steps):
        mix = np.float32(i / (snapshots - 1))
        matrix = ((1 - mix) * noise + mix * target) * np.float32(0.05)
        run.add_snapshot(matrix.astype(dtype), Snapshot(file=snapshot_name(step), step=step, epoch=float(i),
                                                         tokens_seen=step * 2048, train_loss=float(5.0 - 3 * mix),
                                                         val_loss=float(5.1 - 3 * mix)))
    return run.path


# -- child processes: one case each, reporting time and peak RSS -------------------------------------


def peak_rss_bytes() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def chosen_rows(n_tokens: int, words: int) -> np.ndarray:
    """The same ``words`` token ids in every case: random, never ``<unk>``."""
    return np.sort(np.random.default_rng(0).choice(np.arange(1, n_tokens), size=words, replace=False))


def case_gather(run_dir: Path, words: int) -> dict:
    from embviz.rundir.run import Run

    start_rss = peak_rss_bytes()
    t0 = time.perf_counter()
    run = Run.open(run_dir)
    snaps = run.snapshots()
    tokens = run.vocab()[0]
    rows = chosen_rows(len(tokens), words)
    stacked = run.gather(rows, snaps)
    return {"seconds": time.perf_counter() - t0, "rss_after_imports": start_rss,
            "result": f"{stacked.shape} {stacked.dtype} ({stacked.nbytes / 1e6:.0f} MB)"}


def case_animate(run_dir: Path, words: int) -> dict:
    from embviz.film.animate import animate
    from embviz.rundir.run import Run

    start_rss = peak_rss_bytes()
    t0 = time.perf_counter()
    tokens = Run.open(run_dir).vocab()[0]
    chosen = [tokens[i] for i in chosen_rows(len(tokens), words)]
    result = animate(run_dir, run_dir.parent / "film.mp4", AnimateOptions(words=tuple(chosen), only=True, cache=False, method="pca",
                                                                          film=SMALL_FILM))
    return {"seconds": time.perf_counter() - t0, "rss_after_imports": start_rss,
            "result": f"{Path(result.film).name if hasattr(result, 'film') else 'film'}"}


def case_default(run_dir: Path, words: int) -> dict:
    """``animate`` with its default word choice (categorised words, capped, + the top 300)."""
    import warnings

    from embviz.film.animate import animate

    start_rss = peak_rss_bytes()
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = animate(run_dir, run_dir.parent / "film-default.mp4", AnimateOptions(cache=False, film=SMALL_FILM))
    said = [str(w.message) for w in caught if "category" in str(w.message)]
    return {"seconds": time.perf_counter() - t0, "rss_after_imports": start_rss,
            "result": f"{len(result.words):,} words" + (f"; warned: {said[0]}" if said else "")}


def case_compare(run_dir: Path, words: int) -> dict:
    from embviz.compare.comparison import CompareOptions, compare
    from embviz.compare.word2vec import Word2VecOptions

    start_rss = peak_rss_bytes()
    t0 = time.perf_counter()
    report = compare(run_dir, CompareOptions(word2vec=Word2VecOptions(epochs=1)))
    timings = report.data.get("timings", {})
    return {"seconds": time.perf_counter() - t0, "rss_after_imports": start_rss,
            "result": "parts " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items())}


CASES = {"gather": case_gather, "animate": case_animate, "default": case_default, "compare": case_compare}


def available(case: str) -> bool:
    import importlib.util

    module = {"animate": "embviz.film.animate", "default": "embviz.film.animate", "compare": "embviz.compare.comparison"}.get(case)
    return module is None or importlib.util.find_spec(module) is not None


def child(case: str, run_dir: str, words: int) -> None:
    out = CASES[case](Path(run_dir), words)
    out["peak_rss"] = peak_rss_bytes()
    print("RESULT " + json.dumps(out))


def run_case(case: str, run_dir: Path, words: int) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", case, str(run_dir), str(words)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        why = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode} (killed by the OOM killer?)"])[-1]
        return {"error": why}
    line = next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--snapshots", type=int, default=100)
    parser.add_argument("--words", type=int, default=2000)
    parser.add_argument("--corpus-tokens", type=int, default=1_000_000)
    parser.add_argument("--dtypes", default="float16,float32")
    parser.add_argument("--cases", default="gather,animate,default,compare")
    parser.add_argument("--categorised", type=int, default=10, metavar="N",
                        help="One word in N has a category [default: 10]; 1 = every word (the default word "
                             "choice of animate is then capped).")
    parser.add_argument("--dir", type=Path, default=None, help="Where to build the runs [default: a temp dir].")
    parser.add_argument("--smoke", action="store_true", help="toy sizes: check that the benchmark runs")
    args = parser.parse_args()
    if args.smoke:
        args.vocab, args.dim, args.snapshots, args.words, args.corpus_tokens, args.dtypes = 500, 16, 4, 50, 5000, "float16"

    cases = [c for c in args.cases.split(",") if c]
    print(f"run: {args.vocab:,} tokens x d {args.dim} x {args.snapshots} snapshots; {args.words:,} words gathered; "
          f"{os.cpu_count()} cores")
    worst, failed = 0, []
    for dtype in args.dtypes.split(","):
        root = Path(tempfile.mkdtemp(prefix=f"bench-scale-{dtype}-", dir=args.dir))
        try:
            t0 = time.perf_counter()
            run_dir = build_run(root, args.vocab, args.dim, args.snapshots, dtype, args.corpus_tokens,
                                args.categorised)
            disk = sum(p.stat().st_size for p in (run_dir / "snapshots").glob("*.npy"))
            print(f"\n{dtype}: built in {time.perf_counter() - t0:.1f} s, snapshots {disk / 1e9:.2f} GB on disk")
            print(f"  {'case':<8} {'time':>9} {'peak RSS':>10} {'after imports':>14}  result")
            for case in cases:
                if not available(case):
                    print(f"  {case:<8} (skipped: module not present)")
                    continue
                r = run_case(case, run_dir, args.words)
                if "error" in r:
                    print(f"  {case:<8} FAILED: {r['error']}")
                    failed.append(f"{dtype} {case}")
                    continue
                worst = max(worst, r["peak_rss"])
                print(f"  {case:<8} {r['seconds']:8.1f}s {r['peak_rss'] / 2**20:8.0f} MB "
                      f"{r['rss_after_imports'] / 2**20:11.0f} MB  {r['result']}")
        finally:
            shutil.rmtree(root, ignore_errors=True)
    verdict = "OK" if worst < TARGET_BYTES else "OVER"
    print(f"\nworst peak RSS {worst / 2**20:.0f} MB; target < {TARGET_BYTES / 2**30:.0f} GB: {verdict}")
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
