"""The built-in corpus: English-like sentences whose words have known, nested categories.

A small probabilistic grammar fills sentence frames with words drawn from categories
``pos/field/subfield``. Part of speech decides where a word can stand, the field decides which
frames it enters (foods follow ingestion verbs, days follow ``on``), and the sub-field biases the
frame further (drinks come in cups, wild animals live in the forest), so words that share a
sub-field share more contexts than words that only share a field, which share more than words of
different fields.

The same grammar writes Chinese (``lang="zh"``): every lexeme has a Chinese word in the same
category, function words have Chinese equivalents (or none: ``the``, ``that``), and words are
separated by spaces, so the text is already segmented and its categories are those of the English.
Word order stays the grammar's (subject, verb, object, then adjuncts).
"""

from __future__ import annotations

import bisect
import re

import numpy as np

from embviz.errors import ConfigError
from embviz.text.synthetic_words import FUNCTION_WORDS, FUNCTION_ZH, WORDS, WORDS_ZH

DEFAULT_DIFFICULTY = 0.15
"""Share of content slots filled from a random field of the right part of speech."""

MIN_TOKENS = 1_000
MAX_TOKENS = 50_000_000

_ZIPF_EXPONENT = 1.0
_FILLER_SHARE = 0.5
"""Probability, per unit of difficulty, that a sentence is an unconstrained filler frame."""

LANGS = ("en", "zh")

_MODALS = (("will", 0.4), ("can", 0.3), ("may", 0.2), ("must", 0.1))
_TENSES = (("3sg", 0.5), ("past", 0.3), ("modal", 0.2))
_SUBJECTS = (("noun/person/family", 0.45), ("noun/person/generic", 0.3),
             ("noun/person/occupation", 0.18), ("noun/person/role", 0.07))
_FORMS = {"sg": 0, "pl": 1, "base": 0, "3sg": 1, "past": 2}

