"""Shared fixtures: tiny corpora and tiny training configs so the whole suite stays fast."""

from __future__ import annotations

import os

# The suite runs two pytest workers on two cores: one math thread each (inherited by the
# subprocesses the tests start), or OpenMP workers spin against each other and steps take 50x longer.
for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_name] = "1"

import random  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from embviz.training import TrainConfig  # noqa: E402

ANIMALS = ["cat", "dog", "horse", "cow", "lion", "tiger"]
FOODS = ["bread", "apple", "rice", "soup", "cheese", "pear"]
COLOURS = ["red", "blue", "green", "yellow"]
NUMBERS = ["one", "two", "three", "four", "five"]


def tiny_text(n_sentences: int = 600, seed: int = 0) -> str:
    """Sentences from a tiny grammar: animals eat foods, colours and numbers in their own slots."""
    rng = random.Random(seed)
    lines = []
    for _ in range(n_sentences):
        lines.append(f"the {rng.choice(COLOURS)} {rng.choice(ANIMALS)} eats {rng.choice(NUMBERS)} "
                     f"{rng.choice(FOODS)} .")
    return "\n".join(lines) + "\n"


@pytest.fixture
def corpus_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.txt"
    path.write_text(tiny_text(), encoding="utf-8")
    return path


@pytest.fixture
def tiny_config(corpus_file: Path) -> TrainConfig:
    return TrainConfig(corpus=str(corpus_file), d_model=16, layers=1, heads=2, context=8, batch_size=8,
                       epochs=2, lr=3e-3, device="cpu")
