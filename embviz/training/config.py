"""The options of ``train``: every field of a run's config, its default and its allowed range, written once.

This module imports nothing heavy, so the command line reads its defaults from here to show them in
``--help``; :func:`embviz.training.loop.train` takes a :class:`TrainConfig`.
"""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embviz.errors import ConfigError, RunError

SCHEDULES = ("epoch", "log")
DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("float32", "float16")
MODEL_RANGES = (("d_model", 1, 8192), ("layers", 1, 128), ("heads", 1, 256), ("context", 2, 65536))


def check_model(**values: int | float | None) -> None:
    """Raise ConfigError for a model size (:data:`MODEL_RANGES`) or dropout out of range; None is not checked.

    :meth:`TrainConfig.validate` checks the options before a run starts, :class:`embviz.training.model.ModelConfig`
    the values a run uses.
    """
    for name, low, high in MODEL_RANGES:
        value = values.get(name)
        if value is not None and not low <= value <= high:
            raise ConfigError(f"--{name.replace('_', '-')} must be between {low} and {high}, got {value}")
    dropout = values.get("dropout")
    if dropout is not None and not 0 <= dropout < 1:
        raise ConfigError(f"--dropout must be in [0, 1), got {dropout}")


def default_run_dir(corpus: str) -> Path:
    """Where a run of ``corpus`` goes when no directory is named: ``runs/<corpus name>-<local time>``."""
    import time

    return Path("runs") / f"{Path(corpus).name.split('.')[0]}-{time.strftime('%Y%m%d-%H%M%S')}"


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run needs; ``None`` means chosen from the corpus (see :mod:`embviz.training.defaults`)."""

    corpus: str = "synthetic"
    synthetic_tokens: int | None = None
    difficulty: float | None = None
    max_tokens: int | None = None
    tokenizer: str = "word"
    segmenter: str = "auto"
    lowercase: bool = True
    min_count: int | None = None
    max_vocab: int | None = None
    vocab_size: int = 2000
    categories: str | None = None
    d_model: int | None = None
    layers: int | None = None
    heads: int | None = None
    context: int = 64
    dropout: float = 0.0
    tie: bool = True
    epochs: int | None = None
    batch_size: int = 32
    lr: float | None = None
    weight_decay: float = 0.01
    warmup: int | None = None
    patience: int | None = None
    stop_when_settled: bool = True
    """Once the map has settled and validation loss no longer falls fast, cool down for an epoch and stop
    (:mod:`embviz.training.stopping`)."""
    val_fraction: float = 0.05
    seed: int = 0
    device: str = "auto"
    snapshot_every: int | None = None
    snapshot_schedule: str = "epoch"
    log_snapshots: int = 40
    snapshot_dtype: str = "float32"
    compile: bool = False
    probe: bool = True
    """Save the contextual vectors of a fixed set of validation occurrences at every snapshot
    (:mod:`embviz.training.contextual`)."""
    probe_words: str | None = None
    """Comma-separated words the probe follows instead of the most frequent categorised words and the homonyms."""

    def validate(self) -> None:
        from embviz.text.tokenizer import check_kind  # numpy: only when a run is checked, not for --help

        def positive(name: str, value: int | float | None, high: float) -> None:
            if value is not None and not 0 < value <= high:
                raise ConfigError(f"--{name.replace('_', '-')} must be in (0, {high:g}], got {value}")

        for name, high in [("epochs", 100_000), ("batch_size", 1_000_000), ("lr", 10.0),
                           ("snapshot_every", 1e9), ("log_snapshots", 10_000), ("patience", 100_000),
                           ("synthetic_tokens", 50_000_000), ("max_tokens", 1e12)]:
            positive(name, getattr(self, name), high)
        # None (auto) is chosen from the corpus and checked again as ModelConfig; 0 is not auto
        check_model(d_model=self.d_model, layers=self.layers, heads=self.heads, context=self.context,
                    dropout=self.dropout)
        if not 0 <= self.weight_decay <= 10:
            raise ConfigError("--weight-decay must be in [0, 10]")
        if self.warmup is not None and self.warmup < 0:
            raise ConfigError("--warmup must be 0 or more")
        if not 0 < self.val_fraction < 0.5:
            raise ConfigError(f"val_fraction must be in (0, 0.5), got {self.val_fraction} (a TrainConfig field: "
                              "the command line always holds out the default 0.05)")
        check_kind(self.tokenizer)
        for name, allowed in [("snapshot_schedule", SCHEDULES), ("device", DEVICES), ("snapshot_dtype", DTYPES)]:
            if getattr(self, name) not in allowed:
                raise ConfigError(f"--{name.replace('_', '-')} must be one of {', '.join(allowed)}")
        if self.seed < 0:
            raise ConfigError("--seed must be 0 or more")

    @classmethod
    def from_json(cls, data: Any, where: Path | str) -> "TrainConfig":
        """The config recorded in ``run.json``, type-checked field by field (run dirs may be untrusted)."""
        if not isinstance(data, dict):
            raise RunError(f"{where}: 'config' must be an object")
        hints = typing.get_type_hints(cls)
        unknown = sorted(set(data) - set(hints))
        if unknown:
            raise RunError(f"{where}: config has keys this version does not know: {', '.join(map(str, unknown))}")
        for name, value in data.items():
            if not _fits(value, hints[name]):
                raise RunError(f"{where}: config {name!r} has the wrong type ({type(value).__name__})")
        config = cls(**data)
        try:
            config.validate()
        except ConfigError as e:
            raise RunError(f"{where}: config is invalid: {e}") from None
        return config


def _fits(value: Any, hint: Any) -> bool:
    """Whether a JSON value fits a field annotation such as ``int | None`` (a bool is not an int)."""
    allowed = typing.get_args(hint) or (hint,)
    for kind in allowed:
        if kind is type(None) and value is None:
            return True
        if kind is bool and isinstance(value, bool):
            return True
        if kind is int and isinstance(value, int) and not isinstance(value, bool):
            return True
        if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return math.isfinite(value)
        if kind is str and isinstance(value, str):
            return True
    return False
