"""Tokenizers: ``word`` (regex words + punctuation; Chinese words from a segmenter), ``char`` (one
token per character) and ``bpe`` (Hugging Face ``tokenizers``). Each saves to JSON and is rebuilt
from it exactly.

Token id 0 is always ``<unk>``; the other ids are ordered by corpus frequency (most frequent first),
so the first rows of an embedding matrix are the most common tokens.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from embviz.errors import ConfigError, CorpusError
from embviz.text import chinese

UNK = "<unk>"
KINDS = ("word", "char", "bpe")
BPE_MARK = "▁"
"""The word-start marker of BPE tokens (the ``Metaspace`` pre-tokenizer's replacement character)."""


def word_form(token: str) -> str:
    """The word a token stands for: the token without a leading BPE word-start marker ``▁`` (a bare ``▁``
    stays). Imported runs store byte-level tokens (GPT-2's ``Ġ``) with the same marker."""
    return token[len(BPE_MARK):] if token.startswith(BPE_MARK) and len(token) > len(BPE_MARK) else token


WORD_PATTERN = re.compile(r"<unk>|\w+(?:['’]\w+)*|[^\w\s]", re.UNICODE)


@dataclass
class Tokenizer:
    """Maps text to token ids ``[N]`` and back; ``tokens[i]`` is the string of id ``i``.

    ``segmenter`` (``word`` only) is how words are found: ``none`` (the regular expression),
    ``whitespace`` or ``jieba`` (see :data:`embviz.text.chinese.SEGMENTERS`).
    """

    kind: str
    tokens: list[str]
    lowercase: bool = True
    bpe_json: str | None = None
    segmenter: str = "none"

    def __post_init__(self) -> None:
        self.ids = {t: i for i, t in enumerate(self.tokens)}
        self._bpe = None
        if self.kind == "bpe":
            from tokenizers import Tokenizer as HFTokenizer

            self._bpe = HFTokenizer.from_str(self.bpe_json)

    def __len__(self) -> int:
        return len(self.tokens)

    def split(self, text: str) -> list[str]:
        """The token strings of ``text``; for ``bpe``, ``tokens[id]`` of each id (an imported tokenizer's readable forms)."""
        if self.lowercase:
            text = text.lower()
        if self.kind == "word":
            if self.segmenter == "jieba":
                return chinese.segment(text)
            return text.split() if self.segmenter == "whitespace" else WORD_PATTERN.findall(text)
        if self.kind == "char":
            return [c for c in text if not c.isspace() or c == " "]
        return [self.tokens[i] for i in self._bpe.encode(text).ids]

    def encode(self, text: str) -> np.ndarray:
        """Token ids ``[N]`` (int64); unknown tokens map to ``<unk>`` (id 0)."""
        if self.kind == "bpe":
            return np.asarray(self._bpe.encode(text.lower() if self.lowercase else text).ids, dtype=np.int64)
        ids = self.ids
        return np.fromiter((ids.get(t, 0) for t in self.split(text)), dtype=np.int64)

    def decode(self, ids: np.ndarray) -> str:
        """Text for ``ids`` ``[N]``: words joined by spaces, characters joined as they are."""
        if self.kind == "bpe":
            return self._bpe.decode([int(i) for i in ids], skip_special_tokens=False)
        sep = "" if self.kind == "char" else " "
        return sep.join(self.tokens[int(i)] for i in ids)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "lowercase": self.lowercase, "tokens": self.tokens}
        if self.bpe_json is not None:
            data["bpe"] = self.bpe_json
        if self.segmenter != "none":
            data["segmenter"] = self.segmenter
        return data

    @classmethod
    def from_json(cls, data: Any) -> "Tokenizer":
        from embviz.errors import RunError

        try:
            kind, tokens, lowercase = data["kind"], data["tokens"], data["lowercase"]
            segmenter = data.get("segmenter", "none")
            if kind not in KINDS or not isinstance(lowercase, bool) or not all(isinstance(t, str) for t in tokens) \
                    or segmenter not in chinese.SEGMENTERS[1:] or (segmenter != "none" and kind != "word"):
                raise TypeError
            return cls(kind=kind, tokens=list(tokens), lowercase=lowercase, bpe_json=data.get("bpe"),
                       segmenter=segmenter)
        except Exception as e:  # any malformed field, including a BPE model HF cannot parse
            raise RunError(f"tokenizer.json is invalid ({type(e).__name__})") from None


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ConfigError(f"unknown tokenizer {kind!r} (choose from {', '.join(KINDS)})")


