"""Per-snapshot numbers that show meaning emerging: one row per snapshot, one column per metric.

Every metric is computed on the full d-dimensional rows of the words shown, except the two that say
how faithful the film's 2-D layout is to them (``purity2d_<L>``, ``trustworthiness``);
docs/metrics.md and docs/animate.md give the formulas.

Columns (``<L>`` is each category level, e.g. ``pos``, ``field``, ``subfield``):

``purity_<L>``          category kNN purity@10, cosine (``metrics.knn_purity``)
``chance_<L>``          its expected value for random vectors (``metrics.purity_chance``)
``silhouette_<L>``      silhouette by category, cosine distance
``purity2d_<L>``        the same kNN purity@10 in the 2-D layout (euclidean neighbours, as drawn)
``trustworthiness``     scikit-learn's trustworthiness@10 of the layout against the cosine space
``jaccard10_final``     mean Jaccard overlap of each word's 10 nearest neighbours with the final snapshot's
``cka_final``           linear CKA with the final snapshot
``drift_prev``          mean 1 - cos between a word and its previous-snapshot vector after Procrustes
``drift_init``          the same against the first snapshot (initialisation)
``jaccard10_prev``      mean Jaccard overlap of each word's 10 nearest neighbours with the previous snapshot's
``chance_jaccard10``    the two Jaccard columns' value for unrelated neighbourhoods (``metrics.jaccard_chance``)
``effective_rank``      exp of the entropy of the normalised singular values (``geometry.effective_rank``)
``anisotropy``          mean cosine of two different words; ``anisotropy_centred`` after mean-centring
``twonn_dim``           TwoNN intrinsic dimension
``norm_freq_spearman``  Spearman of the vector norm with the token's corpus count (nan when counts are unknown)
``wordsim353_spearman`` / ``simlex999_spearman`` and their ``_coverage``: gensim-equal pair scores
``contextual_<m>``      ``--matrix layer:N`` only: the probe's measures at that layer (:mod:`embviz.measure.contextual`:
                        self-similarity, intra-sentence similarity, anisotropy, MEV, sense purity and its chance)
``rsa_<L>``             RSA: Spearman of two words' cosine with same (1) / different (0) category at level L
``rsa_logfreq``         RSA: Spearman of two words' cosine with −|log count difference| (:mod:`embviz.measure.rsa`)

A film of the position table or of an untied head adds the columns of :data:`embviz.measure.positions.MATRIX_COLUMNS`
(``position_adjacent``, ``position_order``, ``position_top3`` and ``chance_position_adjacent``; ``head_cka_token``,
``head_jaccard10_token``), drawn first among the curves.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from embviz.errors import EmbvizError
from embviz.measure import geometry as g
from embviz.measure import metrics as m
from embviz.measure import rsa
from embviz.measure.gensim_eval import WordIndex, file_key, word_pair_spearman
from embviz.measure.positions import MATRIX_COLUMNS
from embviz.progress import Ticks
from embviz.rundir.files import read_json, write_json
from embviz.rundir.run import PROJECTIONS

K = 10
THRESHOLD = 0.9
GEOMETRY_PANELS = {"jaccard10_prev": f"Jaccard@{K} with previous", "drift_init": "drift from init",
                   "effective_rank": "effective rank", "anisotropy": "anisotropy (mean cosine)",
                   "anisotropy_centred": "anisotropy, mean-centred", "twonn_dim": "TwoNN intrinsic dimension",
                   "norm_freq_spearman": "Spearman ρ norm ~ frequency"}
"""Curve panel of each geometry column (docs/metrics.md)."""
CONTEXTUAL = "contextual_"
"""Prefix of the columns a ``layer:N`` film adds (:func:`embviz.film.stages.layer_measures`)."""
CONTEXTUAL_PANELS = {"contextual_self_similarity": "self-similarity of a word's occurrences",
                     "contextual_intra_sentence": "intra-sentence similarity",
                     "contextual_anisotropy": "anisotropy of occurrences (mean cosine)",
                     "contextual_mev": "MEV (variance on a word's 1st PC)",
                     "contextual_sense_purity": "homonyms' sense purity@5"}
"""Curve panel of each contextual column (docs/metrics.md)."""
SILHOUETTE_MAX_ROWS = 3000
"""Silhouette is O(n^2): above this many labelled words it is computed on a fixed random sample."""
TRUSTWORTHINESS_MAX_ROWS = 2000
"""Trustworthiness sorts all n^2 distances: above this many words it is computed on a fixed random sample."""
FAITHFUL_SHARE = 0.6
"""A layout whose final 2-D purity is below this share of the d-dimensional purity (at the film's level)
hides structure the space holds: :meth:`Emergence.unfaithful` says so."""


@dataclass
class Emergence:
    """The metrics table: ``columns[name]`` is an array [T] aligned with ``steps``/``epochs``."""

    steps: np.ndarray
    epochs: np.ndarray
    losses: np.ndarray
    levels: list[str]
    columns: dict[str, np.ndarray]
    threshold: float = THRESHOLD
    first_crossing: dict[str, int | None] = field(default_factory=dict)

    def column(self, name: str) -> np.ndarray:
        return self.columns[name]

    def to_csv(self) -> str:
        """CSV text: step, epoch, train_loss, then every column; nan is written as an empty field."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        names = list(self.columns)
        writer.writerow(["step", "epoch", "train_loss", *names])
        for t in range(len(self.steps)):
            values = [self.epochs[t], self.losses[t], *(self.columns[n][t] for n in names)]
            writer.writerow([int(self.steps[t]), *(_csv_number(v) for v in values)])
        return buf.getvalue()

    def curves(self) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        """Panels for ``figures.render_curves``: {title: values [T]} and {title: chance level}.
        The 2-D purity is drawn beside the d-dimensional one (:meth:`layout_curves`)."""
        table: dict[str, np.ndarray] = {title: self.columns[key] for key, title in MATRIX_COLUMNS.items()
                                        if key in self.columns}
        chance: dict[str, float] = {}
        for key, level in (("position_adjacent", "chance_position_adjacent"), ("position_order", None),
                           ("head_jaccard10_token", "chance_jaccard10")):
            if key in self.columns:
                chance[MATRIX_COLUMNS[key]] = float(self.columns[level][0]) if level else 0.0
        for level in self.levels:
            title = f"purity@{K} · {level}"
            table[title] = self.columns[f"purity_{level}"]
            chance_value = float(self.columns[f"chance_{level}"][0])
            if math.isfinite(chance_value):
                chance[title] = chance_value
        for level in self.levels:
            table[f"silhouette · {level}"] = self.columns[f"silhouette_{level}"]
        if "trustworthiness" in self.columns:
            table[f"trustworthiness@{K} of the 2-D layout"] = self.columns["trustworthiness"]
        table[f"Jaccard@{K} with final"] = self.columns["jaccard10_final"]
        table["linear CKA with final"] = self.columns["cka_final"]
        table["drift from previous"] = self.columns["drift_prev"]
        for key, title in GEOMETRY_PANELS.items():
            if key in self.columns and np.isfinite(self.columns[key]).any():  # no frequencies: no norm panel
                table[title] = self.columns[key]
        if "chance_jaccard10" in self.columns:
            for title in (f"Jaccard@{K} with final", GEOMETRY_PANELS["jaccard10_prev"]):
                chance[title] = float(self.columns["chance_jaccard10"][0])
            for key in ("anisotropy", "norm_freq_spearman"):
                if GEOMETRY_PANELS[key] in table:
                    chance[GEOMETRY_PANELS[key]] = 0.0
        for key, title in CONTEXTUAL_PANELS.items():
            if key in self.columns:
                table[title] = self.columns[key]
        if f"{CONTEXTUAL}sense_chance" in self.columns and np.isfinite(self.columns[f"{CONTEXTUAL}sense_chance"]).any():
            chance[CONTEXTUAL_PANELS[f"{CONTEXTUAL}sense_purity"]] = float(
                np.nanmean(self.columns[f"{CONTEXTUAL}sense_chance"]))
        for name, label in (("wordsim353", "WordSim-353"), ("simlex999", "SimLex-999")):
            key = f"{name}_spearman"
            if key in self.columns and np.isfinite(self.columns[key]).any():
                coverage = np.nanmax(self.columns[f"{name}_coverage"])
                table[f"{label} Spearman ({coverage:.0%} pairs)"] = self.columns[key]
        for key in self.columns:
            if key.startswith("rsa_"):
                title = "RSA · " + ("log frequency" if key == f"rsa_{rsa.FREQUENCY}" else key.removeprefix("rsa_"))
                table[title], chance[title] = self.columns[key], 0.0
        return table, chance

    def layout_curves(self) -> dict[str, tuple[str, np.ndarray]]:
        """{purity panel title: ("2-D layout", values [T])}: the second line of each purity panel."""
        return {f"purity@{K} · {level}": ("2-D layout", self.columns[f"purity2d_{level}"])
                for level in self.levels if f"purity2d_{level}" in self.columns}

    def faithfulness(self, level: str) -> tuple[float, float]:
        """(2-D purity, d-dimensional purity) at ``level`` in the final snapshot (nan without a layout)."""
        layout = self.columns.get(f"purity2d_{level}")
        return (float(layout[-1]) if layout is not None else float("nan"),
                float(self.columns[f"purity_{level}"][-1]))

    def unfaithful(self, level: str, share: float = FAITHFUL_SHARE) -> str | None:
        """A warning when the final 2-D layout keeps less than ``share`` of the space's purity at ``level``,
        else None."""
        if level not in self.levels:
            return None
        layout, space = self.faithfulness(level)
        if not (math.isfinite(layout) and math.isfinite(space)) or layout >= share * space:
            return None
        return (f"the 2-D layout keeps {layout:.2f} of the {space:.2f} {level} purity@{K} the space holds at the "
                f"final snapshot (< {share:g}x): neighbourhoods in the picture are not the model's")

    def crossing_line(self) -> str:
        """``purity ≥ 0.9 first at step: pos 12 · field 80 · subfield never``."""
        parts = [f"{lvl} {'never' if s is None else f'{s:,}'}" for lvl, s in self.first_crossing.items()]
        return f"purity ≥ {self.threshold:g} first at step: " + " · ".join(parts)


class EmergenceCache:
    """Emergence tables stored as ``metrics-<key>.json`` in a run's ``projections/`` folder.

    The key hashes the rows and tokens measured, their labels at every level, the snapshot list (file
    names, steps, sizes and modification times), the benchmark files, the threshold and the layout.
    """

    VERSION = 6

    def __init__(self, run_path: Path):
        self.folder = Path(run_path) / PROJECTIONS

    @classmethod
    def key(cls, rows: Sequence[int], words: Sequence[str], level_labels: Mapping[str, Sequence[str | None]],
            snapshots: Sequence[dict], bench_files: Mapping[str, Path], layout: str) -> str:
        """``layout`` is the trajectory's cache key (the faithfulness columns depend on it)."""
        bench = {name: list(file_key(path)) for name, path in bench_files.items()}
        blob = json.dumps({"version": cls.VERSION, "rows": [int(r) for r in rows], "words": list(words),
                           "labels": {k: list(v) for k, v in level_labels.items()}, "snapshots": list(snapshots),
                           "bench": bench, "threshold": THRESHOLD, "layout": layout},
                          sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:20]

    def path(self, key: str) -> Path:
        return self.folder / f"metrics-{key}.json"

    def load(self, key: str, steps: Sequence[int], epochs: Sequence[float], losses: Sequence[float | None],
             levels: Sequence[str]) -> Emergence | None:
        """The stored table for these snapshots, or None when absent, unreadable or of another shape."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            data = read_json(path)
            columns = {k: np.array([np.nan if v is None else v for v in vals], dtype=float)
                       for k, vals in data["columns"].items()}
            crossings = {k: (None if v is None else int(v)) for k, v in data["first_crossing"].items()}
        except (EmbvizError, KeyError, TypeError, ValueError, AttributeError):
            return None
        if any(len(v) != len(steps) for v in columns.values()) or list(crossings) != list(levels):
            return None
        return Emergence(np.asarray(steps, dtype=float), np.asarray(epochs, dtype=float),
                         np.array([np.nan if v is None else v for v in losses], dtype=float), list(levels), columns,
                         THRESHOLD, crossings)

    def save(self, key: str, table: Emergence) -> None:
        """Store ``table``; a folder that cannot be written only warns."""
        try:
            self.folder.mkdir(exist_ok=True)
            write_json(self.path(key), {"columns": {k: [None if math.isnan(x) else float(x) for x in v]
                                                    for k, v in table.columns.items()},
                                        "first_crossing": table.first_crossing})
        except OSError as e:
            warnings.warn(f"could not cache the metrics in {self.folder}: {e.strerror or e}", stacklevel=2)


def _csv_number(value) -> str:
    value = float(value)
    return "" if math.isnan(value) else f"{value:.6g}"


def first_crossing(steps: Sequence[int], values: Sequence[float], threshold: float = THRESHOLD) -> int | None:
    """The first step whose value is at least ``threshold``; None if it never gets there."""
    for step, value in zip(steps, values):
        if math.isfinite(value) and value >= threshold:
            return int(step)
    return None


def compute_emergence(*args, **kwargs) -> Emergence:
    """Compute the metrics table of a trajectory (see :func:`_compute` for the parameters).

    BLAS runs single-threaded here: the matrices are small (n words × d), and a BLAS thread pool
    spinning on a busy machine made these many small products several times slower.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return _compute(*args, **kwargs)


def _compute(
    matrices: Sequence[np.ndarray],
    level_labels: Mapping[str, Sequence[str | None]],
    steps: Sequence[int],
    epochs: Sequence[float] | None = None,
    losses: Sequence[float | None] | None = None,
    *,
    layouts: Sequence[np.ndarray] | None = None,
    benchmark_vectors: Sequence[np.ndarray] | None = None,
    benchmark_words: Sequence[str] | None = None,
    benchmark_files: Mapping[str, Path] | None = None,
    frequencies: Sequence[int] | None = None,
    threshold: float = THRESHOLD,
    progress: Ticks | None = None,
) -> Emergence:
    """Compute the metrics table of a trajectory.

    Parameters
    ----------
    matrices : T arrays [n, d]
        The shown words' rows in each snapshot (full dimension).
    level_labels : {level name: n labels}
        Category of each word at each level (None = uncategorised); levels in coarse-to-fine order.
    steps, epochs, losses : T values describing the snapshots.
    layouts : T arrays [n, 2], optional
        The film's layouts of the same words; adds ``purity2d_<L>`` and ``trustworthiness``.
    benchmark_vectors : T arrays [m, d], optional
        Rows of the vocabulary words that appear in the benchmark files, in vocabulary order
        (a subset in the same order gives the same score as the whole vocabulary).
    benchmark_words : m tokens of those rows.
    benchmark_files : {column prefix: pairs file}, e.g. {"wordsim353": path}.
    frequencies : [n] corpus counts of the words, or None when unknown (``norm_freq_spearman`` is nan).
    threshold : purity level whose first crossing is reported per level.
    progress : called with (done, T).

    Returns
    -------
    Emergence
    """
    t_count = len(matrices)
    if t_count == 0:
        raise EmbvizError("no snapshots to measure")
    n = matrices[0].shape[0]
    steps_arr = np.asarray(steps, dtype=float)
    if steps_arr.shape != (t_count,):
        raise EmbvizError(f"{t_count} snapshots but {steps_arr.size} steps")
    epochs_arr = np.asarray(epochs if epochs is not None else np.full(t_count, np.nan), dtype=float)
    loss_arr = np.array([np.nan if v is None else v for v in (losses if losses is not None else [None] * t_count)],
                        dtype=float)
    levels = list(level_labels)
    for level, labels in level_labels.items():
        if len(labels) != n:
            raise EmbvizError(f"{len(labels)} labels at level {level} for {n} words")
    cols: dict[str, np.ndarray] = {}
    for level in levels:
        cols[f"purity_{level}"] = np.full(t_count, np.nan)
        cols[f"chance_{level}"] = np.full(t_count, m.purity_chance(level_labels[level]))
        cols[f"silhouette_{level}"] = np.full(t_count, np.nan)
        if layouts is not None:
            cols[f"purity2d_{level}"] = np.full(t_count, np.nan)
    if layouts is not None:
        if len(layouts) != t_count or any(np.shape(p)[0] != n for p in layouts):
            raise EmbvizError(f"layouts must be {t_count} arrays of {n} points")
        cols["trustworthiness"] = np.full(t_count, np.nan)
    for name in ("jaccard10_final", "cka_final", "drift_prev", *GEOMETRY_PANELS):
        cols[name] = np.full(t_count, np.nan)
    cols["chance_jaccard10"] = np.full(t_count, m.jaccard_chance(n, K))
    bench = dict(benchmark_files or {})
    use_bench = bool(bench) and benchmark_vectors is not None and benchmark_words is not None and len(benchmark_words) >= 2
    for name in bench:
        cols[f"{name}_spearman"] = np.full(t_count, np.nan)
        cols[f"{name}_coverage"] = np.full(t_count, 0.0 if not use_bench else np.nan)
    index = WordIndex.from_words(list(benchmark_words)) if use_bench else None
    probes = rsa.probes(level_labels, frequencies)
    for name in probes:
        cols[name] = np.full(t_count, np.nan)

    final = np.asarray(matrices[-1])
    k = min(K, n - 1)
    final_knn = m.cosine_knn(final, k) if k >= 1 else None
    # Levels that label the same rows share one neighbour search and one distance matrix.
    groups: dict[tuple[int, ...], list[str]] = {}
    codes: dict[str, np.ndarray] = {}
    for level in levels:
        rows, codes[level] = m.labelled(level_labels[level], n)
        groups.setdefault(tuple(rows), []).append(level)
    sample_rng = np.random.default_rng(0)
    samples = {key: (np.sort(sample_rng.choice(len(key), SILHOUETTE_MAX_ROWS, replace=False))
                     if len(key) > SILHOUETTE_MAX_ROWS else np.arange(len(key))) for key in groups}
    trust_rows = (np.sort(sample_rng.choice(n, TRUSTWORTHINESS_MAX_ROWS, replace=False))
                  if n > TRUSTWORTHINESS_MAX_ROWS else np.arange(n))
    previous = previous_knn = None
    for t, x in enumerate(matrices):
        x = np.asarray(x)
        for key, group in groups.items():
            rows = np.array(key, dtype=np.int64)
            if rows.size < 2:
                continue
            sub = x[rows]
            neighbours = m.cosine_knn(sub, min(K, rows.size - 1))
            picked = samples[key]
            distances = m.cosine_distances(sub[picked])
            drawn = m.knn(np.asarray(layouts[t])[rows], min(K, rows.size - 1), "euclidean") \
                if layouts is not None else None
            for level in group:
                cols[f"purity_{level}"][t] = m.neighbour_purity(neighbours, codes[level], K)
                cols[f"silhouette_{level}"][t] = m.distance_silhouette(distances, codes[level][picked])
                if drawn is not None:
                    cols[f"purity2d_{level}"][t] = m.neighbour_purity(drawn, codes[level], K)
        if layouts is not None:
            cols["trustworthiness"][t] = m.trustworthiness(m.cosine_distances(x[trust_rows]),
                                                           np.asarray(layouts[t])[trust_rows], K)
        if final_knn is not None:
            knn = m.cosine_knn(x, k)
            cols["jaccard10_final"][t] = float(m.knn_jaccard(knn, final_knn).mean())
            if previous_knn is not None:
                cols["jaccard10_prev"][t] = float(m.knn_jaccard(previous_knn, knn).mean())
            previous_knn = knn
        cols["cka_final"][t] = m.linear_cka(x, final)
        if previous is not None:
            cols["drift_prev"][t] = m.drift(previous, x)
        cols["drift_init"][t] = m.drift(matrices[0], x) if t else 0.0
        cols["effective_rank"][t] = g.effective_rank(x)
        cols["anisotropy"][t] = g.anisotropy(x)
        cols["anisotropy_centred"][t] = g.anisotropy(x, centre=True)
        cols["twonn_dim"][t] = g.twonn_dimension(x)
        if frequencies is not None:
            cols["norm_freq_spearman"][t] = g.norm_frequency_spearman(x, frequencies)
        previous = x
        for name, value in rsa.rsa_scores(x, probes).items():
            cols[name][t] = value
        if use_bench:
            vectors = benchmark_vectors[t]
            for name, path in bench.items():
                score = word_pair_spearman(vectors, index, path)
                cols[f"{name}_spearman"][t] = score.spearman
                cols[f"{name}_coverage"][t] = score.coverage
        if progress:
            progress(t + 1, t_count)
    crossings = {level: first_crossing(steps_arr, cols[f"purity_{level}"], threshold) for level in levels}
    return Emergence(steps_arr, epochs_arr, loss_arr, levels, cols, threshold, crossings)
