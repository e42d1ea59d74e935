"""What the film and the static figures draw alike: the :class:`Film` data, the points' colours (by category,
or along a sequence such as the positions), point groups and their legend or colourbar, the words labelled,
axis limits, marker sizes, fonts and the atomic write of a figure."""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.lines import Line2D

from embviz.errors import EmbvizError
from embviz.film.fonts import font_families
from embviz.rundir.files import atomic_path

RGBA = tuple[float, float, float, float]

LEGEND_MAX = 18
OTHER_COLOR: RGBA = (0.33, 0.33, 0.33, 1.0)
UNCATEGORISED_COLOR: RGBA = (0.78, 0.78, 0.78, 1.0)
# tab20 without its greys: the ten strong colours first, then their light partners.
_TAB20 = matplotlib.colormaps["tab20"].colors
PALETTE: tuple[RGBA, ...] = tuple(
    (*_TAB20[i], 1.0) for i in [*range(0, 20, 2), *range(1, 20, 2)] if i not in (14, 15)
)
SEQUENCE_CMAP = "viridis"
"""The sequential colormap of a sequence film's points: the first point at its dark end, the last at its light end."""
SEQUENCE_LINE: RGBA = (0.55, 0.55, 0.55, 1.0)
"""The line joining a sequence film's points in order, drawn under them."""
SEQUENCE_LABELS = 9
"""A sequence film labels at most this many points, evenly spaced, the first and the last included."""


class RenderError(EmbvizError):
    """A film or figure that cannot be drawn or written."""


@dataclass
class Film:
    """Everything a film shows, as plain arrays.

    positions [T, n, 2] aligned layouts, one per snapshot; words and labels (n) are the tokens
    and their categories (None = uncategorised); steps, epochs, losses [T] describe each
    snapshot (loss may be nan); loss_curve is (steps [m], losses [m]) of the whole run.
    ``sequence`` names the order the points are in (``"position"``: point i is position i), or is None for
    words: a sequence film joins its points in order by a line, colours them by index along
    :data:`SEQUENCE_CMAP` and shows a colourbar of that name instead of a category legend.
    """

    positions: np.ndarray
    words: list[str]
    labels: list[str | None]
    steps: np.ndarray
    epochs: np.ndarray
    losses: np.ndarray
    loss_curve: tuple[np.ndarray, np.ndarray] = field(default_factory=lambda: (np.zeros(0), np.zeros(0)))
    title: str = ""
    sequence: str | None = None

    def __post_init__(self) -> None:
        self.positions = np.asarray(self.positions, dtype=float)
        self.steps = np.asarray(self.steps, dtype=float)
        self.epochs = np.asarray(self.epochs, dtype=float)
        self.losses = np.asarray(self.losses, dtype=float)
        self.loss_curve = (np.asarray(self.loss_curve[0], dtype=float), np.asarray(self.loss_curve[1], dtype=float))
        p = self.positions
        if p.ndim != 3 or p.shape[2] != 2 or p.shape[0] < 1 or p.shape[1] < 1:
            raise RenderError(f"positions must have shape [T, n, 2] with T, n >= 1, got {list(p.shape)}")
        if not np.isfinite(p).all():
            raise RenderError("positions contain nan or infinite values")
        t, n = p.shape[:2]
        if len(self.words) != n or len(self.labels) != n:
            raise RenderError(f"{n} points but {len(self.words)} words and {len(self.labels)} labels")
        for name in ("steps", "epochs", "losses"):
            if getattr(self, name).shape != (t,):
                raise RenderError(f"{name} must have one value per snapshot ({t}), got shape {list(getattr(self, name).shape)}")
        if self.loss_curve[0].shape != self.loss_curve[1].shape or self.loss_curve[0].ndim != 1:
            raise RenderError("loss_curve must be two 1-D arrays of the same length")


def category_order(labels: Sequence[str | None]) -> list[str]:
    """Categories by decreasing size, ties by name."""
    counts: dict[str, int] = {}
    for label in labels:
        if label is not None:
            counts[label] = counts.get(label, 0) + 1
    return sorted(counts, key=lambda c: (-counts[c], c))


