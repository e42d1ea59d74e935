"""Which words a film shows: the word-choice options read against a run's vocabulary (a :class:`Selection`),
the category levels its paths support and their legend names. Shared by ``animate``, ``explore`` and
``export``."""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embviz.errors import ConfigError
from embviz.film.animate_options import DEFAULT_TOP, MAX_CATEGORISED, AnimateOptions
from embviz.rundir.occurrences import Occurrences
from embviz.rundir.run import Run
from embviz.rundir.snapshot import layer_of
from embviz.text import chinese
from embviz.text.lexicon import LEVELS, at_level
from embviz.text.tokenizer import BPE_MARK

FLAT_LEVEL = "category"
"""Name of the only level of a flat (one-level) lexicon."""
FUNCTION_POS = frozenset({"function"} | {chinese.TAGS[tag] for tag in ("r", "p", "c", "u", "y", "e")})
"""Parts of speech that ``--content-only`` leaves out: the English lexicon's ``function/…`` and the PKU
tags' pronouns (r), prepositions (p), conjunctions (c), particles (u), modal particles (y) and
interjections (e), as :data:`embviz.text.chinese.TAGS` names them."""
CHINESE_FUNCTION_WORDS = frozenset(
    "的 地 得 之 着 了 过 所 等 吗 呢 吧 啊 呀 嘛 在 从 对 把 被 给 向 于 以 与 跟 和 及 或 而 但 并 且 因为 所以 如果 "
    "虽然 但是 而且 或者 以及 还是 我 你 他 她 它 您 咱 这 那 哪 谁 其 我们 你们 他们 她们 它们 这个 那个 这些 那些 "
    "自己 什么".split())
"""The commonest Chinese words of those parts of speech, for tokens without a category (``--tokenizer char``
or unsegmented text, where no tag is known)."""
_SPECIAL = re.compile(r"^<[^<>\s]+>$")


@dataclass(frozen=True)
class Selection:
    """The words a film shows: token ids ``rows`` [n] (ascending), their tokens, counts and category
    paths, the category ``levels`` those paths support and the ``level`` the film is coloured by."""

    rows: np.ndarray
    words: list[str]
    counts: list[int]
    paths: list[str | None]
    levels: list[str]
    level: str

    def labels(self, level: str) -> list[str | None]:
        """Each word's category at ``level`` (None = uncategorised)."""
        depth = 0 if level == FLAT_LEVEL else LEVELS.index(level)
        return [at_level(p, depth) for p in self.paths]

    @property
    def level_labels(self) -> dict[str, list[str | None]]:
        """{level: labels} for every level, coarse to fine."""
        return {level: self.labels(level) for level in self.levels}


