"""Defaults derived from the corpus: whatever the user leaves as ``None`` (``auto``) is chosen here.

The rules look only at sizes (training tokens, word types), never at which corpus it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

TOKEN_BUDGET = 2_000_000
"""Training tokens processed by an ``--epochs auto`` run (more epochs for a smaller corpus)."""


@dataclass(frozen=True)
class Chosen:
    """The values a run actually uses; recorded in ``run.json`` and printed in the summary."""

    d_model: int
    layers: int
    heads: int
    epochs: int
    lr: float
    warmup: int
    batch_size: int


def min_count_for(n_tokens: int) -> int:
    """Rare words get no reliable embedding: drop types seen fewer times than this (``word``/``char``)."""
    return 1 if n_tokens < 50_000 else 2


def choose(*, n_train_tokens: int, context: int, d_model: int | None, layers: int | None,
           heads: int | None, epochs: int | None, lr: float | None, warmup: int | None,
           batch_size: int) -> Chosen:
    """Fill every ``None`` from the corpus size; explicit values are kept as given."""
    windows = max(1, (n_train_tokens - 1) // context)
    batch = min(batch_size, windows)
    d = d_model or (64 if n_train_tokens < 1_000_000 else 128)
    h = heads or max(1, d // 32)
    n_layers = layers or 2
    n_epochs = epochs or int(min(100, max(2, math.ceil(TOKEN_BUDGET / n_train_tokens))))
    rate = lr or 3e-3
    steps = n_epochs * max(1, windows // batch)
    warm = warmup if warmup is not None else min(200, max(1, steps // 20))
    return Chosen(d_model=d, layers=n_layers, heads=h, epochs=n_epochs, lr=rate, warmup=warm, batch_size=batch)
