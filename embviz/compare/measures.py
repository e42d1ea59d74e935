"""What ``compare-word2vec`` measures: the run as the comparison reads it (:class:`Source`), the rows both
spaces share (:class:`Spaces`) and the measures on them: CKA, Procrustes disparity, Jaccard@k of neighbour
sets, category purity, WordSim/SimLex/analogies, the per-snapshot agreement curve and nearest words.

The comparison uses the rows that exist in both spaces: every run token except ``<unk>`` and except
tokens that never occur in the corpus lines (no Word2Vec vector). Benchmark words match tokens
case-insensitively as gensim does; for BPE a leading ``▁`` word-start marker is stripped first.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from embviz.compare.similarity import Similarity, compare_spaces, in_parallel, nearest_of, neighbour_lists
from embviz.compare.word2vec import Baseline, check_output_dir
from embviz.errors import ConfigError, RunError
from embviz.measure.gensim_eval import (
    ANALOGIES,
    SIMLEX999,
    WORDSIM353,
    WordIndex,
    analogy_accuracy,
    gensim_test_file,
    word_pair_spearman,
)
from embviz.measure.metrics import cosine_knn, knn_purity, purity_chance
from embviz.progress import Progress
from embviz.rundir.manifest import RunManifest
from embviz.rundir.run import Run, Snapshot
from embviz.text.lexicon import PURITY_LEVEL, at_level
from embviz.text.tokenizer import BPE_MARK, UNK, Tokenizer, word_form

CURVE_MAX_ROWS = 5000
"""The per-snapshot agreement curve uses at most this many shared tokens, the most frequent (see
:func:`curve_sample`); the headline numbers always use every shared token."""


@dataclass(frozen=True)
class Purity:
    """Category kNN purity of both spaces on the same labelled tokens."""

    lm: float
    word2vec: float
    chance: float
    n_words: int
    k: int
    level: int


def word_forms(tokens: list[str], kind: str) -> list[str]:
    """The word each token stands for in benchmarks: the token, minus a BPE ``▁`` marker."""
    if kind != "bpe":
        return list(tokens)
    return [word_form(t) for t in tokens]


def curve_sample(rows: np.ndarray, counts, limit: int | None = None) -> np.ndarray:
    """Positions in ``rows`` (ascending) on which the per-snapshot curve is measured: all of them up to
    ``limit`` (default CURVE_MAX_ROWS), else the ``limit`` most frequent tokens (ties: lower id)."""
    limit = CURVE_MAX_ROWS if limit is None else limit
    if rows.size <= limit:
        return np.arange(rows.size)
    freq = np.asarray(counts, dtype=np.int64)[rows]
    order = np.lexsort((rows, -freq))
    return np.sort(order[:limit])


def find_words(words: tuple[str, ...], tokens: list[str], rows: np.ndarray, kind: str,
                lowercase: bool, warn: bool = False) -> list[tuple[str, int]]:
    """(asked word, shared-row position) for each ``--words`` entry found; warns about the rest."""
    where = {tokens[r]: pos for pos, r in enumerate(rows)}
    found, unknown = [], []
    for word in words:
        w = word.lower() if lowercase else word
        pos = where.get(w, where.get(BPE_MARK + w) if kind == "bpe" else None)
        (found.append((word, pos)) if pos is not None else unknown.append(word))
    if words and not found:
        raise ConfigError(f"none of the --words are in the run's vocabulary: {', '.join(words)}")
    if unknown and warn:
        warnings.warn(f"not in the run's vocabulary (or never in the corpus), skipped: {', '.join(unknown)}",
                      stacklevel=3)
    return found


def _bench(vectors: np.ndarray, index: WordIndex) -> dict:
    out = {}
    for key, name in (("wordsim353", WORDSIM353), ("simlex999", SIMLEX999)):
        out[key] = asdict(word_pair_spearman(vectors, index, gensim_test_file(name)))
    out["analogies"] = asdict(analogy_accuracy(vectors, index, gensim_test_file(ANALOGIES)))
    return out


# -- 1. the run ------------------------------------------------------------------------------------------


@dataclass
class Source:
    """A complete run as the comparison reads it: vocabulary, tokenizer and final snapshot ``lm`` [V, d]."""

    run: Run
    manifest: RunManifest
    tokens: list[str]
    counts: list[int]
    categories: list[str | None]
    tokenizer: Tokenizer
    snapshots: list[Snapshot]
    lm: np.ndarray

    @property
    def final(self) -> Snapshot:
        return self.snapshots[-1]


def open_source(run_dir: Path | str, words: tuple[str, ...] = (), write: bool = True) -> Source:
    """Open a complete run; check that ``<run>/word2vec`` can be written (when ``write``) and that ``words``
    are in the vocabulary (warning about the others) before any training, so mistakes fail fast."""
    run = Run.open_complete(Path(run_dir))
    if write:
        check_output_dir(run)
    tokens, counts, categories = run.vocab()
    tokenizer = run.tokenizer()
    snapshots = run.snapshots()
    lm = run.load_snapshot(snapshots[-1])
    if lm.shape[0] != len(tokens):
        raise RunError(f"{run.path}: the final snapshot has {lm.shape[0]} rows for {len(tokens)} tokens")
    candidates = np.array([i for i, t in enumerate(tokens) if t != UNK], dtype=np.int64)
    find_words(words, tokens, candidates, tokenizer.kind, tokenizer.lowercase, warn=True)
    return Source(run, run.manifest(), tokens, counts, categories, tokenizer, snapshots, lm)


# -- 2. the shared tokens --------------------------------------------------------------------------------


@dataclass
class Spaces:
    """Both spaces on the ``rows`` [n] of the run tokens that have a vector in each (``lm`` [n, d1],
    ``word2vec`` [n, d2]): every token except ``<unk>`` and tokens that never occur in a corpus line."""

    rows: np.ndarray
    tokens: list[str]
    lm: np.ndarray
    word2vec: np.ndarray


def shared_spaces(source: Source, baseline: Baseline) -> Spaces:
    rows = np.array([i for i, t in enumerate(source.tokens) if t != UNK and baseline.present[i]], dtype=np.int64)
    if rows.size < 3:
        raise RunError(f"only {rows.size} token(s) have vectors in both spaces; nothing to compare")
    return Spaces(rows, [source.tokens[i] for i in rows], source.lm[rows], baseline.vectors[rows])


# -- 3. measures -----------------------------------------------------------------------------------------


def measure_similarity(spaces: Spaces, k: int) -> Similarity:
    """CKA, Procrustes disparity and Jaccard@k of the LM and Word2Vec on every shared token."""
    return compare_spaces(spaces.lm, spaces.word2vec, *neighbour_lists((spaces.lm, spaces.word2vec), k))


def purity_labels(spaces: Spaces, categories: list[str | None]) -> list[str | None]:
    """The shared tokens' categories at :data:`PURITY_LEVEL`."""
    return [at_level(categories[i], PURITY_LEVEL) for i in spaces.rows]