# Frames, with weights. ``<a|b:form>`` is a slot drawing from category a or b (a pos, field or
# sub-field; ``:v`` makes a tensed verb phrase); ``{x|y}`` picks a literal word; ``$name`` is a
# phrase built by the generator (subject, count, time adjunct, clause, arithmetic, city in
# country). ``a`` agrees with the next word (``an orange``).
_FRAMES: tuple[tuple[float, str], ...] = (
    # animals
    (3, "$subj <verb/care/tend:v> the <noun/animal/pet> at home $time ."),
    (2, "$subj <verb/possession/hold:v> $count <noun/animal/pet:pl> at home ."),
    (2, "the <noun/animal/pet> <verb/motion/walk:v> around the house ."),
    (3, "$subj <verb/care/tend:v> the <noun/animal/farm> on the farm $time ."),
    (2, "$subj <verb/possession/hold:v> $count <noun/animal/farm:pl> on the farm ."),
    (3, "$subj <verb/perception/sight:v> a <noun/animal/wild> at the zoo $time ."),
    (2, "$subj <verb/perception/sight:v> $count <noun/animal/wild:pl> in the forest ."),
    (2, "the <noun/animal/wild> <verb/motion/walk:v> in the forest ."),
    (2, "the <adj/size/big> <noun/animal/wild> <verb/motion/walk:v> to the river ."),
    (2, "the <adj/size/small> <noun/animal/pet> <verb/motion/walk:v> to the garden ."),
    (3, "the <adj/colour/neutral> <noun/animal> <verb/motion/walk:v> to the <noun/place/landscape> ."),
    (2, "$subj <verb/emotion/attitude:v> the <noun/animal:pl> ."),
    (2, "$subj <verb/emotion/attitude:v> to <verb/perception/sight:base> the <noun/animal:pl> ."),
    (2, "$subj <verb/perception/sound:v> the <noun/animal:pl> $time ."),
    # food
    (5, "$subj <verb/ingestion/eat:v> the <noun/food/fruit|noun/food/vegetable|noun/food/dish> $time ."),
    (3, "$subj <verb/ingestion/eat:v> a <noun/food/fruit> $time ."),
    (3, "$subj <verb/cooking/cut:v> the <noun/food/fruit|noun/food/vegetable:pl> ."),
    (2, "$subj picks $count <noun/food/fruit:pl> in the garden ."),
    (2, "$subj <verb/cooking/heat:v> the <noun/food/vegetable:pl> in a pot ."),
    (3, "$subj <verb/cooking/heat:v> <noun/food/dish> for $poss <noun/person/family> ."),
    (3, "$subj <verb/ingestion/drink:v> a cup of <noun/food/drink> $time ."),
    (2, "$subj <verb/cooking/serve:v> <noun/food/drink|noun/food/dish> to $poss <noun/person/family> ."),
    (3, "$subj <verb/possession/exchange:v> $count <noun/food/fruit|noun/food/vegetable:pl> at the market ."),
    (2, "$subj <verb/emotion/attitude:v> <noun/food/dish|noun/food/drink> ."),
    # people
    (3, "$subj <verb/motion/arrive:v> to see $poss <noun/person/family> $time ."),
    (2, "my <noun/person/family> and my <noun/person/family> <verb/motion/walk:v> to the <noun/place/building> ."),
    (2, "the <noun/person/occupation> <verb/motion/arrive:v> to the <noun/place/building> $time ."),
    (2, "$count <noun/person/generic|noun/person/occupation:pl> <verb/motion/arrive:base> to the <noun/place/building> ."),
    (2, "the <noun/person/role> of <noun/place/country> <verb/speech/say:v> that $clause ."),
    (1, "$subj {listens|listened} to the <noun/person/role> ."),
    # places
    (4, "$subj <verb/motion/travel:v> to <noun/place/country|noun/place/city> $time ."),
    (2, "$subj <verb/motion/travel:v> to <noun/place/city> by <noun/object/vehicle> ."),
    (2, "$subj <verb/motion/arrive:v> from <noun/place/country> $time ."),
    (2, "$located ."),
    (3, "$subj <verb/motion/walk:v> to the <noun/place/building|noun/place/landscape> $time ."),
    (1, "the <noun/place/building> is near the <noun/place/landscape> ."),
    # objects, colours and sizes
    (2, "the <adj/size> <adj/colour/warm> <noun/object/vehicle> <verb/motion/arrive:v> $time ."),
    (2, "$subj <verb/motion/travel:v> in a <adj/colour/warm> <noun/object/vehicle> ."),
    (3, "$subj {wears|wore} a <adj/colour/cool> <noun/object/wearable> ."),
    (2, "$subj <verb/possession/exchange:v> a <adj/colour> <noun/object/wearable|noun/object/household> at the market ."),
    (2, "the <noun/object/household> is <adj/size/small> ."),
    (1, "the <noun/object/vehicle> is <adj/size/big> ."),
    # emotions
    (3, "$subj feels <adj/emotion/positive> and {smiles|laughs} ."),
    (3, "$subj feels <adj/emotion/negative> and {cries|sighs} ."),
    (2, "$subj is <adj/emotion> $time ."),
    # speech and thought
    (3, "$subj <verb/speech/say:v> that $clause ."),
    (2, "$subj <verb/speech/tell:v> $poss <noun/person/family> that $clause ."),
    (3, "$subj <verb/cognition/think:v> that $clause ."),
    (2, "$subj <verb/cognition/memory:v> the <noun> ."),
    # numbers
    (4, "$sum ."),
    (2, "the <num/ordinal> <noun/person/generic> <verb/motion/arrive:v> $time ."),
    (1, "$subj <verb/motion/arrive:v> on the <num/ordinal> day ."),
)

_CLAUSES: tuple[tuple[float, str], ...] = (
    (1, "the <noun/animal> <verb/motion/walk:v>"),
    (1, "$subj <verb/ingestion/eat:v> the <noun/food/fruit|noun/food/dish>"),
    (1, "$subj <verb/motion/travel:v> to <noun/place>"),
    (1, "$subj is <adj/emotion>"),
)

