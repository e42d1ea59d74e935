"""Properties of the corpus-derived defaults (no training here)."""

from __future__ import annotations

import pytest

from embviz.training import defaults
from embviz.training.defaults import Chosen, choose, epochs_for, flops_per_token, min_count_for, width_for
from embviz.training.model import ModelConfig, TinyGPT

AUTO = dict(d_model=None, layers=None, heads=None, epochs=None, lr=None, warmup=None)
SIZES = [500, 5_000, 20_000, 60_000, 300_000, 1_000_000, 10_000_000]


def auto(n: int, **kw) -> Chosen:
    args = {**AUTO, "batch_size": 32, "context": 64, **kw}
    return choose(n_train_tokens=n, **args)


def test_explicit_values_are_kept():
    c = choose(n_train_tokens=300_000, context=64, d_model=48, layers=3, heads=3, epochs=7, lr=1e-4, warmup=0,
               batch_size=16, vocab_size=500, patience=9)
    assert (c.d_model, c.layers, c.heads, c.epochs, c.lr, c.warmup, c.batch_size, c.patience) == \
        (48, 3, 3, 7, 1e-4, 0, 16, 9)


def test_width_and_epochs_are_monotone_in_corpus_size():
    chosen = [auto(n) for n in SIZES]
    widths = [c.d_model for c in chosen]
    epochs = [c.epochs for c in chosen]
    assert widths == sorted(widths) and epochs == sorted(epochs, reverse=True)
    assert [min_count_for(n) for n in SIZES] == sorted(min_count_for(n) for n in SIZES)
    with_vocab = [auto(n, vocab_size=max(50, n // 20)).epochs for n in SIZES]
    assert with_vocab == sorted(with_vocab, reverse=True)


@pytest.mark.parametrize("n", SIZES)
def test_ranges_are_sane(n):
    c = auto(n)
    assert c.d_model in (64, 128, 256) and c.d_model % c.heads == 0 and c.d_model // c.heads <= 64
    assert c.layers == 2
    assert defaults.MIN_EPOCHS <= c.epochs <= defaults.MAX_EPOCHS
    assert 0 < c.lr <= 1e-2
    assert 1 <= c.warmup <= 200
    assert c.patience is None or c.patience >= 2
    assert 1 <= min_count_for(n) <= 5


def test_batch_is_clamped_to_the_windows():
    assert auto(64 * 5 + 1, batch_size=32).batch_size == 5
    assert auto(10, context=64).batch_size == 1
    assert auto(1_000_000, batch_size=32).batch_size == 32


def test_heads_divide_width():
    for d in (48, 64, 96, 192, 256, 320):
        c = auto(100_000, d_model=d)
        assert d % c.heads == 0


def test_epochs_follow_the_budget():
    # token budget when the vocabulary is unknown: about TOKEN_BUDGET tokens processed
    n = 100_000
    assert abs(epochs_for(n, d_model=256, layers=2, context=64) * n - defaults.TOKEN_BUDGET) <= n
    # FLOP budget when it is known: a larger vocabulary (a costlier head) gets fewer epochs
    few = epochs_for(n, d_model=256, layers=2, context=64, vocab_size=20_000)
    many = epochs_for(n, d_model=256, layers=2, context=64, vocab_size=500)
    assert few < many
    spent = many * n * flops_per_token(256, 2, 500, 64)
    assert defaults.FLOP_BUDGET <= spent <= defaults.FLOP_BUDGET * (1 + 1 / (many - 1))


def test_flops_formula_matches_the_model():
    cfg = ModelConfig(vocab_size=700, d_model=64, layers=3, heads=2, context=32)
    assert flops_per_token(64, 3, 700, 32) == TinyGPT(cfg).flops_per_token()


def test_no_early_stopping_unless_asked():
    assert auto(60_000).patience is None and auto(1_000_000).patience is None
    assert width_for(1) == 64 and width_for(10**9) == defaults.MAX_WIDTH
