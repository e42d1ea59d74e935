"""embviz animate: word choice, emergence metrics, outputs, cache reuse and one-line errors."""

from __future__ import annotations

import csv
import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image

from embviz import cli
from embviz.errors import ConfigError
from embviz.film.animate import animate, output_paths, side_paths
from embviz.film.animate_options import AnimateOptions, FilmOptions
from embviz.film.render import frame_count
from embviz.film.selection import (
    category_levels,
    choose_words,
    display_names,
    read_words_file,
    select_words,
)
from embviz.film.stages import SnapshotRows, film_snapshots, measure, project, word_benchmarks
from embviz.layout.projectors import PCAProjector
from embviz.measure.gensim_eval import WORDSIM353, gensim_test_file
from embviz.measure.metrics import knn_purity
from embviz.rundir.files import write_npy
from embviz.rundir.run import Run
from embviz.text.tokenizer import BPE_MARK

from toyrun import make_toy_run, toy_categories

SMALL = AnimateOptions(method="pca", film=FilmOptions(size=(160, 120), fps=4, seconds_per_snapshot=0.5, label=5))
"""PCA films: tests about anything but the default method skip UMAP's numba compile."""


@pytest.fixture
def run_copy(toy: Path, tmp_path: Path) -> Path:
    path = tmp_path / "run"
    shutil.copytree(toy, path)
    return path


# -- words and categories -------------------------------------------------------------------------


def test_select_words_default_top_content_and_only() -> None:
    tokens = ["<unk>", "the", ".", "cat", "dog", "runs", "blue", ",", "zebra"]
    counts = [0, 100, 90, 50, 40, 30, 20, 10, 1]
    cats = [None, "function/det/art", None, "noun/animal/pet", "noun/animal/pet", None, "adj/colour/basic", None,
            "noun/animal/wild"]
    rows, unknown = select_words(tokens, counts, cats, top=3)
    assert [tokens[i] for i in rows] == ["the", ".", "cat", "dog", "blue", "zebra"]
    rows, _ = select_words(tokens, counts, cats, top=3, content_only=True)
    assert [tokens[i] for i in rows] == ["cat", "dog", "runs", "blue", "zebra"]
    rows, unknown = select_words(tokens, counts, cats, top=0, words=["Runs", "nope", ","], only=True)
    assert [tokens[i] for i in rows] == ["runs", ","] and unknown == ["nope"]
    rows, unknown = select_words(tokens, counts, cats, top=0, words=["nope"], only=True)
    assert rows.size == 0
    with pytest.raises(ConfigError):
        select_words(tokens, counts, cats, only=True)


def test_content_only_leaves_out_chinese_function_words() -> None:
    # categories as a jieba- or gold-tagged Chinese run gets them (PKU tags, embviz.text.chinese.TAGS)
    tagged = {"猫": "noun", "跑": "verb", "红": "adj", "我们": "pronoun", "在": "prep", "和": "conj", "的": "particle",
              "吗": "modal", "啊": "interjection", "很": "adv"}
    tokens = [*tagged, "了", "他", "书", "，"]  # the last four uncategorised, as at --tokenizer char
    cats = [*tagged.values(), None, None, None, None]
    counts = list(range(100, 100 - len(tokens), -1))
    rows, _ = select_words(tokens, counts, cats, top=len(tokens), content_only=True)
    assert [tokens[i] for i in rows] == ["猫", "跑", "红", "很", "书"]
    rows, _ = select_words(tokens, counts, cats, top=len(tokens))
    assert len(rows) == len(tokens)


