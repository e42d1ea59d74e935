"""The option checks of ``train``, through the real command line (``embviz.cli.main``, as
tests/test_bad_input.py runs it): a model size of 0 or below is an error, never ``auto`` in
disguise; one ``Error:`` line, no traceback, no run directory."""

from __future__ import annotations

import pytest

from conftest import tiny_args

BAD_SIZES = [
    ("--d-model", "0", "--d-model must be between 1 and 8192, got 0"),
    ("--d-model", "-64", "--d-model must be between 1 and 8192, got -64"),
    ("--layers", "0", "--layers must be between 1 and 128, got 0"),
    ("--layers", "-1", "--layers must be between 1 and 128, got -1"),
    ("--heads", "0", "--heads must be between 1 and 256, got 0"),
    ("--heads", "-2", "--heads must be between 1 and 256, got -2"),
]


@pytest.mark.parametrize(("option", "value", "message"), BAD_SIZES)
def test_a_model_size_of_zero_or_below_is_one_error_line(corpus_file, tmp_path, cli_error, option, value, message):
    out = tmp_path / "run"
    line = cli_error(["train", str(corpus_file), *tiny_args(epochs=1), option, value, "--out", str(out), "-q"])
    assert line == f"Error: {message}"
    assert not out.exists()
