"""The options of ``animate`` (which words, how they are projected, how the film looks), also read by
``explore``: :class:`AnimateOptions`, :class:`FilmOptions` and the word and format defaults, written once.

This module imports nothing heavy, so the command line reads its defaults from here to show them in
``--help``; :func:`embviz.film.animate.animate` and :func:`embviz.film.render.render_film` take these
dataclasses. The projection choices and defaults live in :mod:`embviz.layout.choices`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from embviz.errors import ConfigError
from embviz.layout.choices import DEFAULT_METHOD, DEFAULT_UMAP_MODE, METHODS, METRICS, PCA_ALIGN, UMAP_MODES, check_choice
from embviz.rundir.snapshot import DEFAULT_MATRIX, LAYER, MATRICES, layer_of

FORMATS = ("mp4", "gif")
VIEWS = ("fixed", "follow")
"""The film's scale: ``fixed``, one view of the whole trajectory (distances compare across the film), or
``follow``, each snapshot's points fitted, zooming in uniformly where they huddle (the zoom is shown)."""
DEFAULT_VIEW = "fixed"

DEFAULT_TOP = 300
MAX_CATEGORISED = 2000
"""At most this many categorised words in the default word set (a film of tens of thousands of points
is unreadable and its metrics slow): the most frequent of each category in turn, see
:func:`embviz.film.selection.select_words`."""


@dataclass(frozen=True)
class FilmOptions:
    """How a film looks: frame rate, pace, labels, font, size in pixels and view (scale)."""

    fps: float = 30
    seconds_per_snapshot: float = 0.5
    label: int = 30
    """How many words to label, spread over the categories."""
    label_words: tuple[str, ...] = ()
    """Words that are always labelled."""
    font: Path | None = None
    """A font file for characters DejaVu Sans lacks (e.g. a CJK font)."""
    size: tuple[int, int] = (1280, 720)
    view: str = DEFAULT_VIEW
    """One of VIEWS."""

    def validate(self) -> None:
        check_choice(self.view, VIEWS, "view")
        if self.fps <= 0 or self.seconds_per_snapshot <= 0:
            raise ConfigError("--fps and --seconds-per-snapshot must be positive")
        if self.label < 0:
            raise ConfigError(f"--label must be >= 0, got {self.label}")
        width, height = (int(v) for v in self.size)
        if width < 16 or height < 16:
            raise ConfigError(f"--size must be at least 16x16 pixels, got {width}x{height}")


@dataclass(frozen=True)
class AnimateOptions:
    """Everything ``animate`` is told besides the run and the output path.

    Word choice: every categorised token (at most ``max_categorised``, balanced across categories;
    None = no cap) plus the ``top`` most frequent, with ``words`` / ``words_file`` added or, with
    ``only``, alone; ``matrix`` picks the snapshots' table (``token``, ``position``: the positions
    0..context-1 are the points, ``head``: an untied output head, ``layer:N``: the probe's occurrences at layer N
    beside their words' static vectors). ``level`` (None = the middle level) colours the film. Projection: ``method``
    with ``align`` (PCA) or ``umap_mode`` (UMAP), ``metric`` and ``seed``; ``cache`` reuses the
    projection and metrics cached in the run. ``fmt`` (None = from the output's suffix, else mp4),
    ``film`` and ``grid_snapshots`` (None = about 6, evenly spaced in how far the map has moved) shape
    the outputs.
    """

    matrix: str = DEFAULT_MATRIX
    words: tuple[str, ...] = ()
    words_file: Path | None = None
    only: bool = False
    top: int = DEFAULT_TOP
    content_only: bool = False
    max_categorised: int | None = MAX_CATEGORISED
    level: str | None = None
    method: str = DEFAULT_METHOD
    align: str = "final"
    umap_mode: str = DEFAULT_UMAP_MODE
    metric: str = "cosine"
    seed: int = 0
    cache: bool = True
    fmt: str | None = None
    film: FilmOptions = field(default_factory=FilmOptions)
    grid_snapshots: tuple[int, ...] | None = None

    def validate(self) -> None:
        """Raise ConfigError for a choice or film setting no run could accept (the word options are checked
        by :func:`embviz.film.selection.select_words`)."""
        if layer_of(self.matrix) is None:
            check_choice(self.matrix, MATRICES + (LAYER + "N",), "matrix")
        check_choice(self.method, METHODS, "method")
        check_choice(self.align, PCA_ALIGN, "alignment")
        check_choice(self.umap_mode, UMAP_MODES, "UMAP mode")
        check_choice(self.metric, METRICS, "metric")
        if self.fmt is not None:
            check_choice(self.fmt, FORMATS, "format")
        self.film.validate()
