"""Who settles first (embviz.measure.settle): the blocked exact kNN, the settle rule, the per-word CSV, its
figure, and what animate and explore write."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_rgba
from sklearn.neighbors import NearestNeighbors

from embviz.film import figures
from embviz.film.animate import animate
from embviz.film.animate_options import AnimateOptions, FilmOptions
from embviz.film.explore import explore
from embviz.measure import settle as st
from embviz.rundir.run import Run

from toyrun import make_toy_run

SMALL = AnimateOptions(method="pca", film=FilmOptions(fps=4, seconds_per_snapshot=0.25, size=(160, 120), label=3),
                       fmt="gif")


def test_vocabulary_knn_equals_sklearn_brute_force_across_blocks(monkeypatch) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(257, 12)).astype(np.float32)
    monkeypatch.setattr(st, "BLOCK_ELEMENTS", 257 * 7)  # 7 rows a block: 37 blocks, the last one short
    ours = st.vocabulary_knn(x, 8)
    _, theirs = NearestNeighbors(n_neighbors=9, metric="cosine", algorithm="brute").fit(x).kneighbors(x)
    assert np.array_equal(ours, theirs[:, 1:])  # sklearn lists the row itself first


def test_vocabulary_knn_skips_the_row_itself_and_a_zero_row_scores_zero() -> None:
    x = np.array([[1.0, 0.0], [0.0, 0.0], [0.9, 0.1], [-1.0, 0.0]], dtype=np.float32)
    assert st.vocabulary_knn(x, 3).tolist() == [[2, 1, 3], [0, 2, 3], [0, 1, 3], [1, 2, 0]]


def test_vocabulary_knn_refuses_impossible_k() -> None:
    with pytest.raises(st.ConfigError, match="k must be between 1 and 2"):
        st.vocabulary_knn(np.eye(3), 3)


def test_settle_rule_is_the_first_snapshot_from_which_the_word_stays_close() -> None:
    jaccard = np.array([[0.1, 0.9, 0.1, 0.9],
                        [0.2, 0.9, 0.6, 0.2],
                        [0.6, 0.9, 0.4, 0.7],
                        [0.8, 0.9, 0.7, 0.3],
                        [1.0, 1.0, 1.0, 1.0]], dtype=np.float32)  # [T, V], the last row is the final snapshot
    found = st.Settle(np.array([0, 10, 20, 40, 80]), jaccard, np.zeros(4, dtype=np.float32))
    assert found.settle_index().tolist() == [2, 0, 3, -1]
    assert np.array_equal(found.settle_step(), [20, 0, 40, np.nan], equal_nan=True)
    assert found.settle_index(0.65).tolist() == [3, 0, 3, -1]


def frozen_and_moving(t_count: int = 8, clusters: int = 12, size: int = 10, moving: int = 120, seed: int = 0):
    """[T, V, 16] snapshots: tight clusters that stop moving at snapshot 2, and words that jump at random until
    the end; returns (snapshots, frozen mask [V])."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, 16)) * 3
    final_frozen = np.repeat(centres, size, axis=0) + 0.05 * rng.normal(size=(clusters * size, 16))
    out = []
    for t in range(t_count):
        frozen = final_frozen if t >= 2 else rng.normal(size=final_frozen.shape)
        out.append(np.vstack([frozen, rng.normal(size=(moving, 16)) * 3]).astype(np.float32))
    return np.stack(out), np.arange(clusters * size + moving) < clusters * size


def test_frozen_words_settle_moving_words_never() -> None:
    snaps, frozen = frozen_and_moving()
    found = st.measure_settle(lambda t: snaps[t], list(range(0, 80, 10)))
    index = found.settle_index()
    assert (index[frozen] == 2).all()
    assert (index[~frozen] == -1).mean() > 0.9
    assert found.jaccard.shape == (8, frozen.size) and (found.jaccard[-1] == 1).all()
    moved = (snaps[0] * snaps[-1]).sum(1) / np.linalg.norm(snaps[0], axis=1) / np.linalg.norm(snaps[-1], axis=1)
    assert np.allclose(found.init_cosine, moved, atol=1e-5)


