"""The explorer page's layers over the points, in a real browser (chromium via selenium): word labels,
cluster labels, colour by settle step, neighbours asked of a server, and snapshots appended live."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest
from test_explorer_page import PAINTED, js, load, move_slider, next_frame, page_rows, settled_js

from embviz.film.animate_options import AnimateOptions
from embviz.film.explore import _b64, explore, quantise, render_page
from embviz.measure.metrics import knn_graph
from embviz.serve.server import Response, Routes, Server

from conftest import CHROMEDRIVER, CHROMIUM
from toyrun import make_toy_run, toy_trajectory

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (CHROMIUM.exists() and CHROMEDRIVER.exists()), reason="no system browser")]


def page_json(path) -> dict:
    return json.loads(re.search(r'id="embviz-data">(.*?)</script>', path.read_text(encoding="utf-8"), re.S).group(1))


class Page:
    """A page written from edited data, with the ``path`` load() opens."""

    def __init__(self, path, data: dict):
        self.path = path
        path.write_text(render_page(data), encoding="utf-8")


@pytest.fixture(scope="module")
def crowded(tmp_path_factory):
    """A toy run of 600 words, too many to label them all at once."""
    run = make_toy_run(tmp_path_factory.mktemp("crowded") / "run", n_words=600, n_snapshots=5, dim=16)
    return run, explore(run.path, options=AnimateOptions(method="pca", cache=False, top=600))


def overlapping(boxes: list[dict]) -> list[tuple[str, str]]:
    return [(a["text"], b["text"]) for i, a in enumerate(boxes) for b in boxes[i + 1:]
            if a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"] and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"]]


def test_labels_never_overlap_and_more_appear_as_you_zoom_in(browser, crowded) -> None:  # noqa: F811
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.actions.wheel_input import ScrollOrigin

    load(browser, crowded[1])
    move_slider(browser, 4)
    rect = js(browser, "document.getElementById('map').getBoundingClientRect().toJSON()")

    def shown() -> tuple[list[dict], np.ndarray]:
        boxes = js(browser, "embviz.labels()")
        pts = np.array(js(browser, "Array.from({length: embviz.n}, (_, j) => embviz.screenPosition(j))"))
        return boxes, pts - [rect["left"], rect["top"]]

    before, pts = shown()
    words = [b for b in before if b["kind"] == "word"]
    assert 20 < len(words) < 600 and overlapping(before) == []
    for b in words:  # each word's label is its own text, just right of its point
        np.testing.assert_allclose([b["x"] - 4, b["y"] + b["h"] / 2], pts[b["index"]], atol=0.01)
        assert b["text"] == js(browser, "embviz.words()")[b["index"]]
    zoom = js(browser, "embviz.view().zoom")
    ActionChains(browser).scroll_from_origin(ScrollOrigin.from_element(browser.find_element("id", "map")), 0, -700).perform()
    assert settled_js(browser, "embviz.view().zoom", lambda z: z != zoom) > zoom
    next_frame(browser)  # the labels of the zoomed view
    after, pts = shown()
    assert overlapping(after) == []
    inside = set(np.flatnonzero((pts[:, 0] > 0) & (pts[:, 1] > 0) & (pts[:, 0] < rect["width"]) & (pts[:, 1] < rect["height"])))
    labelled = lambda boxes: {b["index"] for b in boxes if b["kind"] == "word"} & inside  # noqa: E731
    assert len(inside) < 600 and len(labelled(after)) > len(labelled(before))


def test_cluster_labels_sit_at_each_category_centre_and_clear_as_it_gathers(browser, crowded) -> None:  # noqa: F811
    from selenium.webdriver.support.ui import Select

    run, result = crowded
    load(browser, result)
    Select(browser.find_element("id", "level")).select_by_visible_text("pos")
    assert settled_js(browser, "embviz.level()", "pos") == "pos"
    rows = page_rows(run, browser)
    pos = [(p or "").split("/")[0] for p in (run.vocab()[2][i] for i in rows)]
    rect = js(browser, "document.getElementById('map').getBoundingClientRect().toJSON()")

    def clusters() -> dict[str, dict]:
        return {b["text"]: b for b in js(browser, "embviz.labels()") if b["kind"] == "cluster"}

    move_slider(browser, 0)
    start = clusters()
    move_slider(browser, 4)
    end = clusters()
    assert set(end) == {"p0", "p1", "p2"}
    pts = np.array(js(browser, "Array.from({length: embviz.n}, (_, j) => embviz.screenPosition(j))"))
    for name, box in end.items():
        members = [j for j, p in enumerate(pos) if p == name]
        np.testing.assert_allclose([box["x"] + box["w"] / 2 + rect["left"], box["y"] + box["h"] / 2 + rect["top"]],
                                   pts[members].mean(axis=0), atol=0.05)
        assert box["opacity"] > start.get(name, {"opacity": 0.0})["opacity"] + 0.2  # gathered at the end


def test_colour_by_settle_step(browser, toy, tmp_path) -> None:  # noqa: F811
    from PIL import Image

    data = page_json(toy[1].path)
    load(browser, Page(tmp_path / "bare.html", {k: v for k, v in data.items() if k != "settle"}))
    assert js(browser, "document.getElementById('settle-toggle').hidden")  # no settle steps, no toggle
    n, steps = data["n"], data["steps"]
    data["settle"] = [None if j % 5 == 4 else steps[j % len(steps)] for j in range(n)]
    load(browser, Page(tmp_path / "settle.html", data))
    by_level = js(browser, "embviz.colours()")
    browser.find_element("id", "settle").click()
    colours = settled_js(browser, "embviz.colours()", lambda c: c != by_level)
    assert colours != by_level
    next_frame(browser)  # the points drawn in those colours
    assert {colours[j] for j in range(n) if data["settle"][j] is None} == {"#c7c7c7"}  # never settles: grey
    first = [colours[j] for j in range(n) if data["settle"][j] == steps[0]]
    last = [colours[j] for j in range(n) if data["settle"][j] == steps[-1]]
    assert set(first) == {"#440154"} and set(last) == {"#fde725"}  # viridis, earliest to latest
    image = np.asarray(Image.open(io.BytesIO(browser.get_screenshot_as_png())).convert("RGB")).astype(int)
    j = next(j for j in range(n) if data["settle"][j] == steps[-1])
    x, y = (round(v) for v in js(browser, "embviz.screenPosition(arguments[0])", j))
    want = 0.85 * np.array([0xfd, 0xe7, 0x25]) + 0.15 * 255  # drawn at alpha 0.85 over white
    assert np.abs(image[y - 1:y + 2, x - 1:x + 2] - want).max(axis=2).min() < 30  # the point is drawn in it


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    run = make_toy_run(tmp_path_factory.mktemp("layers") / "run", n_words=40, n_snapshots=4, dim=8)
    return run, explore(run.path, options=AnimateOptions(method="pca", cache=False))


def test_served_page_asks_the_server_for_neighbours(browser, toy) -> None:  # noqa: F811
    run, result = toy
    data = {k: v for k, v in page_json(result.path).items() if not k.startswith("nbr")}
    data["serve"] = True
    tokens = run.vocab()[0]
    rows = np.array([tokens.index(w) for w in data["words"]])
    mats = run.gather(rows)
    asked = []

    def neighbours(request):
        word, snap = int(request.query["word"]), int(request.query["snapshot"])
        asked.append((word, snap))
        if word == 0:
            return Response.json({"error": "no neighbours for this word"})
        idx, dist = knn_graph(mats[snap], 11)
        return Response.json({"neighbours": [[int(i), float(1 - d)] for i, d in zip(idx[word, 1:], dist[word, 1:])]})

    html = render_page(data)
    assert "connect-src 'self'" in html and "connect-src 'none'" in result.path.read_text()
    with Server(Routes(pages={"/": lambda r: Response.html(html), "/neighbours": neighbours})) as server:
        browser.get(f"http://127.0.0.1:{server.port}/")
        assert settled_js(browser, PAINTED, True), "the page never painted"
        move_slider(browser, 2)
        js(browser, "document.getElementById('search').value = arguments[0]", data["words"][5])
        browser.find_element("id", "search").send_keys("\n")
        assert settled_js(browser, "embviz.selected()", 5) == 5
        state = settled_js(browser, "embviz.neighbours()", lambda st: not st["pending"])  # both answers came
        assert not state["pending"] and {(5, 2), (5, 1)} <= set(asked)
        next_frame(browser)  # the panel drawn from them
        want = knn_graph(mats[2], 11)[0][5, 1:]
        items = browser.find_elements("css selector", "#neighbours li")
        assert [int(li.get_attribute("data-index")) for li in items] == list(want)
        assert set(state["gained"]) == set(want) - set(knn_graph(mats[1], 11)[0][5, 1:])
        js(browser, "document.getElementById('search').value = arguments[0]", data["words"][0])
        browser.find_element("id", "search").send_keys("\n")
        error = "neighbours: no neighbours for this word"
        assert settled_js(browser, "document.getElementById('nbr-error').textContent", error) == error
        assert browser.find_elements("css selector", "#neighbours li") == []


def test_snapshots_appended_live_join_the_slider_curves_and_layout(browser, toy) -> None:  # noqa: F811
    run, result = toy
    data = page_json(result.path)
    n, k, t0 = data["n"], data["k"], data["T"]
    load(browser, result)
    extra = toy_trajectory([None] * n, 2, dim=2, seed=5) * 3
    q, bounds = quantise(extra)
    rng = np.random.default_rng(0)
    chunk = {"positions": _b64(q, "u2"), "bounds": bounds.tolist(), "steps": [1000, 2000], "epochs": [9, 10],
             "trainLoss": [1.0, 0.9], "valLoss": [None, None], "loss": [1.0, 0.9],
             "curves": {name: [0.5, 0.6] for name in data["curves"]}, "nbrType": "u2",
             "nbrIndex": _b64(rng.integers(0, n, (2, n, k)), "u2"), "nbrCos": _b64(rng.integers(0, 32767, (2, n, k)), "i2")}
    assert js(browser, "embviz.append(arguments[0])", chunk) == t0 + 2 == js(browser, "embviz.T")
    assert js(browser, "Number(document.getElementById('slider').max)") == t0 + 1
    move_slider(browser, t0 + 1)
    step = np.ptp(extra[1], axis=0).max() / 65535
    for j in (0, n - 1):
        np.testing.assert_allclose(js(browser, "embviz.dataPosition(arguments[0])", j), extra[1, j], atol=step)
    assert "step 2,000" in browser.find_element("id", "info").text