_FILLERS: tuple[tuple[float, str], ...] = (
    (1, "the <noun> <verb:v> the <noun> $time ."),
    (1, "$subj <verb:v> a <adj> <noun> ."),
    (1, "the <adj> <noun> <verb:v> $time ."),
)

_TIMES: tuple[tuple[float, str], ...] = (
    (0.55, ""),
    (0.12, "on <noun/time/day>"),
    (0.1, "in <noun/time/month>"),
    (0.08, "in the <noun/time/part>"),
    (0.06, "every <noun/time/period>"),
    (0.05, "{last|next} <noun/time/period>"),
    (0.04, "on the <num/ordinal> of <noun/time/month>"),
)

_SLOT = re.compile(r"<([^>:]+)(?::(\w+))?>")


class _Draw:
    """Random draws from a buffered ``numpy`` generator."""

    def __init__(self, seed: int) -> None:
        self._rng = np.random.default_rng(seed)
        self._buffer: list[float] = []

    def uniform(self) -> float:
        if not self._buffer:
            self._buffer = self._rng.random(8192).tolist()[::-1]
        return self._buffer.pop()

    def index(self, cumulative: list[float]) -> int:
        return bisect.bisect_right(cumulative, self.uniform() * cumulative[-1])

    def weighted(self, pairs):
        return pairs[self.index(_cumulative([w for _, w in pairs]))][0]


def _cumulative(weights) -> list[float]:
    return np.cumsum(np.asarray(weights, dtype=float)).tolist()


def _parse_lexemes(spec: str) -> list[tuple[str, ...]]:
    return [tuple(item.split()) for item in spec.split(", ")]


_LEXEMES = {path: _parse_lexemes(spec) for path, spec in WORDS.items()}
_LEXEMES_ZH = {path: [(word,) for word in spec.split()] for path, spec in WORDS_ZH.items()}
_LITERALS_ZH = {**{form: zh[0] for path in reversed(WORDS) for en, zh in zip(_LEXEMES[path], _LEXEMES_ZH[path])
                   for form in en}, **FUNCTION_ZH}
"""English words the frames write literally (``home``, ``picks``, ``the``) → Chinese."""
_ZIPF = {path: _cumulative([1 / (rank + 1) ** _ZIPF_EXPONENT for rank in range(len(items))])
         for path, items in _LEXEMES.items()}


def _children() -> dict[str, list[str]]:
    """Each pos and field → its fields or sub-fields, in table order."""
    children: dict[str, list[str]] = {}
    for leaf in _LEXEMES:
        parts = leaf.split("/")
        for depth in (1, 2):
            kids = children.setdefault("/".join(parts[:depth]), [])
            if "/".join(parts[: depth + 1]) not in kids:
                kids.append("/".join(parts[: depth + 1]))
    return children


_CHILDREN = _children()


def vocabulary(lang: str = "en") -> dict[str, tuple[str, ...]]:
    """Every word the grammar can produce in ``lang`` → its category paths (two for the ambiguous ones)."""
    _check_lang(lang)
    vocab: dict[str, list[str]] = {}
    for path, lexemes in (_LEXEMES if lang == "en" else _LEXEMES_ZH).items():
        for lexeme in lexemes:
            for word in lexeme:
                vocab.setdefault(word, [])
                if path not in vocab[word]:
                    vocab[word].append(path)
    for path, words in FUNCTION_WORDS.items():
        for word in words.split():
            word = word if lang == "en" else FUNCTION_ZH[word]
            if word and path not in vocab.setdefault(word, []):
                vocab[word].append(path)
    return {word: tuple(paths) for word, paths in vocab.items()}


def ambiguous_words(lang: str = "en") -> dict[str, tuple[str, ...]]:
    """The words the grammar uses in two categories with the same surface form."""
    return {word: paths for word, paths in vocabulary(lang).items() if len(paths) > 1}


def _check_lang(lang: str) -> None:
    if lang not in LANGS:
        raise ConfigError(f"synthetic corpus language must be one of {', '.join(LANGS)}, got {lang!r}")


