"""compare-word2vec: the comparison measures, the report, its figures and text, bad input."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest
from scipy.spatial import procrustes
from scipy.stats import ortho_group

from embviz import cli
from embviz.compare.comparison import SCHEMA, CompareOptions, compare, word2vec_purity
from embviz.compare.measures import curve_sample, word_forms
from embviz.compare.similarity import padded_disparity
from embviz.compare.word2vec import Word2VecOptions
from embviz.errors import ConfigError
from embviz.measure.gensim_eval import ANALOGIES, SIMLEX999, WORDSIM353, gensim_test_file
from embviz.measure.metrics import cosine_knn, knn_jaccard, linear_cka, neighbour_jaccard
from embviz.rundir.files import read_json, write_json
from embviz.rundir.run import Run, Snapshot, snapshot_name
from embviz.text.lexicon import PURITY_LEVEL
from embviz.text.tokenizer import UNK

from conftest import FAST, W2V, tiny_text, train_tiny_run
from toyrun import make_corpus_run

# -- measures: invariants and reference implementations ------------------------------------------------


def test_cka_jaccard_and_disparity_are_invariant_to_rotation_and_scale():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 8))
    moved = 3.7 * x @ ortho_group.rvs(8, random_state=1)
    assert linear_cka(x, x) == pytest.approx(1.0)
    assert linear_cka(x, moved) == pytest.approx(1.0)
    assert padded_disparity(x, x) == pytest.approx(0.0, abs=1e-12)
    assert padded_disparity(x, moved) == pytest.approx(0.0, abs=1e-12)
    knn = cosine_knn(x, 10)
    assert np.all(knn_jaccard(knn, knn) == 1.0)
    assert np.all(knn_jaccard(knn, cosine_knn(moved, 10)) == 1.0)
    other = rng.normal(size=(60, 8))
    assert linear_cka(x, other) < 0.5 and padded_disparity(x, other) > 0.5


def test_jaccard_from_neighbour_lists_equals_the_metrics_function():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(80, 6)), rng.normal(size=(80, 12))
    np.testing.assert_array_equal(knn_jaccard(cosine_knn(a, 10), cosine_knn(b, 10)),
                                  neighbour_jaccard(a, b, 10))


def test_disparity_equals_scipy_procrustes_also_across_widths():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(50, 6)), rng.normal(size=(50, 6))
    assert padded_disparity(a, b) == pytest.approx(procrustes(a, b)[2], abs=1e-10)
    narrow = rng.normal(size=(50, 4))
    assert padded_disparity(a, narrow) == pytest.approx(procrustes(a, np.pad(narrow, ((0, 0), (0, 2))))[2], abs=1e-10)


def test_bpe_word_forms_drop_the_word_start_marker_only():
    assert word_forms(["▁cat", "s", "▁", "dog"], "bpe") == ["cat", "s", "▁", "dog"]
    assert word_forms(["▁cat"], "word") == ["▁cat"]


# -- the report ---------------------------------------------------------------------------------------------


def test_report_schema_and_shared_vocabulary(run_copy):
    with pytest.warns(UserWarning, match="nosuchword"):
        report = compare(run_copy, dataclasses.replace(FAST, words=("cat", "nosuchword")))
    data = read_json(run_copy / "word2vec" / "report.json")
    assert data == json.loads(json.dumps(report.data))
    assert data["schema"] == SCHEMA
    for key in ("run", "tokenizer", "lm", "word2vec", "shared", "similarity", "purity", "benchmarks", "curve",
                "neighbours", "probe", "timings", "files"):
        assert key in data
    tokens = Run.open(run_copy).vocab()[0]
    assert data["shared"]["n_tokens"] == len(tokens) - 1 and data["shared"]["excluded"] == [UNK]
    sim = data["similarity"]
    assert 0 <= sim["linear_cka"] <= 1 and 0 <= sim["procrustes_disparity"] <= 1
    jac = sim["jaccard"]
    assert list(jac["quantiles"]) == ["0", "0.1", "0.25", "0.5", "0.75", "0.9", "1"]
    assert sum(jac["histogram"]["counts"]) == data["shared"]["n_tokens"]
    assert jac["most_agree"][0]["jaccard"] >= jac["least_agree"][0]["jaccard"]
    assert set(data["purity"]) == {"lm", "word2vec", "chance", "n_words", "k", "level"}
    assert data["purity"]["level"] == PURITY_LEVEL
    for name in ("wordsim353", "simlex999"):
        assert set(data["benchmarks"][name]["lm"]) == {"spearman", "pearson", "coverage", "n_pairs"}
    assert set(data["benchmarks"]["analogies"]["word2vec"]) == {"accuracy", "coverage", "n_correct", "n_total"}
    snaps = Run.open(run_copy).snapshots()
    assert [c["step"] for c in data["curve"]] == [s.step for s in snaps]
    assert data["curve"][-1]["linear_cka"] == pytest.approx(sim["linear_cka"])
    assert data["curve"][-1]["jaccard_mean"] == pytest.approx(jac["mean"])
    (entry,) = data["neighbours"]
    assert entry["word"] == "cat" and len(entry["lm"]) == len(entry["word2vec"]) == 8
    assert "cat" not in [n["word"] for n in entry["lm"]]
    assert report.purity.lm == data["purity"]["lm"] and report.purity.word2vec == data["purity"]["word2vec"]
    md = (run_copy / "word2vec" / "report.md").read_text(encoding="utf-8")
    assert "linear CKA" in md and "nearest neighbours" in md.lower()


def test_curve_sample_takes_the_most_frequent_rows():
    rows = np.array([1, 2, 3, 5, 8])
    counts = [99, 5, 7, 7, 0, 9, 0, 0, 1]
    assert curve_sample(rows, counts, 10).tolist() == [0, 1, 2, 3, 4]
    assert curve_sample(rows, counts, 3).tolist() == [1, 2, 3]  # ids 5 (9), 2 and 3 (7 each)
    assert curve_sample(rows, counts, 2).tolist() == [1, 3]  # ids 5 (9) and 2 (7, lower id than 3)


def test_curve_on_a_sample_of_rows_is_reported_and_headline_stays_exact(run_copy, monkeypatch):
    full = compare(run_copy, FAST, write=False).data
    assert full["shared"]["n_tokens"] > 12, full["shared"]
    assert full["curve_rows"]["sampled"] is False and full["curve_rows"]["n_tokens"] == full["shared"]["n_tokens"]
    monkeypatch.setattr("embviz.compare.measures.CURVE_MAX_ROWS", 12)
    report = compare(run_copy, FAST)
    data = report.data
    assert data["curve_rows"]["sampled"] is True and data["curve_rows"]["n_tokens"] == 12
    assert data["curve_rows"]["of"] == data["shared"]["n_tokens"] and "12 most frequent" in data["curve_rows"]["rule"]
    assert data["similarity"] == full["similarity"] and data["purity"] == full["purity"]
    # The final curve point is measured on the sampled rows only.
    run = Run.open(run_copy)
    tokens, counts, _ = run.vocab()
    rows = np.array([i for i, t in enumerate(tokens) if t != UNK])
    picked = rows[curve_sample(rows, counts, 12)]
    lm = run.load_snapshot(run.snapshots()[-1], picked)
    w2v = np.load(run_copy / "word2vec" / "snapshots" / "word2vec.npy")[picked]
    assert data["curve"][-1]["linear_cka"] == pytest.approx(linear_cka(lm, w2v))
    assert data["curve"][-1]["jaccard_mean"] == pytest.approx(neighbour_jaccard(lm, w2v, 10).mean())
    assert "12 most frequent" in (run_copy / "word2vec" / "report.md").read_text(encoding="utf-8")


def test_benchmark_scores_equal_gensims_evaluators_on_the_baseline(run_copy):
    from gensim.models import KeyedVectors

    report = compare(run_copy, FAST, write=True)
    base = Run.open(run_copy / "word2vec")
    vectors = base.load_snapshot(base.snapshots()[0])
    tokens = base.vocab()[0]
    kv = KeyedVectors(vector_size=vectors.shape[1])
    kv.add_vectors(tokens[1:], vectors[1:])
    bench = report.data["benchmarks"]
    for key, name in (("wordsim353", WORDSIM353), ("simlex999", SIMLEX999)):
        pearson, spearman, oov = kv.evaluate_word_pairs(gensim_test_file(name))
        ours = bench[key]["word2vec"]
        assert ours["coverage"] == pytest.approx(1 - oov / 100)
        if ours["n_pairs"] >= 2:
            assert ours["spearman"] == pytest.approx(spearman.statistic)
    accuracy, _ = kv.evaluate_word_analogies(gensim_test_file(ANALOGIES))
    ours = bench["analogies"]["word2vec"]
    assert (ours["accuracy"] or 0.0) == pytest.approx(accuracy)


def test_word2vec_purity_in_one_call_writes_nothing(run_copy):
    purity = word2vec_purity(run_copy, W2V)
    assert 0 <= purity.lm <= 1 and 0 <= purity.word2vec <= 1 and purity.n_words > 0
    assert not (run_copy / "word2vec").exists()


def test_json_flag_prints_only_the_report(run_copy, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["compare-word2vec", str(run_copy), "--epochs", "2", "--workers", "1", "--method", "pca", "--json"])
    assert exit_info.value.code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["schema"] == SCHEMA and printed["word2vec"]["epochs"] == 2


@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_char_and_bpe_runs_compare_with_honest_coverage(tmp_path, kind):
    run_dir = train_tiny_run(tmp_path, kind, sentences=60, tokenizer=kind, vocab_size=60, min_count=1, epochs=1)
    report = compare(run_dir, FAST, write=False)
    data = report.data
    assert data["tokenizer"] == kind
    assert data["shared"]["n_tokens"] >= 3
    assert 0 <= data["benchmarks"]["wordsim353"]["lm"]["coverage"] < 0.05
    if kind == "bpe":
        assert "▁" in data["benchmarks"]["matching"]


# -- bad input: one Error: line, non-zero exit, results intact ----------------------------------------------


@pytest.mark.parametrize("args, expected", [
    (["--window", "0"], "--window"),
    (["--vector-size", "0"], "--vector-size"),
    (["--negative", "0"], "--negative"),
    (["--epochs", "-3"], "--epochs"),
    (["--workers", "0"], "--workers"),
    (["--k", "0"], "--k"),
    (["--seed", "-1"], "--seed"),
    (["--epochs", "many"], "--epochs"),
    (["--words", "qqq,zzz"], "none of the --words"),
])
def test_absurd_options_are_one_line_errors(run_copy, cli_error, args, expected):
    assert expected in cli_error(["compare-word2vec", str(run_copy), "--workers", "1", *args])


def test_bad_runs_are_one_line_errors_and_leave_results_intact(run_copy, tmp_path, cli_error):
    compare(run_copy, CompareOptions(word2vec=W2V))
    base = run_copy / "word2vec"
    before = {p.relative_to(base): p.read_bytes() for p in base.rglob("*") if p.is_file()}

    assert "not a run directory" in cli_error(["compare-word2vec", str(tmp_path / "missing")])
    (tmp_path / "empty").mkdir()
    assert "not an embviz run" in cli_error(["compare-word2vec", str(tmp_path / "empty")])
    assert "none of the --words" in cli_error(["compare-word2vec", str(run_copy), "--words", "qqq"])

    corpus = run_copy.parent / "corpus-moved.txt"
    manifest = read_json(run_copy / "run.json")
    original = manifest["config"]["corpus"]
    shutil.copy(original, corpus)
    manifest["config"]["corpus"] = str(corpus)
    write_json(run_copy / "run.json", manifest)
    corpus.write_text(tiny_text(seed=5), encoding="utf-8")
    assert "has changed" in cli_error(["compare-word2vec", str(run_copy), "--workers", "1", "--retrain"])
    corpus.unlink()
    assert "no longer be read" in cli_error(["compare-word2vec", str(run_copy), "--workers", "1"])

    manifest["config"]["corpus"] = original
    manifest["status"] = "interrupted"
    write_json(run_copy / "run.json", manifest)
    assert "no final snapshot" in cli_error(["compare-word2vec", str(run_copy)])

    after = {p.relative_to(base): p.read_bytes() for p in base.rglob("*") if p.is_file()}
    assert after == before


# -- the probe ----------------------------------------------------------------------------------------------


def test_options_are_checked_before_anything_runs():
    with pytest.raises(ConfigError):
        CompareOptions(word2vec=Word2VecOptions(window=0)).validate()
    with pytest.raises(ConfigError):
        CompareOptions(neighbours=0).validate()


def test_a_corpus_run_built_without_training_compares_with_its_known_topics(tmp_path):
    rng = np.random.default_rng(0)
    topics = [[f"a{i}" for i in range(8)], [f"b{i}" for i in range(8)]]
    lines = [" ".join(rng.choice(topics[s % 2], size=10)) for s in range(400)]
    run, tokens = make_corpus_run(tmp_path, lines, dim=8, heads=2, epochs=1,
                                  categories=lambda t: f"noun/{t[0]}" if t[0] in "ab" else None)
    _, counts, cats = Run.open(run.path).vocab()
    assert sorted(tokens[1:]) == sorted(topics[0] + topics[1]) and sum(counts) == 4000
    assert [c for t, c in zip(tokens, cats) if t.startswith("a")] == ["noun/a"] * 8
    signal = np.array([[1.0, 0.0] if t[0] == "a" else [0.0, 1.0] for t in tokens])
    for step in (0, 10):
        matrix = rng.normal(size=(len(tokens), 8)) * (1.0 if step == 0 else 0.1)
        matrix[:, :2] += 0 if step == 0 else 3 * signal
        run.add_snapshot(matrix.astype(np.float32), Snapshot(snapshot_name(step), step, step / 10, step * 64, None, 5.0))
    report = compare(run.path, CompareOptions(word2vec=Word2VecOptions(epochs=3, workers=1), k=5))
    assert report.data["purity"]["lm"] == 1.0


def test_the_commands_defaults_are_the_options_defaults():
    import typer.main

    params = {p.name: p.default for p in typer.main.get_command(cli.app).commands["compare-word2vec"].params}
    options = CompareOptions()
    assert {name: params[name] for name in ("window", "negative", "sg")} == {
        "window": options.word2vec.window, "negative": options.word2vec.negative, "sg": options.word2vec.sg}
    assert (params["k"], params["neighbours"], params["method"]) == (options.k, options.neighbours, options.method)
