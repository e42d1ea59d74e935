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
- ``layouts``: each layout method on every word (50,304): PCA streamed over all 154 snapshots from their
  memory maps (:class:`~embviz.film.stages.StreamedRows`), beside scikit-learn's ``PCA`` of one snapshot in
  memory; UMAP (the chain: a first frame, warm frames, the joint refinement) and t-SNE on ``--subset`` words
  of the last snapshots, extrapolated to every word and snapshot (linearly in words: a lower bound);
- ``top``: ``embviz explore --serve --top 50304 --method pca`` — every word of the vocabulary, streamed: the time
  until it serves and the CLI process's peak RSS; and ``--method umap``, refused.

    python benchmarks/bench_serve.py [--vocab 50304] [--dim 768] [--snapshots 154] [--queries 50]
                                     [--recall-words 200] [--subset 5000] [--dir DIR]
                                     [--cases serve neighbours layouts top]
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
from embviz.rundir.run import Run


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


def case_layouts(run_dir: Path, args) -> dict:
    from sklearn.decomposition import PCA

    from embviz.film.stages import StreamedRows
    from embviz.layout.projectors import PCAProjector, TSNEProjector, UMAPProjector
    from embviz.measure.metrics import unit_rows
    from embviz.rundir.run import Run

    run = Run.open(run_dir)
    snaps = run.snapshots()
    rows = np.arange(len(run.vocab()[0]))
    out: dict = {"words": int(rows.size), "snapshots": len(snaps)}
    t = time.perf_counter()
    PCAProjector().fit(StreamedRows(run, snaps, rows))
    out["pca_streamed_s"] = time.perf_counter() - t
    final = run.load_snapshot(snaps[-1])
    t = time.perf_counter()
    PCAProjector().fit([final])
    out["pca_one_s"] = time.perf_counter() - t
    t = time.perf_counter()
    PCA(n_components=2, svd_solver="full").fit_transform(unit_rows(final.astype(np.float64)))
    out["sklearn_pca_one_s"] = time.perf_counter() - t
    sub = np.sort(np.random.default_rng(3).choice(rows.size, min(args.subset, rows.size), replace=False))
    frames = [run.load_snapshot(s, sub) for s in snaps[-3:]]
    out["subset"] = int(sub.size)
    umap = UMAPProjector()
    umap.fit(frames[:1])  # numba's compile, paid once per environment, out of the timings
    for count in (1, 3):
        t = time.perf_counter()
        UMAPProjector(align_epochs=1 if count == 1 else umap.align_epochs).fit(frames[:count])
        out[f"umap_{count}_s"] = time.perf_counter() - t
    t = time.perf_counter()
    TSNEProjector().fit(frames[:2])
    out["tsne_2_s"] = time.perf_counter() - t
    t = time.perf_counter()
    TSNEProjector().fit(frames[:1])
    out["tsne_1_s"] = time.perf_counter() - t
    return out


class _Stop(Exception):
    """Raised by the progress callback to end the top case after ``--settle-snapshots`` snapshots of settling."""