def count_words(text: str, kind: str = "word", *, lowercase: bool = True, segmenter: str = "auto") -> int:
    """How many words ``text`` has, for the automatic ``--min-count``: its space-separated words, or,
    for unsegmented Chinese (the ``word`` tokenizer segments it with jieba), the words jieba finds, since
    such text has almost no spaces."""
    if chinese.resolve_segmenter(text, segmenter, kind) == "jieba":
        return len(chinese.segment(text.lower() if lowercase else text))
    return len(text.split())


def build_tokenizer(text: str, kind: str = "word", *, lowercase: bool = True, min_count: int = 1,
                    max_vocab: int | None = None, vocab_size: int = 2000, segmenter: str = "auto") -> Tokenizer:
    """Learn a vocabulary from ``text``.

    ``min_count``/``max_vocab`` apply to ``word`` and ``char``; ``vocab_size`` to ``bpe``;
    ``segmenter`` to ``word`` (``auto``: decided from the text, see :func:`embviz.text.chinese.resolve_segmenter`).
    """
    check_kind(kind)
    segmenter = chinese.resolve_segmenter(text, segmenter, kind)
    if min_count < 1:
        raise ConfigError("--min-count must be at least 1")
    if max_vocab is not None and max_vocab < 2:
        raise ConfigError("--max-vocab must be at least 2")
    if kind == "bpe":
        tok = _build_bpe(text, lowercase, vocab_size)
    else:
        probe = Tokenizer(kind=kind, tokens=[UNK], lowercase=lowercase, segmenter=segmenter)
        counts = Counter(probe.split(text))
        counts.pop(UNK, None)
        kept = [t for t, c in sorted(counts.items(), key=lambda tc: (-tc[1], tc[0])) if c >= min_count]
        if max_vocab is not None:
            kept = kept[: max_vocab - 1]
        tok = Tokenizer(kind=kind, tokens=[UNK] + kept, lowercase=lowercase, segmenter=segmenter)
    if len(tok) - 1 < 2:
        raise CorpusError(f"the corpus gives a vocabulary of {len(tok) - 1} token(s); at least 2 are needed "
                          "(lower --min-count or give more text)")
    return tok


def _build_bpe(text: str, lowercase: bool, vocab_size: int) -> Tokenizer:
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import decoders, models, normalizers, pre_tokenizers, trainers

    if not 2 < vocab_size <= 1_000_000:
        raise ConfigError("--vocab-size must be between 3 and 1,000,000")
    hf = HFTokenizer(models.BPE(unk_token=UNK))
    if lowercase:
        hf.normalizer = normalizers.Lowercase()
    hf.pre_tokenizer = pre_tokenizers.Metaspace(replacement=BPE_MARK)
    hf.decoder = decoders.Metaspace(replacement=BPE_MARK)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[UNK], show_progress=False)
    hf.train_from_iterator(text.splitlines(), trainer=trainer)
    # Renumber by frequency so ids follow the same convention as the other tokenizers.
    counts = Counter(hf.encode(text).ids)
    vocab = hf.get_vocab()
    by_id = sorted(vocab, key=lambda t: vocab[t])
    order = [UNK] + sorted((t for t in by_id if t != UNK), key=lambda t: (-counts[vocab[t]], vocab[t]))
    model_json = _renumbered_bpe(hf, {t: i for i, t in enumerate(order)})
    return Tokenizer(kind="bpe", tokens=order, lowercase=False, bpe_json=model_json)


def _renumbered_bpe(hf: Any, new_ids: dict[str, int]) -> str:
    import json

    data = json.loads(hf.to_str())
    data["model"]["vocab"] = new_ids
    for added in data.get("added_tokens", []):
        added["id"] = new_ids[added["content"]]
    return json.dumps(data, ensure_ascii=False)