def choose_words(run: Run, options: AnimateOptions) -> Selection:
    """The words ``options`` asks for (see :func:`select_words`), checked: at least 3, and ``options.level``
    one the run's categories have. Warns once about requested words not in the vocabulary.

    For ``options.matrix == "position"`` the "words" are the positions 0..context-1 (labels ``"0"``, ``"1"``, …),
    without categories: the film colours them by index; for ``layer:N`` they are the probe's occurrences and its
    words' static vectors (:func:`layer_selection`)."""
    if options.matrix == "position":
        return position_selection(run.load_snapshot(run.snapshots()[0], matrix="position").shape[0])
    if layer_of(options.matrix) is not None:
        return layer_selection(run.occurrences(), run.vocab()[0], options.level)
    tokens, counts, categories = run.vocab()
    ranks = counts
    if not any(counts):
        warnings.warn("token frequencies are unknown (the run was imported without --corpus): --top takes the "
                      "lowest token ids, and the norm-frequency measure stays empty", stacklevel=2)
        ranks = list(range(len(tokens), 0, -1))
    requested = list(options.words) + (read_words_file(options.words_file) if options.words_file is not None else [])
    rows, unknown = select_words(tokens, ranks, categories, top=options.top, content_only=options.content_only,
                                 words=requested, only=options.only, max_categorised=options.max_categorised)
    if rows.size == 0:
        if requested:
            listed = ", ".join(unknown[:10]) + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
            raise ConfigError(f"none of the requested words is in the vocabulary ({listed})")
        raise ConfigError("no words to show: the vocabulary is empty after filtering")
    _warn_unknown(unknown)
    if rows.size < 3:
        raise ConfigError(f"a film needs at least 3 words, only {rows.size} found in the vocabulary")
    paths = [categories[i] for i in rows]
    levels = category_levels(paths)
    level = options.level
    if level is None:
        level = levels[len(levels) // 2] if levels else FLAT_LEVEL
    elif level not in levels:
        if not levels:
            raise ConfigError(f"--level {level}: none of the shown words has a category")
        raise ConfigError(f"--level {level}: this run's categories have the level(s) {', '.join(levels)}")
    return Selection(rows=rows, words=[tokens[i] for i in rows], counts=[counts[i] for i in rows], paths=paths,
                     levels=levels, level=level)


def static_name(word: str) -> str:
    """The label of a probed word's static vector (its token-table row) in a ``layer:N`` film: ``[word]``."""
    return f"[{word}]"


def layer_selection(occurrences: Occurrences, tokens: Sequence[str], level: str | None) -> Selection:
    """The points of a ``layer:N`` film (rows as :meth:`~embviz.rundir.run.Run.layer_items` orders them): first the
    static vector of each probed word (``[word]``, its category), then every occurrence (``word@sentence``,
    coloured by its sense where the corpus knows it, else by its word's category)."""
    probed = occurrences.probed()
    first = {t: occurrences.categories[occurrences.token_ids.tolist().index(t)] for t in probed.tolist()}
    words = [static_name(tokens[t]) for t in probed] + [f"{w}@{s}" for w, s in zip(occurrences.words,
                                                                                 occurrences.sentences)]
    paths = [first[t] for t in probed.tolist()] + occurrences.labels
    levels = category_levels(paths)
    if level is not None and level not in levels:
        raise ConfigError(f"--level {level}: the probe's categories have the level(s) {', '.join(levels) or 'none'}")
    return Selection(rows=np.arange(len(words)), words=words, counts=[0] * len(words), paths=paths, levels=levels,
                     level=level or (levels[len(levels) // 2] if levels else FLAT_LEVEL))


def position_selection(context: int) -> Selection:
    """Positions 0..context-1 as a film's words: no categories, so no category measure is taken of them."""
    return Selection(rows=np.arange(context), words=[str(i) for i in range(context)], counts=[0] * context,
                     paths=[None] * context, levels=[], level=FLAT_LEVEL)


def _stop_words() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS) | CHINESE_FUNCTION_WORDS


def is_content(token: str, category: str | None, stop_words: frozenset[str]) -> bool:
    """False for punctuation (no letter or digit), special tokens and function words: a category whose part
    of speech is in :data:`FUNCTION_POS`, or a word in ``stop_words``."""
    bare = token.strip(BPE_MARK)
    if not any(ch.isalnum() for ch in bare) or _SPECIAL.match(token):
        return False
    if category is not None and category.split("/")[0] in FUNCTION_POS:
        return False
    return bare.lower() not in stop_words


WORD_CLASSES = ("function", "content", "other")


def word_classes(tokens: Sequence[str], categories: Sequence[str | None]) -> list[str]:
    """Each token's class (:data:`WORD_CLASSES`): ``other`` for punctuation and special tokens, ``function`` for
    function words (as :func:`is_content` finds them), ``content`` for the rest."""
    stop = _stop_words()

    def word_class(token: str, category: str | None) -> str:
        if not any(ch.isalnum() for ch in token.strip(BPE_MARK)) or _SPECIAL.match(token):
            return "other"
        return "content" if is_content(token, category, stop) else "function"

    return [word_class(t, c) for t, c in zip(tokens, categories)]


def read_words_file(path: Path) -> list[str]:
    """Words from a file: one or more per line, separated by spaces, tabs or commas; ``#`` starts a comment."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"words file {path} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"words file {path} is a directory") from None
    except UnicodeDecodeError:
        raise ConfigError(f"words file {path} is not UTF-8 text") from None
    except OSError as e:
        raise ConfigError(f"cannot read words file {path}: {e.strerror or e}") from None
    words = []
    for line in text.splitlines():
        line = line.split("#", 1)[0] if not line.lstrip().startswith("#") else ""
        words += [w for w in re.split(r"[\s,]+", line) if w]
    return words


def select_words(
    tokens: Sequence[str],
    counts: Sequence[int],
    categories: Sequence[str | None],
    *,
    top: int = DEFAULT_TOP,
    content_only: bool = False,
    words: Sequence[str] = (),
    only: bool = False,
    max_categorised: int | None = MAX_CATEGORISED,
) -> tuple[np.ndarray, list[str]]:
    """Token ids to show (ascending) and the requested words that are not in the vocabulary.

    Default: every categorised token plus the ``top`` most frequent tokens (special tokens such as
    ``<unk>`` never). ``content_only`` drops punctuation and function words from that default set.
    When more than ``max_categorised`` tokens have a category (None: no limit), only that many are
    taken, balanced across categories: each category's most frequent token, then each one's second,
    and so on (within a round by frequency); one warning says so. ``words`` are added (or, with
    ``only``, are the whole set) and are never capped; a word matches its token exactly, lowercased,
    or with a BPE ``▁`` prefix.
    """
    if top < 0:
        raise ConfigError(f"--top must be >= 0, got {top}")
    if only and not words:
        raise ConfigError("--only needs --words or --words-file")
    where: dict[str, int] = {}
    for i, tok in enumerate(tokens):
        where.setdefault(tok, i)
    chosen: set[int] = set()
    if not only:
        stop = _stop_words() if content_only else frozenset()
        keep = [i for i, tok in enumerate(tokens) if not _SPECIAL.match(tok) and counts[i] > 0
                and (not content_only or is_content(tok, categories[i], stop))]
        categorised = [i for i in keep if categories[i] is not None]
        if max_categorised is not None and len(categorised) > max_categorised:
            categorised = balanced_by_category(categorised, counts, categories, max_categorised)
        chosen.update(categorised)
        by_count = sorted(keep, key=lambda i: (-counts[i], i))
        chosen.update(by_count[:top])
    unknown = []
    for word in dict.fromkeys(words):
        for candidate in (word, word.lower(), BPE_MARK + word, BPE_MARK + word.lower()):
            if candidate in where:
                chosen.add(where[candidate])
                break
        else:
            unknown.append(word)
    return np.array(sorted(chosen), dtype=np.int64), unknown


def balanced_by_category(ids: Sequence[int], counts: Sequence[int], categories: Sequence[str | None],
                         limit: int) -> list[int]:
    """``limit`` of the categorised token ids ``ids``: round r takes every category's r-th most
    frequent token (a category with fewer tokens drops out), rounds in order, within a round the
    more frequent first; warns once that the default word set was capped."""
    members: dict[str, list[int]] = {}
    for i in sorted(ids, key=lambda i: (-counts[i], i)):
        members.setdefault(categories[i], []).append(i)
    rank = {i: r for group in members.values() for r, i in enumerate(group)}
    picked = sorted(ids, key=lambda i: (rank[i], -counts[i], i))[:limit]
    warnings.warn(f"{len(ids):,} words have a category; the film shows {limit:,} of them, balanced across "
                  f"{len(members):,} categories (the most frequent of each in turn) — pass --words or "
                  "--words-file to choose the words yourself", stacklevel=4)
    return picked


def _warn_unknown(unknown: list[str]) -> None:
    if not unknown:
        return
    shown = ", ".join(unknown[:20]) + (f" and {len(unknown) - 20} more" if len(unknown) > 20 else "")
    warnings.warn(f"{len(unknown)} word(s) not in the vocabulary, skipped: {shown}", stacklevel=3)


def category_levels(categories: Sequence[str | None]) -> list[str]:
    """Level names the vocabulary's category paths support: ``pos, field, subfield`` (as deep as the
    paths go, at most three) or ``category`` for flat categories; empty when nothing is categorised."""
    depth = max((c.count("/") + 1 for c in categories if c), default=0)
    if depth == 0:
        return []
    if depth == 1:
        return [FLAT_LEVEL]
    return list(LEVELS[: min(depth, len(LEVELS))])


def display_names(paths: Sequence[str | None]) -> dict[str, str]:
    """Readable legend names: the last part of each path (``noun/animal`` → ``animal``); when two
    paths end alike, each gets its parent in brackets (``emotion (verb)``, ``emotion (adj)``)."""
    unique = sorted({p for p in paths if p})
    last: dict[str, list[str]] = {}
    for p in unique:
        last.setdefault(p.split("/")[-1], []).append(p)
    names = {}
    for tail, group in last.items():
        for p in group:
            parts = p.split("/")
            names[p] = tail if len(group) == 1 or len(parts) == 1 else f"{tail} ({'/'.join(parts[:-1])})"
    return names
