"""Every CLI command against every bad input the issues name.

Each row sets up a workspace (a good run, a corpus) and breaks one thing. The command must exit
non-zero with one ``Error:`` line that names the problem, print no traceback, and leave every file that
existed before byte-identical (and create nothing, except where a row says so).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from embviz.cli import app
from embviz.rundir.run import Run
from embviz.training.loop import TrainConfig, train

from conftest import TINY, tiny_args, tiny_text


def command_names() -> set[str]:
    import typer.main

    return set(typer.main.get_command(app).commands)


COMMANDS = command_names()
SMALL = [*tiny_args(epochs=1), "-q"]


@pytest.fixture(scope="module")
def good_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bad-input")
    corpus = root / "tiny.txt"
    corpus.write_text(tiny_text(), encoding="utf-8")
    train(TrainConfig(corpus=str(corpus), **TINY), root / "run")
    return root


@dataclass
class Space:
    """The workspace a row breaks: ``run`` (a complete run), ``corpus`` (its text), and scratch room."""

    root: Path

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def corpus(self) -> Path:
        return self.root / "tiny.txt"

    def interrupted(self) -> Path:
        """The run marked interrupted, so ``train --resume`` reads its checkpoint."""
        path = self.run / "run.json"
        data = json.loads(path.read_text())
        data["status"] = "interrupted"
        path.write_text(json.dumps(data))
        return self.run

    def edit_json(self, name: str, change: Callable) -> None:
        path = self.run / name
        data = json.loads(path.read_text())
        data = change(data)
        path.write_text(json.dumps(data))

    def snapshot(self, i: int = -1) -> Path:
        return self.run / "snapshots" / Run(self.run).snapshots()[i].file


# -- the ways to break things --------------------------------------------------------------------


def write(path: Path, content: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


class Evil:
    """A pickle that would create a file if anything unpickled it."""

    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return (Path.write_text, (self.target, "pwned"))


def pickled_checkpoint(s: Space) -> None:
    s.interrupted()
    ckpt = s.run / "checkpoint" / "state.pt"
    import torch

    torch.save({"model": Evil(s.root / "pwned")}, ckpt)  # torch.save pickles whatever it is given


def pickled_snapshot(s: Space) -> None:
    np.save(s.snapshot(), np.array([{"evil": 1}], dtype=object), allow_pickle=True)


def truncated_snapshot(s: Space) -> None:
    path = s.snapshot()
    path.write_bytes(path.read_bytes()[:100])


def truncated_checkpoint(s: Space) -> None:
    s.interrupted()
    path = s.run / "checkpoint" / "state.pt"
    path.write_bytes(path.read_bytes()[:500])


def wrong_checkpoint_model(s: Space) -> None:
    s.interrupted()
    import torch

    path = s.run / "checkpoint" / "state.pt"
    state = torch.load(path, weights_only=True)
    state["model"] = {"nonsense.weight": torch.zeros(3)}
    torch.save(state, path)


def escaping_index(s: Space) -> None:
    s.edit_json("snapshots/index.json", lambda d: [{**d[0], "file": "../../etc/passwd"}] + d[1:])


def index_wrong_types(s: Space) -> None:
    s.edit_json("snapshots/index.json", lambda d: [{**e, "step": str(e["step"])} for e in d])


def index_not_a_list(s: Space) -> None:
    s.edit_json("snapshots/index.json", lambda d: {"snapshots": d})


def run_json_wrong_types(s: Space) -> None:
    s.edit_json("run.json", lambda d: {**d, "status": 5})


def run_json_missing_keys(s: Space) -> None:
    s.edit_json("run.json", lambda d: {k: v for k, v in d.items() if k != "config"})


def config_wrong_type(s: Space) -> None:
    s.interrupted()
    s.edit_json("run.json", lambda d: {**d, "config": {**d["config"], "epochs": "many"}})


def corpus_info_wrong_type(s: Space) -> None:
    s.interrupted()
    s.edit_json("run.json", lambda d: {**d, "corpus": ["not", "an", "object"]})


def unknown_config_key(s: Space) -> None:
    s.interrupted()
    s.edit_json("run.json", lambda d: {**d, "config": {**d["config"], "warp_drive": True}})


def changed_corpus(s: Space) -> None:
    s.interrupted()
    s.edit_json("run.json", lambda d: {**d, "config": {**d["config"], "corpus": str(s.corpus)}})
    s.corpus.write_text(tiny_text(seed=1), encoding="utf-8")


# -- the table ------------------------------------------------------------------------------------
# (id, command, setup(space) -> args, words the one error line must contain)

Row = tuple[str, str, Callable[[Space], list[str]], str]

CORPUS_ROWS: list[Row] = [
    ("missing corpus", "train", lambda s: [str(s.root / "nope.txt"), "--out", str(s.root / "new")], "does not exist"),
    ("empty corpus", "train", lambda s: [str(write(s.root / "e.txt", "  \n\n")), "--out", str(s.root / "new")],
     "empty"),
    ("binary corpus", "train", lambda s: [str(write(s.root / "b.txt", b"abc\x00\x01\x02" * 50)), "--out",
                                          str(s.root / "new")], "binary"),
    ("non-UTF-8 corpus", "train", lambda s: [str(write(s.root / "l.txt", "café crème ".encode("latin-1") * 40)),
                                             "--out", str(s.root / "new")], "not UTF-8"),
    ("corrupt gz corpus", "train", lambda s: [str(write(s.root / "c.txt.gz", b"\x1f\x8b\x08garbage")), "--out",
                                              str(s.root / "new")], "cannot read"),
    ("folder without txt", "train", lambda s: [str((s.root / "empty-dir").mkdir() or s.root / "empty-dir"),
                                               "--out", str(s.root / "new")], "no *.txt"),
    ("too-short corpus", "train", lambda s: [str(write(s.root / "s.txt", "a b c a b c d e f\n")), "--out",
                                             str(s.root / "new"), *SMALL], "too short"),
    ("tiny vocabulary", "train", lambda s: [str(write(s.root / "v.txt", "aaa aaa aaa aaa\n")), "--out",
                                            str(s.root / "new"), *SMALL], "at least 2"),
    ("unknown built-in", "train", lambda s: ["shakespeare", "--out", str(s.root / "new")], "does not exist"),
    ("segmenter forced on Latin text", "train", lambda s: [str(s.corpus), "--segmenter", "jieba", "--out",
                                                           str(s.root / "new")], "Han characters"),
    ("segmenter forced on Japanese", "train", lambda s: [str(write(s.root / "ja.txt", "ねこはさかなをたべる。漢字\n" * 50)),
                                                         "--segmenter", "jieba", "--out", str(s.root / "new")], "HIRAGANA"),
    ("segmenter with char tokenizer", "train", lambda s: [str(s.corpus), "--tokenizer", "char", "--segmenter",
                                                          "jieba", "--out", str(s.root / "new")], "--tokenizer word"),
    ("unknown segmenter", "train", lambda s: [str(s.corpus), "--segmenter", "pkuseg", "--out", str(s.root / "new")],
     "unknown segmenter"),
    ("slice larger than the gold corpus", "train", lambda s: ["peoples-daily", "--max-tokens", "5000000", "--out",
                                                              str(s.root / "new")], "more than the 1,121,447 words"),
    ("slice larger than a file", "train", lambda s: [str(s.corpus), "--max-tokens", "100000", "--out",
                                                     str(s.root / "new")], "more than"),
]

NUMBER_ROWS: list[Row] = [
    ("epochs 0", "train", lambda s: [str(s.corpus), "--out", str(s.root / "new"), "--epochs", "0"], "--epochs"),
    ("epochs not a number", "train", lambda s: [str(s.corpus), "--epochs", "many"], "--epochs"),
    ("negative lr", "train", lambda s: [str(s.corpus), "--out", str(s.root / "new"), "--lr", "-1"], "--lr"),
    ("batch size 0", "train", lambda s: [str(s.corpus), "--out", str(s.root / "new"), "--batch-size", "0"],
     "--batch-size"),
    ("context 1", "train", lambda s: [str(s.corpus), "--out", str(s.root / "new"), "--context", "1"], "--context"),
    ("dropout 1.5", "train", lambda s: [str(s.corpus), "--out", str(s.root / "new"), "--dropout", "1.5"],
     "--dropout"),
    ("heads not dividing", "train", lambda s: [str(s.corpus), "--out", str(s.root / "new"), *SMALL, "--heads", "3"],
     "must divide"),
    ("context as text", "train", lambda s: [str(s.corpus), "--context", "wide"], "--context"),
    ("fps 0", "animate", lambda s: [str(s.run), "--fps", "0"], "fps"),
    ("bad size", "animate", lambda s: [str(s.run), "--size", "12x"], "--size"),
    ("bad grid", "animate", lambda s: [str(s.run), "--grid", "a,b"], "--grid"),
    ("negative top", "animate", lambda s: [str(s.run), "--top", "-5"], "top"),
    ("unknown method", "animate", lambda s: [str(s.run), "--method", "mds"], "method"),
    ("unknown view", "animate", lambda s: [str(s.run), "--view", "wobble"], "view"),
    ("k 0", "compare-word2vec", lambda s: [str(s.run), "--k", "0"], "--k"),
    ("window 0", "compare-word2vec", lambda s: [str(s.run), "--window", "0"], "window"),
    ("vector size as text", "compare-word2vec", lambda s: [str(s.run), "--vector-size", "big"], "--vector-size"),
    ("k 0", "compare", lambda s: [str(s.run), str(s.run), "--k", "0"], "--k"),
    ("unknown match", "compare", lambda s: [str(s.run), str(s.run), "--match", "epoch"], "--match"),
    ("tolerance 1", "compare", lambda s: [str(s.run), str(s.run), "--tolerance", "1"], "--tolerance"),
    ("second run missing", "compare", lambda s: [str(s.run), str(s.root / "nowhere")], "not a run directory"),
]

RUN_READERS = [
    ("animate", lambda s: [str(s.run)]),
    ("explore", lambda s: [str(s.run)]),
    ("compare-word2vec", lambda s: [str(s.run)]),
    ("compare", lambda s: [str(s.run), str(s.run)]),
    ("train", lambda s: ["--resume", str(s.run)]),  # the row marks the run interrupted before breaking it
    ("export", lambda s: [str(s.run), "--to", "npz", str(s.root / "run.npz")]),
]


def broken_run_rows() -> list[Row]:
    """Every run reader against every way a run directory can be missing, corrupt or tampered with."""
    breaks: list[tuple[str, Callable[[Space], object], str]] = [
        ("missing run dir", lambda s: shutil.rmtree(s.run), "not a run directory"),
        ("not a run", lambda s: (s.run / "run.json").unlink(), "not an embviz run"),
        ("run.json not JSON", lambda s: write(s.run / "run.json", "{ nope"), "not valid JSON"),
        ("run.json binary", lambda s: write(s.run / "run.json", b"\xff\xfe\x00"), "not valid JSON"),
        ("run.json wrong types", run_json_wrong_types, "status"),
        ("run.json missing keys", run_json_missing_keys, "missing key 'config'"),
        ("index escapes the run", escaping_index, "plain .npy name"),
        ("index wrong types", index_wrong_types, "wrong type"),
        ("index not a list", index_not_a_list, "expected a list"),
        ("index not JSON", lambda s: write(s.run / "snapshots" / "index.json", "[{"), "not valid JSON"),
        ("pickled npy", pickled_snapshot, "corrupt"),
        ("truncated npy", truncated_snapshot, "corrupt"),
        ("missing npy", lambda s: s.snapshot().unlink(), "missing"),
        ("vocab malformed", lambda s: write(s.run / "vocab.tsv", "id\ttoken\n0\n"), "vocab.tsv"),
    ]
    rows = []
    for command, args in RUN_READERS:
        for name, breaker, needle in breaks:
            def setup(s: Space, breaker=breaker, args=args, command=command) -> list[str]:
                if command == "train":
                    s.interrupted()
                breaker(s)
                return args(s)
            rows.append((f"{name} / {command}", command, setup, needle))
    return rows


RESUME_ROWS: list[Row] = [
    ("complete run", "train", lambda s: ["--resume", str(s.run)], "already complete"),
    ("pickled checkpoint", "train", lambda s: pickled_checkpoint(s) or ["--resume", str(s.run)], "checkpoint"),
    ("truncated checkpoint", "train", lambda s: truncated_checkpoint(s) or ["--resume", str(s.run)], "checkpoint"),
    ("checkpoint for another model", "train", lambda s: wrong_checkpoint_model(s) or ["--resume", str(s.run)],
     "does not match"),
    ("config wrong type", "train", lambda s: config_wrong_type(s) or ["--resume", str(s.run)], "'epochs'"),
    ("unknown config key", "train", lambda s: unknown_config_key(s) or ["--resume", str(s.run)], "warp_drive"),
    ("corpus info wrong type", "train", lambda s: corpus_info_wrong_type(s) or ["--resume", str(s.run)], "corpus"),
    ("corpus changed", "train", lambda s: changed_corpus(s) or ["--resume", str(s.run)], "has changed"),
    ("tokenizer.json corrupt", "train", lambda s: (s.interrupted(), write(s.run / "tokenizer.json", '{"kind": 1}'))
     and ["--resume", str(s.run)], "tokenizer.json"),
    ("existing run without --overwrite", "train", lambda s: [str(s.corpus), "--out", str(s.run)], "--overwrite"),
    ("overwrite a non-run folder", "train",
     lambda s: [str(s.corpus), "--out", str(write(s.root / "mine" / "notes.txt", "keep").parent), "--overwrite"],
     "not an embviz run"),
]

WORD_ROWS: list[Row] = [
    ("unknown words only", "animate", lambda s: [str(s.run), "--words", "zzyzx,qwxq", "--only"], "zzyzx"),
    ("unknown words file", "animate", lambda s: [str(s.run), "--words-file", str(s.root / "no-words.txt")],
     "no-words.txt"),
    ("unknown words only", "explore", lambda s: [str(s.run), "--words", "zzyzx,qwxq", "--only"], "zzyzx"),
    ("unknown words", "compare-word2vec", lambda s: [str(s.run), "--words", "zzyzx,qwxq"], "zzyzx"),
    ("watch a folder that is no run", "watch", lambda s: [str(s.root)], "is not an embviz run"),
]

IMPORT_ROWS: list[Row] = [  # tests/test_import.py has the rows that need checkpoints written by transformers
    ("import finds no checkpoint", "import", lambda s: [str(s.run / "snapshots"), "--out", str(s.root / "imported")],
     "no checkpoints found"),
    ("import a text file", "import", lambda s: [str(s.corpus), "--out", str(s.root / "imported")],
     "is not a checkpoint file"),
    ("import a checkpoint without a known embedding name", "import",
     lambda s: [str(s.run / "checkpoint"), "--out", str(s.root / "imported")], "no token-embedding tensor found"),
    ("import onto an existing run", "import", lambda s: [str(s.run / "checkpoint"), "--out", str(s.run)],
     "already exists; pass --overwrite"),
]

UNWRITABLE_ROWS: list[Row] = [
    # Tests run as root here, so directory permissions would not stop a write: a path *under a regular
    # file* cannot be created by anyone.
    ("train output under a file", "train", lambda s: [str(s.corpus), "--out", str(s.corpus / "run"), *SMALL],
     "cannot create run directory"),
    ("animate output under a file", "animate", lambda s: [str(s.run), "--out", str(s.corpus / "film.mp4")],
     "tiny.txt"),
    ("explore output under a file", "explore", lambda s: [str(s.run), "--out", str(s.corpus / "x.html")],
     "tiny.txt"),
    ("explore output exists", "explore",
     lambda s: [str(s.run), "--out", str(write(s.root / "explorer.html", "keep"))], "--overwrite"),
    ("explore run with one snapshot", "explore",
     lambda s: s.edit_json("snapshots/index.json", lambda d: d[:1]) or [str(s.run)], "at least 2"),
    ("compare output dir is a file", "compare-word2vec",
     lambda s: (write(s.run / "word2vec", "a file in the way"), [str(s.run)])[1], "word2vec"),
]


def export_to(fmt: str, out: str, *more: str) -> Callable[[Space], list[str]]:
    return lambda s: [str(s.run), "--to", fmt, str(s.root / out), *more]


def exported(s: Space, fmt: str, out: str) -> None:
    from embviz.interop.export import export

    export(s.run, fmt, s.root / out)


EXPORT_ROWS: list[Row] = [
    ("export of an interrupted run", "export", lambda s: (s.interrupted(), export_to("npz", "e.npz")(s))[1],
     "no final snapshot"),
    ("export unknown format", "export", export_to("csv", "e.csv"), "unknown export format 'csv'"),
    ("export missing step", "export", export_to("word2vec", "e.txt", "--snapshot", "12345"), "no snapshot at step 12345"),
    ("export step not a number", "export", export_to("npz", "e.npz", "--snapshot", "latest"), "--snapshot"),
    ("export binary npz", "export", export_to("npz", "e.npz", "--binary"), "--binary"),
    ("export under a file", "export", lambda s: [str(s.run), "--to", "projector", str(s.corpus / "out")],
     "not an existing folder"),
    ("export into a missing folder", "export", export_to("word2vec", "nowhere/e.txt"), "not an existing folder"),
    ("existing projector export", "export", lambda s: (exported(s, "projector", "p"), export_to("projector", "p")(s))[1],
     "--overwrite"),
    ("existing npz export", "export", lambda s: (exported(s, "npz", "e.npz"), export_to("npz", "e.npz")(s))[1],
     "--overwrite"),
    ("overwrite a folder that is no export", "export",
     lambda s: (write(s.root / "mine" / "notes.txt", "keep"), export_to("projector", "mine", "--overwrite")(s))[1],
     "not a projector export"),
    ("overwrite the run itself", "export", lambda s: [str(s.run), "--to", "projector", str(s.run), "--overwrite"],
     "not a projector export"),
    ("overwrite a folder with a file", "export",
     lambda s: (exported(s, "projector", "p"), export_to("npz", "p", "--overwrite")(s))[1], "is a directory"),
]

ROWS = (CORPUS_ROWS + NUMBER_ROWS + broken_run_rows() + RESUME_ROWS + WORD_ROWS + IMPORT_ROWS + UNWRITABLE_ROWS
        + EXPORT_ROWS)


def tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` and the SHA-256 of its bytes."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_every_command_is_in_the_table():
    assert COMMANDS == {command for _, command, _, _ in ROWS}


@pytest.mark.parametrize("command, setup, needle", [
    pytest.param(command, setup, needle, id=name) for name, command, setup, needle in ROWS])
def test_bad_input_is_one_line_and_changes_nothing(good_run, tmp_path, cli_error, monkeypatch, command, setup, needle):
    shutil.copytree(good_run, tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)  # a command that defaults its output to ./runs writes in here
    space = Space(tmp_path)
    args = setup(space)
    before = tree(tmp_path)
    line = cli_error([command, *args])
    assert needle in line, line
    assert tree(tmp_path) == before  # nothing that existed changed, and nothing was added
    assert not (tmp_path / "pwned").exists()
