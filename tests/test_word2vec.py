"""The Word2Vec baseline (trained on the run's own tokens, stored like a run, reused) and the probe."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from embviz.compare.comparison import CompareOptions, compare
from embviz.compare.word2vec import Word2VecOptions, corpus_sentences, train_word2vec
from embviz.rundir.run import Run
from embviz.text.tokenizer import UNK, build_tokenizer

from conftest import FAST, W2V, tiny_text

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
    assert vectors.shape == (len(tokens), Run.open(run_copy).manifest().model["d_model"])
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


# -- the probe ----------------------------------------------------------------------------------------------


def test_probe_without_an_init_reproduces_the_run_and_a_frozen_init_stays_put(word_run):
    from embviz.training.probe import scratch_arm, train_arm

    run = Run.open_complete(word_run)
    manifest, text, tokenizer = run.manifest(), run.corpus_text(), run.tokenizer()
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


def test_word2vec_makes_as_many_passes_as_the_run_trained_not_as_it_was_set_to(run_copy):
    manifest = Run.open(run_copy).manifest()
    done = manifest.result["epochs_done"]
    assert Word2VecOptions().resolve(manifest).epochs == done == manifest.epochs
    # A run set to 9 epochs that stopped after ``done`` (patience or the settle rule) records both.
    stopped = dataclasses.replace(manifest, chosen={**manifest.chosen, "epochs": 9})
    assert Word2VecOptions().resolve(stopped).epochs == done
    assert Word2VecOptions(epochs=4).resolve(stopped).epochs == 4
    # An imported run has no result: its recorded epochs.
    assert Word2VecOptions().resolve(dataclasses.replace(stopped, result=None)).epochs == 9
