"""``embviz import hf:`` fetches the tables beside the token embedding as the on-disk import reads them:
GPT-2's position table (its head is tied: none), GPT-NeoX's untied head with ``--head``, each by its own
range into the same cache, and of a vocabulary table only the rows the tokenizer labels. Checkpoints
written by ``transformers``, served by the Hub on 127.0.0.1 (tests/hubserver.py), which counts every byte."""

from __future__ import annotations

import dataclasses
import json
import struct
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from embviz.errors import CheckpointError
from embviz.film.animate import animate
from embviz.film.animate_options import AnimateOptions, FilmOptions
from embviz.interop.hub import Hub, import_hub, resolve, tables_of
from embviz.rundir.run import Run

from conftest import bpe_tokenizer_file
from hubserver import FakeHub, cli_env, save_series

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()

GPT2, NEOX = "openai/tiny-gpt2", "Eleuther/tiny-neox-padded"
D, CONTEXT, PAD_TO = 16, 16, 64
SMALL = AnimateOptions(top=40, method="pca", cache=False, film=FilmOptions(size=(160, 120), fps=2, label=3))


def header_bytes(path: Path) -> int:
    return 8 + struct.unpack("<Q", path.read_bytes()[:8])[0]


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    """Two repositories: a tiny tied GPT-2 (wte, wpe [16, 16]) and a tiny untied GPT-NeoX whose
    vocabulary is padded past the tokenizer's to a multiple of 64 (as Pythia's 50,304 rows for 50,277
    tokens); each saved by transformers at a few steps."""
    import torch
    from tokenizers import Tokenizer

    root = tmp_path_factory.mktemp("hubtables")
    tok = bpe_tokenizer_file(root)
    v = Tokenizer.from_file(str(tok)).get_vocab_size(with_added_tokens=True)
    padded = -(-v // PAD_TO) * PAD_TO
    assert padded > v and v >= 0.9 * padded
    torch.manual_seed(0)
    gpt2 = transformers.GPT2LMHeadModel(transformers.GPT2Config(
        vocab_size=v, n_positions=CONTEXT, n_embd=D, n_layer=1, n_head=2, bos_token_id=0, eos_token_id=0))
    neox = transformers.GPTNeoXForCausalLM(transformers.GPTNeoXConfig(
        vocab_size=padded, hidden_size=D, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=CONTEXT, bos_token_id=0, eos_token_id=0, tie_word_embeddings=False))
    repos = {GPT2: save_series(gpt2, root / "gpt2", tok, (0, 1, 3), lambda m: {
                 "token": m.transformer.wte.weight, "position": m.transformer.wpe.weight}),
             NEOX: save_series(neox, root / "neox", tok, (0, 2, 5), lambda m: {
                 "token": m.gpt_neox.embed_in.weight, "head": m.get_output_embeddings().weight})}
    return repos, v, padded


def tensor_bytes(hub: FakeHub, repo: str, branches: dict[str, Path]) -> int:
    """Bytes of model.safetensors sent for ``repo``, less the headers each read costs once."""
    weights = {k: n for k, n in hub.sent.items() if k != "api" and k[0] == repo and k[2] == "model.safetensors"}
    return sum(weights.values()) - sum(header_bytes(branches[b] / "model.safetensors") for _, b, _ in weights)


def test_gpt2_position_table_arrives_its_tied_head_does_not(tmp_path, series, cli_error):
    repos, v, _ = series
    branches, expected = repos[GPT2]
    with FakeHub({GPT2: branches}) as hub:
        h = Hub(endpoint=hub.endpoint, cache_dir=tmp_path / "cache")
        r = quiet(import_hub, GPT2, tmp_path / "run", "all", hub=h, head=True)
        # the token table and the position table of each revision, nothing more of the checkpoint
        assert r.fetched == {"token": 3 * v * D * 4, "position": 3 * CONTEXT * D * 4}
        assert tensor_bytes(hub, GPT2, branches) == r.fetched_bytes
    run = Run.open(r.run_dir)
    snaps = run.check_snapshots(rows=v)
    assert [s.step for s in snaps] == [0, 1, 3]
    for snap in snaps:
        assert snap.matrices == ("token", "position")
        np.testing.assert_array_equal(run.load_snapshot(snap), expected[snap.step]["token"])
        np.testing.assert_array_equal(run.load_snapshot(snap, matrix="position"), expected[snap.step]["position"])
    assert run.manifest().import_["others"] == {"position": "transformer.wpe.weight"}
    line = cli_error(["animate", str(r.run_dir), "--matrix", "head", "--out", str(tmp_path / "h.gif"), "--quiet"])
    assert "--matrix head: the imported checkpoints hold no separate output head; this run has: token, position" in line
    assert not (tmp_path / "h.gif").exists()


def test_neox_head_with_head_only_the_tokenizers_rows_and_the_cache_reused(tmp_path, series, cli_error):
    repos, v, padded = series
    branches, expected = repos[NEOX]
    with FakeHub({NEOX: branches}) as hub:
        h = Hub(endpoint=hub.endpoint, cache_dir=tmp_path / "cache")
        plain = quiet(import_hub, NEOX, tmp_path / "plain", "all", hub=h)
        # the token table, its padding rows left on the server; the head stays there too
        assert plain.fetched == {"token": 3 * v * D * 4}
        assert tensor_bytes(hub, NEOX, branches) == 3 * v * D * 4 < 3 * padded * D * 4
        line = cli_error(["export", str(plain.run_dir), str(tmp_path / "h.npz"), "--to", "npz", "--matrix", "head"])
        assert "left the checkpoints' embed_out.weight out (import again with --head" in line

        before = tensor_bytes(hub, NEOX, branches)
        r = quiet(import_hub, NEOX, tmp_path / "run", "all", hub=h, head=True)
        assert r.fetched == {"head": 3 * v * D * 4}  # the cached token tables are not fetched again
        headers = sum(header_bytes(f / "model.safetensors") for f in branches.values())
        assert tensor_bytes(hub, NEOX, branches) - before == 3 * v * D * 4 + headers  # each header read again
        again = dict(hub.sent)
        quiet(import_hub, NEOX, tmp_path / "again", "step0,step5", hub=h, head=True)
        assert {k: n for k, n in hub.sent.items() if k != "api"} == {k: n for k, n in again.items() if k != "api"}
    run = Run.open(r.run_dir)
    for snap in run.check_snapshots(rows=v):
        assert snap.matrices == ("token", "head")
        np.testing.assert_array_equal(run.load_snapshot(snap), expected[snap.step]["token"][:v])
        np.testing.assert_array_equal(run.load_snapshot(snap, matrix="head"), expected[snap.step]["head"][:v])
    manifest = run.manifest()
    assert manifest.model["rows"] == padded and manifest.model["vocab_size"] == v
    assert manifest.import_["padding_rows_dropped"] == padded - v
    assert manifest.import_["others"] == {"head": "embed_out.weight"} and manifest.import_["left_out"] == {}


def test_a_broken_off_head_fetch_resumes_without_fetching_a_finished_table(tmp_path, series):
    repos, v, _ = series
    branches, expected = repos[NEOX]
    with FakeHub({NEOX: branches}) as hub:
        h = Hub(endpoint=hub.endpoint, cache_dir=tmp_path / "cache")
        hub.cut_after = 3  # step0's token and head and step2's token arrive; step2's head breaks off
        with pytest.raises(CheckpointError, match="broke off|truncated"):
            quiet(import_hub, NEOX, tmp_path / "run", "all", hub=h, head=True, workers=1)
        assert not (tmp_path / "run").exists() and not list((tmp_path / "cache").rglob("*.tmp"))
        assert len(list((tmp_path / "cache").rglob("*.safetensors"))) == 3
        hub.cut_after = None
        r = quiet(import_hub, NEOX, tmp_path / "run", "all", hub=h, head=True, workers=1)
        assert r.fetched == {"token": v * D * 4, "head": 2 * v * D * 4}  # only what was not cached whole
    got = Run.open(r.run_dir)
    for snap in got.snapshots():
        np.testing.assert_array_equal(got.load_snapshot(snap, matrix="head"), expected[snap.step]["head"][:v])


def test_tables_of_says_what_each_revision_fetches(tmp_path, series):
    repos, v, padded = series
    branches, _ = repos[NEOX]
    with FakeHub({NEOX: branches}) as hub:
        h = Hub(endpoint=hub.endpoint, cache_dir=tmp_path / "cache")
        last = resolve(NEOX, "step5", h)[0]
        assert [(m, t.name, t.shape, t.nbytes) for m, t in tables_of(NEOX, last, h, tokens=v)] == [
            ("token", "gpt_neox.embed_in.weight", (v, D), v * D * 4), ("head", "embed_out.weight", (v, D), v * D * 4)]
        assert [t.shape for _, t in tables_of(NEOX, last, h)] == [(padded, D)] * 2  # no tokenizer: every row
        assert hub.file_bytes() == 2 * header_bytes(branches["step5"] / "model.safetensors")  # two headers, no tensor


@pytest.mark.slow
def test_list_says_what_each_table_costs(tmp_path, series):
    repos, v, _ = series
    with FakeHub({NEOX: repos[NEOX][0]}) as hub:
        listed = subprocess.run([sys.executable, "-m", "embviz", "import", f"hf:{NEOX}", "--list", "--revisions", "all"],
                                env=cli_env(hub, tmp_path), capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == ["step0", "step2", "step5"]
    lines = listed.stderr.splitlines()
    row = v * D * 4
    assert f"  token: gpt_neox.embed_in.weight F32 [{v}, {D}], {row:,} bytes per revision" in lines
    assert f"  head: embed_out.weight F32 [{v}, {D}], {row:,} bytes per revision (only with --head)" in lines
    assert f"--revisions all: 3 revision(s), {3 * row:,} bytes to fetch, {6 * row:,} bytes with --head" in lines


@pytest.mark.slow
def test_animate_films_the_position_table_and_the_head_of_hub_imported_runs(tmp_path, series):
    repos, v, _ = series
    with FakeHub({GPT2: repos[GPT2][0], NEOX: repos[NEOX][0]}) as hub:
        h = Hub(endpoint=hub.endpoint, cache_dir=tmp_path / "cache")
        gpt2 = quiet(import_hub, GPT2, tmp_path / "gpt2", "all", hub=h)
        neox = quiet(import_hub, NEOX, tmp_path / "neox", "all", hub=h, head=True)
    position = animate(gpt2.run_dir, tmp_path / "pos.gif", dataclasses.replace(SMALL, matrix="position"))
    assert position.words == [str(i) for i in range(CONTEXT)] and position.n_snapshots == 3
    head = animate(neox.run_dir, tmp_path / "head.gif", dataclasses.replace(SMALL, matrix="head"))
    assert head.n_snapshots == 3 and len(head.words) >= SMALL.top and set(head.words) <= set(Run.open(neox.run_dir).vocab()[0])
    for film in (position.film, head.film):
        from PIL import Image

        with Image.open(film) as gif:
            assert gif.n_frames > 3 and gif.size == SMALL.film.size
    assert json.loads((neox.run_dir / "run.json").read_text())["import"]["hub"]["beside"] == {"head": "embed_out.weight"}
