"""compare-word2vec: the gensim baseline, the comparison measures, the report, the probe, bad input."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest
from scipy.spatial import procrustes
from scipy.stats import ortho_group

from embviz import cli
from embviz.gensim_eval import ANALOGIES, SIMLEX999, WORDSIM353, gensim_test_file
from embviz.compare import (
    PURITY_LEVEL,
    SCHEMA,
    CompareOptions,
    compare,
    curve_sample,
    padded_disparity,
    word2vec_purity,
    word_forms,
)
from embviz.errors import ConfigError
from embviz.metrics import cosine_knn, knn_jaccard, linear_cka, neighbour_jaccard
from embviz.run import Run, Snapshot, read_json, snapshot_name, write_json
from embviz.tokenizer import UNK, build_tokenizer
from embviz.toyrun import make_corpus_run
from embviz.training import TrainConfig, train
from embviz.word2vec import Word2VecOptions, corpus_sentences, train_word2vec

from conftest import tiny_text

W2V = Word2VecOptions(epochs=3, workers=1, seed=0)
FAST = CompareOptions(word2vec=W2V, figures=False)


def _train_run(root, name, sentences=600, **overrides):
    corpus = root / f"{name}.txt"
    corpus.write_text(tiny_text(sentences), encoding="utf-8")
    settings = dict(d_model=16, layers=1, heads=2, context=8, batch_size=8, epochs=2, lr=3e-3, device="cpu")
    config = TrainConfig(corpus=str(corpus), **{**settings, **overrides})
    train(config, root / name)
    return root / name


@pytest.fixture(scope="module")
def word_run(tmp_path_factory):
    return _train_run(tmp_path_factory.mktemp("w2v"), "word", sentences=300)


@pytest.fixture
def run_copy(word_run, tmp_path):
    """A private copy of the tiny run (its corpus file stays where run.json names it)."""
    target = tmp_path / "run"
    shutil.copytree(word_run, target)
    return target


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


# -- the baseline -------------------------------------------------------------------------------------------


def test_sentences_are_lines_of_run_tokens_with_unknowns_as_unk():
    tok = build_tokenizer("the cat eats .\nthe dog eats .\nthe cat sleeps .\n", "word", min_count=2)
    s = corpus_sentences("the cat eats .\n\nthe bird sings .\n", tok)
    assert s.sentences == [["the", "cat", "eats", "."], ["the", UNK, UNK, "."]]
    assert s.n_words == 8 and s.counts[tok.ids[UNK]] == 2


def test_word2vec_is_deterministic_with_one_worker_and_a_seed():
    tok = build_tokenizer(tiny_text(200), "word")
    sentences = corpus_sentences(tiny_text(200), tok)
    opts = Word2VecOptions(vector_size=8, epochs=2, seed=3, workers=1)
    a = train_word2vec(sentences, tok.tokens, opts)
    b = train_word2vec(sentences, tok.tokens, opts)
    np.testing.assert_array_equal(a.vectors, b.vectors)
    c = train_word2vec(sentences, tok.tokens, dataclasses.replace(opts, seed=4))
    assert not np.array_equal(a.vectors, c.vectors)
    # rows follow the run's vocabulary; <unk> never occurs, so it is the one zero row
    assert a.missing == [UNK] and not a.vectors[0].any()
    cat = tok.ids["cat"]
    np.testing.assert_array_equal(a.vectors[cat], a.model.wv["cat"])


def test_compare_stores_the_baseline_as_a_one_snapshot_run(run_copy):
    report = compare(run_copy, CompareOptions(word2vec=W2V))
    base = Run.open(run_copy / "word2vec")
    (snap,) = base.snapshots()
    vectors = base.load_snapshot(snap)
    tokens = Run.open(run_copy).vocab()[0]
    assert vectors.shape == (len(tokens), Run.open(run_copy).manifest()["model"]["d_model"])
    assert base.vocab()[0] == tokens
    assert (run_copy / "word2vec" / "gensim" / "word2vec.model").is_file()
    for name in ("report.json", "report.md", "side-by-side.png", "agreement.png"):
        assert (run_copy / "word2vec" / name).stat().st_size > 0
    assert not list(run_copy.rglob("*.tmp"))
    assert report.files["report_json"].endswith("report.json")
    # a second call with equal options reuses the stored vectors (read from the .npy only)
    again = compare(run_copy, CompareOptions(word2vec=W2V, figures=False))
    assert again.data["word2vec"]["reused"] is True
    assert again.linear_cka == pytest.approx(report.linear_cka)


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
    monkeypatch.setattr("embviz.compare.CURVE_MAX_ROWS", 12)
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


def test_purity_uses_the_same_level_as_training():
    from embviz.training import PURITY_LEVEL as TRAIN_LEVEL

    assert PURITY_LEVEL == TRAIN_LEVEL


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
    run_dir = _train_run(tmp_path, kind, sentences=60, tokenizer=kind, vocab_size=60, min_count=1, epochs=1)
    report = compare(run_dir, FAST, write=False)
    data = report.data
    assert data["tokenizer"] == kind
    assert data["shared"]["n_tokens"] >= 3
    assert 0 <= data["benchmarks"]["wordsim353"]["lm"]["coverage"] < 0.05
    if kind == "bpe":
        assert "▁" in data["benchmarks"]["matching"]


# -- bad input: one Error: line, non-zero exit, results intact ----------------------------------------------


def _error_line(capsys, args):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["compare-word2vec", *args])
    assert exit_info.value.code != 0
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), captured.err
    assert "Traceback" not in captured.err + captured.out
    return lines[0]


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
def test_absurd_options_are_one_line_errors(run_copy, capsys, args, expected):
    assert expected in _error_line(capsys, [str(run_copy), "--workers", "1", *args])


def test_bad_runs_are_one_line_errors_and_leave_results_intact(run_copy, tmp_path, capsys):
    compare(run_copy, CompareOptions(word2vec=W2V, method="pca"))
    base = run_copy / "word2vec"
    before = {p.relative_to(base): p.read_bytes() for p in base.rglob("*") if p.is_file()}

    assert "not a run directory" in _error_line(capsys, [str(tmp_path / "missing")])
    (tmp_path / "empty").mkdir()
    assert "not an embviz run" in _error_line(capsys, [str(tmp_path / "empty")])
    assert "none of the --words" in _error_line(capsys, [str(run_copy), "--words", "qqq"])

    corpus = run_copy.parent / "corpus-moved.txt"
    manifest = read_json(run_copy / "run.json")
    original = manifest["config"]["corpus"]
    shutil.copy(original, corpus)
    manifest["config"]["corpus"] = str(corpus)
    write_json(run_copy / "run.json", manifest)
    corpus.write_text(tiny_text(seed=5), encoding="utf-8")
    assert "has changed" in _error_line(capsys, [str(run_copy), "--workers", "1", "--retrain"])
    corpus.unlink()
    assert "no longer be read" in _error_line(capsys, [str(run_copy), "--workers", "1"])

    manifest["config"]["corpus"] = original
    manifest["status"] = "interrupted"
    write_json(run_copy / "run.json", manifest)
    assert "no final snapshot" in _error_line(capsys, [str(run_copy)])

    after = {p.relative_to(base): p.read_bytes() for p in base.rglob("*") if p.is_file()}
    assert after == before


# -- the probe ----------------------------------------------------------------------------------------------


def test_probe_without_an_init_reproduces_the_run_and_a_frozen_init_stays_put(word_run):
    from embviz.probe import scratch_arm, train_arm
    from embviz.word2vec import open_complete_run, run_corpus_text, run_tokenizer

    run, manifest = open_complete_run(word_run)
    text, tokenizer = run_corpus_text(run, manifest), run_tokenizer(run)
    own = scratch_arm(run)
    again = train_arm(run, manifest, text, tokenizer, None, freeze=False, epochs=len(own.val_loss) - 1, name="x")
    assert again.val_loss == pytest.approx(own.val_loss, abs=1e-6)
    init = np.random.default_rng(0).normal(scale=0.1, size=again.embedding.shape).astype(np.float32)
    frozen = train_arm(run, manifest, text, tokenizer, init, freeze=True, epochs=1, name="frozen")
    np.testing.assert_array_equal(frozen.embedding, init)
    tuned = train_arm(run, manifest, text, tokenizer, init, freeze=False, epochs=1, name="tuned")
    assert not np.array_equal(tuned.embedding, init)


def test_probe_report_names_a_winner_without_writing_into_the_run(run_copy):
    before = sorted(p.relative_to(run_copy) for p in run_copy.rglob("*") if "word2vec" not in p.parts)
    report = compare(run_copy, dataclasses.replace(FAST, probe=True, probe_finetune=True))
    probe = report.data["probe"]
    assert set(probe["arms"]) == {"scratch", "word2vec_frozen", "word2vec_finetune"}
    epochs = probe["epochs"]
    assert all(len(a["val_loss"]) == epochs + 1 for a in probe["arms"].values())
    assert probe["winner"] == min(probe["final_val_loss"], key=probe["final_val_loss"].get)
    assert probe["margin_nats"] >= 0 and "tied" in probe["head"]
    assert "Probe" in (run_copy / "word2vec" / "report.md").read_text(encoding="utf-8")
    after = sorted(p.relative_to(run_copy) for p in run_copy.rglob("*") if "word2vec" not in p.parts)
    assert after == before


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
    report = compare(run.path, CompareOptions(word2vec=Word2VecOptions(epochs=3, workers=1), k=5, method="pca"))
    assert report.data["purity"]["lm"] == 1.0