def test_default_word_set_is_capped_and_balanced_across_categories() -> None:
    # 3 categories of 30, 6 and 2 words; counts fall with the id, so "a00" is the most frequent.
    sizes = {"noun/a": 30, "noun/b": 6, "verb/c": 2}
    tokens, cats = ["<unk>"], [None]
    for cat, size in sizes.items():
        tokens += [f"{cat[-1]}{i:02d}" for i in range(size)]
        cats += [cat] * size
    tokens += ["plain1", "plain2"]
    cats += [None, None]
    counts = [0] + list(range(1000, 1000 - len(tokens) + 1, -1))
    with pytest.warns(UserWarning, match=r"38 words have a category; the film shows 12 of them, balanced across 3"):
        rows, _ = select_words(tokens, counts, cats, top=0, max_categorised=12)
    shown = [tokens[i] for i in rows]
    # c has only 2: a and b share the rest equally, each by frequency.
    assert shown == ["a00", "a01", "a02", "a03", "a04", "b00", "b01", "b02", "b03", "b04", "c00", "c01"]
    # --words are added beyond the cap, and --only takes exactly what is asked.
    with pytest.warns(UserWarning, match="balanced"):
        rows, _ = select_words(tokens, counts, cats, top=0, max_categorised=12, words=["a29"])
    assert rows.size == 13 and tokens.index("a29") in rows
    many = [t for t, c in zip(tokens, cats) if c]
    rows, _ = select_words(tokens, counts, cats, top=0, max_categorised=12, words=many, only=True)
    assert rows.size == 38
    # Under the cap (or with no cap) nothing is dropped and nothing is said.
    import warnings as _w

    with _w.catch_warnings():
        _w.simplefilter("error")
        assert select_words(tokens, counts, cats, top=0, max_categorised=38)[0].size == 38
        assert select_words(tokens, counts, cats, top=0, max_categorised=None)[0].size == 38


def test_words_file(tmp_path: Path) -> None:
    path = tmp_path / "words.txt"
    path.write_text("# my words\ncat, dog\nblue  red # colours\n\n", encoding="utf-8")
    assert read_words_file(path) == ["cat", "dog", "blue", "red"]
    with pytest.raises(ConfigError):
        read_words_file(tmp_path / "missing.txt")


def test_levels_and_display_names() -> None:
    assert category_levels(["noun/animal/pet", None]) == ["pos", "field", "subfield"]
    assert category_levels(["colour", "animal"]) == ["category"]
    assert category_levels([None]) == []
    names = display_names(["noun/animal", "verb/emotion", "adj/emotion", None])
    assert names == {"noun/animal": "animal", "verb/emotion": "emotion (verb)", "adj/emotion": "emotion (adj)"}


def test_output_paths(toy: Path) -> None:
    run = Run.open(toy)
    assert output_paths(run, None, None) == (toy / "film.mp4", "mp4")
    assert output_paths(run, None, "gif") == (toy / "film.gif", "gif")
    assert output_paths(run, Path("x/f.GIF"), None) == (Path("x/f.GIF"), "gif")
    assert output_paths(run, Path("x/f"), "gif") == (Path("x/f.gif"), "gif")
    assert side_paths(Path("x/f.mp4")) == (Path("x/f-grid.png"), Path("x/f-metrics.png"), Path("x/f-metrics.csv"))
    for out, fmt in ((Path("f.avi"), None), (Path("f.mp4"), "gif"), (None, "webm")):
        with pytest.raises(ConfigError):
            output_paths(run, out, fmt)


# -- metrics ----------------------------------------------------------------------------------


def test_benchmark_words_are_bpe_tokens_without_their_mark() -> None:
    tokens = ["<unk>", "cat", f"{BPE_MARK}cat", f"{BPE_MARK}tiger", "dog", BPE_MARK, f"{BPE_MARK}zzqx"]
    bench = word_benchmarks(tokens)
    # the word piece "cat" yields to the word-start token; "dog" has no word-start twin
    assert [tokens[i] for i in bench.rows] == [f"{BPE_MARK}cat", f"{BPE_MARK}tiger", "dog"]
    assert bench.words == ["cat", "tiger", "dog"]


