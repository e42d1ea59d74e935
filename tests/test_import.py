"""``embviz import`` on checkpoints written by ``transformers`` itself (GPT-2, GPT-NeoX, Llama-style),
by nanoGPT's layout and by a plain ``torch.save``: the snapshots equal the models' weights exactly,
in step order, duplicates dropped; and every kind of bad input is one ``Error:`` line."""

from __future__ import annotations

import json
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from embviz.cli import main
from embviz.errors import CheckpointError
from embviz.film.animate_options import AnimateOptions, FilmOptions
from embviz.interop.checkpoints import choose_key, find_checkpoints
from embviz.interop.importer import import_checkpoints, readable_tokens
from embviz.rundir.run import Run

from conftest import bpe_tokenizer_file, tiny_text

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()

SAVE_STEPS = (0, 3, 6)


@pytest.fixture(scope="module")
def bpe(tmp_path_factory) -> Path:
    """A byte-level BPE tokenizer.json trained with ``tokenizers`` on the tiny corpus."""
    return bpe_tokenizer_file(tmp_path_factory.mktemp("tok"))


def vocab_size(bpe: Path) -> int:
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(bpe)).get_vocab_size(with_added_tokens=True)


def train_and_save(model, bpe: Path, save, embedding, steps=SAVE_STEPS) -> dict[int, np.ndarray]:
    """A few AdamW steps on the tiny corpus; ``save(model, step)`` at each of ``steps``; returns the
    expected matrix at each saved step (``embedding(model)``)."""
    from tokenizers import Tokenizer

    ids = torch.tensor(Tokenizer.from_file(str(bpe)).encode(tiny_text(60)).ids)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    expected = {}
    gen = torch.Generator().manual_seed(0)
    for step in range(max(steps) + 1):
        if step in steps:
            save(model, step)
            expected[step] = embedding(model).detach().numpy().copy()
        starts = torch.randint(0, len(ids) - 9, (4,), generator=gen)
        batch = torch.stack([ids[s:s + 9] for s in starts])
        loss = model(input_ids=batch, labels=batch).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    return expected


def gpt2(v: int):
    torch.manual_seed(0)
    return transformers.GPT2LMHeadModel(transformers.GPT2Config(vocab_size=v, n_positions=16, n_embd=16, n_layer=1,
                                                                n_head=2, bos_token_id=0, eos_token_id=0))


def neox(v: int):
    torch.manual_seed(1)
    return transformers.GPTNeoXForCausalLM(transformers.GPTNeoXConfig(
        vocab_size=v, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=16, bos_token_id=0, eos_token_id=0))


def llama(v: int):
    torch.manual_seed(2)
    return transformers.LlamaForCausalLM(transformers.LlamaConfig(
        vocab_size=v, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=16, bos_token_id=0, eos_token_id=0, pad_token_id=0))


def snapshots(run_dir: Path) -> dict[int, np.ndarray]:
    run = Run.open(run_dir)
    return {s.step: run.load_snapshot(s) for s in run.snapshots()}


