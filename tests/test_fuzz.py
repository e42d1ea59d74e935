"""Property-based tests: whatever bytes or text arrive, embviz either works or raises its own error.

``test_corpus.py`` feeds random bytes to ``load_corpus`` and ``test_tokenizer.py`` random unicode to
``build_tokenizer``; this file carries the same property further down the pipeline (bytes → corpus →
every tokenizer → ids → text), into gzip files, and into every file of a run directory a stranger may
hand us (``tokenizer.json``, ``index.json``, ``vocab.tsv``, ``run.json``'s config, the checkpoint).
"""

from __future__ import annotations

import gzip
import json
import string
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from embviz.errors import EmbvizError, RunError
from embviz.rundir.run import Run, Snapshot
from embviz.text.corpus import load_corpus
from embviz.text.tokenizer import KINDS, Tokenizer, build_tokenizer
from embviz.training.checkpoint import load_checkpoint
from embviz.training.loop import TrainConfig

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12)

# Text that is mostly words, so the tokenizers get past "too few tokens" and are really exercised.
wordy = st.lists(st.sampled_from(["the", "cat", "北京", "naïve", "it's", "--", "", "ÆØÅ", "\u200b", "🙂", "a.b"])
                 | st.text(alphabet=string.printable + "éß中文ñ", max_size=8), min_size=1, max_size=60).map(" ".join)


def check_tokenizer_round(text: str, kind: str, **options) -> None:
    try:
        tok = build_tokenizer(text, kind, **options)
    except EmbvizError:
        return
    ids = tok.encode(text)
    assert ids.dtype == np.int64 and (ids.size == 0 or (ids.min() >= 0 and ids.max() < len(tok)))
    assert isinstance(tok.decode(ids), str)
    again = Tokenizer.from_json(json.loads(json.dumps(tok.to_json())))
    np.testing.assert_array_equal(again.encode(text), ids)


@FUZZ
@given(data=st.binary(max_size=400), kind=st.sampled_from(KINDS), gz=st.booleans())
def test_random_bytes_through_the_corpus_reader_and_every_tokenizer(tmp_path, data, kind, gz):
    path = tmp_path / ("f.txt.gz" if gz else "f.txt")
    path.write_bytes(gzip.compress(data) if gz else data)
    try:
        corpus = load_corpus(str(path))
    except EmbvizError:
        return
    check_tokenizer_round(corpus.text, kind, vocab_size=40)


@FUZZ
@given(data=st.one_of(st.binary(max_size=200).filter(lambda b: not b.startswith(b"\x1f\x8b")),
                      st.binary(max_size=200).map(lambda b: b"\x1f\x8b\x08" + b)))
def test_bytes_that_are_not_gzip_in_a_gz_file_are_our_error(tmp_path, data):
    """Anything but a whole gzip stream (no gzip header, or a header and then garbage) is refused."""
    path = tmp_path / "f.gz"
    path.write_bytes(data)
    with pytest.raises(EmbvizError):
        load_corpus(str(path))


@FUZZ
@given(text=wordy, kind=st.sampled_from(KINDS), lowercase=st.booleans(), min_count=st.integers(1, 3),
       max_vocab=st.none() | st.integers(2, 10))
def test_wordy_unicode_with_any_options_tokenizes_or_raises_our_error(text, kind, lowercase, min_count, max_vocab):
    check_tokenizer_round(text, kind, lowercase=lowercase, min_count=min_count, max_vocab=max_vocab, vocab_size=30)


@FUZZ
@given(data=json_values)
def test_any_tokenizer_json_loads_or_is_our_error(data):
    try:
        tok = Tokenizer.from_json(data)
    except RunError:
        return
    assert tok.kind in KINDS and len(tok) == len(tok.tokens)


@FUZZ
@given(data=json_values | st.dictionaries(st.sampled_from(["file", "step", "epoch", "tokens_seen", "train_loss",
                                                           "val_loss"]), json_values | st.text(max_size=30)))
def test_any_index_entry_is_a_snapshot_inside_the_run_or_our_error(data):
    try:
        snap = Snapshot.from_json(data, Path("index.json"))
    except RunError:
        return
    assert Path(snap.file).name == snap.file and snap.file.endswith(".npy") and "/" not in snap.file
    assert snap.file not in (".", "..")


@FUZZ
@given(text=st.text(max_size=300))
def test_any_vocab_tsv_parses_or_is_our_error(tmp_path, text):
    (tmp_path / "vocab.tsv").write_text(text, encoding="utf-8")
    try:
        tokens, counts, cats = Run(tmp_path).vocab()
    except RunError:
        return
    assert len(tokens) == len(counts) == len(cats)


@FUZZ
@given(data=json_values | st.dictionaries(st.sampled_from(["epochs", "lr", "context", "tokenizer", "seed", "device",
                                                           "batch_size", "dropout", "tie"]), json_values))
def test_any_recorded_config_is_a_valid_config_or_our_error(data):
    try:
        config = TrainConfig.from_json(data, "run.json")
    except RunError:
        return
    config.validate()


@FUZZ
@given(data=st.binary(max_size=300))
def test_any_checkpoint_bytes_are_our_error(tmp_path, data):
    path = tmp_path / "state.pt"
    path.write_bytes(data)
    with pytest.raises(RunError):
        load_checkpoint(path)
