"""embviz in real notebook clients: ``examples/tour.ipynb`` executed by a kernel (nbclient + ipykernel) with tiny
parameters injected after its parameters cell, its HTML export (nbconvert) opened in chromium, and JupyterLab
itself on 127.0.0.1 rendering the live map while a run directory grows."""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import numpy as np
import pytest
from test_explorer_page import settled_js

from embviz.film.selection import choose_words
from embviz.notebook.explorer import explore_options
from embviz.rundir.run import Run, Snapshot, snapshot_name

from conftest import TINY, needs_browser
from toyrun import make_toy_run

ROOT = Path(__file__).resolve().parents[1]
TOUR = ROOT / "examples" / "tour.ipynb"
EXPLORE = {"method": "pca"}
PARAMETERS = {
    "train_options": {**TINY, "epochs": 3, "synthetic_tokens": 4000, "snapshot_schedule": "log", "log_snapshots": 4},
    "explore_options": EXPLORE,
    "word2vec_options": {"epochs": 2, "workers": 1},
}
"""What the test runs the tour with: seconds per run instead of the demo's minutes."""

pytestmark = pytest.mark.slow


def with_parameters(nb: nbformat.NotebookNode, values: dict) -> nbformat.NotebookNode:
    """``nb`` with a cell assigning ``values`` right after its cell tagged ``parameters`` (as papermill injects)."""
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    source = "\n".join(f"{name} = {value!r}" for name, value in values.items())
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]},
                                                      id="injected-parameters"))
    return nb


def kernel_env(home: Path) -> dict:
    """The environment of a kernel or a server: this checkout importable, one math thread, and every Jupyter and
    IPython directory under ``home`` so nothing is written into the user's own."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    for name, sub in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"), ("JUPYTER_RUNTIME_DIR", "runtime"),
                      ("JUPYTERLAB_SETTINGS_DIR", "settings"), ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
                      ("IPYTHONDIR", "ipython"), ("MPLCONFIGDIR", "mpl")):
        env[name] = str(home / sub)
        (home / sub).mkdir(parents=True, exist_ok=True)
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    return env


@pytest.fixture(scope="module")
def tour(tmp_path_factory, worker_id) -> tuple[nbformat.NotebookNode, Path, float]:
    """The tour executed end to end by a real kernel: the notebook with its outputs, the runs' folder, seconds.

    Once per test session: under pytest-xdist the workers share it through the session's base folder (a lock,
    the first one executes), so the two tests that read it never run it twice."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    work = (base.parent if worker_id != "master" else base) / "tour"
    with FileLock(str(work) + ".lock"):
        executed = work / "executed.ipynb"
        if executed.is_file():
            return nbformat.read(executed, as_version=4), work / "runs", float((work / "seconds").read_text())
        work.mkdir()
        nb = execute_tour(work)
        nbformat.write(nb, executed)
        return nb, work / "runs", float((work / "seconds").read_text())


def execute_tour(work: Path) -> nbformat.NotebookNode:
    from nbclient import NotebookClient

    nb = with_parameters(nbformat.read(TOUR, as_version=4), {"runs": str(work / "runs"), **PARAMETERS})
    saved = dict(os.environ)
    os.environ.update(kernel_env(work / "home"))  # the kernel inherits this process's environment
    try:
        start = time.perf_counter()
        NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(work)}}).execute()
        (work / "seconds").write_text(f"{time.perf_counter() - start:.1f}")
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return nb


def outputs(nb: nbformat.NotebookNode, mime: str) -> list[str]:
    return [o.get("data", {}).get(mime, o.get("text", "")) for c in nb.cells if c.cell_type == "code"
            for o in c.get("outputs", []) if mime in o.get("data", {}) or (mime == "stream" and o.output_type == "stream")]


def shown_words(run_dir: Path) -> list[str]:
    return choose_words(Run.open(run_dir), explore_options(**EXPLORE)).words


