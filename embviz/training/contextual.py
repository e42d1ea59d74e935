"""The contextual probe of a run: which occurrences of the validation text it follows, and their hidden states.

:func:`choose` picks the probe set once per run (seeded, from the validation text): ``PER_WORD``
occurrences of each of the ``TOP_WORDS`` most frequent categorised words, and of every homonym
``PER_WORD`` occurrences of each sense the corpus records (``--probe-words`` names other words).
:class:`Capture` runs the model on the windows that hold them at every snapshot point (eval mode,
no gradient, no random draw) and returns the input and every block's output at each occurrence.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch

from embviz.errors import ConfigError
from embviz.rundir.occurrences import Occurrences
from embviz.training.data import split_validation

PER_WORD = 8
"""Occurrences of each probed word (of each sense, for a homonym)."""
TOP_WORDS = 48
"""How many of the most frequent categorised words the probe follows by default."""
SENTENCE_ENDS = frozenset(".!?。！？")
"""Tokens that end a sentence: the sentence numbers of the probe set count them."""
BATCH = 64
"""Windows per forward pass of the capture."""
WINDOW = 32
"""Tokens of the probe's windows (fewer when the model's context is shorter): an occurrence sees up to this
many tokens before it, a few sentences of the synthetic corpus, and the capture costs a fraction of a step."""


def window_length(context: int) -> int:
    """The length of the probe's windows for a model of ``context`` positions."""
    return min(context, WINDOW)


def min_position(context: int) -> int:
    """The first position of a probe window an occurrence may stand at: a quarter window of context before it."""
    return window_length(context) // 4


