"""The incremental layout (:class:`embviz.layout.incremental.IncrementalLayout`) and the live frames built on
it (:class:`embviz.film.live.LiveFrames`): a point moves as much as its word moved, and the live last frame
keeps the 2-D purity of ``explore``'s layout of the finished run."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest

from embviz.errors import EmbvizError
from embviz.film.animate_options import AnimateOptions
from embviz.film.live import LiveFrames
from embviz.film.selection import choose_words
from embviz.film.stages import film_snapshots, film_stages
from embviz.layout.incremental import IncrementalLayout
from embviz.layout.projectors import UMAPProjector
from embviz.measure.metrics import knn_purity
from embviz.rundir.run import Run

from toyrun import toy_categories, toy_trajectory


def dequantised(frame: dict) -> np.ndarray:
    """A live frame's positions [n, 2]."""
    q = np.frombuffer(base64.b64decode(frame["positions"]), dtype="<u2").reshape(-1, 2) / 65535
    lo_x, hi_x, lo_y, hi_y = frame["bounds"][0]
    return np.stack([lo_x + q[:, 0] * (hi_x - lo_x), lo_y + q[:, 1] * (hi_y - lo_y)], axis=1)


def spread(layout: np.ndarray) -> float:
    return float(np.sqrt(((layout - layout.mean(0)) ** 2).sum(1).mean()))


@pytest.mark.slow
def test_a_point_moves_as_much_as_its_word_moved() -> None:
    labels = toy_categories(150)
    frames = toy_trajectory(labels, 6, dim=16, seed=1)
    layout = IncrementalLayout(UMAPProjector(random_state=0))
    first = layout.add(frames[-1])
    same = layout.add(frames[-1])  # nothing moved: the frame keeps its scale and place, words jitter in their cluster
    assert spread(same) == pytest.approx(spread(first))
    assert np.linalg.norm(same.mean(0) - first.mean(0)) < 0.05 * spread(first)
    moved = frames[-1].copy()
    changed = np.random.default_rng(0).choice(150, 10, replace=False)
    moved[changed] = frames[-1][np.roll(changed, 5)]  # ten words take each other's vectors
    after = layout.add(moved)
    step = np.linalg.norm(after - same, axis=1)
    still = np.setdiff1d(np.arange(150), changed)
    assert np.median(step[still]) < 0.35 * spread(same)
    assert np.median(step[changed]) > 3 * np.median(step[still])
    assert layout.positions.shape == (3, 150, 2)
    assert len(layout.graphs) == 3


def test_another_shape_or_nan_is_refused() -> None:
    layout = IncrementalLayout()
    with pytest.raises(EmbvizError, match="n >= 3"):
        layout.add(np.zeros((2, 4)))
    layout._shape = (5, 4)
    with pytest.raises(EmbvizError, match="shape"):
        layout.add(np.zeros((6, 4)))
    with pytest.raises(EmbvizError, match="nan"):
        layout.add(np.full((5, 4), np.nan))


@pytest.mark.slow
def test_live_last_frame_keeps_the_purity_of_explores_layout(toy: Path) -> None:
    """The live page's final layout (warm chain only) against explore's (warm chain + joint refinement)."""
    run = Run.open(toy)
    options = AnimateOptions(cache=False)
    snaps = film_snapshots(run)
    stages = film_stages(run, snaps, choose_words(run, options), options)
    level = stages.selection.level
    explore_purity = stages.emergence.columns[f"purity2d_{level}"][-1]

    live = LiveFrames(run, options)
    header = live.header()
    assert header["T"] == 0 and header["words"] == stages.selection.words
    looks = []
    for snap in snaps:
        looks.append(live.first_look(snap))  # what the page shows at once, before the final layout
        frame = live.add(snap)
        assert looks[-1]["nbrIndex"] == frame["nbrIndex"] and not looks[-1]["final"] and frame["final"]
        assert all(v == [None] for v in looks[-1]["curves"].values())  # the curves come with the final layout
    labels = stages.selection.labels(level)
    look_purity = knn_purity(dequantised(looks[-1]), labels, 10, metric="euclidean")
    assert look_purity >= 0.8 * knn_purity(dequantised(frame), labels, 10, metric="euclidean"), look_purity
    live_purity = frame["curves"][f"purity in 2-D · {level}"][0]
    assert live_purity >= 0.9 * explore_purity, (live_purity, explore_purity)
    assert [f["step"] for f in live.frames] == [s.step for s in snaps]
    # the frame's numbers are the same measure as explore's, in the space (not the layout)
    for lvl in stages.selection.levels:
        assert frame["curves"][f"purity · {lvl}"][0] == pytest.approx(stages.emergence.columns[f"purity_{lvl}"][-1])
    assert list(frame["curves"]) == list(header["curves"])
    positions = np.frombuffer(base64.b64decode(frame["positions"]), dtype="<u2").reshape(-1, 2)  # quantised in bounds
    assert len(frame["bounds"]) == 1 and frame["bounds"][0][0] < frame["bounds"][0][1]
    assert positions.shape == (len(stages.selection.words), 2) and np.isfinite(positions).all()
