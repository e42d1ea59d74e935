"""Defaults derived from the corpus: whatever the user leaves as ``None`` (``auto``) is chosen here.

The rules look only at sizes (training tokens, and the vocabulary size when the caller knows it),
never at which corpus it is. ``docs/defaults.md`` gives the reasons and the measurements.

- **Width** grows with the corpus in three steps (64, 128, 256). 256 is the smallest width at which
  the matmuls of a training step run at ≥ 0.6 of a 1024² fp32 matmul on CPU; below it the step is
  bound by overheads, not arithmetic. Tiny corpora get a narrow model (and fast tests).
- **Depth** stays at 2: the embedding layer is what we film, and two blocks already give it the
  contexts it needs; each further block costs as much as the first.
- **Heads**: head dimension 64 (``d_model // 64``, at least 1), the shape ``scaled_dot_product_attention``
  runs fastest at.
- **Epochs** from a compute budget: enough passes that the run processes about
  :data:`FLOP_BUDGET` training FLOPs (when the vocabulary size is known; otherwise
  :data:`TOKEN_BUDGET` tokens), at least :data:`MIN_EPOCHS` so structure has time to appear, at
  most :data:`MAX_EPOCHS`. A small corpus gets many passes, a large one few.
- **Learning rate** 3e-3 (AdamW, β₂ 0.95, warmup + cosine to a tenth): small models tolerate it and
  lower rates left real text near the unigram loss within the budget.
- **Warmup** 5 % of the steps, at most 200.
- **Stopping**: the epochs are a budget, not a promise. Once the map has settled a run cools down
  for one epoch (learning rate straight down to the schedule's floor) and stops
  (:mod:`embviz.training.stopping`; ``--all-epochs`` turns that off). Patience on validation loss alone is off
  unless ``patience`` is given: on a 71k-token Wikipedia slice validation loss is lowest after epoch 2
  while the embedding's purity rises until epoch 6. Every run records the step of its best
  validation loss (``best_step`` in ``run.json``).
- **Batch** as given, clamped to the number of context windows in the corpus.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

TOKEN_BUDGET = 1_500_000
"""Training tokens processed by an ``--epochs auto`` run when the vocabulary size is not known."""

FLOP_BUDGET = 2.0e13
"""Training FLOPs of an ``--epochs auto`` run (≈ 80–100 s at the ≈ 250 GFLOP/s two cores reach)."""

MIN_EPOCHS = 3
MAX_EPOCHS = 100
LR = 3e-3

WIDTH_STEPS = ((10_000, 64), (30_000, 128))
"""``(below this many training tokens, use this width)``; larger corpora get :data:`MAX_WIDTH`."""
MAX_WIDTH = 256
LAYERS = 2
HEAD_DIM = 64


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
    patience: int | None = None


def min_count_for(n_tokens: int) -> int:
    """Rare words get no reliable embedding: drop types seen fewer times than this (``word``/``char``).

    Grows with the corpus so the vocabulary (and the LM head's cost) grows more slowly than the text.
    """
    if n_tokens < 50_000:
        return 1
    if n_tokens < 300_000:
        return 2
    if n_tokens < 3_000_000:
        return 3
    return 5


def width_for(n_train_tokens: int) -> int:
    for below, width in WIDTH_STEPS:
        if n_train_tokens < below:
            return width
    return MAX_WIDTH


def flops_per_token(d_model: int, layers: int, vocab_size: int, context: int) -> float:
    """Training FLOPs per token of a tied TinyGPT (same formula as ``TinyGPT.flops_per_token``)."""
    per_layer = 12 * d_model * d_model + 13 * d_model  # qkv, proj, mlp weights + biases + 2 LayerNorms
    n = layers * per_layer + vocab_size * (d_model + 1) + 2 * d_model  # tied head + its bias
    return 6.0 * n + 12.0 * layers * d_model * context


def epochs_for(n_train_tokens: int, *, d_model: int, layers: int, context: int,
               vocab_size: int | None = None) -> int:
    """Passes over the corpus: the compute budget divided by the cost of one pass, clamped."""
    n = max(1, n_train_tokens)
    if vocab_size:
        passes = FLOP_BUDGET / (flops_per_token(d_model, layers, vocab_size, context) * n)
    else:
        passes = TOKEN_BUDGET / n
    return int(min(MAX_EPOCHS, max(MIN_EPOCHS, math.ceil(passes))))


def choose(*, n_train_tokens: int, context: int, d_model: int | None, layers: int | None,
           heads: int | None, epochs: int | None, lr: float | None, warmup: int | None,
           batch_size: int, vocab_size: int | None = None, patience: int | None = None) -> Chosen:
    """Fill every ``None`` from the corpus size; explicit values are kept as given.

    ``vocab_size`` (optional) lets the epoch count follow a FLOP budget instead of a token budget;
    ``patience`` is kept as given (None: no early stopping).
    """
    windows = max(1, (n_train_tokens - 1) // context)
    batch = max(1, min(batch_size, windows))
    d = d_model or width_for(n_train_tokens)
    if heads:
        h = heads
    else:
        h = max(1, d // HEAD_DIM)
        while d % h:
            h -= 1
    n_layers = layers or LAYERS
    n_epochs = epochs or epochs_for(n_train_tokens, d_model=d, layers=n_layers, context=context,
                                    vocab_size=vocab_size)
    rate = lr or LR
    steps = n_epochs * max(1, windows // batch)
    warm = warmup if warmup is not None else min(200, max(1, steps // 20))
    return Chosen(d_model=d, layers=n_layers, heads=h, epochs=n_epochs, lr=rate, warmup=warm, batch_size=batch,
                  patience=patience)
