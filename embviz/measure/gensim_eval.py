"""Word-similarity and analogy benchmarks: the files that ship inside the installed gensim package
and scores equal to gensim's own.

:func:`word_pair_spearman` and :func:`analogy_accuracy` reproduce gensim's
``KeyedVectors.evaluate_word_pairs`` and ``evaluate_word_analogies`` (default arguments) with
vectorised numpy; :func:`gensim_test_file` finds WordSim-353, SimLex-999, the Google analogies and the
built-in corpora in gensim's bundled test data.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from embviz.errors import ConfigError, EmbvizError
from embviz.measure.checks import check_matrix
from embviz.measure.metrics import BLOCK_ELEMENTS, unit_rows

WORDSIM353 = "wordsim353.tsv"
SIMLEX999 = "simlex999.txt"
ANALOGIES = "questions-words.txt"
RESTRICT_VOCAB = 300_000
"""Rows searched by the benchmark scores, as gensim's ``restrict_vocab`` default."""


def gensim_test_file(name: str) -> Path:
    """Path of ``name`` in gensim's bundled test data (``gensim.test.utils.datapath``).

    Parameters
    ----------
    name : str
        A file name such as :data:`WORDSIM353`, :data:`SIMLEX999` or :data:`ANALOGIES`.

    Returns
    -------
    pathlib.Path
        An existing file.
    """
    try:
        from gensim.test.utils import datapath
    except ImportError:
        raise EmbvizError("gensim is not installed; it provides the benchmark files") from None
    path = Path(datapath(name))
    if not path.is_file():
        raise EmbvizError(f"the installed gensim does not ship {name!r} (looked in {path.parent})")
    return path


@dataclass(frozen=True, eq=False)
class WordIndex:
    """Case-insensitive lookup of benchmark words, as gensim builds it.

    Attributes
    ----------
    rows : dict of str to int
        Upper-cased word to the first row (of the first ``size``) holding a word of that form.
    canonical : ndarray, int64, shape [size]
        ``rows[words[i].upper()]`` for each searched row i.
    n_words : int
        Rows of the matrix this index describes.
    """

    rows: dict[str, int]
    canonical: np.ndarray
    n_words: int

    @classmethod
    def from_words(cls, words: Sequence[str], restrict_vocab: int = RESTRICT_VOCAB) -> WordIndex:
        """Index the first ``restrict_vocab`` of ``words`` (row order = vector row order)."""
        if restrict_vocab < 1:
            raise ConfigError(f"restrict_vocab must be at least 1, got {restrict_vocab}")
        searched = [str(w).upper() for w in words[:restrict_vocab]]
        rows: dict[str, int] = {}
        for i, word in enumerate(searched):
            rows.setdefault(word, i)
        canonical = np.fromiter((rows[w] for w in searched), dtype=np.int64, count=len(searched))
        return cls(rows=rows, canonical=canonical, n_words=len(words))

    @property
    def size(self) -> int:
        """Number of rows searched for answers."""
        return self.canonical.size


@dataclass(frozen=True)
class PairScore:
    """Agreement of model cosine similarity with human similarity judgements.

    ``spearman`` and ``pearson`` are nan with fewer than 2 pairs in vocabulary.
    """

    spearman: float
    pearson: float
    coverage: float
    n_pairs: int


@dataclass(frozen=True)
class AnalogyScore:
    """3CosAdd accuracy on analogy questions whose four words are all in vocabulary.

    ``accuracy`` is nan when no question is in vocabulary.
    """

    accuracy: float
    coverage: float
    n_correct: int
    n_total: int


def _index_for(vectors: np.ndarray, words: Sequence[str] | WordIndex) -> WordIndex:
    """The :class:`WordIndex` for ``words``, checked against the rows of ``vectors``."""
    index = words if isinstance(words, WordIndex) else WordIndex.from_words(words)
    if index.n_words != vectors.shape[0]:
        raise EmbvizError(f"got {index.n_words} words for {vectors.shape[0]} vectors")
    return index