def case_top(run_dir: Path, args) -> dict:
    """Every word, streamed with PCA (``serve_explore``, the options ``explore --serve --top V --method pca
    --no-cache`` makes): each stage's seconds and the peak RSS at its end; with ``--settle-snapshots N`` the
    settling stage (V x V per snapshot) is stopped after N snapshots and its whole is extrapolated. Then the CLI
    with ``--method umap``: refused."""
    import signal

    from embviz.film.explore_serve import serve_explore

    stages: dict[str, dict] = {}
    start = time.perf_counter()

    def record(stage: str, done: int, total: int) -> None:
        now = time.perf_counter() - start
        entry = stages.setdefault(stage, {"from": now, "total": total})
        entry.update(to=now, done=done, peak_rss=peak_rss_bytes())
        if stage.startswith("settling") and 0 < args.settle_snapshots <= done < total:
            raise _Stop

    out: dict = {"stages": stages}
    try:
        served = serve_explore(run_dir, AnimateOptions(method="pca", top=args.vocab, cache=False), progress=record)
        with served.server:
            with urllib.request.urlopen(served.url, timeout=60) as answer:
                out["page_mb"] = len(answer.read()) / 1e6
        out.update(words=served.n_words, served_s=time.perf_counter() - start)
    except _Stop:
        out["stopped"] = True
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                        os.environ.get("PYTHONPATH", "")])}
    t = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:  # refused at this size; a small run is served, then interrupted
        proc = subprocess.Popen([sys.executable, "-m", "embviz", "explore", str(run_dir), "--serve", "--top",
                                 str(args.vocab), "--no-cache", "--method", "umap"], stdout=subprocess.PIPE,
                                stderr=err, text=True, env=env)
        try:
            said = proc.stdout.readline().strip()
            if said:
                proc.send_signal(signal.SIGINT)
            proc.wait(timeout=600)
            err.seek(0)
            said = said or ([line for line in err.read().splitlines() if line.strip()] or [""])[-1]
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    out["umap"] = {"seconds": time.perf_counter() - t, "exit": proc.returncode, "said": said}
    return out


def report_top(r: dict, vocab: int) -> None:
    print(f"\nexplore --serve --top {vocab} --method pca --no-cache, streamed (in process, stage by stage):")
    for stage, e in r["stages"].items():
        line = (f"  {stage:<34} {e['to'] - e['from']:8.1f} s for {e['done']:,}/{e['total']:,}; "
                f"peak RSS {e['peak_rss'] / 2**20:,.0f} MB by its end")
        if e["done"] < e["total"]:
            whole = (e["to"] - e["from"]) / max(e["done"], 1) * e["total"]
            line += f"; stopped: all {e['total']:,} extrapolated {whole:,.0f} s = {whole / 3600:.1f} h"
        print(line)
    if r.get("stopped"):
        print("  not served: stopped in the settling stage (--settle-snapshots)")
    else:
        print(f"  served {r['words']:,} words in {r['served_s']:.1f} s, page {r['page_mb']:.1f} MB")
    print(f"  peak RSS of the whole case        {r['peak_rss'] / 2**20:,.0f} MB")
    u = r["umap"]
    print(f"explore --serve --top {vocab} --method umap: exit {u['exit']} in {u['seconds']:.1f} s: {u['said']}")


CASES = {"serve": case_serve, "neighbours": case_neighbours, "layouts": case_layouts, "top": case_top}


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


def report_serve(s: dict, disk: int) -> None:
    print(f"\nexplore --serve (default words, PCA): {s['words']:,} words × {s['snapshots']} snapshots, page "
          f"{s['page_mb']:.1f} MB in {s['page_seconds']:.1f} s, neighbours {s['mode']}")
    print(f"  peak RSS {s['peak_rss'] / 2**20:,.0f} MB = {s['peak_rss'] / disk:.3f} of the snapshots on disk; "
          f"{s['rss_serving'] / 2**20:,.0f} MB while serving")
    print(f"  GET /neighbours over HTTP     {_ms(s['http'])}")


def report_neighbours(n: dict) -> None:
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


