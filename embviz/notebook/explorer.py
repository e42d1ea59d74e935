"""``show``: the explorer page of a run inline in a notebook (JupyterLab, Notebook 7, VS Code, Colab, and the
HTML that ``jupyter nbconvert --to html`` writes).

The page is the one ``explore`` writes (:func:`embviz.film.explore.explorer_page`), self-contained, inside an
``<iframe srcdoc>``: the whole page HTML-escaped into one attribute, so no token of the run can end the
attribute or the frame, and the page's own script and styles run in a sandbox of their own (scripts only, no
access to the notebook). Nothing is written into the run but the projection cache, unless ``out`` is given.
"""

from __future__ import annotations

import html
import typing
from dataclasses import dataclass
from pathlib import Path

from embviz.errors import ConfigError
from embviz.film.animate_options import AnimateOptions
from embviz.film.explore import ExplorerPage, explore, explorer_page
from embviz.progress import Progress
from embviz.rundir.run import Run

HEIGHT = 720
"""The frame's height in pixels (its width is the cell's): the map, the word panel and the curves beside it."""

OPTIONS = ("matrix", "method", "align", "umap_mode", "metric", "words", "words_file", "only", "top", "content_only",
           "level", "cache", "seed")
"""The options ``show`` takes: those of ``embviz explore``, as :class:`AnimateOptions` fields (defaults from there)."""

UNTRUSTED = ("The embviz explorer shows here once the cell has run in this session (or the notebook is trusted): "
             "untrusted outputs have their frames removed.")


@dataclass(frozen=True)
class Explorer:
    """A run's explorer page, shown inline by a notebook (``_repr_html_``)."""

    page: ExplorerPage
    height: int = HEIGHT

    def _repr_html_(self) -> str:
        """The page in an ``<iframe srcdoc>`` the cell's width and ``height`` tall; a line of text stays behind the
        frame for a notebook front end that strips frames from untrusted output."""
        return (f'<div class="embviz-explorer" style="position:relative;width:100%;height:{self.height}px">'
                f'<span style="color:#666;font:13px sans-serif">{html.escape(UNTRUSTED)}</span>'
                f'<iframe title="embviz explorer" sandbox="allow-scripts" srcdoc="{html.escape(self.page.html)}" '
                'style="position:absolute;left:0;top:0;width:100%;height:100%;box-sizing:border-box;border:1px solid #ddd;background:#fff">'
                '</iframe></div>')

    def __repr__(self) -> str:
        return (f"<embviz explorer: {self.page.n_words:,} words × {self.page.n_snapshots} snapshots"
                f"{' with the Word2Vec space' if self.page.word2vec else ''}>")


def explore_options(**given) -> AnimateOptions:
    """The :class:`AnimateOptions` of ``embviz explore`` from keyword options named like its fields (``words``
    a comma-separated string or a sequence); an unknown name is a ConfigError listing :data:`OPTIONS`."""
    unknown = sorted(set(given) - set(OPTIONS))
    if unknown:
        raise ConfigError(f"unknown explorer option(s) {', '.join(unknown)}; the options are {', '.join(OPTIONS)}")
    words = given.get("words") or ()
    if isinstance(words, str):
        words = words.split(",")
    given["words"] = tuple(w.strip() for w in words if w.strip())
    if given.get("words_file") is not None:
        given["words_file"] = Path(given["words_file"])
    hints = typing.get_type_hints(AnimateOptions)
    for name, value in given.items():
        if hints[name] in (int, bool) and not isinstance(value, hints[name]):
            raise ConfigError(f"{name} must be {hints[name].__name__}, got {value!r}")
    return AnimateOptions(**given)


def show(run_dir: Path | str, *, out: Path | str | None = None, overwrite: bool = False, height: int = HEIGHT,
         progress: Progress | None = None, **options) -> Explorer:
    """The explorer of the run in ``run_dir`` for a notebook to show inline; ``options`` are ``embviz explore``'s
    (:data:`OPTIONS`). With ``out`` the page is also written there, as ``explore --out`` would (``overwrite``).

    Raises EmbvizError subclasses for bad input.
    """
    chosen = explore_options(**options)
    if height < 200:
        raise ConfigError(f"height must be at least 200 pixels, got {height}")
    if out is not None:
        written = explore(Path(run_dir), Path(out), chosen, overwrite=overwrite, progress=progress)
        page = ExplorerPage(html=written.path.read_text(encoding="utf-8"), n_words=written.n_words,
                            n_snapshots=written.n_snapshots, word2vec=written.word2vec,
                            projection_cached=written.projection_cached)
    else:
        page = explorer_page(Run.open(Path(run_dir)), chosen, progress=progress, settle_csv=False)
    return Explorer(page, height)