def _benchmark_rows(vectors, words, read, path, width: int):
    """``vectors`` checked [V, d], the :class:`WordIndex` of ``words``, the items ``read`` finds in the file at
    ``path`` and their rows [m, width] (``_lookup``)."""
    vectors = check_matrix(vectors, "vectors")
    index = _index_for(vectors, words)
    items = read(file_key(path))
    return vectors, index, items, _lookup(index, items, width)


def file_key(path) -> tuple[str, int, int]:
    """Cache key naming a file's current contents: resolved path, mtime, size."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"benchmark file {path} does not exist or is not a file")
    stat = path.stat()
    return str(path.resolve()), stat.st_mtime_ns, stat.st_size


def _read_lines(path: str, binary: bool) -> list[str]:
    """Lines of a UTF-8 file, split at b"\\n" only when ``binary``, else at universal newlines."""
    try:
        if binary:
            with open(path, "rb") as fin:
                return [raw.decode("utf8") for raw in fin]
        with open(path, encoding="utf8") as fin:
            return list(fin)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read benchmark file {path} as UTF-8 text: {exc}") from None


@functools.lru_cache(maxsize=16)
def read_pairs(key: tuple[str, int, int]) -> tuple[tuple[str, str, float], ...]:
    """Valid ``(WORD1, WORD2, score)`` lines of a tab-separated pairs file, as gensim parses them."""
    pairs = []
    for line in _read_lines(key[0], binary=False):
        if line.startswith("#"):
            continue
        fields = line.upper().split("\t")
        if len(fields) != 3:
            continue
        try:
            score = float(fields[2])
        except ValueError:
            continue
        pairs.append((fields[0], fields[1], score))
    if not pairs:
        raise ConfigError(f"no word pairs in {key[0]}: expected lines 'word1<TAB>word2<TAB>score'")
    return tuple(pairs)


@functools.lru_cache(maxsize=16)
def read_analogies(key: tuple[str, int, int]) -> tuple[tuple[str, str, str, str], ...]:
    """Valid ``(A, B, C, EXPECTED)`` questions of an analogy file, as gensim parses them."""
    questions = []
    in_section = False
    for line_no, line in enumerate(_read_lines(key[0], binary=True), start=1):
        if line.startswith(": "):
            in_section = True
            continue
        if not in_section:
            raise ConfigError(f"missing ': section' header before line {line_no} of {key[0]}")
        fields = line.upper().split()
        if len(fields) == 4:
            questions.append(tuple(fields))
    if not questions:
        raise ConfigError(f"no analogy questions in {key[0]}: expected lines 'a b c d'")
    return tuple(questions)


def _lookup(index: WordIndex, entries, width: int) -> np.ndarray:
    """Rows of the first ``width`` words of each entry; -1 marks an entry with an unknown word."""
    found = np.array(
        [[index.rows.get(word, -1) for word in entry[:width]] for entry in entries], dtype=np.int64
    )
    found[(found < 0).any(axis=1)] = -1
    return found


def word_pair_spearman(vectors, words: Sequence[str] | WordIndex, pairs_path) -> PairScore:
    """Word-similarity benchmark score, equal to gensim's ``evaluate_word_pairs(pairs_path)``.

    Lines starting with ``#`` are skipped, as are lines that are not ``word<TAB>word<TAB>score``.
    Words match case-insensitively against the first 300,000 rows (first spelling wins);
    pairs with an unknown word are left out and lower ``coverage``.

    Parameters
    ----------
    vectors : array, shape [V, d]
    words : sequence of str, length V, or a :class:`WordIndex` of them
        The word of each row of ``vectors``.
    pairs_path : path
        A WordSim-353 / SimLex-999 style file.

    Returns
    -------
    PairScore
    """
    vectors, index, pairs, rows = _benchmark_rows(vectors, words, read_pairs, pairs_path, 2)
    known = rows[:, 0] >= 0
    n_pairs = int(known.sum())
    coverage = n_pairs / len(pairs)
    if n_pairs < 2:
        return PairScore(float("nan"), float("nan"), coverage, n_pairs)
    unit = unit_rows(vectors[: index.size])
    model = (unit[rows[known, 0]] * unit[rows[known, 1]]).sum(axis=1)
    gold = np.array([pair[2] for pair in pairs])[known]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spearman = stats.spearmanr(gold, model)[0]
        pearson = stats.pearsonr(gold, model)[0]
    return PairScore(float(spearman), float(pearson), coverage, n_pairs)


def analogy_accuracy(vectors, words: Sequence[str] | WordIndex, questions_path) -> AnalogyScore:
    """3CosAdd analogy accuracy, equal to gensim's ``evaluate_word_analogies(questions_path)[0]``.

    For ``a : b :: c : ?`` the answer is the row most cosine-similar to the normalised
    ``b̂ + ĉ - â``, among the first 300,000 rows minus the three question rows, taking as
    gensim does the first of the top 5 whose spelling differs from the question words.
    Questions with an unknown word are left out and lower ``coverage``.

    Parameters
    ----------
    vectors : array, shape [V, d]
    words : sequence of str, length V, or a :class:`WordIndex` of them
    questions_path : path
        A ``questions-words.txt`` style file: ``: section`` headers, then ``a b c d`` lines.

    Returns
    -------
    AnalogyScore
    """
    vectors, index, questions, rows = _benchmark_rows(vectors, words, read_analogies, questions_path, 4)
    rows = rows[rows[:, 0] >= 0]
    n_total = rows.shape[0]
    coverage = n_total / len(questions)
    if n_total == 0:
        return AnalogyScore(float("nan"), coverage, 0, 0)
    unit = unit_rows(vectors[: index.size])
    targets = unit_rows(unit[rows[:, 1]] + unit[rows[:, 2]] - unit[rows[:, 0]])
    block = max(1, BLOCK_ELEMENTS // unit.shape[0])
    n_correct = 0
    for start in range(0, n_total, block):
        q = rows[start : start + block]
        sims = targets[start : start + block] @ unit.T
        local = np.arange(q.shape[0])
        sims[local[:, None], q[:, :3]] = -np.inf
        best = np.argmax(sims, axis=1)
        predicted = index.canonical[best]
        unsure = (predicted[:, None] == q[:, :3]).any(axis=1) | np.isneginf(sims[local, best])
        if unsure.any():
            predicted[unsure] = _gensim_pick(sims[unsure], q[unsure, :3], index.canonical)
        n_correct += int((predicted == q[:, 3]).sum())
    return AnalogyScore(n_correct / n_total, coverage, n_correct, n_total)


def _gensim_pick(sims: np.ndarray, asked: np.ndarray, canonical: np.ndarray) -> np.ndarray:
    """Answer as gensim does when the best row is a spelling of a question word.

    Of the 5 most similar rows (question rows masked to -inf), the first whose spelling is
    not a question word; failing that the last of them; -1 when none is left.

    Parameters
    ----------
    sims : ndarray, shape [q, size]
    asked : ndarray, shape [q, 3]
        Canonical rows of the question words.
    canonical : ndarray, shape [size]

    Returns
    -------
    ndarray, int64, shape [q]
        Canonical row of each answer.
    """
    depth = min(8, sims.shape[1])
    top = np.argpartition(-sims, depth - 1, axis=1)[:, :depth]
    top_sims = np.take_along_axis(sims, top, axis=1)
    order = np.argsort(-top_sims, axis=1, kind="stable")
    top = np.take_along_axis(top, order, axis=1)
    listed = np.take_along_axis(top_sims, order, axis=1) > -np.inf
    listed &= np.cumsum(listed, axis=1) <= 5
    spelling = canonical[top]
    fresh = listed & (spelling[:, :, None] != asked[:, None, :]).all(axis=2)
    last_listed = depth - 1 - np.argmax(listed[:, ::-1], axis=1)
    pick = np.where(fresh.any(axis=1), np.argmax(fresh, axis=1), last_listed)
    return np.where(listed.any(axis=1), spelling[np.arange(len(top)), pick], -1)
