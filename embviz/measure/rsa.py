"""Representational similarity analysis of an embedding space against what is known about its words
(Papadimitriou & Prince, 2025): Spearman between the cosine similarity of two words and the similarity a
feature gives them — same or different category at a level of the lexicon (part of speech, field, …), or
the negative absolute difference of their log frequencies.

Every pair of words when there are at most :data:`PAIRS`, else a fixed random sample of that many pairs
(seed 0, the same at every snapshot, so a curve's steps differ only by the space). docs/metrics.md#rsa
gives the sampling error (about 0.003 at 100,000 pairs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy import stats

from embviz.measure.metrics import labelled, unit_rows

PAIRS = 100_000
FREQUENCY = "logfreq"
"""The column suffix of the frequency probe: ``rsa_logfreq``."""


def pair_sample(rows: np.ndarray, pairs: int = PAIRS, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of distinct ``rows`` [m]: all ``m (m - 1) / 2`` when at most ``pairs``, else ``pairs`` drawn
    uniformly (with replacement among pairs). Returns ``(first [P], second [P])`` of row indices."""
    m = rows.size
    if m * (m - 1) // 2 <= pairs:
        i, j = np.triu_indices(m, 1)
    else:
        rng = np.random.default_rng(seed)
        i = rng.integers(0, m, pairs)
        j = (i + rng.integers(1, m, pairs)) % m  # never i
    return rows[i], rows[j]


class Probe:
    """One feature's similarity of sampled word pairs, ranked once; :meth:`score` ranks a space's cosines of the
    same pairs and returns their Pearson correlation, the Spearman ρ."""

    def __init__(self, first: np.ndarray, second: np.ndarray, similarity: np.ndarray):
        self.first, self.second = first, second
        ranks = stats.rankdata(similarity)
        self.centred = ranks - ranks.mean()
        self.norm = float(np.linalg.norm(self.centred))

    def score(self, unit: np.ndarray) -> float:
        """Spearman ρ over the pairs for unit rows ``unit`` [n, d]; nan for a constant feature or space."""
        cosines = np.einsum("ij,ij->i", unit[self.first], unit[self.second])
        ranks = stats.rankdata(cosines)
        ranks -= ranks.mean()
        denominator = self.norm * float(np.linalg.norm(ranks))
        return float(ranks @ self.centred / denominator) if denominator > 0 else float("nan")


def probes(level_labels: Mapping[str, Sequence[str | None]], frequencies: Sequence[int] | None,
           pairs: int = PAIRS) -> dict[str, Probe]:
    """{column name: probe}: ``rsa_<level>`` (same category 1, different 0, over the labelled words of that level
    with at least 2 categories) and ``rsa_logfreq`` (−|log c_i − log c_j| over words seen at least once)."""
    out: dict[str, Probe] = {}
    for level, labels in level_labels.items():
        rows, codes = labelled(labels, len(labels))
        if np.unique(codes).size < 2:
            continue
        position = np.empty(len(labels), dtype=np.int64)
        position[rows] = np.arange(rows.size)
        first, second = pair_sample(rows, pairs)
        out[f"rsa_{level}"] = Probe(first, second, (codes[position[first]] == codes[position[second]]).astype(float))
    if frequencies is not None:
        counts = np.asarray(frequencies, dtype=float)
        seen = np.flatnonzero(counts > 0)
        if seen.size > 2 and np.ptp(counts[seen]) > 0:
            first, second = pair_sample(seen, pairs)
            out[f"rsa_{FREQUENCY}"] = Probe(first, second, -np.abs(np.log(counts[first]) - np.log(counts[second])))
    return out


def rsa_scores(x, found: Mapping[str, Probe]) -> dict[str, float]:
    """{column: Spearman ρ} of the space ``x`` [n, d] for each of ``found`` (from :func:`probes`)."""
    unit = unit_rows(x)
    return {name: probe.score(unit) for name, probe in found.items()}
