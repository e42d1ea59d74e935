"""The explorer page in a real browser: Debian's chromium driven by selenium through chromedriver.

One browser for the module. The page is read through its read-only ``window.embviz`` hook and its DOM;
every number it shows is checked against what Python computes from the run's snapshots.
"""

from __future__ import annotations

import io
import time

import numpy as np
import pytest

from embviz.compare.comparison import CompareOptions, compare
from embviz.compare.word2vec import Word2VecOptions
from embviz.film.animate_options import AnimateOptions
from embviz.film.explore import explore
from embviz.layout.projectors import PCAProjector
from embviz.measure.metrics import knn_graph
from embviz.rundir.run import Run, Snapshot, snapshot_name

from conftest import ANIMALS, COLOURS, FOODS, HOSTILE, NUMBERS, needs_browser, tiny_text
from toyrun import make_corpus_run, make_toy_run

pytestmark = needs_browser


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """A toy run whose first (most frequent) token is hostile markup, and its page."""
    root = tmp_path_factory.mktemp("page")
    tokens = [HOSTILE] + [f"w{i}" for i in range(1, 60)]
    run = make_toy_run(root / "run", n_snapshots=6, tokens=tokens)
    result = explore(run.path, options=AnimateOptions(method="pca", cache=False))
    return run, result


@pytest.fixture(scope="module")
def w2v(tmp_path_factory):
    """A run over the tiny corpus with a real Word2Vec baseline (compare-word2vec), and its page."""
    root = tmp_path_factory.mktemp("w2v")
    groups = {**{w: "noun/animal" for w in ANIMALS}, **{w: "noun/food" for w in FOODS},
              **{w: "adj/colour" for w in COLOURS}, **{w: "num/number" for w in NUMBERS}}
    run, tokens = make_corpus_run(root, tiny_text().splitlines(), dim=8, heads=2, epochs=1, categories=groups.get)
    rng = np.random.default_rng(0)
    for step in (0, 5, 10):
        run.add_snapshot(rng.normal(size=(len(tokens), 8)).astype(np.float32),
                         Snapshot(snapshot_name(step), step, step / 10, step * 64, 5.0 - step / 10, None))
    compare(run.path, CompareOptions(word2vec=Word2VecOptions(epochs=2, workers=1), method="pca"))
    return run, explore(run.path, options=AnimateOptions(method="pca"))


def load(driver, result):
    driver.get(result.path.resolve().as_uri())
    assert settled_js(driver, PAINTED, True), "the page never painted"


def js(driver, expr: str, *args):
    return driver.execute_script(f"return {expr}", *args)


PAINTED = "!!(window.embviz && embviz.firstPaint())"
"""True once the explorer page (its hook) has painted its first frame."""