def choose(ids: np.ndarray, tokens: Sequence[str], categories: Sequence[str | None], *, context: int,
           val_fraction: float, seed: int, senses: Mapping[int, str] | None = None,
           words: Sequence[str] = (), per_word: int = PER_WORD, top: int = TOP_WORDS) -> Occurrences:
    """The probe set of a run whose corpus is the token ids ``ids`` [N] (``tokens`` and ``categories`` by id).

    The validation text (:func:`~embviz.training.data.split_validation`) is cut into windows of
    :func:`window_length` tokens from its start; an occurrence qualifies when its window is whole and it stands
    at position :func:`min_position` or later. The rarest words (and senses) are placed first and the others
    are taken where possible from the windows already chosen, so the capture runs on few windows.
    ``senses`` (token index in ``ids`` → category path) label homonyms' occurrences. ``words`` replaces the default words; one the vocabulary lacks, or that occurs fewer than
    twice where it qualifies, is a ConfigError naming words that would do. Seeded by ``seed`` alone
    (numpy; torch's random state is never touched).
    """
    index = split_validation(torch.arange(len(ids)), val_fraction, context)[1].numpy()
    val = np.asarray(ids)[index]
    width = window_length(context)
    where = np.arange((len(val) // width) * width)
    where = where[where % width >= min_position(context)]
    ends = np.isin(val, [i for i, t in enumerate(tokens) if t in SENTENCE_ENDS])
    sentence = np.concatenate([[0], np.cumsum(ends)[:-1]])
    sense_of = np.array([(senses or {}).get(int(g)) for g in index[where]], dtype=object)
    by_word: dict[int, np.ndarray] = {}
    order = np.argsort(val[where], kind="stable")
    cuts = np.flatnonzero(np.diff(val[where][order])) + 1
    for group in np.split(order, cuts):
        if group.size:
            by_word[int(val[where][group[0]])] = group
    eligible = [i for i, g in sorted(by_word.items()) if g.size >= 2 and i != 0]
    if words:
        chosen = _named(words, tokens, eligible)
    else:
        homonyms = [i for i in eligible if len({s for s in sense_of[by_word[i]] if s}) > 1]
        chosen = [i for i in eligible if categories[i]][:top] + homonyms
        chosen = list(dict.fromkeys(chosen))
    rng = np.random.default_rng([seed, 0x70726F6265])
    parts: list[tuple[int, np.ndarray]] = []  # (word's place in the probe, its candidates in random order)
    for place, token in enumerate(chosen):
        group = by_word[token]
        kinds = {s for s in sense_of[group] if s}
        for part in ([group[sense_of[group] == s] for s in sorted(kinds)] if len(kinds) > 1 else [group]):
            parts.append((place, rng.permutation(part)))
    opened: set[int] = set()
    picked: dict[int, list[np.ndarray]] = {}
    for place, part in sorted(parts, key=lambda p: p[1].size):  # rarest first: they decide the windows
        window = where[part] // width
        inside = np.isin(window, list(opened))
        take = np.concatenate([part[inside], part[~inside]])[:per_word]
        opened.update((where[take] // width).tolist())
        picked.setdefault(place, []).append(np.sort(take))
    order = [i for place in sorted(picked) for part in picked[place] for i in part]
    rows = where[np.array(order, dtype=np.int64)]
    token_ids = val[rows]
    return Occurrences(
        token_ids=token_ids.astype(np.int64), words=[tokens[i] for i in token_ids],
        sentences=sentence[rows].astype(np.int64), windows=(rows // width).astype(np.int64),
        positions=(rows % width).astype(np.int64), categories=[categories[i] for i in token_ids],
        senses=[(senses or {}).get(int(g)) for g in index[rows]])


def _named(words: Sequence[str], tokens: Sequence[str], eligible: list[int]) -> list[int]:
    """The token ids of ``words`` (``--probe-words``); an unknown or too rare word is a ConfigError."""
    ids = {t: i for i, t in enumerate(tokens)}
    usable = [tokens[i] for i in eligible]
    chosen = []
    for word in words:
        token = ids.get(word, ids.get(word.lower()))
        if token is None or token not in eligible:
            near = difflib.get_close_matches(word, usable, n=5) or usable[:5]
            why = "is not in the vocabulary" if token is None else "occurs fewer than twice in the validation text"
            raise ConfigError(f"--probe-words: {word!r} {why}; words it could follow: {', '.join(near)}")
        chosen.append(token)
    return list(dict.fromkeys(chosen))


def senses_of(corpus_senses: Mapping[int, str] | None, ids: np.ndarray, tokens: Sequence[str],
              paths: Callable[[str], tuple[str, ...]]) -> Mapping[int, str] | None:
    """The corpus's senses if they index these token ids [N] (each sense is one of the category paths
    ``paths(token)`` of the token there, or the token is ``<unk>``), else None (the tokenizer cut the text otherwise)."""
    if not corpus_senses:
        return None
    for i, sense in corpus_senses.items():
        if i < len(ids) and ids[i] != 0 and sense not in paths(tokens[ids[i]]):
            return None
    return corpus_senses


class Capture:
    """The probe's windows, ready on the model's device, and the hidden states read from them.

    ``val_ids`` [M] is the validation text, cut in windows of :func:`window_length`; :meth:`__call__` returns
    ``[occurrences, layers + 1, d]`` float32.
    """

    def __init__(self, occurrences: Occurrences, val_ids: torch.Tensor, context: int, device: torch.device):
        windows, rows = np.unique(occurrences.windows, return_inverse=True)
        width = window_length(context)
        starts = torch.from_numpy(windows * width)
        self.batch = val_ids[starts[:, None] + torch.arange(width)].to(device)
        self.rows = torch.from_numpy(rows.reshape(-1))
        self.positions = torch.from_numpy(occurrences.positions)

    @torch.no_grad()
    def __call__(self, model: torch.nn.Module) -> np.ndarray:
        was_training = model.training
        model.eval()
        out = None
        try:
            for start in range(0, len(self.batch), BATCH):
                states: list[torch.Tensor] = []
                model.trunk(self.batch[start:start + BATCH], states)
                hidden = torch.stack(states, dim=2).float().cpu()  # [b, T, layers + 1, d]
                if out is None:
                    out = torch.empty((len(self.rows), *hidden.shape[2:]))
                mine = (self.rows >= start) & (self.rows < start + BATCH)
                out[mine] = hidden[self.rows[mine] - start, self.positions[mine]]
        finally:
            model.train(was_training)
        return out.numpy()