def category_colors(labels: Sequence[str | None]) -> dict[str, RGBA]:
    """Colour of every category in ``labels`` (n): the largest LEGEND_MAX get PALETTE, the rest OTHER_COLOR."""
    order = category_order(labels)
    return {c: PALETTE[i] if i < LEGEND_MAX else OTHER_COLOR for i, c in enumerate(order)}


@dataclass(frozen=True)
class PointGroup:
    """Points drawn as one scatter: one legend entry."""

    name: str
    color: RGBA
    index: np.ndarray
    small: bool = False


def point_groups(labels: Sequence[str | None]) -> list[PointGroup]:
    """Point groups in drawing order: uncategorised, other, then categories from largest to smallest."""
    order = category_order(labels)
    colors = category_colors(labels)
    arr = np.array(labels, dtype=object)
    groups = []
    uncategorised = np.flatnonzero(np.equal(arr, None))
    if len(uncategorised):
        groups.append(PointGroup("uncategorised", UNCATEGORISED_COLOR, uncategorised, small=True))
    rest = order[LEGEND_MAX:]
    if rest:
        index = np.flatnonzero(np.isin(arr, rest))
        groups.append(PointGroup(f"other ({len(rest)} categories)", OTHER_COLOR, index))
    groups += [PointGroup(c, colors[c], np.flatnonzero(arr == c)) for c in order[:LEGEND_MAX]]
    return groups


def film_groups(film: Film) -> list[PointGroup]:
    """The point groups of ``film`` in drawing order: a sequence film's points as one group in index order,
    a word film's by :func:`point_groups`."""
    if film.sequence:
        return [PointGroup(film.sequence, SEQUENCE_LINE, np.arange(len(film.words)))]
    return point_groups(film.labels)


def sequence_colormap(n: int) -> ScalarMappable:
    """Index 0..n-1 on :data:`SEQUENCE_CMAP`: what colours a sequence film's points and draws its colourbar."""
    return ScalarMappable(Normalize(0, max(n - 1, 1)), matplotlib.colormaps[SEQUENCE_CMAP])


def sequence_colors(n: int) -> np.ndarray:
    """The colours RGBA [n, 4] of points 0..n-1 of a sequence, along :func:`sequence_colormap`."""
    return sequence_colormap(n).to_rgba(np.arange(n))


def point_colors(film: Film) -> np.ndarray:
    """Each point's colour, RGBA [n, 4]: :func:`sequence_colors` in a sequence film, else its group's category
    colour (:func:`point_groups`)."""
    n = len(film.words)
    if film.sequence:
        return sequence_colors(n)
    colours = np.empty((n, 4))
    for g in point_groups(film.labels):
        colours[g.index] = g.color
    return colours


def legend_handles(groups: list[PointGroup], fontsize: float) -> list[Line2D]:
    """Legend entries: categories by size, then other, then uncategorised."""
    named = [g for g in groups if not g.small and not g.name.startswith("other (")]
    tail = [g for g in groups if g not in named]
    return [
        Line2D([], [], ls="", marker="o", ms=fontsize * 0.8, color=g.color, label=f"{g.name} ({len(g.index)})")
        for g in [*named, *tail[::-1]]
    ]


def choose_label_words(
    words: Sequence[str], labels: Sequence[str | None], count: int, always: Sequence[str] = ()
) -> list[int]:
    """Indices of words to label: ``count`` first-listed words taken in turn from each category
    (largest first), then uncategorised ones, plus every word of ``always`` (unknown ones warn)."""
    queues = [[i for i, lab in enumerate(labels) if lab == c] for c in category_order(labels)]
    picked: list[int] = []
    for depth in range(max((len(q) for q in queues), default=0)):
        picked += [q[depth] for q in queues if depth < len(q)][: count - len(picked)]
        if len(picked) >= count:
            break
    picked += [i for i, lab in enumerate(labels) if lab is None][: max(0, count - len(picked))]
    where = {w: i for i, w in reversed(list(enumerate(words)))}
    unknown = [w for w in always if w not in where]
    if unknown:
        warnings.warn(f"label words not in the vocabulary: {', '.join(unknown)}", stacklevel=3)
    return sorted(set(picked) | {where[w] for w in always if w in where})


