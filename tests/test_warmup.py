"""numba compiles a UMAP film's code once per environment: after a warm-up, another process's film loads it all.

Two real processes share a fresh numba cache (``NUMBA_CACHE_DIR``): the first runs the warm-up
``make demo`` and ``train`` run, the second ``embviz animate`` on a toy run. numba's own counters say
what the second one did: every compile fires a ``numba:compile`` event, and each dispatcher counts its
cache hits and misses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from embviz.layout.projectors import UNCACHED_UMAP

from toyrun import make_toy_run

ROOT = Path(__file__).resolve().parents[1]

FILM = textwrap.dedent("""
    import importlib, json, sys
    import umap  # pynndescent compiles (or loads) its eagerly typed functions here
    from numba.core import event

    compiled = []

    class Compiles(event.Listener):
        def on_start(self, ev):
            compiled.append(ev.data["dispatcher"].py_func.__qualname__)

        def on_end(self, ev):
            pass

    event.register("numba:compile", Compiles())
    from embviz import cli
    try:
        cli.main(["animate", sys.argv[1], "--out", sys.argv[2], "--size", "160x120", "--fps", "2", "--quiet"])
    except SystemExit as e:
        assert not e.code, e.code
    hits = {}
    for name in sys.argv[3:]:
        module, attr = name.rsplit(".", 1)
        stats = getattr(importlib.import_module(module), attr).stats
        hits[name] = [sum(stats.cache_hits.values()), sum(stats.cache_misses.values())]
    print(json.dumps({"compiled": compiled, "hits": hits}))
""")


@pytest.mark.slow
def test_a_film_after_the_warm_up_compiles_nothing(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba"), "MPLBACKEND": "Agg",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    is_warm = [sys.executable, "-c", "from embviz.film import warmup; print(warmup.is_warm())"]
    assert subprocess.run(is_warm, env=env, capture_output=True, text=True, check=True).stdout.strip() == "False"
    subprocess.run([sys.executable, "-m", "embviz.film.warmup"], env=env, check=True, timeout=600)
    assert any((tmp_path / "numba").rglob("*.nbi"))
    # train starts no second warm-up once this cache is warm
    assert subprocess.run(is_warm, env=env, capture_output=True, text=True, check=True).stdout.strip() == "True"
    run = make_toy_run(tmp_path / "toy", n_words=60, n_snapshots=3, dim=8)
    watched = [f"umap.{name}" for name in UNCACHED_UMAP] + ["embviz.layout.temporal_umap._epoch"]
    done = subprocess.run([sys.executable, "-c", FILM, str(run.path), str(tmp_path / "film.mp4"), *watched],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["compiled"] == []
    for name in watched:
        hits, misses = report["hits"][name]
        assert hits >= 1 and misses == 0, (name, hits, misses)
    assert (tmp_path / "film.mp4").stat().st_size > 0
