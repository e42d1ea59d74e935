"""``explore --serve`` on a run the size of a real model's: peak memory, neighbour latency, recall.

The run is written by ``bench_scale.build_run`` (no training): 50,304 tokens × d 768 × 154 snapshots in
float16 (Pythia-160m's table over its 154 revisions: 11.9 GB on disk), one word in 10 categorised. Each
case runs in a fresh child process, which reports its wall time and its peak resident memory (VmHWM):

- ``serve``: :func:`embviz.film.explore_serve.serve_explore` with the default words (PCA layout, so the
  case measures memory rather than UMAP), the server started, then ``--queries`` real HTTP requests
  ``GET /neighbours`` at random words and snapshots (latency median, p95);
- ``neighbours``: the neighbour engine over the whole vocabulary (50,304 rows) of one snapshot, side by
  side with scikit-learn's exact ``NearestNeighbors(metric="cosine", algorithm="brute")`` on the same rows:
  exact queries from the memory map vs sklearn's queries on the loaded matrix (and its load + fit);
  then the approximate mode (pynndescent's graph of that snapshot: numba's compile, the build, a query) and
  its recall@10 against exact on ``--recall-words`` words;
- ``top``: ``embviz explore --serve --top 50304`` — what every word of the vocabulary would cost, refused.

    python benchmarks/bench_serve.py [--vocab 50304] [--dim 768] [--snapshots 154] [--queries 50]
                                     [--recall-words 200] [--dir DIR]
    python benchmarks/bench_serve.py --smoke      # every case on a 600-token run, in seconds
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
from bench_scale import build_run, peak_rss_bytes
from bench_train import matmul_peak

from embviz.film.animate_options import AnimateOptions


def _latency(seconds: list[float]) -> dict:
    return {"median_ms": 1e3 * float(np.median(seconds)), "p95_ms": 1e3 * float(np.percentile(seconds, 95)),
            "n": len(seconds)}


def case_serve(run_dir: Path, args) -> dict:
    from embviz.film.explore_serve import serve_explore

    t0 = time.perf_counter()
    served = serve_explore(run_dir, AnimateOptions(method="pca", cache=False))
    built = time.perf_counter() - t0
    rng = np.random.default_rng(1)
    times = []
    with served.server:
        for word, snap in zip(rng.integers(0, served.n_words, args.queries), rng.integers(0, served.n_snapshots, args.queries)):
            t = time.perf_counter()
            with urllib.request.urlopen(f"{served.url}neighbours?word={word}&snapshot={snap}", timeout=60) as answer:
                assert len(json.loads(answer.read())["neighbours"]) == min(10, served.n_words - 1)
            times.append(time.perf_counter() - t)
    return {"seconds": time.perf_counter() - t0, "page_seconds": built, "words": served.n_words,
            "snapshots": served.n_snapshots, "page_mb": served.page_bytes / 1e6, "mode": served.engine.mode,
            "http": _latency(times), "rss_serving": _rss_now()}


def case_neighbours(run_dir: Path, args) -> dict:
    from sklearn.neighbors import NearestNeighbors

    from embviz.measure.neighbours import NeighbourEngine
    from embviz.rundir.run import Run

    run = Run.open(run_dir)
    snap = run.snapshots()[-1]
    rows = np.arange(len(run.vocab()[0]))
    dim = run.load_snapshot(snap, rows[:1]).shape[1]
    read = lambda t, r: run.load_snapshot(snap, r)  # noqa: E731
    rng = np.random.default_rng(2)
    words = rng.choice(rows.size, size=max(args.queries, args.recall_words), replace=False)
    queries = words[: args.queries]
    exact = NeighbourEngine(read, 1, rows, dim, mode="exact")
    ours, found = [], {}
    for w in words:
        t = time.perf_counter()
        found[int(w)] = exact.query(int(w), 0)[0]
        ours.append(time.perf_counter() - t)
    out = {"rows": int(rows.size), "dim": int(dim), "exact": _latency(ours[: args.queries])}

    t = time.perf_counter()
    matrix = run.load_snapshot(snap)
    load = time.perf_counter() - t
    t = time.perf_counter()
    reference = NearestNeighbors(n_neighbors=11, metric="cosine", algorithm="brute").fit(matrix)
    fit = time.perf_counter() - t
    theirs, agree = [], 0
    for w in queries:
        t = time.perf_counter()
        idx = reference.kneighbors(matrix[[w]], return_distance=False)[0]
        theirs.append(time.perf_counter() - t)
        agree += len(set(idx[idx != w][:10]) & set(found[int(w)]))
    out["sklearn"] = {**_latency(theirs), "load_s": load, "fit_s": fit, "agreement": agree / (10 * len(queries))}
    del matrix, reference
    if args.smoke:  # numba compiles pynndescent for about 2 minutes in every process: tests/test_explore_serve.py has it
        return out

    import pynndescent

    t = time.perf_counter()
    pynndescent.NNDescent(np.random.default_rng(0).standard_normal((300, 8)).astype(np.float32), metric="cosine",
                          n_neighbors=30, random_state=0, compressed=True).neighbor_graph  # numba compiles here
    compile_s = time.perf_counter() - t
    approx = NeighbourEngine(read, 1, rows, dim, mode="approximate")
    t = time.perf_counter()
    approx.query(int(words[0]), 0)
    build = time.perf_counter() - t
    times, hits = [], 0
    for w in words:
        t = time.perf_counter()
        idx = approx.query(int(w), 0)[0]
        times.append(time.perf_counter() - t)
        hits += len(set(idx) & set(found[int(w)]))
    graph_mb = sum(a.nbytes + b.nbytes for a, b in approx._graphs.values()) / 1e6
    out["approximate"] = {**_latency(times), "compile_s": compile_s, "build_s": build, "graph_mb": graph_mb,
                          "recall10": hits / (10 * len(words)), "recall_words": len(words)}
    return out


def case_top(run_dir: Path, args) -> dict:
    """The CLI with every word: refused (or, where it fits, served, and interrupted once it says where)."""
    import signal

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                        os.environ.get("PYTHONPATH", "")])}
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "embviz", "explore", str(run_dir), "--serve", "--top", str(args.vocab),
                             "--method", "pca", "--no-cache"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    try:
        said = proc.stdout.readline().strip()
        if said:
            proc.send_signal(signal.SIGINT)
        proc.wait(timeout=600)
        said = said or (proc.stderr.read().strip().splitlines() or [""])[-1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return {"seconds": time.perf_counter() - t, "exit": proc.returncode, "said": said}


CASES = {"serve": case_serve, "neighbours": case_neighbours, "top": case_top}


def _rss_now() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def child(case: str, run_dir: str, args) -> None:
    out = CASES[case](Path(run_dir), args)
    out["peak_rss"] = peak_rss_bytes()
    print("RESULT " + json.dumps(out), flush=True)


def run_case(case: str, run_dir: Path, argv: list[str]) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", case, str(run_dir), *argv], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"case {case} failed: {(proc.stderr.strip().splitlines() or [proc.returncode])[-1]}")
    return json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))[len("RESULT "):])


def _ms(r: dict) -> str:
    return f"median {r['median_ms']:8.2f} ms · p95 {r['p95_ms']:8.2f} ms ({r['n']} queries)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=int, default=50_304)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--snapshots", type=int, default=154)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--recall-words", type=int, default=200)
    parser.add_argument("--corpus-tokens", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=None, help="Where to build the run [default: a temp dir].")
    parser.add_argument("--smoke", action="store_true", help="toy sizes: check that the benchmark runs")
    parser.add_argument("--child", nargs=2, metavar=("CASE", "RUN"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smoke:
        args.vocab, args.dim, args.snapshots, args.queries, args.recall_words, args.corpus_tokens = 600, 16, 4, 10, 30, 5000
    if args.child:
        return child(args.child[0], args.child[1], args)
    argv = [f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items() if k in ("vocab", "dim", "snapshots", "queries",
                                                                                   "recall_words")]
    argv += ["--smoke"] if args.smoke else []
    peak = matmul_peak(256 if args.smoke else 1024)
    print(f"run: {args.vocab:,} tokens × d {args.dim} × {args.snapshots} snapshots, float16; {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}; matmul peak (fp32) {peak / 1e9:.1f} GFLOP/s", flush=True)
    root = Path(tempfile.mkdtemp(prefix="bench-serve-", dir=args.dir))
    try:
        t0 = time.perf_counter()
        run_dir = build_run(root, args.vocab, args.dim, args.snapshots, "float16", args.corpus_tokens)
        disk = sum(p.stat().st_size for p in (run_dir / "snapshots").glob("*.npy"))
        print(f"built in {time.perf_counter() - t0:.1f} s: snapshots {disk / 1e9:.2f} GB on disk", flush=True)

        s = run_case("serve", run_dir, argv)
        print(f"\nexplore --serve (default words, PCA): {s['words']:,} words × {s['snapshots']} snapshots, page "
              f"{s['page_mb']:.1f} MB in {s['page_seconds']:.1f} s, neighbours {s['mode']}")
        print(f"  peak RSS {s['peak_rss'] / 2**20:,.0f} MB = {s['peak_rss'] / disk:.3f} of the snapshots on disk; "
              f"{s['rss_serving'] / 2**20:,.0f} MB while serving")
        print(f"  GET /neighbours over HTTP     {_ms(s['http'])}")

        n = run_case("neighbours", run_dir, argv)
        ex, sk, ap = n["exact"], n["sklearn"], n.get("approximate")
        print(f"\nneighbours among the whole vocabulary ({n['rows']:,} × d {n['dim']}) at the final snapshot:")
        print(f"  ours exact, from the memory map    {_ms(ex)}")
        print(f"  sklearn brute, matrix in memory    {_ms(sk)}; + load {sk['load_s']:.2f} s, fit {sk['fit_s']:.2f} s")
        print(f"  ratio ours / sklearn (median)      {ex['median_ms'] / sk['median_ms']:.2f}; same neighbours "
              f"{sk['agreement']:.4f}")
        if ap is None:
            print("  approximate mode: left out of --smoke (numba's compile alone takes minutes)")
        else:
            print(f"  ours approximate (pynndescent)     {_ms(ap)}; numba compile {ap['compile_s']:.1f} s, graph build "
                  f"{ap['build_s']:.1f} s ({ap['build_s'] / (ex['median_ms'] / 1e3):,.0f} exact queries), graph "
                  f"{ap['graph_mb']:.1f} MB")
            print(f"  recall@10 of approximate vs exact  {ap['recall10']:.4f} ({ap['recall_words']} words)")
        print(f"  neighbours child peak RSS          {n['peak_rss'] / 2**20:,.0f} MB")

        t = run_case("top", run_dir, argv)
        print(f"\nexplore --serve --top {args.vocab}: exit {t['exit']} in {t['seconds']:.1f} s: {t['said']}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
