"""How contextual a layer's vectors are (Ethayarajh 2019, "How Contextual are Contextualized Word
Representations?"), measured on a run's probe occurrences, and whether a homonym's occurrences part by sense.

All take one layer's vectors ``[n, d]`` of ``n`` occurrences with their words (and sentences or senses):

``self_similarity``   mean cosine between two occurrences of the same word, averaged over words
``intra_sentence``    mean cosine between an occurrence and its sentence's mean vector, averaged over sentences
``anisotropy``        mean cosine between occurrences of two different words (a fixed random sample of pairs)
``mev``               share of a word's variance its first principal component explains (σ₁² / Σσᵢ² of its
                      occurrences, uncentred, as in the paper), averaged over words
``sense_purity``      share of a homonym occurrence's nearest occurrences (of the same word) that have its sense,
                      averaged over the homonyms' occurrences, with its chance level for senses drawn at random
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

PAIRS = 2000
"""Random pairs of occurrences the anisotropy averages over."""
SENSE_K = 5
"""Neighbours of an occurrence that ``sense_purity`` asks for its sense."""
COLUMNS = ("self_similarity", "intra_sentence", "anisotropy", "mev", "sense_purity", "sense_chance")
"""The measures of :func:`measure_layer`, in the order the emergence table lists them."""


def _unit(vectors: np.ndarray) -> np.ndarray:
    v = np.asarray(vectors, dtype=np.float64)
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def _groups(keys: Sequence) -> list[np.ndarray]:
    """Indices of each key that occurs at least twice, in order of first occurrence."""
    where: dict = {}
    for i, key in enumerate(keys):
        if key is not None:
            where.setdefault(key, []).append(i)
    return [np.array(g) for g in where.values() if len(g) >= 2]


def self_similarity(vectors: np.ndarray, words: Sequence[str]) -> float:
    """Mean over words (with 2+ occurrences) of the mean cosine between two of its occurrences; nan if none."""
    unit = _unit(vectors)
    scores = []
    for g in _groups(words):
        gram = unit[g] @ unit[g].T
        scores.append((gram.sum() - np.trace(gram)) / (len(g) * (len(g) - 1)))
    return float(np.mean(scores)) if scores else float("nan")


def intra_sentence(vectors: np.ndarray, sentences: Sequence[int]) -> float:
    """Mean over sentences (with 2+ occurrences) of the mean cosine of an occurrence with the sentence's mean."""
    unit = _unit(vectors)
    scores = [float((unit[g] @ _unit(unit[g].mean(0, keepdims=True))[0]).mean()) for g in _groups(list(sentences))]
    return float(np.mean(scores)) if scores else float("nan")


def anisotropy(vectors: np.ndarray, words: Sequence[str], pairs: int = PAIRS, seed: int = 0) -> float:
    """Mean cosine of ``pairs`` random pairs of occurrences of different words (fixed by ``seed``); nan if none."""
    unit = _unit(vectors)
    words = np.asarray(words, dtype=object)
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, len(unit), size=(2, pairs))
    keep = words[a] != words[b]
    if not keep.any():
        return float("nan")
    return float(np.einsum("ij,ij->i", unit[a[keep]], unit[b[keep]]).mean())


def mev(vectors: np.ndarray, words: Sequence[str]) -> float:
    """Mean over words (2+ occurrences) of σ₁² / Σσᵢ² of the word's occurrence matrix (uncentred)."""
    v = np.asarray(vectors, dtype=np.float64)
    shares = []
    for g in _groups(words):
        s = np.linalg.svd(v[g], compute_uv=False) ** 2
        if s.sum() > 0:
            shares.append(s[0] / s.sum())
    return float(np.mean(shares)) if shares else float("nan")


def sense_purity(vectors: np.ndarray, words: Sequence[str], senses: Sequence[str | None],
                 k: int = SENSE_K) -> tuple[float, float]:
    """(purity, chance): for every occurrence of a word with two or more senses, the share of its ``k`` nearest
    occurrences of that word (cosine) that have its sense, averaged; chance is the same share for a random
    neighbour. (nan, nan) when no word has two senses."""
    unit = _unit(vectors)
    senses_arr = np.asarray(senses, dtype=object)
    hits, chance = [], []
    for g in _groups(words):
        kinds = senses_arr[g]
        if None in kinds or len(set(kinds)) < 2:
            continue
        sim = unit[g] @ unit[g].T
        np.fill_diagonal(sim, -np.inf)
        kk = min(k, len(g) - 1)
        near = np.argsort(-sim, axis=1)[:, :kk]
        same = kinds[:, None] == kinds[None, :]
        hits += list(same[np.arange(len(g))[:, None], near].mean(1))
        chance += list((same.sum(1) - 1) / (len(g) - 1))
    if not hits:
        return float("nan"), float("nan")
    return float(np.mean(hits)), float(np.mean(chance))


def measure_layer(vectors: np.ndarray, words: Sequence[str], sentences: Sequence[int],
                  senses: Sequence[str | None]) -> dict[str, float]:
    """Every measure of :data:`COLUMNS` for one layer's vectors ``[n, d]``."""
    purity, chance = sense_purity(vectors, words, senses)
    return {"self_similarity": self_similarity(vectors, words), "intra_sentence": intra_sentence(vectors, sentences),
            "anisotropy": anisotropy(vectors, words), "mev": mev(vectors, words), "sense_purity": purity,
            "sense_chance": chance}


def measure_layers(states: np.ndarray, words: Sequence[str], sentences: Sequence[int],
                   senses: Sequence[str | None]) -> dict[str, np.ndarray]:
    """:func:`measure_layer` at every layer of one snapshot's probe ``[n, layers + 1, d]``: {measure: [layers + 1]}."""
    rows = [measure_layer(states[:, layer], words, sentences, senses) for layer in range(states.shape[1])]
    return {name: np.array([r[name] for r in rows]) for name in COLUMNS}
