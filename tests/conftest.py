"""Shared fixtures: tiny corpora, tiny training options (the suite stays fast) and the CLI's one-line errors."""

from __future__ import annotations

import os

# The suite runs two pytest workers on two cores: one math thread each (inherited by the
# subprocesses the tests start), or OpenMP workers spin against each other and steps take 50x longer.
for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_name] = "1"

import random  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from embviz.compare.comparison import CompareOptions  # noqa: E402
from embviz.compare.word2vec import Word2VecOptions  # noqa: E402
from embviz.training.loop import TrainConfig, train  # noqa: E402

TINY = dict(d_model=16, layers=1, heads=2, context=8, batch_size=8, epochs=2, lr=3e-3, device="cpu")
"""Training options small enough for a test: a run takes seconds."""
W2V = Word2VecOptions(epochs=3, workers=1, seed=0)
"""A small, deterministic Word2Vec baseline."""
FAST = CompareOptions(word2vec=W2V, figures=False)
"""compare-word2vec without figures."""

ANIMALS = ["cat", "dog", "horse", "cow", "lion", "tiger"]
FOODS = ["bread", "apple", "rice", "soup", "cheese", "pear"]
COLOURS = ["red", "blue", "green", "yellow"]
NUMBERS = ["one", "two", "three", "four", "five"]


CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
needs_browser = pytest.mark.skipif(not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
                                   reason="no system browser: apt-get install chromium chromium-driver (.ci/run does)")
HOSTILE = "</script><img src=x onerror=alert(1)>"
"""A token that is markup: every page must show it as text."""


def tiny_text(n_sentences: int = 600, seed: int = 0) -> str:
    """Sentences from a tiny grammar: animals eat foods, colours and numbers in their own slots."""
    rng = random.Random(seed)
    lines = []
    for _ in range(n_sentences):
        lines.append(f"the {rng.choice(COLOURS)} {rng.choice(ANIMALS)} eats {rng.choice(NUMBERS)} "
                     f"{rng.choice(FOODS)} .")
    return "\n".join(lines) + "\n"


def bpe_tokenizer_file(folder: Path) -> Path:
    """``folder/tokenizer.json``: a byte-level BPE written by ``tokenizers``, trained on :func:`tiny_text`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(tiny_text().splitlines(), trainer=trainer)
    path = folder / "tokenizer.json"
    tok.save(str(path))
    return path


def train_tiny_run(root: Path, name: str, sentences: int = 600, **overrides) -> Path:
    """Train a :data:`TINY` run (``overrides`` replace options) on ``root/<name>.txt`` into ``root/<name>``."""
    corpus = root / f"{name}.txt"
    corpus.write_text(tiny_text(sentences), encoding="utf-8")
    train(TrainConfig(corpus=str(corpus), **{**TINY, **overrides}), root / name)
    return root / name


SUBPROCESS_MODULES = {"test_crash.py", "test_distributed.py"}
"""Modules every test of which starts ``embviz`` in subprocesses (killed and resumed runs, torchrun)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``slow`` the tests that start the CLI in subprocesses or drive the browser (``make test-fast``
    leaves them out); other heavy tests carry ``@pytest.mark.slow`` themselves."""
    for item in items:
        if item.path.name in SUBPROCESS_MODULES or "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="module")
def browser():
    """Debian's headless chromium through selenium, one per module; names resolve only to 127.0.0.1, so a page
    that links anything outside (a notebook export's script tags) reaches nothing."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="embviz-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1280,800",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", f"--user-data-dir={profile}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="session")
def word_run(tmp_path_factory) -> Path:
    """A tiny trained word-level run, shared by the tests of one worker (copy it before changing it)."""
    return train_tiny_run(tmp_path_factory.mktemp("w2v"), "word", sentences=300)


@pytest.fixture
def run_copy(word_run: Path, tmp_path: Path) -> Path:
    """A private copy of :func:`word_run` (its corpus file stays where run.json names it)."""
    target = tmp_path / "run"
    shutil.copytree(word_run, target)
    return target


@pytest.fixture(scope="session")
def toy(tmp_path_factory) -> Path:
    """A toy run (``tests/toyrun.py``: 120 words × 8 snapshots × d 16, noise → nested categories);
    copy it before changing it."""
    from toyrun import make_toy_run

    path = tmp_path_factory.mktemp("toy") / "run"
    make_toy_run(path, n_words=120, n_snapshots=8, dim=16)
    return path


@pytest.fixture
def corpus_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.txt"
    path.write_text(tiny_text(), encoding="utf-8")
    return path


def tiny_args(**overrides) -> list[str]:
    """:data:`TINY` (``overrides`` replace or add options) as ``embviz train`` flags."""
    return [arg for name, value in {**TINY, **overrides}.items()
            for arg in (f"--{name.replace('_', '-')}", str(value))]


@pytest.fixture
def tiny_config(corpus_file: Path) -> TrainConfig:
    return TrainConfig(corpus=str(corpus_file), **TINY)


@pytest.fixture
def cli_error(capsys):
    """``cli_error(argv)`` runs the CLI, checks that it printed one ``Error:`` line (and no traceback) and
    exited non-zero, and returns that line."""
    from embviz import cli

    def run(argv: list[str]) -> str:
        with pytest.raises(SystemExit) as exit_info:
            cli.main(argv)
        captured = capsys.readouterr()
        assert exit_info.value.code not in (0, None)
        assert "Traceback" not in captured.err + captured.out
        lines = [line for line in captured.err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("Error: "), captured.err
        return lines[0]

    return run