def film_label_index(film: Film, count: int, always: Sequence[str] = ()) -> list[int]:
    """The points ``film`` labels: at most :data:`SEQUENCE_LABELS` of ``count`` evenly spaced ones (first and last
    included) in a sequence film, else :func:`choose_label_words`; plus every word of ``always``."""
    if not film.sequence:
        return choose_label_words(film.words, film.labels, count, always)
    n = len(film.words)
    spaced = np.linspace(0, n - 1, min(count, SEQUENCE_LABELS, n)).round().astype(int) if count > 0 else []
    return sorted({int(i) for i in spaced} | set(choose_label_words(film.words, film.labels, 0, always)))


def axis_limits(points: np.ndarray, margin: float = 0.08) -> tuple[tuple[float, float], tuple[float, float]]:
    """Axis limits (xlim, ylim) covering the 0.5-99.5th percentiles of points [..., 2], plus a margin."""
    flat = points.reshape(-1, 2)
    lo, hi = np.percentile(flat, [0.5, 99.5], axis=0)
    span = hi - lo
    span = np.where(span > 0, span, np.maximum(np.abs(hi), 1.0))
    lo, hi = lo - margin * span, hi + margin * span
    return (float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1]))


def view_limits(positions: np.ndarray, view: str) -> tuple[np.ndarray, np.ndarray]:
    """Axis limits per snapshot [T, 2 (x, y), 2 (lo, hi)] of layouts positions [T, n, 2], and the zoom [T]
    against the fixed view.

    ``fixed``: :func:`axis_limits` of the whole trajectory for every snapshot (zoom 1). ``follow``: each
    snapshot's :func:`axis_limits`, widened to the fixed view's aspect, so one uniform zoom (>= 1) maps it.
    """
    fixed = np.array(axis_limits(positions))  # [2, 2]
    t = len(positions)
    if view != "follow":
        return np.repeat(fixed[None], t, axis=0), np.ones(t)
    own = np.array([axis_limits(p) for p in positions])  # [T, 2, 2]
    span = fixed[:, 1] - fixed[:, 0]
    zoom = np.maximum(1.0, (span / (own[:, :, 1] - own[:, :, 0])).min(axis=1))
    centre = own.mean(axis=2)  # [T, 2]
    half = span[None] / zoom[:, None] / 2
    return np.stack([centre - half, centre + half], axis=2), zoom


def view_caption(view: str, zoom: float) -> str:
    """The frame's statement of its scale: fixed for the run, or following the points at ``zoom``."""
    return "scale: fixed for the whole run" if view != "follow" else f"scale: follows the points (zoom ×{zoom:.1f})"


def marker_area(n: int, axes_px: float, px_per_pt: float) -> float:
    """Scatter marker area in pt^2: diameter sqrt(axes area / n) * 0.35, kept within 3..10 px."""
    diameter_px = float(np.clip(math.sqrt(axes_px / max(n, 1)) * 0.35, 3.0, 10.0))
    return (diameter_px / px_per_pt) ** 2


def epoch_text(epoch: float) -> str:
    """``epoch 1.50 · ``, or nothing when the epoch is unknown (nan: a checkpoint that does not say)."""
    return "" if math.isnan(epoch) else f"epoch {epoch:.2f} · "


@contextlib.contextmanager
def atomic_output(out: Path) -> Iterator[Path]:
    """:func:`embviz.rundir.run.atomic_path`, with a failure to write beside ``out`` as a RenderError."""
    try:
        with atomic_path(out) as tmp:
            yield tmp
    except OSError as err:
        raise RenderError(f"cannot write to {out.parent}: {err.strerror}") from None


def font_rc(words: Sequence[str], font: Path | None) -> dict[str, list[str]]:
    """rc settings for a font fallback list able to draw ``words``; warns about what it cannot draw."""
    families, problems = font_families(list(words), font)
    for problem in problems:
        warnings.warn(problem, stacklevel=3)
    return {"font.family": families}
