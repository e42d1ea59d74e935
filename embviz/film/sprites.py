"""Points and labels stamped straight into a film frame: each drawn once by matplotlib, then pasted.

Matplotlib's Agg backend puts a scatter marker on whole pixels (the marker is rasterised once and
stamped at ``floor(x + 0.5)``), so a marker cut from one drawing is the same picture at any point.
Text is laid out at 1/64 pixel, so a label is cut per sub-pixel phase, quantised to
1/LABEL_PHASES of a pixel and kept. Each cut-out is the coverage (0..255) from a drawing on a
transparent canvas; :meth:`Stamps.paste` blends it into the frame in the colour given, clipped to
a box, as Agg would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import IdentityTransform
from PIL import Image

LABEL_PHASES = 4
"""Sub-pixel positions a label is cut at, per axis (a label is off by at most 1/8 pixel)."""


@dataclass(frozen=True)
class Sprite:
    """A coverage mask [h, w] (an ``L`` image) and where its top-left pixel lies from the anchor pixel."""

    mask: Image.Image
    row: int
    col: int


def _cut(canvas: FigureCanvasAgg) -> tuple[Image.Image, int, int]:
    """The drawn part of a transparent canvas: its alpha [h, w] as an image and its top-left (row, col)."""
    alpha = np.asarray(canvas.buffer_rgba())[..., 3]
    rows, cols = np.nonzero(alpha.any(axis=1))[0], np.nonzero(alpha.any(axis=0))[0]
    if not len(rows):
        return Image.new("L", (1, 1)), 0, 0
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    return Image.fromarray(np.ascontiguousarray(alpha[r0:r1, c0:c1])), int(r0), int(c0)


def _transparent_canvas(width: int, height: int, dpi: float) -> tuple[Figure, FigureCanvasAgg]:
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi, facecolor="none")
    return fig, FigureCanvasAgg(fig)


def marker_sprite(area: float, dpi: float) -> Sprite:
    """The scatter marker of ``area`` pt² (a filled circle, no edge) as matplotlib draws it at ``dpi``."""
    size = int(np.ceil(np.sqrt(area) * dpi / 72)) + 8
    fig, canvas = _transparent_canvas(size, size, dpi)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.set_xlim(0, size)
    ax.set_ylim(0, size)
    anchor = size // 2
    ax.scatter([anchor + 0.25], [anchor + 0.25], s=area, c="k", linewidths=0)
    canvas.draw()
    mask, row, col = _cut(canvas)
    return Sprite(mask, row - (size - anchor), col - anchor)


class LabelSprites:
    """Each word drawn as a film label (matplotlib text, ``fontsize`` pt), cut at the sub-pixel phase of
    its anchor; :meth:`get` gives the sprite for an anchor's fractional part, cutting it on first use."""

    def __init__(self, words: list[str], fontsize: float, dpi: float):
        self.dpi, self.fontsize = dpi, fontsize
        self.fig, self.canvas = _transparent_canvas(16, 16, dpi)
        self.texts = [Text(0, 0, w, fontsize=fontsize, color="k", parse_math=False, transform=IdentityTransform(),
                           figure=self.fig) for w in words]
        renderer = self.canvas.get_renderer()
        extents = [t.get_window_extent(renderer) for t in self.texts]
        pad = int(fontsize * dpi / 72) + 8
        self.width = int(max((e.width for e in extents), default=0)) + 2 * pad
        self.height = int(max((e.height for e in extents), default=0)) + 2 * pad
        self.fig.set_size_inches(self.width / dpi, self.height / dpi)
        self.base = (pad, self.height // 2)
        self._cache: dict[tuple[int, int, int], Sprite] = {}

    def get(self, i: int, qx: int, qy: int) -> Sprite:
        """Word ``i`` anchored at (qx, qy) / LABEL_PHASES of a pixel right of and above a whole pixel."""
        key = (i, qx, qy)
        sprite = self._cache.get(key)
        if sprite is None:
            renderer = self.canvas.get_renderer()
            renderer.clear()
            x0, y0 = self.base
            text = self.texts[i]
            text.set_position((x0 + qx / LABEL_PHASES, y0 + qy / LABEL_PHASES))
            text.draw(renderer)
            mask, row, col = _cut(self.canvas)
            sprite = self._cache[key] = Sprite(mask, row - (self.height - y0), col - x0)
        return sprite


def pixel_anchors(display: np.ndarray, height: int) -> tuple[np.ndarray, np.ndarray]:
    """The (rows, cols) [n] of the pixels Agg stamps a marker at for display points [n, 2] (y up)."""
    return (np.floor(height - display[:, 1] + 0.5).astype(int), np.floor(display[:, 0] + 0.5).astype(int))


def label_anchors(display: np.ndarray, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Whole-pixel (rows, cols) and sub-pixel phases (qx, qy) in 0..LABEL_PHASES-1 of text anchors [n, 2]."""
    scaled = np.round(display * LABEL_PHASES).astype(np.int64)
    whole, phase = np.divmod(scaled, LABEL_PHASES)
    return height - whole[:, 1], whole[:, 0], phase[:, 0], phase[:, 1]


def canvas_region(canvas: FigureCanvasAgg, box: tuple[int, int, int, int]) -> Image.Image:
    """The pixels rows top..bottom, columns left..right of ``canvas`` (``box``) as an RGBA image sharing the canvas's
    memory, so what :func:`paste` blends into it is in the canvas's next frame without a copy."""
    top, bottom, left, right = box
    width = canvas.get_width_height()[0]
    memory = memoryview(canvas.buffer_rgba()).cast("B")[(top * width + left) * 4:]
    return Image.frombuffer("RGBA", (right - left, bottom - top), memory, "raw", "RGBA", width * 4, 1)


def paste(region: Image.Image, origin: tuple[int, int], sprite: Sprite, row: int, col: int,
          colour: tuple[int, int, int, int]) -> None:
    """Blend ``sprite`` in ``colour`` into ``region`` (RGBA, whose top-left is frame pixel ``origin``
    (row, col)) with its anchor at frame pixel (row, col); what falls outside ``region`` is clipped."""
    top, left = row + sprite.row - origin[0], col + sprite.col - origin[1]
    w, h = sprite.mask.size
    # Image.paste's own core call: without its per-call checks (a frame pastes hundreds of sprites), and writing
    # through to the canvas memory a canvas_region maps (Image.paste would copy a mapped image first)
    region.im.paste(colour, (left, top, left + w, top + h), sprite.mask.im)
