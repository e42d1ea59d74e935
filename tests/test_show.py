"""``embviz.show``: the explorer page inline, inside an ``<iframe srcdoc>``; its escaping read back by a parser and
by chromium (a token that is markup stays text), what it writes into the run, and its options against the CLI's."""

from __future__ import annotations

import inspect
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_explorer_page import PAINTED, settled_js

import embviz
from embviz.cli import film as cli_film
from embviz.errors import ConfigError
from embviz.film.animate_options import AnimateOptions
from embviz.film.explore import explore
from embviz.notebook import explorer as nbx

from conftest import HOSTILE, needs_browser
from toyrun import make_toy_run

TOKENS = [HOSTILE, 'a"b&c', "q'x</iframe>"] + [f"w{i}" for i in range(3, 40)]


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    return make_toy_run(tmp_path_factory.mktemp("show") / "run", n_snapshots=5, tokens=TOKENS).path


class Tags(HTMLParser):
    """Every start tag of a document with its attributes, as a browser's tokenizer sees them."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def files_of(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*")}


def test_repr_is_one_frame_whose_srcdoc_is_the_page_exactly(toy) -> None:
    shown = embviz.show(toy, method="pca", cache=False)
    parser = Tags()
    parser.feed(shown._repr_html_())
    assert [tag for tag, _ in parser.tags] == ["div", "span", "iframe"]  # no token became markup of the notebook
    frame = parser.tags[2][1]
    assert frame["srcdoc"] == shown.page.html  # unescaped by the parser: the whole page, byte for byte
    assert frame["sandbox"] == "allow-scripts"
    assert f"height:{nbx.HEIGHT}px" in parser.tags[0][1]["style"]
    assert shown.page.n_words == len(TOKENS) and shown.page.n_snapshots == 5
    assert "40 words × 5 snapshots" in repr(shown)


def test_show_writes_nothing_into_the_run_unless_asked(toy, tmp_path) -> None:
    before = files_of(toy)
    embviz.show(toy, method="pca", cache=False)
    assert files_of(toy) == before
    embviz.show(toy, method="pca")  # the projection cache, as explore keeps it
    assert {f for f in files_of(toy) - before if not f.startswith("projections")} == set()
    named = tmp_path / "page.html"
    shown = embviz.show(toy, out=named, method="pca")
    assert named.read_text(encoding="utf-8") == shown.page.html
    written = explore(toy, tmp_path / "cli.html", AnimateOptions(method="pca"))
    assert written.path.read_text(encoding="utf-8") == shown.page.html  # the same page explore writes
    with pytest.raises(ConfigError, match="overwrite"):
        embviz.show(toy, out=named, method="pca")


def test_options_are_explores_with_its_defaults(toy) -> None:
    cli = set(inspect.signature(cli_film.explore).parameters) - {"ctx", "run_dir", "out_file", "overwrite", "quiet",
                                                            "serve", "port"}  # a served page is not inline
    assert set(nbx.OPTIONS) == cli
    defaults = AnimateOptions()
    assert nbx.explore_options() == defaults
    chosen = nbx.explore_options(words="w3, w4,,w5", top=7, method="pca")
    assert chosen.words == ("w3", "w4", "w5") and chosen.top == 7 and chosen.align == defaults.align
    assert nbx.explore_options(words=["w3", " w4"]).words == ("w3", "w4")
    with pytest.raises(ConfigError, match="unknown explorer option.*fps.*the options are matrix"):
        embviz.show(toy, fps=3)
    with pytest.raises(ConfigError, match="method"):
        embviz.show(toy, method="nope")
    with pytest.raises(ConfigError, match="top must be int"):
        embviz.show(toy, top="many")


@needs_browser
def test_hostile_tokens_stay_text_inside_the_frame(browser, toy, tmp_path) -> None:
    shown = embviz.show(toy, method="pca", cache=False)
    notebook = tmp_path / "cell.html"
    notebook.write_text(f"<!DOCTYPE html><html><body><h1>cell</h1>{shown._repr_html_()}</body></html>", encoding="utf-8")
    browser.get(notebook.as_uri())
    assert browser.execute_script("return document.querySelectorAll('img').length") == 0
    frames = browser.find_elements("css selector", "iframe")
    assert len(frames) == 1 and frames[0].size["height"] == nbx.HEIGHT
    browser.switch_to.frame(frames[0])
    try:
        assert settled_js(browser, PAINTED, True), "the page in the frame never painted"
        assert browser.execute_script("return embviz.drawnPoints()") == len(TOKENS)
        assert browser.execute_script("return embviz.words()") == TOKENS  # the markup arrived as text
        assert browser.execute_script("return document.querySelectorAll('img, iframe').length") == 0
        browser.execute_script("const s = document.getElementById('search'); s.value = '</'; s.dispatchEvent(new Event('input'));")
        options = browser.execute_script("return Array.from(document.querySelectorAll('#wordlist option'), o => o.value)")
        assert options and set(options) <= set(TOKENS) and all("</" in o for o in options)  # suggestions, as text
    finally:
        browser.switch_to.default_content()
    assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