def test_findings_say_frequent_and_function_words_settle_first() -> None:
    counts = np.array([1000, 800, 500, 100, 50, 10, 5, 0])
    steps = np.array([10, 10, 20, 40, 80, np.nan, np.nan, 10])
    classes = ["function", "function", "content", "content", "content", "content", "other", "content"]
    found = st.settle_findings(steps, counts, classes)
    assert found["spearman_logfreq"] < -0.9 and found["words"] == 7
    assert found["function_median"] == 10 and found["content_median"] == 60
    assert found["never"] == pytest.approx(2 / 7) and found["content_never"] == pytest.approx(1 / 4)
    assert "function 10 · content 60" in st.findings_line(found)
    late = st.settle_findings(np.array([np.nan, np.nan, 5.0]), [3, 2, 1], ["content"] * 3)
    assert late["content_median"] is None and "content never" in st.findings_line(late)


def test_rank_agreement_ranks_never_last() -> None:
    a = np.array([1.0, 2.0, np.nan, 3.0])
    assert st.rank_agreement(a, np.array([10.0, 20.0, 5.0, 30.0])) == pytest.approx(-0.2)  # never after 3
    assert st.rank_agreement(a, np.array([10.0, 20.0, np.nan, 30.0])) == pytest.approx(1.0)


def test_settle_figure_draws_every_seen_word_and_the_share_settled() -> None:
    steps = np.array([0, 10, 100, 1000])
    settle_steps = np.array([10, 10, 100, np.nan, 1000, 0, np.nan])
    counts = np.array([900, 700, 50, 3, 20, 0, 2])
    classes = ["function", "function", "content", "content", "content", "content", "other"]
    fig = figures.settle_figure(settle_steps, counts, classes, steps, title="toy")
    scatter, ecdf = fig.axes
    points = {tuple(np.round(c.get_facecolor()[0][:3], 3)): c.get_offsets() for c in scatter.collections}
    red, blue, grey = (tuple(np.round(to_rgba(c)[:3], 3)) for c in ("tab:red", "tab:blue", "0.55"))
    assert len(points[red]) == 2 and len(points[blue]) == 3 and len(points[grey]) == 1  # the unseen word is left out
    never = 1000 * 1.8
    assert sorted(points[blue][:, 1].tolist()) == [100, 1000, never] and points[grey][0, 1] == never
    lines = {line.get_label().split(" ")[0]: line for line in ecdf.get_lines()}
    assert lines["function"].get_ydata().tolist() == [0, 1, 1, 1]
    assert lines["content"].get_ydata().tolist() == pytest.approx([0, 0, 1 / 3, 2 / 3])
    assert lines["other"].get_ydata().tolist() == [0, 0, 0, 0]


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    return make_toy_run(tmp_path_factory.mktemp("settle") / "run", n_words=120, n_snapshots=8).path


def test_animate_writes_settle_csv_and_figure_and_explore_carries_it(toy: Path, tmp_path: Path, monkeypatch) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(toy, run_dir)
    result = animate(run_dir, tmp_path / "film.gif", SMALL)
    rows = list(csv.DictReader(io.StringIO((run_dir / "settle.csv").read_text(encoding="utf-8"))))
    tokens, counts, categories = Run.open(run_dir).vocab()
    assert [r["token"] for r in rows] == tokens and [int(r["count"]) for r in rows] == counts
    assert list(rows[0]) == ["token", "count", "category", "word_class", "settle_step", "init_cosine"]
    assert [r["category"] or None for r in rows] == categories
    steps = {s.step for s in Run.open(run_dir).snapshots()}
    settled = [int(r["settle_step"]) for r in rows if r["settle_step"]]
    assert settled and set(settled) <= steps and max(settled) < max(steps)
    assert all(-1.0 <= float(r["init_cosine"]) <= 1.0 for r in rows)
    assert result.settle_png == tmp_path / "film-settle.png" and result.settle_png.stat().st_size > 10_000
    assert result.settled.findings["words"] == 120
    # a second film reads the cached table
    monkeypatch.setattr("embviz.film.stages.measure_settle", lambda *a, **k: pytest.fail("settle recomputed"))
    explore(run_dir, tmp_path / "page.html", SMALL)
    from test_explore import page_json

    data = page_json((tmp_path / "page.html").read_text(encoding="utf-8"))
    by_token = {r["token"]: (int(r["settle_step"]) if r["settle_step"] else None) for r in rows}
    assert data["settle"] == [by_token[w] for w in data["words"]]