@pytest.mark.parametrize("mark", ["", BPE_MARK])
def test_word_pair_scores_equal_gensims(tmp_path: Path, mark: str) -> None:
    """A BPE run's tokens carry the word-start mark (``▁cat``): they match the pairs without it."""
    from gensim.models import KeyedVectors

    ws = gensim_test_file(WORDSIM353)
    words: list[str] = []
    for line in ws.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            words += [w.lower() for w in line.split("\t")[:2] if w.lower() not in words]
    words = [f"x{i}" for i in range(20)] + words[:150]
    run = make_toy_run(tmp_path / "run", n_snapshots=3, dim=16, tokens=[mark + w for w in words],
                       labels=[None] * len(words))
    result = animate(run.path, tmp_path / "f.gif", SMALL)
    assert (result.emergence.columns["wordsim353_coverage"] > 0.05).all()
    for snap, value in zip(run.snapshots(), result.emergence.columns["wordsim353_spearman"]):
        kv = KeyedVectors(16)
        kv.add_vectors(words, run.load_snapshot(snap))
        expected = kv.evaluate_word_pairs(str(ws))[1].statistic
        assert value == pytest.approx(expected, abs=1e-9)


# -- the whole command ------------------------------------------------------------------------


def test_animate_writes_everything(run_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "toy.gif"
    result = animate(run_copy, out, SMALL)
    t = len(Run.open(run_copy).snapshots())
    assert result.n_frames == frame_count(t, SMALL.film.fps, SMALL.film.seconds_per_snapshot, "gif")
    with Image.open(out) as gif:
        assert gif.n_frames == result.n_frames and gif.size == (160, 120)
    for png in (result.grid, result.metrics_png):
        with Image.open(png) as image:
            assert image.format == "PNG" and image.size[0] > 100
    with result.metrics_csv.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == t and float(rows[-1]["purity_field"]) > float(rows[0]["purity_field"]) + 0.4
    assert {"purity_pos", "silhouette_subfield", "jaccard10_final", "cka_final", "drift_prev",
            "wordsim353_spearman", "simlex999_coverage", "purity2d_pos", "purity2d_subfield",
            "trustworthiness"} <= set(rows[0])
    # the 2-D purity is the purity of the neighbours as drawn in the film's final frame
    [trajectory] = (run_copy / "projections").glob("pca-*.npy")
    final = np.load(trajectory, allow_pickle=False)[-1]
    pos = [c and c.split("/")[0] for c in toy_categories(120)]
    shown = [pos[int(w[1:])] for w in result.words]
    assert float(rows[-1]["purity2d_pos"]) == pytest.approx(knn_purity(final, shown, metric="euclidean"), abs=1e-5)
    assert 0.5 < float(rows[-1]["trustworthiness"]) <= 1.0
    assert result.level == "field" and len(result.words) == 120
    assert result.files == [out, tmp_path / "out/toy-grid.png", tmp_path / "out/toy-metrics.png",
                            tmp_path / "out/toy-metrics.csv", run_copy / "settle.csv", tmp_path / "out/toy-settle.png"]


@pytest.mark.slow
def test_default_umap_film_shows_the_fields_forming(run_copy: Path, tmp_path: Path) -> None:
    result = animate(run_copy, tmp_path / "umap.gif", AnimateOptions(film=SMALL.film))
    assert result.method == "umap" and result.params["mode"] == "chain"
    with Image.open(result.film) as gif:
        assert gif.n_frames == result.n_frames == frame_count(8, SMALL.film.fps, SMALL.film.seconds_per_snapshot, "gif")
    [trajectory] = (run_copy / "projections").glob("umap-*.npy")
    positions = np.load(trajectory, allow_pickle=False)
    assert positions.shape == (8, 120, 2) and np.isfinite(positions).all()
    labels = toy_categories(120)
    fields = [(c := labels[int(w[1:])]) and "/".join(c.split("/")[:2]) for w in result.words]
    assert knn_purity(positions[-1], fields, k=5) > knn_purity(positions[0], fields, k=5) + 0.4


def test_summary_warns_when_the_layout_hides_the_clusters(tmp_path: Path, capsys) -> None:
    # 40 flat categories around random directions in 64-D: the space separates them, no 2-D plane can
    run = make_toy_run(tmp_path / "many", labels=[f"c{i % 40}" for i in range(200)], n_snapshots=2, dim=64)
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(40, 64))
    for snap in run.snapshots():
        write_npy(run.snapshot_dir / snap.file, centres[np.arange(200) % 40] + 0.6 * rng.normal(size=(200, 64)))
    args = ["animate", str(run.path), "--size", "160x120", "--fps", "2", "--label", "0", "--method", "pca"]
    with pytest.raises(SystemExit) as exc:
        cli.main([*args, "--out", str(tmp_path / "pca.gif")])
    assert exc.value.code == 0
    captured = capsys.readouterr()
    [warning] = [line for line in " ".join(captured.err.split()).split("Warning: ") if "layout keeps" in line]
    table = list(csv.DictReader((tmp_path / "pca-metrics.csv").open(encoding="utf-8")))
    layout, space = float(table[-1]["purity2d_category"]), float(table[-1]["purity_category"])
    assert layout < 0.6 * space and f"keeps {layout:.2f} of the {space:.2f} category" in warning
    assert "--method umap" in warning
    assert f"category purity@10 {layout:.2f} in 2-D of {space:.2f} in the space" in captured.out