def generate(n_tokens: int = 300_000, seed: int = 0, difficulty: float = DEFAULT_DIFFICULTY,
             lang: str = "en") -> str:
    """About ``n_tokens`` word and full-stop tokens of sentences, one per line, deterministic for ``seed``.

    ``difficulty`` (0..1) is the share of content slots filled from any field of the right part of
    speech instead of the frame's own; it also turns up to half the sentences into frames that
    constrain nothing but part of speech. At 0 the categories are crisp. ``lang="zh"`` writes the
    same sentences in Chinese words separated by spaces.
    """
    return generate_with_senses(n_tokens, seed, difficulty, lang)[0]


def generate_with_senses(n_tokens: int = 300_000, seed: int = 0, difficulty: float = DEFAULT_DIFFICULTY,
                         lang: str = "en") -> tuple[str, dict[int, str]]:
    """:func:`generate`'s text and the sense of every occurrence of an ambiguous word (:func:`ambiguous_words`):
    ``{token index: category path}``, indexed over the text's tokens (its words and full stops, in order)."""
    if isinstance(n_tokens, bool) or not isinstance(n_tokens, (int, np.integer)):
        raise ConfigError(f"n_tokens must be an integer, got {n_tokens!r}")
    if not MIN_TOKENS <= n_tokens <= MAX_TOKENS:
        raise ConfigError(f"n_tokens must be between {MIN_TOKENS:,} and {MAX_TOKENS:,}, got {n_tokens:,}")
    if isinstance(difficulty, bool) or not isinstance(difficulty, (int, float)) or not 0 <= difficulty <= 1:
        raise ConfigError(f"difficulty must be a number between 0 and 1, got {difficulty!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be an integer ≥ 0, got {seed!r}")
    _check_lang(lang)
    grammar = _Grammar(_Draw(int(seed)), float(difficulty), lang)
    ambiguous = ambiguous_words(lang)
    lines: list[str] = []
    senses: dict[int, str] = {}
    count = 0
    while count < n_tokens:
        tokens = grammar.sentence()
        for i, token in enumerate(tokens):
            if token in ambiguous:
                senses[count + i] = getattr(token, "path", None) or _function_path(ambiguous[token])
        count += len(tokens)
        lines.append(" ".join(tokens[:-1]) + "." if lang == "en" else " ".join(tokens))
    return "\n".join(lines) + "\n", senses


class _Sensed(str):
    """A word the grammar drew from a category, carrying that category's ``path``."""

    path: str


def _sensed(word: str, path: str) -> _Sensed:
    out = _Sensed(word)
    out.path = path
    return out


def _function_path(paths: tuple[str, ...]) -> str:
    """The sense of a word the frames write literally: its function-word path."""
    return next(p for p in paths if p.startswith("function/"))


