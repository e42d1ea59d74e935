"""``--matrix token|position|head`` through animate, explore and export, on trained runs (tied and untied),
and the one-line errors for a matrix a run does not have."""

from __future__ import annotations

import csv
import dataclasses
import json

import numpy as np
import pytest

from embviz.film.animate import animate
from embviz.film.animate_options import AnimateOptions, FilmOptions
from embviz.film.explore import explore
from embviz.interop.export import export
from embviz.measure.positions import MATRIX_COLUMNS, POSITION_MEASURES, head_agreement, position_order
from embviz.rundir.run import Run
from embviz.training.loop import TrainConfig, train

from conftest import TINY, tiny_text

SMALL = AnimateOptions(top=40, method="pca", cache=False, film=FilmOptions(size=(160, 120), fps=2, label=3))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("matrices")
    (root / "tiny.txt").write_text(tiny_text(), encoding="utf-8")
    config = TrainConfig(corpus=str(root / "tiny.txt"), **TINY)
    train(config, root / "tied")
    train(dataclasses.replace(config, tie=False), root / "untied")
    return root


def test_export_writes_each_matrix_with_its_own_rows(runs, tmp_path):
    run = Run.open(runs / "untied")
    snaps = run.snapshots()
    for matrix, rows in (("position", TINY["context"]), ("head", len(run.vocab()[0]))):
        export(runs / "untied", "npz", tmp_path / f"{matrix}.npz", matrix=matrix)
        with np.load(tmp_path / f"{matrix}.npz", allow_pickle=False) as data:
            assert data["embeddings"].shape == (len(snaps), rows, TINY["d_model"])
            np.testing.assert_array_equal(data["embeddings"][-1], run.load_snapshot(snaps[-1], matrix=matrix))
            if matrix == "position":
                assert list(data["tokens"]) == [str(i) for i in range(rows)]


def csv_columns(path) -> dict[str, np.ndarray]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return {k: np.array([float(r[k]) if r[k] else np.nan for r in rows]) for k in rows[0]}


@pytest.mark.slow
def test_the_position_film_shows_the_positions_in_order(runs, tmp_path):
    result = animate(runs / "tied", tmp_path / "pos.gif", dataclasses.replace(SMALL, matrix="position"))
    assert result.words == [str(i) for i in range(TINY["context"])]
    run = Run.open(runs / "tied")
    assert result.n_snapshots == len(run.snapshots()) and result.film.stat().st_size > 0
    token = animate(runs / "tied", tmp_path / "tok.gif", SMALL)
    assert len(token.words) > TINY["context"] and token.words != result.words
    columns = csv_columns(result.metrics_csv)
    assert not [k for k in columns if k.startswith(("purity", "silhouette", "wordsim", "simlex"))]
    assert not {"chance_category", "chance_pos", "chance_field"} & set(columns)
    for t, snap in enumerate(run.snapshots()):  # every snapshot's order, as measured on its table
        got = position_order(run.load_snapshot(snap, matrix="position"))
        assert [columns[f"position_{k}"][t] for k in POSITION_MEASURES] == pytest.approx(
            [got.adjacent, got.order, got.top3], abs=1e-5)
    assert columns["chance_position_adjacent"][0] == pytest.approx(2 / TINY["context"])
    panels, chance = result.emergence.curves()
    assert list(panels)[:3] == [MATRIX_COLUMNS[f"position_{k}"] for k in POSITION_MEASURES]
    assert chance[MATRIX_COLUMNS["position_adjacent"]] == pytest.approx(2 / TINY["context"])
    assert not [p for p in panels if "purity" in p or "norm" in p]
    assert "position_adjacent" not in csv_columns(token.metrics_csv)


@pytest.mark.slow
def test_the_head_film_measures_the_head_against_the_token_table(runs, tmp_path):
    result = animate(runs / "untied", tmp_path / "head.gif", dataclasses.replace(SMALL, matrix="head"))
    run = Run.open(runs / "untied")
    columns = csv_columns(result.metrics_csv)
    rows = [run.vocab()[0].index(w) for w in result.words]
    for t, snap in enumerate(run.snapshots()):  # on the rows shown, as every other column
        cka, jaccard = head_agreement(run.load_snapshot(snap, matrix="head")[rows], run.load_snapshot(snap)[rows])
        assert (columns["head_cka_token"][t], columns["head_jaccard10_token"][t]) == pytest.approx((cka, jaccard), abs=1e-5)
    assert MATRIX_COLUMNS["head_cka_token"] in result.emergence.curves()[0]
    assert result.metrics_png.stat().st_size > 0


@pytest.mark.slow
def test_explore_the_untied_head(runs, tmp_path):
    result = explore(runs / "untied", tmp_path / "head.html", dataclasses.replace(SMALL, matrix="head"))
    page = result.path.read_text(encoding="utf-8")
    assert result.n_words > 3 and "head rows" in page


@pytest.mark.parametrize("command, run, matrix, message", [
    ("animate", "tied", "head", "--matrix head: the run's output head is tied to its token table"),
    ("explore", "tied", "head", "this run has: token, position"),
    ("export", "tied", "head", "--matrix head: the run's output head is tied"),
    ("animate", "untied", "layer", "matrix"),
])
def test_a_matrix_the_run_lacks_is_one_error_line(runs, tmp_path, cli_error, command, run, matrix, message):
    extra = ["--to", "npz"] if command == "export" else ["--method", "pca"]
    target = [str(tmp_path / "x.npz")] if command == "export" else ["--out", str(tmp_path / "x.gif")]
    line = cli_error([command, str(runs / run), *target, *extra, "--matrix", matrix, "--quiet"])
    assert message in line
    assert not any(tmp_path.iterdir())


def test_an_old_index_without_files_still_films_the_token_table(runs, tmp_path):
    import shutil

    shutil.copytree(runs / "tied", tmp_path / "old")
    index = tmp_path / "old" / "snapshots" / "index.json"
    entries = json.loads(index.read_text())
    index.write_text(json.dumps([{k: v for k, v in e.items() if k != "files"} for e in entries]))
    assert all(s.matrices == ("token",) for s in Run.open(tmp_path / "old").check_snapshots())
    with pytest.raises(Exception, match="written before position tables were saved"):
        export(tmp_path / "old", "npz", tmp_path / "p.npz", matrix="position")
