"""Word → hierarchical category (``pos/field/subfield``), from the shipped TSVs or a user file, and
the category of every token of a vocabulary."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path

from embviz.errors import ConfigError
from embviz.text import chinese
from embviz.text.tokenizer import BPE_MARK, Tokenizer

LEVELS = ("pos", "field", "subfield")
PURITY_LEVEL = 1
"""The level whose purity ``train`` and ``compare-word2vec`` report: 1, the semantic field (``noun/animal``)."""
"""Names of the category levels: ``noun/animal/pet`` is pos ``noun``, field ``noun/animal``, subfield
``noun/animal/pet``."""

_BUILTIN = ("lexicon.tsv", "lexicon_zh.tsv")


def at_level(path: str | None, level: int) -> str | None:
    """``noun/animal/pet`` cut after level ``level`` (0 = pos): level 1 is ``noun/animal``."""
    return "/".join(path.split("/")[: level + 1]) if path else None


class Lexicon:
    """Categories of lowercase words; a category is a ``/``-separated path, coarse to fine.

    A word may have several paths (``orange``: a colour and a fruit); the first one is its main path.
    """

    def __init__(self, entries: Mapping[str, str | Iterable[str]]) -> None:
        self._paths: dict[str, tuple[str, ...]] = {}
        for word, paths in entries.items():
            paths = (paths,) if isinstance(paths, str) else tuple(paths)
            key = word.strip().lower()
            cleaned = tuple(dict.fromkeys(_clean_path(p) for p in paths))
            if not key or not cleaned or not all(cleaned):
                raise ConfigError(f"lexicon entry {word!r} needs a non-empty word and category")
            self._paths[key] = tuple(dict.fromkeys(self._paths.get(key, ()) + cleaned))
        self.depth = max((p.count("/") + 1 for ps in self._paths.values() for p in ps), default=0)

    @classmethod
    def builtin(cls) -> Lexicon:
        """The lexicons shipped with embviz: English (``data/lexicon.tsv``) and Chinese (``data/lexicon_zh.tsv``)."""
        entries: dict[str, list[str]] = {}
        for name in _BUILTIN:
            with resources.as_file(resources.files("embviz.text").joinpath("data", name)) as path:
                for word, paths in _read_tsv(path).items():
                    entries.setdefault(word, []).extend(paths)
        return cls(entries)

    @classmethod
    def from_tsv(cls, path: str | Path) -> Lexicon:
        """Read ``word<TAB>category`` lines (UTF-8; ``#`` comments and blank lines skipped).

        A category is a flat name (``colour``) or a path (``noun/animal/pet``); a word on several
        lines gets several categories, the first one being its main category.
        """
        return cls(_read_tsv(Path(path)))

    def path(self, word: str) -> str | None:
        """The main category path of ``word``, or None when the word is unknown."""
        paths = self._paths.get(word.lower())
        return paths[0] if paths else None

    def token_paths(self, tokens: Iterable[str]) -> list[str | None]:
        """The main path of every token, looked up without a BPE word-start marker."""
        return [self.path(t.lstrip(BPE_MARK)) if t.strip(BPE_MARK) else None for t in tokens]

    def ambiguous(self, word: str) -> tuple[str, ...]:
        """Every category path of ``word`` (main one first); empty when unknown."""
        return self._paths.get(word.lower(), ())

    def category(self, word: str, level: int | str) -> str | None:
        """The main path of ``word`` cut after ``level`` (0 = pos); a flat category answers every level."""
        return at_level(self.path(word), _level_index(level))

    def labels(self, words: Iterable[str], level: int | str) -> list[str | None]:
        """``category(word, level)`` for each word."""
        index = _level_index(level)
        return [self.category(w, index) for w in words]

    def words(self) -> list[str]:
        """All known words, in the order they were first given."""
        return list(self._paths)

    def __len__(self) -> int:
        return len(self._paths)

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and word.lower() in self._paths


def _read_tsv(path: Path) -> dict[str, list[str]]:
    """Word → category paths of a ``word<TAB>category`` file (see :meth:`Lexicon.from_tsv`)."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read lexicon {path}: {e.strerror or e}") from None
    if b"\x00" in data:
        raise ConfigError(f"lexicon {path} looks binary (it contains NUL bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ConfigError(f"lexicon {path} is not UTF-8 (invalid byte at offset {e.start})") from None
    entries: dict[str, list[str]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        columns = line.split("\t")
        if len(columns) != 2:
            raise ConfigError(f"{path}:{number}: expected word<TAB>category, "
                              f"found {len(columns)} column(s)")
        word, category = columns[0].strip().lower(), _clean_path(columns[1])
        if not word:
            raise ConfigError(f"{path}:{number}: empty word")
        if not category:
            raise ConfigError(f"{path}:{number}: empty category for {word!r}")
        entries.setdefault(word, []).append(category)
    if not entries:
        raise ConfigError(f"lexicon {path} has no entries")
    return entries


def _clean_path(category: str) -> str:
    return "/".join(part.strip().lower() for part in category.strip().split("/") if part.strip())


def _level_index(level: int | str) -> int:
    if isinstance(level, str):
        if level not in LEVELS:
            raise ConfigError(f"unknown category level {level!r}; choose one of {', '.join(LEVELS)}")
        return LEVELS.index(level)
    if isinstance(level, bool) or not isinstance(level, int) or level < 0:
        raise ConfigError(f"category level must be a name or an integer ≥ 0, got {level!r}")
    return level


def token_categories(tokenizer: Tokenizer, lexicon: Lexicon) -> list[str | None]:
    """The category path of every token of ``tokenizer`` (None where it has none).

    The lexicon's path, with a BPE word-start marker ignored; a word segmented by jieba that the
    lexicon lacks takes the part of speech jieba's dictionary gives it; a character token that is a
    letter of an alphabet (Latin ``s``, kana) has none, as it is no word (a Han character is one).
    """
    words = tokenizer.tokens
    paths = lexicon.token_paths(words)
    if tokenizer.kind == "char":
        paths = [None if w.isalpha() and not chinese.HAN.match(w) else p for w, p in zip(words, paths)]
    if tokenizer.segmenter == "jieba":
        tags = chinese.segmenter_tags([w for w, p in zip(words, paths) if w and p is None])
        paths = [p or tags.get(w) for w, p in zip(words, paths)]
    return paths
