"""``embviz import hf:OWNER/NAME``: a GPT-NeoX series that ``transformers`` wrote, served by a Hub on
127.0.0.1 (tests/hubserver.py), imported by range requests through ``huggingface_hub``."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from embviz.errors import CheckpointError, ConfigError, EmbvizError
from embviz.interop.hub import Hub, cache_path, import_hub, list_revisions
from embviz.interop.revisions import Revision, log_spaced, pick_revisions
from embviz.rundir.run import Run

from conftest import bpe_tokenizer_file
from hubserver import FakeHub, cli_env, commit_of, save_series

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()

STEPS = (0, 1, 2, 4)
REPO = "Eleuther/tiny-neox"
EMBED = "gpt_neox.embed_in.weight"


@pytest.fixture(scope="module")
def series(tmp_path_factory) -> tuple[dict[str, Path], dict[int, np.ndarray]]:
    """Branches step0, step1, step2, step4 of a tiny GPTNeoXForCausalLM (weights changed between
    steps), each saved by ``save_pretrained`` with its tokenizer.json; and each step's embedding."""
    import torch

    root = tmp_path_factory.mktemp("hub")
    tok = bpe_tokenizer_file(root)
    from tokenizers import Tokenizer

    v = Tokenizer.from_file(str(tok)).get_vocab_size(with_added_tokens=True)
    torch.manual_seed(0)
    model = transformers.GPTNeoXForCausalLM(transformers.GPTNeoXConfig(
        vocab_size=v, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=16, bos_token_id=0, eos_token_id=0))
    branches, tables = save_series(model, root, tok, STEPS, lambda m: {"token": m.gpt_neox.embed_in.weight})
    return branches, {step: t["token"] for step, t in tables.items()}


def header_bytes(path: Path) -> int:
    return 8 + struct.unpack("<Q", path.read_bytes()[:8])[0]


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def snapshots(run_dir: Path) -> dict[int, np.ndarray]:
    run = Run.open(run_dir)
    return {s.step: run.load_snapshot(s) for s in run.snapshots()}


# -- revision specs ---------------------------------------------------------------------------

PYTHIA = [Revision(f"step{s}", s) for s in [0, *(2**i for i in range(10)), *range(1000, 143001, 1000)]]


def test_revision_specs_pick_pythia_steps():
    assert len(PYTHIA) == 154
    assert [r.step for r in pick_revisions("every:10000", PYTHIA)] == list(range(0, 143000, 10000))
    picked = [r.step for r in pick_revisions("log:20", PYTHIA)]
    assert len(picked) == 20 and picked == sorted(set(picked)) and picked[0] == 0 and picked[-1] == 143000
    gaps = np.diff(np.log1p(picked))
    assert gaps.max() < 4 * np.median(gaps)  # spread over the log scale, not bunched
    assert [r.name for r in pick_revisions("step1000, step0", PYTHIA)] == ["step0", "step1000"]
    assert pick_revisions("all", PYTHIA) == PYTHIA
    assert log_spaced(PYTHIA[:3], 5) == PYTHIA[:3]
    for bad in ("log:0", "every:x", "step0,,step1", "main", "step1,v1", "a" * 40):
        with pytest.raises(ConfigError):
            pick_revisions(bad, PYTHIA)


# -- the import -------------------------------------------------------------------------------


