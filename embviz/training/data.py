"""The training data of a run: the validation split and each epoch's window starts (numpy, torch ids)."""

from __future__ import annotations

import numpy as np
import torch

VAL_PARTS = 20
"""The validation tokens are taken from this many places spread over the corpus."""


def split_validation(ids: torch.Tensor, fraction: float, context: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train ids, validation ids) from token ids [N]: the corpus is cut into up to :data:`VAL_PARTS`
    equal parts and the last ``fraction`` of each part (at least one window of ``context + 1``
    tokens in all) is held out, so validation text comes from the whole corpus, not only its end."""
    n_val = max(context + 1, int(len(ids) * fraction))
    parts = max(1, min(VAL_PARTS, n_val // (context + 1)))
    bounds = [len(ids) * i // parts for i in range(parts + 1)]
    train, val = [], []
    for i in range(parts):
        cut = bounds[i + 1] - (n_val * (i + 1) // parts - n_val * i // parts)
        train.append(ids[bounds[i]:cut])
        val.append(ids[cut:bounds[i + 1]])
    return torch.cat(train), torch.cat(val)


def epoch_windows(n_tokens: int, context: int, seed: int, epoch: int) -> np.ndarray:
    """Start positions ``[(n_tokens - 1) // context]`` of one epoch's training windows, in training order.

    The text is cut into slots of ``context`` tokens; each epoch shuffles the slots and starts each
    window of ``context + 1`` tokens at its own random offset below ``context`` inside its slot
    (clamped at the end of the text). Windows are not contiguous: neighbours may overlap or leave a
    gap, and the text is cut at new places in every epoch, so the model cannot learn the windows by heart.
    """
    windows = (n_tokens - 1) // context
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(windows)
    shift = rng.integers(0, context, size=windows)
    return np.minimum(order * context + shift[order], n_tokens - context - 1)