class _Grammar:
    def __init__(self, draw: _Draw, difficulty: float, lang: str = "en") -> None:
        self._draw = draw
        self._difficulty = difficulty
        self._lang = lang
        self._lexemes = _LEXEMES if lang == "en" else _LEXEMES_ZH
        self._one = self._lexemes["num/cardinal/small"][0][0]
        self._city_country = dict(zip((w[0] for w in self._lexemes["noun/place/city"]),
                                      (w[0] for w in self._lexemes["noun/place/country"])))
        self._frames = _compile(_FRAMES)
        self._fillers = _compile(_FILLERS)
        self._clauses = _compile(_CLAUSES)
        self._times = _compile(_TIMES)

    def sentence(self) -> list[str]:
        frames = self._fillers if self._draw.uniform() < _FILLER_SHARE * self._difficulty else self._frames
        tokens = self._expand(self._choose(frames))
        if self._lang == "zh":
            return [zh for zh in (_LITERALS_ZH.get(t, t) for t in tokens) if zh]
        return _agree(tokens)

    def _choose(self, compiled) -> list[str]:
        items, cumulative = compiled
        return items[self._draw.index(cumulative)]

    def _expand(self, template: list[str]) -> list[str]:
        out: list[str] = []
        for item in template:
            if item.startswith("$"):
                out.extend(self._phrase(item[1:]))
            elif item.startswith("{"):
                options = item[1:-1].split("|")
                out.append(options[int(self._draw.uniform() * len(options))])
            elif item.startswith("<"):
                out.extend(self._slot(item, out))
            else:
                out.append(item)
        return out

    def _slot(self, item: str, before: list[str]) -> list[str]:
        paths, form = _SLOT.fullmatch(item).groups()
        options = paths.split("|")
        path = options[int(self._draw.uniform() * len(options))]
        if form == "v":
            tense = self._draw.weighted(_TENSES)
            if tense == "modal":
                modal = self._draw.weighted(_MODALS)
                return [_sensed(modal if self._lang == "en" else FUNCTION_ZH[modal], "function/auxiliary/modal"),
                        self._word(path, "base")]
            return [self._word(path, tense)]
        if form == "pl" and before and before[-1] == self._one:
            form = "sg"
        return [self._word(path, form or "sg")]

    def _word(self, path: str, form: str) -> str:
        if self._draw.uniform() < self._difficulty:
            path = path.split("/")[0]
        while path not in _LEXEMES:
            children = _CHILDREN[path]
            path = children[int(self._draw.uniform() * len(children))]
        lexeme = self._lexemes[path][self._draw.index(_ZIPF[path])]
        index = _FORMS[form]
        return _sensed(lexeme[index] if index < len(lexeme) else lexeme[0], path)

    def _phrase(self, name: str) -> list[str]:
        if name == "subj":
            path = self._draw.weighted(_SUBJECTS)
            determiner = self._draw.weighted((("the", 0.5), ("my", 0.3), ("his", 0.1), ("her", 0.1))) \
                if path.endswith("family") else "the"
            return [determiner, self._word(path, "sg")]
        if name == "poss":
            return [self._draw.weighted((("my", 0.5), ("his", 0.25), ("her", 0.25)))]
        if name == "count":
            return self._count()
        if name == "time":
            return self._expand(self._choose(self._times))
        if name == "clause":
            return self._expand(self._choose(self._clauses))
        if name == "sum":
            return self._sum()
        if name == "located":
            city = self._word("noun/place/city", "sg")
            country = self._city_country.get(city)
            if country is None or self._draw.uniform() < self._difficulty:
                return [city, "is", "in", self._word("noun/place/country", "sg")]
            return [city, "is", "in", _sensed(country, "noun/place/country")]
        raise KeyError(name)

    def _count(self) -> list[str]:
        kind = self._draw.weighted((("small", 0.7), ("tens", 0.15), ("large", 0.15)))
        if kind == "large":
            return ["a", self._word("num/cardinal/large", "sg")]
        word = self._one
        while word == self._one:
            word = self._word(f"num/cardinal/{kind}", "sg")
        return [word]

    def _sum(self) -> list[str]:
        a = 1 + self._draw.index(_ZIPF["num/cardinal/small"])
        b = 1 + self._draw.index(_ZIPF["num/cardinal/small"])
        if self._draw.uniform() < 0.3 and a != b:
            a, b = max(a, b), min(a, b)
            return [self._number(a), "minus", self._number(b), "is", self._number(a - b)]
        return [self._number(a), "plus", self._number(b), "is", self._number(a + b)]

    def _number(self, value: int) -> str:
        if value <= 10:
            return self._lexemes["num/cardinal/small"][value - 1][0]
        if value < 20:
            return self._lexemes["num/cardinal/teen"][value - 11][0]
        return self._lexemes["num/cardinal/tens"][0][0]


def _agree(tokens: list[str]) -> list[str]:
    for i, token in enumerate(tokens[:-1]):
        if token in ("a", "an"):
            tokens[i] = "an" if tokens[i + 1][0] in "aeiou" else "a"
    return [t for t in tokens if t]


def _compile(frames: tuple[tuple[float, str], ...]):
    items = [template.split() for _, template in frames]
    return items, _cumulative([weight for weight, _ in frames])