def report_layouts(r: dict, peak: float) -> None:
    """Measured times, and the extrapolations to every word and snapshot (stated as such)."""
    n, t, sub = r["words"], r["snapshots"], r["subset"]
    scale = n / sub
    print(f"\nlayout of every word ({n:,}) × {t} snapshots (matmul peak {peak / 1e9:.1f} GFLOP/s):")
    print(f"  PCA, ours streamed from the memory maps   {r['pca_streamed_s']:8.1f} s for {t} snapshots "
          f"({r['pca_streamed_s'] / t:.2f} s per snapshot, measured)")
    print(f"  PCA, ours, one snapshot in memory         {r['pca_one_s']:8.3f} s; scikit-learn PCA(2) of it "
          f"{r['sklearn_pca_one_s']:.3f} s (ratio ours / sklearn {r['pca_one_s'] / r['sklearn_pca_one_s']:.2f})")
    warm = (r["umap_3_s"] - r["umap_1_s"]) / 2  # two warm frames and the joint refinement of three
    umap_all = scale * (r["umap_1_s"] + warm * (t - 1))
    print(f"  UMAP chain on {sub:,} words, measured      {r['umap_1_s']:8.1f} s first frame; {r['umap_3_s']:.1f} s for 3 "
          f"frames with the joint refinement ({warm:.1f} s per later frame)")
    print(f"    extrapolated to {n:,} words × {t}       ≥ {umap_all:8.0f} s = {umap_all / 3600:.1f} h (linear in words)")
    warm = r["tsne_2_s"] - r["tsne_1_s"]
    tsne_all = scale * (r["tsne_1_s"] + warm * (t - 1))
    print(f"  t-SNE on {sub:,} words, measured           {r['tsne_1_s']:8.1f} s first frame; {warm:.1f} s per later frame")
    print(f"    extrapolated to {n:,} words × {t}       ≥ {tsne_all:8.0f} s = {tsne_all / 3600:.1f} h (linear in words)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=int, default=50_304)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--snapshots", type=int, default=154)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--recall-words", type=int, default=200)
    parser.add_argument("--corpus-tokens", type=int, default=1_000_000)
    parser.add_argument("--subset", type=int, default=5000, help="Words UMAP and t-SNE are timed on.")
    parser.add_argument("--settle-snapshots", type=int, default=0,
                        help="Stop the top case's settling after this many snapshots and extrapolate [0: never].")
    parser.add_argument("--run", type=Path, default=None,
                        help="Use (and keep) the run in this folder, built there unless it holds one of --snapshots.")
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--dir", type=Path, default=None, help="Where to build the run [default: a temp dir].")
    parser.add_argument("--smoke", action="store_true", help="toy sizes: check that the benchmark runs")
    parser.add_argument("--child", nargs=2, metavar=("CASE", "RUN"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smoke:
        args.vocab, args.dim, args.snapshots, args.queries, args.recall_words, args.corpus_tokens = 600, 16, 4, 10, 30, 5000
        args.subset = 300
    if args.child:
        return child(args.child[0], args.child[1], args)
    argv = [f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items() if k in ("vocab", "dim", "snapshots", "queries",
                                                                                   "recall_words", "subset", "settle_snapshots")]
    argv += ["--smoke"] if args.smoke else []
    peak = matmul_peak(256 if args.smoke else 1024)
    print(f"run: {args.vocab:,} tokens × d {args.dim} × {args.snapshots} snapshots, float16; {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}; matmul peak (fp32) {peak / 1e9:.1f} GFLOP/s", flush=True)
    root = args.run or Path(tempfile.mkdtemp(prefix="bench-serve-", dir=args.dir))
    try:
        t0 = time.perf_counter()
        run_dir = root / "run"
        if not (run_dir / "run.json").is_file() or len(Run.open(run_dir).snapshots()) != args.snapshots:
            run_dir = build_run(root, args.vocab, args.dim, args.snapshots, "float16", args.corpus_tokens)
        disk = sum(p.stat().st_size for p in (run_dir / "snapshots").glob("*.npy"))
        print(f"built in {time.perf_counter() - t0:.1f} s: snapshots {disk / 1e9:.2f} GB on disk", flush=True)

        if "serve" in args.cases:
            report_serve(run_case("serve", run_dir, argv), disk)
        if "neighbours" in args.cases:
            report_neighbours(run_case("neighbours", run_dir, argv))
        if "layouts" in args.cases:
            report_layouts(run_case("layouts", run_dir, argv), peak)
        if "top" in args.cases:
            report_top(run_case("top", run_dir, argv), args.vocab)
    finally:
        if args.run is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
