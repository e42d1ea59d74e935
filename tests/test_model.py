import pytest
import torch

from embviz.errors import ConfigError
from embviz.training.model import ModelConfig, TinyGPT


def model(**kw):
    torch.manual_seed(0)
    return TinyGPT(ModelConfig(vocab_size=50, d_model=32, layers=2, heads=4, context=16, **kw)).eval()


def test_logits_have_shape_batch_time_vocab():
    m = model()
    assert m(torch.randint(0, 50, (3, 10))).shape == (3, 10, 50)


def test_a_future_token_cannot_change_earlier_logits():
    m = model()
    x = torch.randint(0, 50, (1, 16))
    y = x.clone()
    y[0, 10] = (x[0, 10] + 1) % 50
    a, b = m(x), m(y)
    assert torch.allclose(a[0, :10], b[0, :10], atol=1e-6)
    assert not torch.allclose(a[0, 10:], b[0, 10:])


def test_head_is_tied_to_the_embedding_unless_untied():
    tied = model()
    assert tied.head.weight is tied.tok.weight
    m = model(tie=False)
    assert m.head.weight.data_ptr() != m.tok.weight.data_ptr()


def test_embedding_starts_small_so_the_initial_loss_is_near_log_vocab():
    m = model()
    assert 0.015 < m.embedding().std().item() < 0.025
    x, y = torch.randint(0, 50, (2, 8, 16))
    loss = torch.nn.functional.cross_entropy(m(x).reshape(-1, 50), y.reshape(-1))
    assert abs(loss.item() - torch.log(torch.tensor(50.0)).item()) < 0.2


def test_unigram_prior_starts_the_loss_at_the_unigram_entropy_not_log_vocab():
    m = model()
    counts = (1000 / torch.arange(1, 51) ** 1.2).round()  # Zipf-like: a few frequent words
    p = (counts + 1) / (counts + 1).sum()
    entropy = -(p * p.log()).sum().item()
    m.set_unigram_prior(counts)
    torch.testing.assert_close(m.head.bias.softmax(0), p)
    x, y = torch.multinomial(p, 2 * 8 * 16, replacement=True, generator=torch.Generator().manual_seed(0)).view(2, 8, 16)
    loss = torch.nn.functional.cross_entropy(m(x).reshape(-1, 50), y.reshape(-1)).item()
    assert entropy < torch.log(torch.tensor(50.0)).item() - 0.5
    assert abs(loss - entropy) < 0.25


@pytest.mark.parametrize("kw, message", [
    ({"d_model": 30, "heads": 4}, "must divide"),
    ({"d_model": 0}, "d-model"),
    ({"layers": 0}, "layers"),
    ({"context": 1}, "context"),
    ({"dropout": 1.0}, "dropout"),
])
def test_bad_model_options_are_config_errors(kw, message):
    base = {"vocab_size": 50, "d_model": 32, "layers": 2, "heads": 4, "context": 16}
    with pytest.raises(ConfigError, match=message):
        ModelConfig(**{**base, **kw})