def quiet_import(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return import_checkpoints(*args, **kwargs)


@pytest.fixture(scope="module")
def trainer_series(tmp_path_factory, bpe):
    """GPT-2 (tied head) saved as a Hugging Face Trainer does: checkpoint-N/ with model.safetensors and
    trainer_state.json, the tokenizer beside the checkpoint folders."""
    root = tmp_path_factory.mktemp("hf")
    (root / "tokenizer.json").write_bytes(bpe.read_bytes())

    def save(model, step):
        folder = root / f"checkpoint-{step}"
        model.save_pretrained(folder)
        log = [{"step": s, "loss": 5.0 - s / 10, "epoch": s / 6, "learning_rate": 1e-2} for s in range(1, step + 1)]
        (folder / "trainer_state.json").write_text(json.dumps({"global_step": step, "epoch": step / 6,
                                                              "log_history": log}))

    expected = train_and_save(gpt2(vocab_size(bpe)), bpe, save, lambda m: m.transformer.wte.weight)
    return root, expected


def test_trainer_folders_import_exactly_in_step_order_with_readable_tokens(tmp_path, trainer_series):
    root, expected = trainer_series
    with pytest.warns(UserWarning, match="frequencies are unknown"):
        result = import_checkpoints([root], tmp_path / "run")
    got = snapshots(result.run_dir)
    assert list(got) == sorted(expected) == result.steps
    for step in expected:
        np.testing.assert_array_equal(got[step], expected[step])
    run = Run.open(result.run_dir)
    manifest = run.manifest()
    assert manifest.status == "complete" and manifest.frequencies == "unknown"
    sources = manifest.import_["sources"]
    assert [s["step"] for s in sources] == list(SAVE_STEPS)
    assert all(Path(s["path"]).is_file() and len(s["sha256"]) == 64 for s in sources)
    assert manifest.import_["tokenizer"]["origin"] == str(root / "tokenizer.json")
    tokens, counts, categories = run.vocab()
    assert len(tokens) == vocab_size(root / "tokenizer.json") and not any(counts)
    assert not any("Ġ" in t for t in tokens) and "▁blue" in tokens
    assert categories[tokens.index("▁blue")] is not None  # the lexicon labels the readable token
    losses = {s.step: s.train_loss for s in run.snapshots()}
    assert losses[0] is None and losses[6] == pytest.approx(4.4)
    assert [r["step"] for r in run.metrics()] == list(range(1, 7))


SMALL_FILM = AnimateOptions(top=40, method="pca", cache=False, film=FilmOptions(size=(160, 120), fps=2, label=3))


@pytest.mark.slow
def test_animate_and_compare_read_an_imported_run(tmp_path, trainer_series, corpus_file):
    from embviz.compare.comparison import CompareOptions, compare
    from embviz.compare.word2vec import Word2VecOptions
    from embviz.film.animate import animate

    root, _ = trainer_series
    quiet_import([root], tmp_path / "bare")
    with pytest.warns(UserWarning, match="frequencies are unknown"):
        film = animate(tmp_path / "bare", tmp_path / "f.gif", SMALL_FILM)
    assert film.n_snapshots == 3 and np.isnan(film.emergence.columns["norm_freq_spearman"]).all()
    with pytest.raises(Exception, match="imported without --corpus"):
        compare(tmp_path / "bare", CompareOptions(word2vec=Word2VecOptions(workers=1, epochs=1)), write=False)

    quiet_import([root], tmp_path / "counted", corpus=str(corpus_file))
    tokens, counts, _ = Run.open(tmp_path / "counted").vocab()
    assert counts[tokens.index("▁blue")] > 0
    report = compare(tmp_path / "counted", CompareOptions(word2vec=Word2VecOptions(workers=1, epochs=1)), write=False)
    assert report.data["shared"]["n_tokens"] > 10
    film = animate(tmp_path / "counted", tmp_path / "g.gif", SMALL_FILM)
    assert np.isfinite(film.emergence.columns["norm_freq_spearman"]).all()


def test_neox_sharded_untied_input_and_output_matrices(tmp_path, bpe):
    root = tmp_path / "pythia"

    def save(model, step):
        model.save_pretrained(root / f"step{step}", max_shard_size="20KB")

    model = neox(vocab_size(bpe))
    heads = {}
    expected = train_and_save(model, bpe, lambda m, s: (save(m, s), heads.__setitem__(s, m.get_output_embeddings().weight.detach().numpy().copy())),
                              lambda m: m.gpt_neox.embed_in.weight)
    assert (root / "step3" / "model.safetensors.index.json").is_file()
    result = quiet_import([str(root / "step*")], tmp_path / "in", tokenizer=bpe)
    assert result.key == "gpt_neox.embed_in.weight"
    for step, matrix in snapshots(result.run_dir).items():
        np.testing.assert_array_equal(matrix, expected[step])
    result = quiet_import([root], tmp_path / "out", tokenizer=bpe, matrix="output")
    assert result.key == "embed_out.weight"
    for step, matrix in snapshots(result.run_dir).items():
        np.testing.assert_array_equal(matrix, heads[step])


def test_llama_bin_and_sharded_bin_index(tmp_path, bpe):
    root = tmp_path / "llama"

    def save(model, step):
        folder = root / f"ckpt-{step}"
        folder.mkdir(parents=True)
        state = model.state_dict()
        if step == 3:  # the older sharded layout: two torch files and an index
            names = sorted(state)
            half = {n: state[n] for n in names[: len(names) // 2]}, {n: state[n] for n in names[len(names) // 2:]}
            weight_map = {}
            for i, part in enumerate(half, start=1):
                torch.save(part, folder / f"pytorch_model-0000{i}-of-00002.bin")
                weight_map.update({n: f"pytorch_model-0000{i}-of-00002.bin" for n in part})
            (folder / "pytorch_model.bin.index.json").write_text(json.dumps({"weight_map": weight_map}))
        else:
            torch.save(state, folder / "pytorch_model.bin")

    expected = train_and_save(llama(vocab_size(bpe)), bpe, save, lambda m: m.model.embed_tokens.weight)
    result = quiet_import([root], tmp_path / "run", tokenizer=bpe)
    assert result.key == "model.embed_tokens.weight" and result.steps == list(SAVE_STEPS)
    for step, matrix in snapshots(result.run_dir).items():
        np.testing.assert_array_equal(matrix, expected[step])


def test_nanogpt_dicts_sorted_by_iter_num_padding_dropped_duplicates_dropped(tmp_path, bpe):
    v = vocab_size(bpe)
    padded = -(-v // 64) * 64
    root = tmp_path / "nano"
    root.mkdir()
    names = iter(["ckpt_c.pt", "ckpt_b.pt", "ckpt_a.pt"])  # name order is the reverse of iter_num order

    def save(model, step):
        state = {f"_orig_mod.{k}": t for k, t in model.state_dict().items()}
        torch.save({"model": state, "model_args": {"vocab_size": padded, "n_embd": 16}, "iter_num": step,
                    "best_val_loss": torch.tensor(3.0), "config": {"dataset": "tiny"}}, root / next(names))

    expected = train_and_save(gpt2(padded), bpe, save, lambda m: m.transformer.wte.weight)
    (root / "again.pt").write_bytes((root / "ckpt_a.pt").read_bytes())
    with pytest.warns(UserWarning) as record:
        result = import_checkpoints([root], tmp_path / "run", tokenizer=bpe, steps=[6, 6 + 1, 3, 0])
    messages = " | ".join(str(w.message) for w in record)
    assert "padding row" in messages and "same input matrix" in messages
    assert result.steps == [0, 3, 6] and len(result.dropped) == 1 and result.shape == (v, 16)
    for step, matrix in snapshots(result.run_dir).items():
        np.testing.assert_array_equal(matrix, expected[step][:v])
    result = quiet_import([str(root / "ckpt_*.pt")], tmp_path / "iters", tokenizer=bpe)
    assert result.steps == [0, 3, 6]  # from iter_num
    assert result.key == "_orig_mod.transformer.wte.weight"


def test_plain_state_dict_with_a_token_list(tmp_path, bpe):
    from tokenizers import Tokenizer

    model = gpt2(vocab_size(bpe))
    files = []
    expected = train_and_save(model, bpe, lambda m, s: (torch.save(m.state_dict(), tmp_path / f"weights{s}.pt"),
                                                         files.append(tmp_path / f"weights{s}.pt")),
                              lambda m: m.transformer.wte.weight)
    hf = Tokenizer.from_file(str(bpe))
    listing = tmp_path / "tokens.txt"
    listing.write_text("\n".join(hf.id_to_token(i) for i in range(hf.get_vocab_size())) + "\n", encoding="utf-8")
    result = quiet_import([str(f) for f in files], tmp_path / "run", vocab=listing)
    for step, matrix in snapshots(result.run_dir).items():
        np.testing.assert_array_equal(matrix, expected[step])
    assert "▁blue" in Run.open(result.run_dir).vocab()[0]


def test_readable_tokens_decode_byte_level_and_stay_unique():
    assert readable_tokens(["Ġthe", "Ċ", "cat", "Ã©", "Ġ", "ĠĠ"], byte_level=True) == ["▁the", "\n", "cat", "é", "▁", "▁▁"]
    assert readable_tokens(["<|endoftext|>"], True, frozenset({"<|endoftext|>"})) == ["<|endoftext|>"]
    assert readable_tokens(["âĢ"], True) == ["\\xe2\\x80"]  # half a character: its bytes
    out = readable_tokens(["Ġa", "▁a"], True)
    assert len(set(out)) == 2


def test_key_choice_strips_prefixes_and_lists_candidates():
    shapes = {"_orig_mod.module.transformer.wte.weight": (10, 4), "lm_head.weight": (10, 4), "h.0.w": (4, 4)}
    assert choose_key(shapes, "x") == "_orig_mod.module.transformer.wte.weight"
    assert choose_key(shapes, "x", matrix="output") == "lm_head.weight"
    assert choose_key(shapes, "x", key="h.0.w") == "h.0.w"
    with pytest.raises(CheckpointError, match=r"several input .*wte.weight \[10, 4\].*--key"):
        choose_key({**shapes, "wte.weight": (10, 4)}, "x")
    with pytest.raises(CheckpointError, match=r"h.0.w \[4, 4\].*--key"):
        choose_key({"h.0.w": (4, 4)}, "x")
    with pytest.raises(CheckpointError, match="tied"):
        choose_key({"transformer.wte.weight": (10, 4)}, "x", matrix="output")


def test_find_checkpoints_refuses_mixed_kinds(tmp_path):
    (tmp_path / "a.pt").write_bytes(b"x")
    (tmp_path / "b.safetensors").write_bytes(b"x")
    with pytest.raises(CheckpointError, match="mixed checkpoint kinds"):
        find_checkpoints([tmp_path])


# -- bad input through the command line ----------------------------------------------------------


class Evil:
    pass


def cli(args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["import", *map(str, args), "--quiet"])
    captured = capsys.readouterr()
    return exit_info.value.code, captured.err


def bad_inputs(tmp_path: Path, series: Path, bpe: Path) -> dict[str, tuple[list, str]]:
    good = series / "checkpoint-3" / "model.safetensors"
    data = good.read_bytes()
    cases = {}
    empty = tmp_path / "empty"
    empty.mkdir()
    cases["none found"] = ([empty], "no checkpoints found")
    cases["missing"] = ([tmp_path / "nope.safetensors"], "does not exist")
    (tmp_path / "trunc").mkdir()
    (tmp_path / "trunc" / "model.safetensors").write_bytes(data[: len(data) // 2])
    cases["truncated"] = ([tmp_path / "trunc", "--tokenizer", bpe], "not a readable safetensors file")
    (tmp_path / "tamper").mkdir()
    (tmp_path / "tamper" / "model.safetensors").write_bytes(data[:8] + data[8:40].replace(b'"', b"'") + data[40:])
    cases["tampered"] = ([tmp_path / "tamper", "--tokenizer", bpe], "not a readable safetensors file")
    (tmp_path / "junk.pt").write_bytes(b"PK\x03\x04 not really a zip")
    cases["unreadable"] = ([tmp_path / "junk.pt", "--tokenizer", bpe], "not a readable PyTorch file")
    torch.save({"model": {"wte.weight": torch.zeros(3, 2)}, "extra": Evil()}, tmp_path / "evil.pt")
    cases["pickle"] = ([tmp_path / "evil.pt", "--tokenizer", bpe], "needs pickle beyond weights_only")
    torch.save({"h.weight": torch.zeros(3, 2)}, tmp_path / "noemb.pt")
    cases["no embedding"] = ([tmp_path / "noemb.pt", "--tokenizer", bpe], "no token-embedding tensor found")
    torch.save({"wte.weight": torch.zeros(3, 2), "transformer.wte.weight": torch.zeros(3, 2)}, tmp_path / "two.pt")
    cases["ambiguous"] = ([tmp_path / "two.pt", "--tokenizer", bpe], "several input embedding tensors")
    v = vocab_size(bpe)
    (tmp_path / "shapes").mkdir()
    torch.save({"wte.weight": torch.randn(v, 8)}, tmp_path / "shapes" / "s1.pt")
    torch.save({"wte.weight": torch.randn(v, 12)}, tmp_path / "shapes" / "s2.pt")
    cases["shapes change"] = ([tmp_path / "shapes", "--tokenizer", bpe], "shapes change")
    unpadded = v + 1 if (v + 1) % 64 else v + 2
    torch.save({"wte.weight": torch.randn(unpadded, 8)}, tmp_path / "big1.pt")
    cases["tokenizer too small"] = ([tmp_path / "big1.pt", "--tokenizer", bpe], "too few to label them")
    torch.save({"wte.weight": torch.randn(v - 5, 8)}, tmp_path / "small1.pt")
    diverged = torch.randn(v, 8)
    diverged[3, 1] = float("nan")
    torch.save({"wte.weight": diverged}, tmp_path / "nan.pt")
    cases["nan"] = ([tmp_path / "nan.pt", "--tokenizer", bpe], "contains nan or infinite values")
    cases["tokenizer too large"] = ([tmp_path / "small1.pt", "--tokenizer", bpe], "not this model's tokenizer")
    cases["no tokenizer"] = ([tmp_path / "big1.pt"], "no tokenizer found")
    cases["exists"] = ([series], "already exists; pass --overwrite")
    return cases


def test_bad_input_is_one_error_line_and_writes_nothing(tmp_path, trainer_series, bpe, capsys):
    series, _ = trainer_series
    existing = tmp_path / "existing"
    quiet_import([series], existing)
    before = sorted(p.relative_to(existing) for p in existing.rglob("*"))
    for name, (args, needle) in bad_inputs(tmp_path, series, bpe).items():
        out = existing if name == "exists" else tmp_path / f"out-{name.replace(' ', '-')}"
        code, err = cli([*args, "--out", out], capsys)
        lines = err.strip().splitlines()
        assert code != 0, name
        assert len(lines) == 1 and lines[0].startswith("Error: ") and needle in lines[0], (name, err)
        if name != "exists":
            assert not out.exists(), name
    assert sorted(p.relative_to(existing) for p in existing.rglob("*")) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary run left behind


def test_overwrite_replaces_a_run_whole(tmp_path, trainer_series, capsys):
    series, expected = trainer_series
    quiet_import([series / "checkpoint-0"], tmp_path / "run")
    code, err = cli([series, "--out", tmp_path / "run", "--overwrite"], capsys)
    assert code == 0, err
    assert list(snapshots(tmp_path / "run")) == list(SAVE_STEPS)


def test_pickle_is_never_run(tmp_path, bpe):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    with open(tmp_path / "payload.pt", "wb") as f:
        pickle.dump({"wte.weight": Payload()}, f)
    with pytest.raises(CheckpointError):
        import_checkpoints([tmp_path / "payload.pt"], tmp_path / "run", tokenizer=bpe)
    assert not marker.exists()


@pytest.mark.parametrize("tie, layout", [(False, "hf"), (True, "nanogpt")])
def test_position_table_and_an_untied_head_are_imported_beside_the_token_table(tmp_path, bpe, tie, layout):
    v = vocab_size(bpe)
    model = gpt2(v) if tie else transformers.GPT2LMHeadModel(transformers.GPT2Config(
        vocab_size=v, n_positions=16, n_embd=16, n_layer=1, n_head=2, bos_token_id=0, eos_token_id=0,
        tie_word_embeddings=False))

    def save(m, step):
        if layout == "hf":
            m.save_pretrained(tmp_path / "ckpt" / f"checkpoint-{step}")
        else:
            (tmp_path / "ckpt").mkdir(exist_ok=True)
            torch.save({"model": m.state_dict(), "iter_num": step}, tmp_path / "ckpt" / f"ckpt{step}.pt")

    expected = train_and_save(model, bpe, save, lambda m: torch.cat(
        [m.transformer.wte.weight, m.transformer.wpe.weight, m.lm_head.weight]))
    result = quiet_import([tmp_path / "ckpt"], tmp_path / "run", tokenizer=bpe, head=True)
    run = Run.open(result.run_dir)
    snaps = run.check_snapshots(rows=v)
    assert [s.step for s in snaps] == list(SAVE_STEPS)
    assert all(s.matrices == (("token", "position") if tie else ("token", "position", "head")) for s in snaps)
    for snap in snaps:
        token, position, head = np.split(expected[snap.step], [v, v + 16])
        np.testing.assert_array_equal(run.load_snapshot(snap), token)
        np.testing.assert_array_equal(run.load_snapshot(snap, matrix="position"), position)
        if not tie:
            np.testing.assert_array_equal(run.load_snapshot(snap, matrix="head"), head)
            assert not np.array_equal(head, token)
    assert "transformer.wpe.weight" in run.manifest().import_["others"]["position"]


def test_a_checkpoint_without_a_position_table_imports_without_one(tmp_path, bpe, cli_error, capsys):
    root = tmp_path / "neox"
    train_and_save(neox(vocab_size(bpe)), bpe, lambda m, s: m.save_pretrained(root / f"step{s}"),
                   lambda m: m.gpt_neox.embed_in.weight)
    run = Run.open(quiet_import([root], tmp_path / "run", tokenizer=bpe, head=True).run_dir)
    assert all(s.matrices == ("token", "head") for s in run.snapshots())  # NeoX: rotary positions, untied head
    capsys.readouterr()  # transformers' own progress bars while saving
    line = cli_error(["export", str(run.path), str(tmp_path / "p.npz"), "--to", "npz", "--matrix", "position"])
    assert "--matrix position: the imported checkpoints hold no position table; this run has: token, head" in line
    assert not (tmp_path / "p.npz").exists()
    for command, out in (("animate", tmp_path / "p.gif"), ("explore", tmp_path / "p.html")):
        line = cli_error([command, str(run.path), "--out", str(out), "--matrix", "position", "--quiet"])
        assert "--matrix position: the imported checkpoints hold no position table; this run has: token, head" in line
        assert not out.exists()

    # without --head the untied head stays in the checkpoints, and --matrix head says how to read it
    plain = Run.open(quiet_import([root], tmp_path / "plain", tokenizer=bpe).run_dir)
    assert all(s.matrices == ("token",) for s in plain.snapshots())
    assert plain.manifest().import_["left_out"] == {"head": "embed_out.weight"}
    line = cli_error(["export", str(plain.path), str(tmp_path / "h.npz"), "--to", "npz", "--matrix", "head"])
    assert "the import left the checkpoints' embed_out.weight out (import again with --head" in line
    assert not (tmp_path / "h.npz").exists()