@pytest.mark.slow
def test_second_animate_hits_the_cache(run_copy: Path, tmp_path: Path, monkeypatch) -> None:
    first = animate(run_copy, tmp_path / "a.gif", SMALL)
    assert not first.projection_cached and not first.metrics_cached

    def no_fit(self, matrices, progress=None):
        raise AssertionError("projection recomputed")

    monkeypatch.setattr(PCAProjector, "fit", no_fit)
    monkeypatch.setattr("embviz.film.stages.compute_emergence", lambda *a, **k: pytest.fail("metrics recomputed"))
    second = animate(run_copy, tmp_path / "b.gif",
                     replace(SMALL, film=replace(SMALL.film, label=0, fps=2), level="subfield"))
    assert second.projection_cached and second.metrics_cached
    assert second.emergence.first_crossing == first.emergence.first_crossing
    files = sorted(p.suffix for p in (run_copy / "projections").iterdir())
    assert files == [".json", ".json", ".npy", ".npy"]  # one trajectory (+ its json), one metrics table, the settle steps


def test_mp4_frame_count(run_copy: Path, tmp_path: Path) -> None:
    result = animate(run_copy, None, replace(SMALL, film=FilmOptions(size=(160, 120), fps=6, label=0)))
    assert result.film == run_copy / "film.mp4"
    frames, _ = imageio_ffmpeg.count_frames_and_secs(str(result.film))
    assert frames == result.n_frames == frame_count(8, 6, 0.5, "mp4")


def test_ffmpeg_missing_falls_back_to_gif(run_copy: Path, tmp_path: Path, monkeypatch) -> None:
    def missing():
        raise RuntimeError("no ffmpeg here")

    monkeypatch.setattr(imageio_ffmpeg, "get_ffmpeg_exe", missing)
    with pytest.warns(UserWarning, match="gif"):
        result = animate(run_copy, tmp_path / "film.mp4", SMALL)
    assert result.fmt == "gif" and result.film == tmp_path / "film.gif" and result.film.is_file()