def test_import_equals_the_weights_in_step_order_and_fetches_only_the_embedding(tmp_path, series):
    branches, expected = series
    with FakeHub({REPO: branches}) as hub:
        h = Hub(endpoint=hub.endpoint, cache_dir=tmp_path / "cache")
        assert [r.name for r in list_revisions(REPO, h)[0]] == ["step0", "step1", "step2", "step4"]
        progress = []
        r = quiet(import_hub, REPO, tmp_path / "run", "all", hub=h, progress=lambda *a: progress.append(a))
        served = hub.file_bytes()
        embedding = expected[0].size * 4
        budget = len(STEPS) * embedding + sum(header_bytes(f / "model.safetensors") for f in branches.values()) \
            + (branches["step0"] / "tokenizer.json").stat().st_size
        assert served <= budget * 1.01, (served, budget)
        weights = sum((f / "model.safetensors").stat().st_size for f in branches.values())
        assert served < weights / 2  # the rest of each checkpoint stayed on the server
        assert r.fetched_bytes == len(STEPS) * embedding
        fetched = [a for a in progress if a[0].startswith("fetching")]
        assert fetched[-1][1:] == (r.fetched_bytes, r.fetched_bytes)

        got = snapshots(tmp_path / "run")
        assert list(got) == list(STEPS)
        for step in STEPS:
            np.testing.assert_array_equal(got[step], expected[step])
        tokens = Run.open(tmp_path / "run").vocab()[0]
        assert len(tokens) == expected[0].shape[0]
        assert "▁blue" in tokens and not any(t.startswith("Ġ") for t in tokens)  # byte-level tokens as text
        source = json.loads((tmp_path / "run" / "run.json").read_text())["import"]
        assert source["hub"]["repo"] == REPO
        assert [x["commit"] for x in source["hub"]["revisions"]] == [commit_of(REPO, f"step{s}") for s in STEPS]

        # an ordinary run: export reads it unchanged
        from embviz.interop.export import export

        export(tmp_path / "run", "npz", tmp_path / "run.npz")
        with np.load(tmp_path / "run.npz", allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        assert list(arrays["steps"]) == list(STEPS)
        stacked = next(v for v in arrays.values() if v.ndim == 3)
        np.testing.assert_array_equal(stacked[-1], expected[STEPS[-1]])

        # a second import into another folder fetches no matrix byte again
        before = hub.file_bytes()
        r2 = quiet(import_hub, REPO, tmp_path / "again", "step0,step4", hub=h)
        assert hub.file_bytes() == before and r2.fetched_bytes == 0
        assert list(snapshots(tmp_path / "again")) == [0, 4]


def test_sharded_revision_reads_the_index_and_only_the_embedding_shard(tmp_path, series):
    import torch

    _, expected = series
    folder = tmp_path / "step9"
    model = transformers.GPTNeoXForCausalLM(transformers.GPTNeoXConfig(
        vocab_size=expected[0].shape[0], hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=16))
    model.save_pretrained(folder, safe_serialization=True, max_shard_size="20KB")
    bpe_tokenizer_file(folder)
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    shard = index["weight_map"][EMBED]
    assert len(set(index["weight_map"].values())) > 2
    with FakeHub({REPO: {"step9": folder}}) as hub:
        h = Hub(endpoint=hub.endpoint, cache_dir=tmp_path / "cache")
        quiet(import_hub, REPO, tmp_path / "run", "all", hub=h)
        shards = {k[2] for k in hub.sent if k != "api"} - {"tokenizer.json", "model.safetensors.index.json"}
    assert shards == {shard}
    np.testing.assert_array_equal(snapshots(tmp_path / "run")[9], model.gpt_neox.embed_in.weight.detach().numpy())
    del torch


def test_a_truncated_fetch_is_an_error_and_the_rerun_fetches_nothing_twice(tmp_path, series, capsys):
    from embviz.cli import main

    branches, expected = series
    with FakeHub({REPO: branches}) as hub:
        h = Hub(endpoint=hub.endpoint, cache_dir=tmp_path / "cache")
        hub.cut_after = 2  # the third embedding breaks off halfway
        with pytest.raises(CheckpointError, match="broke off|truncated"):
            quiet(import_hub, REPO, tmp_path / "run", "all", hub=h, workers=1)
        assert not (tmp_path / "run").exists() and not list(tmp_path.glob(".run*"))
        cached = sorted(p.parent.name for p in (tmp_path / "cache").rglob("*.safetensors"))
        assert cached == sorted(commit_of(REPO, f"step{s}") for s in STEPS[:2])
        assert not list((tmp_path / "cache").rglob("*.tmp"))  # nothing half-fetched is kept
        first = dict(hub.sent)
        hub.cut_after = None
        quiet(import_hub, REPO, tmp_path / "run", "all", hub=h, workers=1)
        again = {k: n - first.get(k, 0) for k, n in hub.sent.items()}
        for step in STEPS[:2]:  # finished revisions: not a byte again
            assert again.get((REPO, f"step{step}", "model.safetensors"), 0) == 0
        assert sorted(snapshots(tmp_path / "run")) == list(STEPS)

        # the CLI says so in one line
        hub.cut_after = 0
        with pytest.raises(SystemExit):
            main(["import", f"hf:{REPO}", "--revisions", "all", "--out", str(tmp_path / "cli"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("Error:") and "cli" not in os.listdir(tmp_path)
    del expected


def lying(folder: Path, dest: Path, how: str) -> Path:
    """A copy of the step folder whose model.safetensors header lies about the embedding."""
    dest.mkdir()
    (dest / "tokenizer.json").write_bytes((folder / "tokenizer.json").read_bytes())
    data = (folder / "model.safetensors").read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    begin, end = header[EMBED]["data_offsets"]
    if how == "beyond":  # a consistent entry whose bytes lie past the end of the file
        header[EMBED]["shape"][0] *= 100
        header[EMBED]["data_offsets"] = [begin, begin + (end - begin) * 100]
    else:  # a byte count that does not match dtype × shape
        header[EMBED]["data_offsets"] = [begin, end - 2]
    text = json.dumps(header).encode()
    (dest / "model.safetensors").write_bytes(struct.pack("<Q", len(text)) + text + data[8 + n:])
    return dest


def test_bad_answers_are_one_error_and_write_nothing(tmp_path, series):
    branches, _ = series
    repos = {REPO: branches, "x/beyond": {"step0": lying(branches["step0"], tmp_path / "b", "beyond")},
             "x/count": {"step0": lying(branches["step0"], tmp_path / "c", "count")},
             "x/private": {"step0": branches["step0"]}, "x/notok": {"step0": (tmp_path / "n")}}
    (tmp_path / "n").mkdir()
    (tmp_path / "n" / "model.safetensors").write_bytes((branches["step0"] / "model.safetensors").read_bytes())
    cases = {  # repo, spec, token → the error
        "missing": (REPO, "step0,step7", None, "revision step7 does not exist"),
        "gone": (REPO, "all", None, "revision step2 does not exist"),
        "beyond": ("x/beyond", "all", None, "past the end of the"),
        "count": ("x/count", "all", None, "but F32 × [300, 16] needs 19,200"),
        "refused": ("x/private", "all", "wrong", "refused the token"),
        "no repo": ("x/none", "all", None, "does not exist"),
        "no tokenizer": ("x/notok", "all", None, "has no file tokenizer.json; pass --tokenizer"),
        "bad spec": (REPO, "every:0", None, "every:"),
    }
    with FakeHub(repos, private={"x/private": "secret"}) as hub:
        for name, (repo, spec, token, message) in cases.items():
            hub.gone = {"step2"} if name == "gone" else set()
            h = Hub(endpoint=hub.endpoint, cache_dir=tmp_path / "cache", token=token)
            out = tmp_path / f"out-{name.replace(' ', '-')}"
            with pytest.raises(EmbvizError) as e:
                quiet(import_hub, repo, out, spec, hub=h)
            assert message in str(e.value) and "\n" not in str(e.value), (name, str(e.value))
            assert not out.exists() and not list(tmp_path.glob(f".{out.name}*")), name
    assert not list((tmp_path / "cache").rglob("*.tmp"))
    commits = {p.parent.name for p in (tmp_path / "cache").rglob("*.safetensors")}
    assert commit_of("x/beyond", "step0") not in commits and commit_of("x/count", "step0") not in commits


def test_cli_refuses_bad_hub_arguments_in_one_line(tmp_path, capsys):
    from embviz.cli import main

    cases = {"no spec": ([f"hf:{REPO}"], "--revisions"), "bad spec": ([f"hf:{REPO}", "--revisions", "log:x"], "log:"),
             "bad repo": (["hf:nope", "--revisions", "all"], "hf:OWNER/NAME"),
             "two": ([f"hf:{REPO}", "other", "--revisions", "all"], "one Hub repository"),
             "list on disk": ([str(tmp_path), "--list"], "Hub sources"),
             "head of the head": ([f"hf:{REPO}", "--revisions", "all", "--matrix", "output", "--head"], "--head imports"),
             "head of the head on disk": ([str(tmp_path), "--matrix", "output", "--head"], "--head imports")}
    for name, (args, message) in cases.items():
        with pytest.raises(SystemExit) as e:
            main(["import", *args, "--out", str(tmp_path / "out"), "--quiet"])
        err = capsys.readouterr().err.strip().splitlines()
        assert e.value.code != 0 and len(err) == 1 and err[0].startswith("Error:") and message in err[0], (name, err)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_cli_lists_imports_and_refuses_401_without_a_token(tmp_path, series):
    branches, expected = series
    with FakeHub({REPO: branches, "x/private": {"step0": branches["step0"]}}, private={"x/private": "s"}) as hub:
        env = cli_env(hub, tmp_path)
        cmd = [sys.executable, "-m", "embviz", "import"]
        listed = subprocess.run([*cmd, f"hf:{REPO}", "--list"], env=env, capture_output=True, text=True)
        assert listed.returncode == 0 and listed.stdout.split() == ["step0", "step1", "step2", "step4"]
        done = subprocess.run([*cmd, f"hf:{REPO}", "--revisions", "log:3", "--out", str(tmp_path / "run")],
                              env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert "Fetched" in done.stdout and list(snapshots(tmp_path / "run")) == [0, 1, 4]
        denied = subprocess.run([*cmd, "hf:x/private", "--revisions", "all", "--out", str(tmp_path / "p")],
                                env=env, capture_output=True, text=True)
        lines = denied.stderr.strip().splitlines()
        assert denied.returncode == 1 and len(lines) == 1 and "401" in lines[0] and "HF_TOKEN" in lines[0]
        assert not (tmp_path / "p").exists()
        ok = subprocess.run([*cmd, "hf:x/private", "--revisions", "all", "--out", str(tmp_path / "p"), "--quiet"],
                            env={**env, "HF_TOKEN": "s"}, capture_output=True, text=True)
        assert ok.returncode == 0, ok.stderr
        np.testing.assert_array_equal(snapshots(tmp_path / "p")[0], expected[0])


@pytest.mark.slow
def test_a_killed_import_continues_and_fetches_nothing_twice(tmp_path, series):
    branches, expected = series
    with FakeHub({REPO: branches}) as hub:
        hub.stall = 0.6
        env = cli_env(hub, tmp_path)
        cmd = [sys.executable, "-m", "embviz", "import", f"hf:{REPO}", "--revisions", "all",
               "--out", str(tmp_path / "run"), "--workers", "1", "--quiet"]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        first = cache_path(Hub(cache_dir=tmp_path / "cache"), REPO, Revision("step0", 0, commit_of(REPO, "step0")),
                           None, "input")
        deadline = time.time() + 60
        while not (first.is_file() and list((tmp_path / "cache").rglob("*.tmp"))) and time.time() < deadline:
            time.sleep(0.05)  # killed halfway: step0 whole, step1 being fetched
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert first.is_file() and not (tmp_path / "run").exists()
        leftovers = list((tmp_path / "cache").rglob("*.tmp"))  # what the killed fetch left, aged past STALE_S
        assert leftovers
        for left in leftovers:
            os.utime(left, (time.time() - 7200, time.time() - 7200))
        before = dict(hub.sent)
        hub.stall = 0
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert hub.sent[(REPO, "step0", "model.safetensors")] == before[(REPO, "step0", "model.safetensors")]
        got = snapshots(tmp_path / "run")
        assert list(got) == list(STEPS)
        for step in STEPS:
            np.testing.assert_array_equal(got[step], expected[step])
        assert not list((tmp_path / "cache").rglob("*.tmp"))


def test_pytorch_bin_revisions_are_read_by_range_without_running_a_pickle(tmp_path, series):
    import zipfile

    import torch

    _, expected = series
    model = transformers.GPTNeoXForCausalLM(transformers.GPTNeoXConfig(
        vocab_size=expected[0].shape[0], hidden_size=16, num_hidden_layers=4, num_attention_heads=2,
        intermediate_size=128, max_position_embeddings=16)).half()
    single, sharded = tmp_path / "step3", tmp_path / "step5"

    def save_bin(folder: Path, parts: int) -> None:
        """``pytorch_model.bin`` as ``torch.save(state_dict)`` writes it, or that many shards and an index."""
        folder.mkdir()
        bpe_tokenizer_file(folder)
        state = model.state_dict()
        if parts == 1:
            torch.save(state, folder / "pytorch_model.bin")
            return
        names, weight_map = sorted(state), {}
        for i in range(parts):
            file = f"pytorch_model-{i + 1:05d}-of-{parts:05d}.bin"
            part = {n: state[n] for n in names[i::parts]}
            torch.save(part, folder / file)
            weight_map.update(dict.fromkeys(part, file))
        (folder / "pytorch_model.bin.index.json").write_text(json.dumps({"weight_map": weight_map}))

    save_bin(single, 1)
    with torch.no_grad():
        model.gpt_neox.embed_in.weight.mul_(2)
    save_bin(sharded, 3)
    shard = json.loads((sharded / "pytorch_model.bin.index.json").read_text())["weight_map"][EMBED]

    # the archive's own bookkeeping: what a reader by range may fetch besides the tensor
    def bookkeeping(path: Path) -> int:
        with zipfile.ZipFile(path) as z:
            pkl = next(i for i in z.infolist() if i.filename.endswith("data.pkl"))
            return 4096 + pkl.file_size + 30 * 4 + 2 * 256 + 64 * len(z.infolist())

    with FakeHub({REPO: {"step3": single, "step5": sharded}}) as hub:
        h = Hub(endpoint=hub.endpoint, cache_dir=tmp_path / "cache")
        quiet(import_hub, REPO, tmp_path / "run", "all", hub=h)
        sent = {k: n for k, n in hub.sent.items() if k != "api" and k[2] not in ("tokenizer.json",)}
    embedding = expected[0].size * 2
    assert sent[(REPO, "step3", "pytorch_model.bin")] <= embedding + bookkeeping(single / "pytorch_model.bin")
    assert {k[2] for k in sent if k[1] == "step5"} == {"pytorch_model.bin.index.json", shard}
    assert sent[(REPO, "step5", shard)] <= embedding + bookkeeping(sharded / shard)
    binary = sum(n for (_, _, file), n in sent.items() if file.endswith(".bin"))
    stored = sum(p.stat().st_size for p in tmp_path.glob("step*/*.bin"))
    assert binary < 0.4 * stored, (binary, stored)  # the other tensors stayed on the server
    got = snapshots(tmp_path / "run")
    np.testing.assert_array_equal(got[5], model.gpt_neox.embed_in.weight.detach().float().numpy())
    np.testing.assert_array_equal(got[3], model.gpt_neox.embed_in.weight.detach().float().numpy() / 2)


class _Boom:
    def __reduce__(self):
        return (Path.touch, (Path("/tmp/embviz-hub-pickle-ran"),))


def test_a_bin_that_needs_pickle_is_refused_and_never_run(tmp_path, series):
    import torch

    branches, expected = series
    folder = tmp_path / "step0"
    folder.mkdir()
    (folder / "tokenizer.json").write_bytes((branches["step0"] / "tokenizer.json").read_bytes())
    torch.save({EMBED: torch.from_numpy(expected[0]), "x": _Boom()}, folder / "pytorch_model.bin")
    marker = Path("/tmp/embviz-hub-pickle-ran")
    marker.unlink(missing_ok=True)
    with FakeHub({REPO: {"step0": folder}}) as hub:
        with pytest.raises(CheckpointError, match="weights_only"):
            quiet(import_hub, REPO, tmp_path / "run", "all", hub=Hub(endpoint=hub.endpoint, cache_dir=tmp_path / "c"))
    assert not marker.exists() and not (tmp_path / "run").exists()
