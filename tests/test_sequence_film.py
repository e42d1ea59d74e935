"""The position film as drawn: its points joined in index order, coloured by index along a sequential colormap,
with a colourbar named for the sequence — in the film's frames and in the grid figure."""

from __future__ import annotations

import dataclasses

import matplotlib
import numpy as np
from PIL import Image
from scipy.stats import spearmanr

from embviz.film.animate_options import FilmOptions
from embviz.film.drawing import SEQUENCE_CMAP, Film, film_label_index, point_colors
from embviz.film.figures import grid_figure
from embviz.film.render import render_film

N = 16
SIZE = (480, 360)
VIRIDIS = np.asarray(matplotlib.colormaps[SEQUENCE_CMAP](np.linspace(0, 1, 256)))[:, :3] * 255


def zigzag(n: int = N) -> np.ndarray:
    """Points i = 0..n-1 at (i, i % 2): consecutive ones are joined by diagonals, i and i + 2 are not."""
    return np.stack([np.arange(n, dtype=float), (np.arange(n) % 2) * 1.0], axis=1)


def position_film(sequence: str | None = "position") -> Film:
    """Two snapshots of the same points: shuffled (a random table), then in order (a learned one)."""
    final = zigzag()
    start = final[np.random.default_rng(0).permutation(N)]
    labels = [None] * N
    return Film(np.stack([start, final]), [str(i) for i in range(N)], labels, np.array([0.0, 100.0]),
                np.array([0.0, 1.0]), np.array([5.0, 3.0]), title="positions", sequence=sequence)


def last_frame(film: Film, tmp_path, name: str = "f.gif") -> np.ndarray:
    out = render_film(film, tmp_path / name, FilmOptions(fps=2, seconds_per_snapshot=0.5, size=SIZE, label=0))
    with Image.open(out.path) as im:
        im.seek(im.n_frames - 1)
        return np.asarray(im.convert("RGB")).astype(int)


def display_rows_cols(film: Film, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frame pixels (rows, cols) of data points [m, 2] in a film of SIZE: the same axes box and limits as a frame."""
    from embviz.film.drawing import axis_limits

    (x0, x1), (y0, y1) = axis_limits(film.positions)
    w, h = SIZE
    left, bottom, aw, ah = 0.02, 0.04, 0.72, 0.86  # the film's axes, in figure fractions
    cols = (left + aw * (points[:, 0] - x0) / (x1 - x0)) * w
    rows = h - (bottom + ah * (points[:, 1] - y0) / (y1 - y0)) * h
    return np.round(rows).astype(int), np.round(cols).astype(int)


def inked(frame: np.ndarray, rows: np.ndarray, cols: np.ndarray, radius: int = 1) -> np.ndarray:
    """Whether any pixel within ``radius`` of each (row, col) is clearly not white [m]."""
    return np.array([(frame[r - radius:r + radius + 1, c - radius:c + radius + 1] < 230).any() for r, c in zip(rows, cols)])


def viridis_index(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest entry 0..255 of the colormap and its distance, for colours [..., 3]."""
    d = np.linalg.norm(rgb[..., None, :] - VIRIDIS, axis=-1)
    return d.argmin(axis=-1), d.min(axis=-1)


def test_the_line_joins_consecutive_positions_and_only_them(tmp_path):
    film = position_film()
    frame = last_frame(film, tmp_path)
    p = film.positions[-1]
    between = display_rows_cols(film, (p[:-1] + p[1:]) / 2)  # the middle of each drawn segment
    assert inked(frame, *between).all()
    skipped = display_rows_cols(film, (p[:-2] + p[2:]) / 2)  # i to i + 2: no segment, no point there
    assert not inked(frame, *skipped, radius=0).any()
    words = last_frame(dataclasses.replace(film, sequence=None), tmp_path, "words.gif")
    assert not inked(words, *between, radius=0).any()  # a word film draws no line


def test_the_first_frame_joins_the_shuffled_table_in_index_order_too(tmp_path):
    film = position_film()
    out = render_film(film, tmp_path / "f.gif", FilmOptions(fps=2, seconds_per_snapshot=0.5, size=SIZE, label=0))
    with Image.open(out.path) as im:
        first = np.asarray(im.convert("RGB")).astype(int)
    p = film.positions[0]
    assert inked(first, *display_rows_cols(film, (p[:-1] + p[1:]) / 2)).all()


def test_point_colours_run_along_the_colormap_with_the_index(tmp_path):
    film = position_film()
    frame = last_frame(film, tmp_path)
    centre = frame[display_rows_cols(film, film.positions[-1])]
    index, distance = viridis_index(centre)
    assert (distance < 12).all()
    assert spearmanr(np.arange(N), index).statistic > 0.99
    assert index[0] < 20 and index[-1] > 235  # the whole colormap, dark to light
    assert np.allclose(point_colors(film)[[0, -1], :3] * 255, VIRIDIS[[0, -1]], atol=1)


def colourbar_columns(frame: np.ndarray) -> list[int]:
    """Columns right of the map holding a vertical run (> a third of the height) of colormap colours, light at the
    top and dark at the bottom."""
    found = []
    for c in range(int(0.75 * frame.shape[1]), frame.shape[1]):
        index, distance = viridis_index(frame[:, c])
        rows = np.flatnonzero(distance < 8)
        if len(rows) > frame.shape[0] / 3 and spearmanr(rows, index[rows]).statistic < -0.95:
            found.append(c)
    return found


def test_a_colourbar_named_for_the_sequence_replaces_the_legend(tmp_path):
    film = position_film()
    frame = last_frame(film, tmp_path)
    columns = colourbar_columns(frame)
    assert len(columns) >= 4
    assert not colourbar_columns(last_frame(dataclasses.replace(film, sequence=None), tmp_path, "words.gif"))
    renamed = last_frame(dataclasses.replace(film, sequence="order"), tmp_path, "renamed.gif")
    differ = np.flatnonzero((np.abs(frame - renamed).sum(axis=2) > 60).any(axis=0))
    assert len(differ) and differ.min() > max(columns)  # only the label beside the bar changed


def test_a_sequence_film_labels_a_few_evenly_spaced_positions():
    film = Film(np.zeros((1, 64, 2)), [str(i) for i in range(64)], [None] * 64, [0.0], [0.0], [1.0], sequence="position")
    picked = film_label_index(film, 30)
    gaps = np.diff(picked)
    assert len(picked) == 9 and picked[0] == 0 and picked[-1] == 63 and gaps.max() - gaps.min() <= 1
    assert film_label_index(film, 2, ["5"]) == [0, 5, 63]
    assert film_label_index(film, 0) == []


def test_the_grid_joins_each_panel_in_order_under_one_colourbar():
    film = position_film()
    fig = grid_figure(film, [0, 1])
    fig.canvas.draw()
    frame = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)
    panels, bars = fig.axes[:2], fig.axes[2:]
    assert len(bars) == 1 and bars[0].get_xlabel() == "position" and not fig.legends
    for ax, p in zip(panels, film.positions):
        xy = ax.transData.transform((p[:-1] + p[1:]) / 2)
        rows, cols = np.round(frame.shape[0] - xy[:, 1]).astype(int), np.round(xy[:, 0]).astype(int)
        assert inked(frame, rows, cols).all()
    bar = bars[0].get_window_extent()
    strip = frame[int(frame.shape[0] - (bar.y0 + bar.y1) / 2), int(bar.x0) + 2:int(bar.x1) - 2]
    index, distance = viridis_index(strip)
    assert (distance < 8).mean() > 0.9 and spearmanr(np.arange(len(index)), index).statistic > 0.99