def test_cli_prints_table_and_files(run_copy: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "cli.gif"
    with pytest.raises(SystemExit) as exc:
        cli.main(["animate", str(run_copy), "--out", str(out), "--size", "160x120", "--fps", "4",
                  "--words", "w1,nosuchword", "--level", "pos", "--method", "pca", "--align", "chain"])
    assert exc.value.code == 0
    captured = capsys.readouterr()
    assert "Warning: 1 word(s) not in the vocabulary, skipped: nosuchword" in captured.err
    assert "purity ≥ 0.9 first at step: pos" in captured.out
    assert re.search(r"pca layout at the final snapshot: pos purity@10 [01]\.\d\d in 2-D of [01]\.\d\d in the space · "
                     r"trustworthiness 0\.\d{3}", captured.out) and "layout keeps" not in captured.err
    for name in ("cli.gif", "cli-grid.png", "cli-metrics.png", "cli-metrics.csv"):
        assert name in captured.out and (tmp_path / name).is_file()


def test_cli_help_lists_options(capsys) -> None:
    with pytest.raises(SystemExit):
        cli.main(["animate", "--help"])
    text = capsys.readouterr().out
    for option in ("--method", "--align", "--umap-mode", "--metric", "--words-file", "--top", "--content-only",
                   "--level", "--format", "--fps", "--seconds-per-snapshot", "--label-words", "--font", "--quiet"):
        assert option in text


# -- bad input: one line, no traceback --------------------------------------------------------


def test_error_not_a_run_dir(tmp_path: Path, cli_error) -> None:
    assert "not a run directory" in cli_error(["animate", str(tmp_path / "nope")])
    assert "not an embviz run" in cli_error(["animate", str(tmp_path)])


def test_error_too_few_snapshots(tmp_path: Path, cli_error) -> None:
    make_toy_run(tmp_path / "one", n_snapshots=1)
    assert "at least 2" in cli_error(["animate", str(tmp_path / "one")])


def test_error_missing_or_corrupt_snapshot(run_copy: Path, cli_error) -> None:
    snaps = Run.open(run_copy).snapshots()
    path = run_copy / "snapshots" / snaps[3].file
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert "corrupt" in cli_error(["animate", str(run_copy), "-q"])
    path.unlink()
    assert "missing" in cli_error(["animate", str(run_copy), "-q"])


def test_error_mismatched_shapes(run_copy: Path, cli_error) -> None:
    snaps = Run.open(run_copy).snapshots()
    np.save(run_copy / "snapshots" / snaps[2].file, np.zeros((120, 8), dtype=np.float32))
    assert "differ in shape" in cli_error(["animate", str(run_copy), "-q"])


def test_error_no_requested_word(run_copy: Path, cli_error) -> None:
    line = cli_error(["animate", str(run_copy), "--words", "nope,nada", "--only", "-q"])
    assert "none of the requested words" in line


@pytest.mark.parametrize("args, message", [
    (["--method", "isomap"], "unknown method"),
    (["--format", "webm"], "unknown format"),
    (["--out", "film.avi"], "unknown film format"),
    (["--align", "diagonal"], "unknown alignment"),
    (["--level", "genus"], "--level genus"),
    (["--size", "big"], "--size"),
])
def test_error_bad_options(run_copy: Path, cli_error, args: list[str], message: str) -> None:
    assert message in cli_error(["animate", str(run_copy), "-q", *args])


def test_error_unwritable_output(run_copy: Path, tmp_path: Path, cli_error) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert "cannot write" in cli_error(["animate", str(run_copy), "--out", str(blocker / "film.mp4")])


@pytest.mark.slow
def test_tiny_trained_run_end_to_end(tiny_config, tmp_path: Path) -> None:
    from dataclasses import replace

    from embviz.training.loop import train

    config = replace(tiny_config, snapshot_schedule="log", log_snapshots=6, epochs=1)
    trained = train(config, tmp_path / "run")
    result = animate(trained.run_dir, tmp_path / "t.gif", SMALL)
    assert result.n_snapshots >= 2 and result.film.is_file()
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    assert manifest["status"] == "complete"
    tokens = Run.open(trained.run_dir).vocab()[0]
    assert set(result.words) <= set(tokens) and "<unk>" not in result.words


def test_stages_give_the_films_words_layouts_and_table(run_copy: Path, tmp_path: Path) -> None:
    result = animate(run_copy, tmp_path / "a.gif", SMALL)
    run = Run.open(run_copy)
    snapshots = film_snapshots(run)
    selection = choose_words(run, SMALL)
    bench = word_benchmarks(run.vocab()[0])
    rows = SnapshotRows(run, snapshots, selection.rows, bench.rows)
    cached = project(run, snapshots, selection, SMALL, lambda: pytest.fail("projection recomputed"))
    table, hit = measure(run, snapshots, selection, bench, rows, cached)
    assert selection.words == result.words and selection.level == result.level and cached.cached and hit
    assert cached.positions.shape == (len(snapshots), len(selection.words), 2)
    fresh = project(run, snapshots, selection, replace(SMALL, cache=False), lambda: rows.shown)
    np.testing.assert_array_equal(fresh.positions, cached.positions)
    again, hit = measure(run, snapshots, selection, bench, rows, fresh, cache=False)
    assert not hit and again.first_crossing == result.emergence.first_crossing
    for name, values in result.emergence.columns.items():
        np.testing.assert_allclose(again.columns[name], values, rtol=1e-12, equal_nan=True)