def measure_purity(spaces: Spaces, categories: list[str | None], k: int) -> Purity:
    labels = purity_labels(spaces, categories)
    return Purity(lm=knn_purity(spaces.lm, labels, k), word2vec=knn_purity(spaces.word2vec, labels, k),
                  chance=purity_chance(labels), n_words=sum(lab is not None for lab in labels), k=k,
                  level=PURITY_LEVEL)


def measure_benchmarks(spaces: Spaces, kind: str) -> dict:
    """WordSim-353, SimLex-999 and analogy scores of both spaces: ``{name: {"lm": ..., "word2vec": ...}}``."""
    index = WordIndex.from_words(word_forms(spaces.tokens, kind))
    lm, w2v = _bench(spaces.lm, index), _bench(spaces.word2vec, index)
    return {name: {"lm": lm[name], "word2vec": w2v[name]} for name in lm}


def measure_curve(source: Source, spaces: Spaces, similarity: Similarity, k: int,
                  progress: Progress | None = None) -> tuple[list[dict], dict]:
    """CKA and mean Jaccard@k of every snapshot against Word2Vec, and which rows they were measured on.

    The curve is measured on a fixed sample of rows when the vocabulary is large (:func:`curve_sample`):
    a k-NN search over V rows at each of T snapshots costs O(T V^2 d) (50,000 x 512 x 100: about an hour).
    """
    rows = spaces.rows
    pick = curve_sample(rows, source.counts)
    sampled = pick.size < rows.size
    curve_rows = rows[pick]
    w2v_curve = spaces.word2vec[pick] if sampled else spaces.word2vec
    k_curve = min(k, pick.size - 1)
    knn_w2v_curve = cosine_knn(w2v_curve, k_curve) if sampled else similarity.knn_b

    def point(snap: Snapshot) -> dict:
        if snap == source.final:
            x = spaces.lm[pick] if sampled else spaces.lm
            knn = cosine_knn(x, k_curve) if sampled else similarity.knn_a
        else:
            x = source.run.load_snapshot(snap, curve_rows)
            knn = None
        agree = compare_spaces(x, w2v_curve, knn, knn_w2v_curve, disparity=False)
        return {"step": snap.step, "epoch": snap.epoch, "val_loss": snap.val_loss,
                "linear_cka": agree.linear_cka, "jaccard_mean": float(agree.jaccard.mean())}

    curve = in_parallel(point, source.snapshots, progress)
    info = {"n_tokens": int(pick.size), "of": int(rows.size), "k": k_curve, "sampled": sampled,
            "rule": (f"the {pick.size:,} most frequent shared tokens (of {rows.size:,}); CKA and "
                     f"Jaccard@{k_curve} with neighbours among those tokens only" if sampled
                     else "all shared tokens, as the headline numbers")}
    return curve, info


def nearest_words(source: Source, spaces: Spaces, words: tuple[str, ...], count: int) -> list[dict]:
    """Each of ``words``' ``count`` nearest neighbours (cosine) in both spaces."""
    count = min(count, spaces.rows.size - 1)
    found = find_words(words, source.tokens, spaces.rows, source.tokenizer.kind, source.tokenizer.lowercase)
    return [{"word": word, "token": spaces.tokens[pos], "lm": nearest_of(spaces.lm, pos, count, spaces.tokens),
             "word2vec": nearest_of(spaces.word2vec, pos, count, spaces.tokens)} for word, pos in found]
