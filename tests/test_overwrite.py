"""The one overwrite rule (``embviz.rundir.output``), command by command, and its rollback.

Outputs inside the run directory that a command regenerates are replaced without asking; a path the
user named that already exists needs ``overwrite``. (``import`` is tested in tests/test_import.py:
it needs checkpoints written by transformers.)
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from embviz.compare.comparison import compare
from embviz.compare.word2vec import GENSIM_DIR, GENSIM_MODEL, _save_gensim
from embviz.errors import ConfigError, RunError
from embviz.film.animate import animate
from embviz.film.animate_options import AnimateOptions
from embviz.film.explore import explore
from embviz.interop.export import export
from embviz.rundir.output import OutputError, check_output, replacing
from embviz.rundir.run import RUN_JSON, WORD2VEC, Run

from conftest import FAST

PCA = AnimateOptions(method="pca", cache=False, top=20)


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# -- the rule ------------------------------------------------------------------------------------------


def test_a_new_path_or_an_empty_folder_is_written_without_asking(tmp_path):
    check_output(tmp_path / "new.html", overwrite=False)
    (tmp_path / "empty").mkdir()
    check_output(tmp_path / "empty", overwrite=False, folder=True, marker="x")


def test_an_existing_path_needs_overwrite_and_must_be_what_the_command_writes(tmp_path):
    (tmp_path / "page.html").write_text("old")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(OutputError, match="already exists; pass --overwrite"):
        check_output(tmp_path / "page.html", overwrite=False)
    check_output(tmp_path / "page.html", overwrite=True)
    with pytest.raises(OutputError, match="is a directory"):
        check_output(tmp_path / "mine", overwrite=True)
    with pytest.raises(OutputError, match="is not an embviz run .no run.json.; refusing"):
        check_output(tmp_path / "mine", overwrite=True, folder=True, marker=RUN_JSON, what="an embviz run")
    (tmp_path / "mine" / RUN_JSON).write_text("{}")
    check_output(tmp_path / "mine", overwrite=True, folder=True, marker=RUN_JSON, what="an embviz run")
    assert issubclass(OutputError, ConfigError) and issubclass(OutputError, RunError)


# -- per command ---------------------------------------------------------------------------------------


def test_train_replaces_an_existing_run_only_with_overwrite(toy, tmp_path):
    run_dir = shutil.copytree(toy, tmp_path / "run")
    with pytest.raises(OutputError, match="--overwrite to replace it or --resume"):
        Run.create(run_dir)
    assert (run_dir / RUN_JSON).is_file()
    Run.create(run_dir, overwrite=True)
    assert list(run_dir.iterdir()) == []
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(OutputError, match="not an embviz run"):
        Run.create(tmp_path / "mine", overwrite=True)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


@pytest.mark.parametrize("fmt, name", [("projector", "out"), ("npz", "out.npz"), ("word2vec", "out.txt")])
def test_export_replaces_the_path_it_was_given_only_with_overwrite(toy, tmp_path, fmt, name):
    out = tmp_path / name
    export(toy, fmt, out, snapshot="init")
    before = tree(tmp_path)
    with pytest.raises(OutputError, match="--overwrite"):
        export(toy, fmt, out, snapshot="final")
    assert tree(tmp_path) == before
    export(toy, fmt, out, snapshot="final", overwrite=True)
    assert tree(tmp_path) != before and [p.name for p in tmp_path.iterdir()] == [name]


def test_explore_regenerates_its_default_page_but_asks_before_replacing_a_named_one(toy, tmp_path):
    run_dir = shutil.copytree(toy, tmp_path / "run")
    first = explore(run_dir, options=PCA).path
    assert first == run_dir / "explorer.html"
    first.write_text("stale")
    explore(run_dir, options=PCA)  # inside the run: regenerated without --overwrite
    assert first.read_text() != "stale"
    named = tmp_path / "mine.html"
    named.write_text("keep")
    with pytest.raises(OutputError, match="--overwrite"):
        explore(run_dir, named, PCA)
    assert named.read_text() == "keep"
    explore(run_dir, named, PCA, overwrite=True)
    assert named.read_text() != "keep"


def test_animate_regenerates_its_default_film_but_asks_before_replacing_a_named_one(toy, tmp_path, cli_error):
    run_dir = shutil.copytree(toy, tmp_path / "run")
    gif = dataclasses.replace(PCA, fmt="gif", film=dataclasses.replace(PCA.film, fps=2, size=(160, 120)))
    first = animate(run_dir, options=gif).film
    assert first == run_dir / "film.gif"
    first.write_bytes(b"stale")
    animate(run_dir, options=gif)  # inside the run: regenerated without --overwrite
    assert first.read_bytes() != b"stale"
    named = tmp_path / "mine.gif"
    named.write_bytes(b"keep")
    line = cli_error(["animate", str(run_dir), "--out", str(named), "--method", "pca", "--quiet"])
    assert "--overwrite" in line and named.read_bytes() == b"keep"
    animate(run_dir, named, gif, overwrite=True)
    assert named.read_bytes()[:3] == b"GIF"


def test_compare_word2vec_replaces_its_baseline_inside_the_run_without_asking(run_copy):
    compare(run_copy, FAST)
    gensim = run_copy / WORD2VEC / GENSIM_DIR / GENSIM_MODEL
    first = gensim.stat().st_mtime_ns
    compare(run_copy, dataclasses.replace(FAST, retrain=True))
    assert gensim.stat().st_mtime_ns != first
    assert sorted(p.name for p in (run_copy / WORD2VEC).iterdir() if p.name.startswith(".")) == []


# -- rollback ------------------------------------------------------------------------------------------


class Boom(Exception):
    pass


@pytest.mark.parametrize("folder", [False, True])
def test_a_failing_build_leaves_the_old_output_whole_and_no_temp_files(tmp_path, folder):
    out = tmp_path / ("out" if folder else "out.txt")
    with replacing(out, folder=folder) as tmp:
        (tmp / "a.txt").write_text("old") if folder else tmp.write_text("old")
    before = tree(tmp_path)
    with pytest.raises(Boom), replacing(out, folder=folder) as tmp:
        (tmp / "a.txt").write_text("half") if folder else tmp.write_text("half")
        raise Boom
    assert tree(tmp_path) == before and [p.name for p in tmp_path.iterdir()] == [out.name]
    with replacing(out, folder=folder) as tmp:
        (tmp / "b.txt").write_text("new") if folder else tmp.write_text("new")
    assert tree(tmp_path) == ({"out/b.txt": b"new"} if folder else {"out.txt": b"new"})


def test_a_gensim_save_that_fails_keeps_the_previous_model(tmp_path):
    class Saves:
        def __init__(self, fail: bool):
            self.fail = fail

        def save(self, path: str) -> None:
            Path(path).write_text("model")
            if self.fail:
                raise Boom

    _save_gensim(tmp_path, Saves(fail=False))
    before = tree(tmp_path)
    with pytest.raises(Boom):
        _save_gensim(tmp_path, Saves(fail=True))
    assert tree(tmp_path) == before and [p.name for p in tmp_path.iterdir()] == [GENSIM_DIR]


def test_a_failing_export_leaves_the_previous_export(toy, tmp_path):
    out = tmp_path / "out"
    export(toy, "projector", out, snapshot="init")
    before = tree(tmp_path)

    def fail(stage: str, done: int, total: int) -> None:
        raise Boom

    with pytest.raises(Boom):
        export(toy, "projector", out, overwrite=True, progress=fail)
    assert tree(tmp_path) == before
