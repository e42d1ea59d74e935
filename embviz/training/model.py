"""TinyGPT: a small decoder-only Transformer language model whose token embedding we film."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from embviz.errors import ConfigError
from embviz.training.config import check_model


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int
    d_model: int = 64
    layers: int = 2
    heads: int = 4
    context: int = 64
    dropout: float = 0.0
    tie: bool = True

    def __post_init__(self) -> None:
        if self.vocab_size < 3:
            raise ConfigError("vocabulary must have at least 2 tokens besides <unk>")
        check_model(d_model=self.d_model, layers=self.layers, heads=self.heads, context=self.context,
                    dropout=self.dropout)
        if self.d_model % self.heads:
            raise ConfigError(f"--heads ({self.heads}) must divide --d-model ({self.d_model})")

    def to_json(self) -> dict:
        return asdict(self)


class Block(nn.Module):
    """Pre-LayerNorm Transformer block: causal self-attention then a GELU MLP, each residual."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.heads = cfg.heads
        self.dropout = cfg.dropout
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.d_model, 4 * cfg.d_model), nn.GELU(), nn.Linear(4 * cfg.d_model, cfg.d_model),
            nn.Dropout(cfg.dropout),
        )
        self.resid_drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0)
        x = x + self.resid_drop(self.proj(y.transpose(1, 2).reshape(b, t, d)))
        return x + self.mlp(self.ln2(x))


class TinyGPT(nn.Module):
    """Token embedding + learned positions → blocks → final LayerNorm → LM head (tied by default).

    The head has a bias, set to the corpus's log unigram frequencies by :meth:`set_unigram_prior`:
    word frequency then lives in the bias instead of in a shared direction of the embedding.

    ``forward(idx [B, T]) -> logits [B, T, V]``.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos = nn.Embedding(cfg.context, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.layers))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size)
        if cfg.tie:
            self.head.weight = self.tok.weight
        self.apply(self._init)
        for name, p in self.named_parameters():
            if name.endswith("proj.weight") or name.endswith("mlp.2.weight"):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * cfg.layers))

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.head(self.ln_f(self.trunk(idx)))

    def trunk(self, idx: torch.Tensor, states: list[torch.Tensor] | None = None) -> torch.Tensor:
        """The residual stream after the last block ``[B, T, d]``; ``states``, when given, gets the input
        (token + position embedding) and the output of every block, ``layers + 1`` tensors ``[B, T, d]``."""
        t = idx.shape[1]
        x = self.drop(self.tok(idx) + self.pos(torch.arange(t, device=idx.device)))
        if states is not None:
            states.append(x)
        for block in self.blocks:
            x = block(x)
            if states is not None:
                states.append(x)
        return x

    @torch.no_grad()
    def set_unigram_prior(self, counts: torch.Tensor) -> None:
        """Set the head's bias to log unigram probabilities from token counts ``[V]`` (add-one smoothed)."""
        smoothed = counts.to(self.head.bias) + 1
        self.head.bias.copy_(torch.log(smoothed / smoothed.sum()))

    def embedding(self) -> torch.Tensor:
        """The filmed matrix ``[V, d]``: the input token embedding (equal to the head when tied)."""
        return self.tok.weight

    def positions(self) -> torch.Tensor:
        """The learned position table ``[context, d]``."""
        return self.pos.weight

    def head_matrix(self) -> torch.Tensor | None:
        """The output head ``[V, d]`` when it is untied from the token table, else None."""
        return None if self.cfg.tie else self.head.weight

    def flops_per_token(self) -> float:
        """Training FLOPs per token (forward + backward): 6·N + attention, N without position embeddings."""
        n = sum(p.numel() for p in self.parameters()) - self.pos.weight.numel()
        if not self.cfg.tie:
            n -= self.tok.weight.numel()  # an untied input embedding is a lookup, not a matmul
        return 6.0 * n + 12.0 * self.cfg.layers * self.cfg.d_model * self.cfg.context