def settled_js(driver, expr: str, expected, timeout: float = 60.0):
    """``expr``'s value once it equals ``expected`` (or, ``expected`` a function, once ``expected(value)`` is true),
    read every 50 ms for up to ``timeout`` s, and the last value read if it never did (the caller asserts on it).
    What the page makes after an action (in its next animation frame, from a fetch, a timer or an event stream)
    is read once it is there, however loaded the machine; the deadline only bounds a failing test."""
    done = expected if callable(expected) else lambda value: value == expected
    deadline = time.monotonic() + timeout
    while not done(value := js(driver, expr)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return value


def next_frame(driver) -> None:
    """Return once the page has drawn the animation frame that an action already handled asked for (its handlers
    ran: a script's dispatchEvent, or a state read back with :func:`settled_js`): a callback queued now runs in
    that frame, after the page's own, so what that frame draws (labels, panels, the follow view) is there."""
    driver.execute_async_script("requestAnimationFrame(() => arguments[0]())")


def page_rows(run: Run, driver) -> np.ndarray:
    tokens = run.vocab()[0]
    return np.array([tokens.index(w) for w in js(driver, "embviz.words()")])


def quantum(trajectory: np.ndarray, i: int) -> float:
    """How far the page may place a word from snapshot i of ``trajectory`` [T, n, 2]: a step of its uint16 layout."""
    return float(np.ptp(trajectory[i], axis=0).max()) / 65535


def move_slider(driver, value: float) -> None:
    """Move the slider to ``value`` and return once the page has drawn that time."""
    driver.execute_script("const s = document.getElementById('slider'); s.value = arguments[0];"
                          "s.dispatchEvent(new Event('input'));", value)
    next_frame(driver)


def isolated_word(driver) -> int:
    """The word farthest on screen from any other, so a click on it cannot hit another."""
    pts = np.array(js(driver, "Array.from({length: embviz.n}, (_, j) => embviz.screenPosition(j))"))
    d = np.linalg.norm(pts[:, None] - pts[None], axis=2) + np.eye(len(pts)) * 1e9
    inside = (pts[:, 0] > 20) & (pts[:, 1] > 150) & (pts[:, 0] < 900) & (pts[:, 1] < 780)
    return int(np.argmax(np.where(inside, d.min(axis=1), -1)))


def click_at(driver, x: float, y: float) -> None:
    from selenium.webdriver.common.actions.action_builder import ActionBuilder

    actions = ActionBuilder(driver)
    actions.pointer_action.move_to_location(int(round(x)), int(round(y))).click()
    actions.perform()


def test_page_loads_without_errors_and_draws_every_word(browser, toy) -> None:
    _, result = toy
    load(browser, toy[1])
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    assert js(browser, "embviz.drawnPoints()") == js(browser, "embviz.n") == result.n_words
    assert js(browser, "embviz.T") == result.n_snapshots
    assert 0 < js(browser, "embviz.firstPaint()") < 10_000


def test_slider_and_keys_put_words_on_the_trajectory(browser, toy) -> None:
    run, _ = toy
    load(browser, toy[1])
    rows = page_rows(run, browser)
    trajectory = PCAProjector().fit(list(run.gather(rows))).embeddings_
    for i in (0, 3, 5):
        move_slider(browser, i)
        assert js(browser, "embviz.snapshot()") == i
        for j in (0, 7, len(rows) - 1):
            np.testing.assert_allclose(js(browser, "embviz.dataPosition(arguments[0])", j), trajectory[i, j],
                                       atol=quantum(trajectory, i))
    move_slider(browser, 2)
    from selenium.webdriver.common.keys import Keys

    browser.find_element("tag name", "body").send_keys(Keys.ARROW_RIGHT)
    assert settled_js(browser, "embviz.time()", 3) == 3
    browser.find_element("tag name", "body").send_keys(Keys.ARROW_LEFT, Keys.ARROW_LEFT)
    assert settled_js(browser, "embviz.time()", 1) == 1
    np.testing.assert_allclose(js(browser, "embviz.dataPosition(4)"), trajectory[1, 4], atol=quantum(trajectory, 1))


def test_play_moves_time_forward(browser, toy) -> None:
    from selenium.webdriver.support.ui import Select

    load(browser, toy[1])
    Select(browser.find_element("id", "speed")).select_by_visible_text("0.5×")  # 10 s to the end, however slow a frame
    browser.find_element("id", "play").click()
    t1 = settled_js(browser, "embviz.time()", lambda t: t > 0)
    assert 0 < t1 < settled_js(browser, "embviz.time()", lambda t: t > t1)


def test_search_finds_and_centres_a_word(browser, toy) -> None:
    load(browser, toy[1])
    box = browser.find_element("id", "search")
    box.send_keys("w1")
    words = js(browser, "embviz.words()")
    completions = [w for w in words if w.startswith("w1")][:20]  # the completions, from the whole vocabulary
    assert settled_js(browser, "Array.from(document.querySelectorAll('#wordlist option'), o => o.value)",
                      completions) == completions
    box.clear()
    box.send_keys("w17\n")
    j = js(browser, "embviz.words().indexOf('w17')")
    assert settled_js(browser, "embviz.found()", j) == j == js(browser, "embviz.selected()")
    x, y = js(browser, "embviz.screenPosition(arguments[0])", j)
    rect = js(browser, "document.getElementById('map').getBoundingClientRect().toJSON()")
    assert abs(x - (rect["left"] + rect["width"] / 2)) < 1 and abs(y - (rect["top"] + rect["height"] / 2)) < 1
    assert settled_js(browser, "document.getElementById('word-title').textContent", "w17") == "w17"
    box.clear()
    box.send_keys("nosuchword\n")
    assert settled_js(browser, "embviz.found()", -1) == -1 and "notfound" in box.get_attribute("class")


def test_clicking_a_word_lists_the_neighbours_python_computes(browser, toy) -> None:
    run, _ = toy
    load(browser, toy[1])
    rows = page_rows(run, browser)
    mats = run.gather(rows)
    move_slider(browser, 4)
    j = isolated_word(browser)
    click_at(browser, *js(browser, "embviz.screenPosition(arguments[0])", j))
    assert settled_js(browser, "embviz.selected()", j) == j
    next_frame(browser)  # the panel it fills
    words = js(browser, "embviz.words()")
    want, dist = knn_graph(mats[4], 11)
    items = browser.find_elements("css selector", "#neighbours li")
    shown = js(browser, "Array.from(document.querySelectorAll('#neighbours li'), "
                        "li => [li.firstChild.textContent, li.querySelector('.cos').textContent])")
    assert [word for word, _ in shown] == [words[i] for i in want[j, 1:]]
    np.testing.assert_allclose([float(cos) for _, cos in shown], 1 - dist[j, 1:], atol=6e-4)
    before = set(knn_graph(mats[3], 11)[0][j, 1:])
    state = js(browser, "embviz.neighbours()")
    assert set(state["gained"]) == set(want[j, 1:]) - before
    assert set(state["lost"]) == before - set(want[j, 1:])
    assert {int(li.get_attribute("data-index")) for li in items if li.get_attribute("class") == "gained"} \
        == set(state["gained"])


def test_every_curve_has_its_own_colour_in_the_legend_and_on_the_canvas(browser, toy) -> None:
    load(browser, toy[1])
    keys = browser.find_elements("css selector", "#curve-legend li")
    swatches = [js(browser, "getComputedStyle(arguments[0].querySelector('.swatch')).backgroundColor", li) for li in keys]
    assert len(keys) >= 7 and len(set(swatches)) == len(swatches)  # three levels x (space, 2-D), trust., loss
    pixels = np.array(browser.execute_script(
        "const c = document.getElementById('curves');"
        "return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)"), dtype=np.int16).reshape(-1, 4)[:, :3]
    for swatch in swatches:
        rgb = np.array([int(v) for v in swatch[swatch.index("(") + 1:swatch.index(")")].split(",")[:3]])
        assert (np.abs(pixels - rgb).max(axis=1) <= 8).sum() >= 20, f"no curve drawn in {swatch}"


def test_level_switch_and_legend(browser, toy) -> None:
    from selenium.webdriver.support.ui import Select

    run, _ = toy
    load(browser, toy[1])
    rows = page_rows(run, browser)
    paths = [run.vocab()[2][i] for i in rows]
    by_field = js(browser, "embviz.colours()")
    Select(browser.find_element("id", "level")).select_by_visible_text("pos")
    assert settled_js(browser, "embviz.level()", "pos") == "pos"
    by_pos = js(browser, "embviz.colours()")
    assert by_pos != by_field
    for colours, depth in ((by_pos, 1), (by_field, 2)):  # one colour per category at that level
        cats = {}
        for path, colour in zip(paths, colours):
            if path:
                cats.setdefault("/".join(path.split("/")[:depth]), set()).add(colour)
        assert all(len(c) == 1 for c in cats.values()) and len(set.union(*cats.values())) == len(cats)
    entry = browser.find_elements("css selector", "#legend li")[0]
    hidden = int(entry.text.rsplit("(", 1)[1].rstrip(")"))
    entry.click()
    assert settled_js(browser, "embviz.drawnPoints()", len(rows) - hidden) == len(rows) - hidden > 0
    entry.click()
    assert settled_js(browser, "embviz.drawnPoints()", len(rows)) == len(rows)


def test_curve_click_jumps_to_a_snapshot(browser, toy) -> None:
    load(browser, toy[1])
    curves = browser.find_element("id", "curves")
    rect = js(browser, "arguments[0].getBoundingClientRect().toJSON()", curves)
    last = js(browser, "embviz.T") - 1
    click_at(browser, rect["right"] - 7, rect["top"] + rect["height"] / 2)
    assert settled_js(browser, "embviz.time()", last) == last
    click_at(browser, rect["left"] + 7, rect["top"] + rect["height"] / 2)
    assert settled_js(browser, "embviz.time()", 0) == 0


def test_hostile_token_is_text_and_nothing_runs(browser, toy) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    load(browser, toy[1])
    assert js(browser, "embviz.words()[0]") == HOSTILE
    box = browser.find_element("id", "search")
    box.send_keys(HOSTILE + "\n")
    assert settled_js(browser, "embviz.selected()", 0) == 0
    assert settled_js(browser, "document.getElementById('word-title').textContent", HOSTILE) == HOSTILE
    x, y = js(browser, "embviz.screenPosition(0)")
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(browser).move_by_offset(0, 0).perform()
    click_at(browser, x, y)  # hover and click show it too
    assert HOSTILE in settled_js(browser, "document.getElementById('tooltip').textContent", lambda t: HOSTILE in t)
    assert js(browser, "document.querySelectorAll('img').length") == 0
    assert js(browser, "document.scripts.length") == 2
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text


def test_screenshot_is_not_blank(browser, toy, tmp_path) -> None:
    from PIL import Image

    load(browser, toy[1])
    image = np.asarray(Image.open(io.BytesIO(browser.find_element("id", "map").screenshot_as_png)).convert("RGB"))
    coloured = (image.max(axis=2).astype(int) - image.min(axis=2)) > 60
    assert coloured.mean() > 0.002 and len(np.unique(image.reshape(-1, 3), axis=0)) > 20


def test_word2vec_space_and_neighbours(browser, w2v) -> None:
    run, result = w2v
    assert result.word2vec
    load(browser, result)
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    rows = page_rows(run, browser)
    vectors = Run.open(run.path / "word2vec").load_snapshot(Run.open(run.path / "word2vec").snapshots()[0], rows)
    present = np.flatnonzero(np.any(vectors != 0, axis=1))
    j = int(present[0])
    js(browser, "document.getElementById('search').value = arguments[0]", js(browser, "embviz.words()")[j])
    browser.find_element("id", "search").send_keys("\n")
    want = [int(i) for i in present[knn_graph(vectors[present], 11)[0][list(present).index(j), 1:]]]
    assert settled_js(browser, "Array.from(document.querySelectorAll('#w2v-neighbours li'), li => Number(li.dataset.index))",
                      want) == want
    final = js(browser, "embviz.dataPosition(arguments[0])", j)
    browser.find_element("id", "w2v").click()
    assert settled_js(browser, "embviz.word2vecShown()", True)  # the blend's frames
    assert js(browser, "embviz.drawnPoints()") == present.size
    assert js(browser, "embviz.dataPosition(arguments[0])", j) != final


def test_pan_and_zoom_move_the_view_not_the_data(browser, toy) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.actions.wheel_input import ScrollOrigin

    load(browser, toy[1])
    canvas = browser.find_element("id", "map")
    data = js(browser, "[embviz.dataPosition(1), embviz.dataPosition(2)]")
    screen = "[embviz.screenPosition(1), embviz.screenPosition(2)]"
    a, b = np.array(js(browser, screen))
    ActionChains(browser).move_to_element(canvas).click_and_hold().move_by_offset(40, 25).release().perform()
    a2, b2 = np.array(settled_js(browser, screen, lambda p: np.abs(np.subtract(p[0], a) - [40, 25]).max() <= 1))
    np.testing.assert_allclose(a2 - a, [40, 25], atol=1)
    assert js(browser, "embviz.selected()") == -1  # a drag is not a click
    zoom = js(browser, "embviz.view().zoom")
    ActionChains(browser).scroll_from_origin(ScrollOrigin.from_element(canvas), 0, -300).perform()
    assert settled_js(browser, "embviz.view().zoom", lambda z: z != zoom) > zoom
    a3, b3 = np.array(js(browser, screen))
    assert np.linalg.norm(a3 - b3) > 1.3 * np.linalg.norm(a2 - b2)
    assert js(browser, "[embviz.dataPosition(1), embviz.dataPosition(2)]") == data


def test_follow_toggle_fits_each_snapshot_and_the_page_says_which_scale(browser, toy) -> None:
    load(browser, toy[1])
    move_slider(browser, 0)

    def extent() -> np.ndarray:
        pts = np.array(js(browser, "Array.from({length: embviz.n}, (_, j) => embviz.screenPosition(j))"))
        return np.ptp(pts, axis=0)

    toggle = browser.find_element("id", "follow")
    assert not toggle.is_selected() and js(browser, "embviz.view().follow") is False
    assert browser.find_element("id", "scale").text == "scale: fixed for the whole run"
    fixed = extent()
    toggle.click()
    assert settled_js(browser, "embviz.view().follow", True) is True and toggle.is_selected()
    next_frame(browser)  # the frame that fits the view to the snapshot
    followed = extent()
    zoom = js(browser, "embviz.view().zoom")
    assert browser.find_element("id", "scale").text == f"scale: follows the points (zoom ×{zoom:.1f})"
    np.testing.assert_allclose(followed, fixed * zoom, rtol=1e-6)  # one uniform zoom of the fixed view
    rect = js(browser, "document.getElementById('map').getBoundingClientRect().toJSON()")
    assert np.isclose(followed, [rect["width"] - 60, rect["height"] - 60], atol=1).any()  # the snapshot fills it
    assert zoom >= 1
    toggle.click()
    assert settled_js(browser, "embviz.view().follow", False) is False
    next_frame(browser)
    assert browser.find_element("id", "scale").text == "scale: fixed for the whole run"
    np.testing.assert_allclose(extent(), fixed, atol=1e-6)
