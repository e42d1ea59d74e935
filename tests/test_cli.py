"""The command line: every command has help, errors are one line, the train summary is shown, shared options
read alike and every default is the library's."""

from __future__ import annotations

import pytest

from embviz.cli import app, main

from conftest import tiny_args


def command_names() -> list[str]:
    import typer.main

    return sorted(typer.main.get_command(app).commands)


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def test_every_command_has_help(capsys):
    names = command_names()
    assert "train" in names
    for name in names:
        code, out, err = run_cli([name, "--help"], capsys)
        assert code == 0, name
        assert "Usage" in out and "--quiet" in out, name


def test_no_arguments_shows_help(capsys):
    code, out, _ = run_cli([], capsys)
    assert code == 0 and "train" in out


@pytest.mark.parametrize("args, needle", [
    (["train", "--epochs", "many"], "--epochs must be a number or 'auto'"),
    (["train", "--bogus"], "No such option: --bogus"),
    (["trian"], "No such command 'trian'"),
    (["train", "no-such-corpus.txt"], "does not exist"),
])
def test_errors_are_one_line_without_traceback(cli_error, args, needle):
    assert needle in cli_error(args)


def test_train_prints_a_summary_with_purity(tmp_path, corpus_file, capsys):
    args = ["train", str(corpus_file), "--out", str(tmp_path / "run"), *tiny_args(epochs=1)]
    code, out, _ = run_cli(args, capsys)
    assert code == 0
    assert "complete" in out and "category purity@10" in out
    assert f"Run directory: {tmp_path / 'run'}" in out


def test_train_summary_says_why_a_run_stopped_and_all_epochs_turns_the_rule_off(tmp_path, corpus_file, capsys):
    import json

    args = ["train", str(corpus_file), "--d-model", "16", "--layers", "1", "--heads", "2", "--context", "8",
            "--batch-size", "8", "--device", "cpu"]
    code, out, _ = run_cli([*args, "--out", str(tmp_path / "settled"), "--epochs", "8"], capsys)
    result = json.loads((tmp_path / "settled" / "run.json").read_text())["result"]
    assert code == 0 and result["stop_reason"].startswith("settled at epoch")
    assert "complete (settled at" in out and f"{result['epochs_done']} of 8" in out
    code, out, _ = run_cli([*args, "--out", str(tmp_path / "every"), "--epochs", "1", "--all-epochs"], capsys)
    assert code == 0 and "1 of 1" in out
    assert json.loads((tmp_path / "every" / "run.json").read_text())["config"]["stop_when_settled"] is False


def test_quiet_train_prints_nothing(tmp_path, corpus_file, capsys):
    args = ["train", str(corpus_file), "--out", str(tmp_path / "run"), *tiny_args(epochs=1), "--quiet"]
    code, out, err = run_cli(args, capsys)
    assert code == 0 and out == "" and err == ""


def click_params(name: str) -> dict:
    import typer.main

    return {p.name: p for p in typer.main.get_command(app).commands[name].params}


def test_shared_options_read_alike_in_every_command():
    commands = {name: click_params(name) for name in command_names()}
    assert len({params["quiet"].help for params in commands.values()}) == 1
    film, page = commands["animate"], commands["explore"]
    shared = {"words", "words_file", "only", "top", "content_only", "level", "method", "align", "umap_mode", "metric",
              "cache", "seed"}
    assert shared <= set(film) & set(page)
    for name in shared:
        assert (film[name].opts, film[name].help, film[name].default) == (page[name].opts, page[name].help,
                                                                           page[name].default), name


def test_every_default_is_the_librarys():
    from dataclasses import fields

    from embviz.compare.comparison import CompareOptions
    from embviz.film.animate_options import AnimateOptions
    from embviz.training.config import TrainConfig

    def check(command: str, options: object, skip: set[str] = frozenset()) -> int:
        params = click_params(command)
        named = [f.name for f in fields(options) if f.name in params and f.name not in skip]
        for name in named:
            value = getattr(options, name)  # None (chosen later) shows as nothing or as auto
            assert params[name].default in ((None, "auto") if value is None else (value,)), (command, name)
        return len(named)

    animate = AnimateOptions()
    assert check("animate", animate, {"words"}) >= 12 and check("animate", animate.film, {"label_words", "size"}) >= 3
    assert click_params("animate")["size"].default == "x".join(map(str, animate.film.size))
    assert check("explore", animate, {"words"}) >= 11
    assert check("train", TrainConfig(), {"categories"}) >= 25
    compare = CompareOptions()
    assert check("compare-word2vec", compare, {"words"}) >= 6 and check("compare-word2vec", compare.word2vec) >= 7