def test_tour_runs_end_to_end_with_sane_numbers(tour) -> None:
    nb, runs, seconds = tour
    assert not [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    printed = "".join(outputs(nb, "stream"))
    for name in ("demo", "demo-zh"):
        run = Run.open(runs / name)
        manifest = run.manifest()
        assert manifest.status == "complete"
        result = manifest.result
        line = (f"{result['steps']} steps, {len(run.snapshots())} snapshots, complete; category purity@10 "
                f"{result['purity_init']:.3f} → {result['purity_final']:.3f} (chance {result['purity_chance']:.3f})")
        assert line in printed  # what the notebook printed is the run's own record
        assert result["purity_chance"] < result["purity_final"] <= 1 and result["purity_final"] > result["purity_init"]
        report = json.loads((runs / name / "word2vec" / "report.json").read_text(encoding="utf-8"))
        cka = report["similarity"]["linear_cka"]
        assert 0 < cka <= 1 and f"linear CKA {cka:.3f}" in printed
    # the live maps: one widget view per training cell, its model's words those explore shows
    views = outputs(nb, "application/vnd.jupyter.widget-view+json")
    assert len(views) == 2
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    for view, name in zip(views, ("demo", "demo-zh")):
        model = state[view["model_id"]]["state"]
        assert model["words"] == shown_words(runs / name) and model["state"] == "complete"
        assert model["snapshots"] == len(Run.open(runs / name).snapshots())
    frames = [h for h in outputs(nb, "text/html") if 'title="embviz explorer"' in h]
    assert len(frames) == 2 and all("srcdoc=" in h for h in frames)
    assert len(outputs(nb, "image/png")) == 1  # the side-by-side figure
    print(f"tour executed in {seconds:.1f} s")


@needs_browser
def test_tour_exported_to_html_draws_every_word(tour, browser, tmp_path) -> None:
    """The executed tour as ``nbconvert --to html`` writes it, in chromium: each explorer frame draws every word."""
    from nbconvert import HTMLExporter

    nb, runs, _ = tour
    page = tmp_path / "tour.html"
    body, _ = HTMLExporter().from_notebook_node(nb)
    page.write_text(body, encoding="utf-8")
    browser.get(page.as_uri())
    frames = browser.find_elements("css selector", 'iframe[title="embviz explorer"]')
    assert len(frames) == 2
    for frame, name in zip(frames, ("demo", "demo-zh")):
        browser.execute_script("arguments[0].scrollIntoView()", frame)  # chromium paints no frame out of view
        browser.switch_to.frame(frame)
        try:
            words = shown_words(runs / name)
            drawn = settled_js(browser, "window.embviz && embviz.firstPaint() ? embviz.drawnPoints() : null", len(words))
            assert drawn == len(words)
            assert browser.execute_script("return embviz.words()") == words
        finally:
            browser.switch_to.default_content()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def jupyterlab(tmp_path):
    """JupyterLab on 127.0.0.1 (random port, a token, no browser), its root, settings and runtime under ``tmp_path``;
    shut down through its API, and killed if it does not go."""
    root, port, token = tmp_path / "root", free_port(), secrets.token_hex(16)
    root.mkdir()
    log = open(tmp_path / "lab.log", "wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=", "--LabApp.check_for_updates_class="
         "jupyterlab.NeverCheckForUpdate", "--LabApp.extension_manager=readonly",
         "--ServerApp.terminals_enabled=False", "--ServerApp.allow_root=True"],
        env=kernel_env(tmp_path / "home"), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=10)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError((tmp_path / "lab.log").read_text(errors="replace")) from None
                time.sleep(0.2)
        yield url, token, root
    finally:
        try:
            request = urllib.request.Request(f"{url}/api/shutdown", method="POST",
                                             headers={"Authorization": f"token {token}"})
            urllib.request.urlopen(request, timeout=10)
            server.wait(30)
        except (OSError, subprocess.TimeoutExpired):
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(10)
        log.close()


@needs_browser
def test_jupyterlab_renders_the_live_map_as_the_run_grows(jupyterlab, browser) -> None:
    url, token, root = jupyterlab
    run = make_toy_run(root / "run", n_words=50, n_snapshots=3)
    run.set_status("running")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        f"import embviz\nembviz.LiveMap({str(run.path)!r})")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, root / "live.ipynb")
    browser.get(f"{url}/lab/tree/live.ipynb?token={token}")

    # the map's data attributes, set when a redraw settles (null until the cell's output holds the map)
    map_state = "(el => el && Object.assign({}, el.dataset))(document.querySelector('.embviz-live'))"
    kernel = ("!!(window.jupyterapp && jupyterapp.shell.currentWidget && jupyterapp.shell.currentWidget.sessionContext "
              "&& jupyterapp.shell.currentWidget.sessionContext.session "
              "&& jupyterapp.shell.currentWidget.sessionContext.session.kernel)")
    assert settled_js(browser, kernel, True, timeout=180), "JupyterLab started no kernel"
    browser.execute_script("jupyterapp.commands.execute('notebook:run-all-cells')")
    words = choose_words(run, explore_options()).words
    state = settled_js(browser, map_state, lambda st: bool(st) and st.get("snapshots") == "3", timeout=300)
    assert state, "no live map in the page"
    assert state["drawnPoints"] == str(len(words)) and state["snapshots"] == "3" and state["state"] == "training"
    assert browser.execute_script("return document.querySelector('.embviz-live canvas').width") > 0
    matrix = np.random.default_rng(1).normal(size=(50, 32)).astype(np.float32)
    run.add_snapshot(matrix, Snapshot(snapshot_name(2000), 2000, 3.0, 64_000, 1.0, 1.2))
    run.set_status("complete")
    state = settled_js(browser, map_state, lambda st: st.get("state") == "complete", timeout=120)
    assert state["snapshots"] == "4" and state["step"] == "2000" and state["state"] == "complete"
    assert state["drawnPoints"] == str(len(words))
    legend = browser.execute_script("return Array.from(document.querySelectorAll('.embviz-live-legend li'), "
                                    "li => li.textContent)")
    assert len(legend) >= 2
    caption = browser.execute_script("return document.querySelector('.embviz-live-caption').textContent")
    assert re.search(r"step 2,000 · snapshot 4 · purity@10 \(\w+\) [01]\.\d{3} · complete$", caption), caption
