"""``compare-word2vec``: the language model's token embedding beside a Word2Vec trained on the same tokens.

:func:`compare` is the one library call behind the command, a list of stages a test can call one by
one: it opens the run, trains (or reuses) the Word2Vec baseline of :mod:`embviz.compare.word2vec`, measures
both spaces, optionally runs the probe of :mod:`embviz.training.probe`, draws the figures of
:mod:`embviz.compare.report` and only then writes everything under ``<run>/word2vec/``, each file
atomically, so a failure leaves the previous results as they were.

The comparison uses the rows that exist in both spaces: every run token except ``<unk>`` and except
tokens that never occur in the corpus lines (no Word2Vec vector). Benchmark words match tokens
case-insensitively as gensim does; for BPE a leading ``▁`` word-start marker is stripped first.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from embviz.compare.word2vec import (
    VECTORS_FILE,
    Baseline,
    Progress,
    Word2VecOptions,
    available_cores,
    baseline_for_run,
    check_output_dir,
    write_baseline,
)
from embviz.errors import ConfigError, RunError
from embviz.film.options import DEFAULT_METHOD, METHODS
from embviz.measure.gensim_eval import (
    ANALOGIES,
    SIMLEX999,
    WORDSIM353,
    WordIndex,
    analogy_accuracy,
    gensim_test_file,
    word_pair_spearman,
)
from embviz.measure.metrics import cosine_knn, knn_jaccard, knn_purity, linear_cka, purity_chance, unit_rows
from embviz.rundir.files import atomic_write, write_json, write_text
from embviz.rundir.manifest import RunManifest
from embviz.rundir.run import SNAPSHOTS, WORD2VEC, Run, Snapshot
from embviz.text.lexicon import PURITY_LEVEL, at_level
from embviz.text.tokenizer import BPE_MARK, UNK, Tokenizer

SCHEMA = "embviz.compare.comparison-word2vec/1"
CURVE_MAX_ROWS = 5000
"""The per-snapshot agreement curve uses at most this many shared tokens, the most frequent (see
:func:`curve_sample`); the headline numbers always use every shared token."""
QUANTILES = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0)
EXTREMES = 10
"""Words listed as agreeing most and least."""

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
SIDE_BY_SIDE = "side-by-side.png"
AGREEMENT = "agreement.png"


@dataclass(frozen=True)
class CompareOptions:
    """What ``compare-word2vec`` measures besides the Word2Vec options."""

    word2vec: Word2VecOptions = field(default_factory=Word2VecOptions)
    k: int = 10
    words: tuple[str, ...] = ()
    neighbours: int = 8
    probe: bool = False
    probe_finetune: bool = False
    retrain: bool = False
    label_words: int = 16
    figures: bool = True
    method: str = DEFAULT_METHOD
    """How the side-by-side figure lays out each space in 2-D (as ``animate --method``)."""

    def validate(self) -> None:
        self.word2vec.validate()
        if not 1 <= self.k <= 1000:
            raise ConfigError(f"--k must be between 1 and 1000, got {self.k}")
        if not 1 <= self.neighbours <= 100:
            raise ConfigError(f"--neighbours must be between 1 and 100, got {self.neighbours}")
        if not 0 <= self.label_words <= 500:
            raise ConfigError(f"--label-words must be between 0 and 500, got {self.label_words}")
        if self.method not in METHODS:
            raise ConfigError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")


@dataclass(frozen=True)
class Purity:
    """Category kNN purity of both spaces on the same labelled tokens."""

    lm: float
    word2vec: float
    chance: float
    n_words: int
    k: int
    level: int


@dataclass
class Report:
    """The comparison; ``data`` is exactly what ``report.json`` holds."""

    run_dir: Path
    linear_cka: float
    procrustes_disparity: float
    jaccard_mean: float
    purity: Purity
    data: dict
    files: dict[str, str]


def word_forms(tokens: list[str], kind: str) -> list[str]:
    """The word each token stands for in benchmarks: the token, minus a BPE ``▁`` marker."""
    if kind != "bpe":
        return list(tokens)
    return [t[len(BPE_MARK):] if t.startswith(BPE_MARK) and len(t) > len(BPE_MARK) else t for t in tokens]


def padded_disparity(a: np.ndarray, b: np.ndarray) -> float:
    """``scipy.spatial.procrustes(a, b)[2]``; the narrower matrix is padded with zero columns."""
    from embviz.measure.align import procrustes_disparity

    width = max(a.shape[1], b.shape[1])
    # (no copy when the widths already agree: at 50,000 x 512 each float64 copy is 200 MB)
    pad = lambda x: x if x.shape[1] == width else np.pad(np.asarray(x, dtype=np.float64),  # noqa: E731
                                                          ((0, 0), (0, width - x.shape[1])))
    return procrustes_disparity(pad(a), pad(b))


def curve_sample(rows: np.ndarray, counts, limit: int | None = None) -> np.ndarray:
    """Positions in ``rows`` (ascending) on which the per-snapshot curve is measured: all of them up to
    ``limit`` (default CURVE_MAX_ROWS), else the ``limit`` most frequent tokens (ties: lower id)."""
    limit = CURVE_MAX_ROWS if limit is None else limit
    if rows.size <= limit:
        return np.arange(rows.size)
    freq = np.asarray(counts, dtype=np.int64)[rows]
    order = np.lexsort((rows, -freq))
    return np.sort(order[:limit])


def _find_words(words: tuple[str, ...], tokens: list[str], rows: np.ndarray, kind: str,
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


def _nearest(x: np.ndarray, pos: int, count: int, words: list[str]) -> list[dict]:
    unit = unit_rows(x)
    sims = unit @ unit[pos]
    sims[pos] = -np.inf
    top = np.argsort(-sims, kind="stable")[:count]
    return [{"word": words[j], "cosine": float(sims[j])} for j in top]


def _clean(value):
    """JSON-safe: nan/inf → None, numpy scalars → Python, recursively."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _bench(vectors: np.ndarray, index: WordIndex) -> dict:
    out = {}
    for key, name in (("wordsim353", WORDSIM353), ("simlex999", SIMLEX999)):
        out[key] = asdict(word_pair_spearman(vectors, index, gensim_test_file(name)))
    out["analogies"] = asdict(analogy_accuracy(vectors, index, gensim_test_file(ANALOGIES)))
    return out


def compare(run_dir: Path | str, options: CompareOptions | None = None, *, write: bool = True,
            progress: Progress | None = None) -> Report:
    """Compare a complete run's final token embedding (and every snapshot) with a Word2Vec baseline.

    The stages: :func:`open_source` → :func:`embviz.compare.word2vec.baseline_for_run` → :func:`shared_spaces`
    → :func:`measure_similarity`, :func:`measure_purity`, :func:`measure_benchmarks`,
    :func:`measure_curve`, :func:`nearest_words` (and the probe) → :func:`report_data` → :func:`write_report`.

    Parameters
    ----------
    run_dir : path of a complete run (``embviz train``).
    options : what to train and measure (defaults: skip-gram, the run's d_model/epochs/seed, k=10).
    write : store the baseline and the report files under ``<run>/word2vec/``; False writes nothing.
    progress : ``progress(stage, done, total)``.

    Returns
    -------
    Report ; ``report.purity.word2vec`` is Word2Vec's category purity on the same tokens.
    """
    options = options or CompareOptions()
    options.validate()
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 4)
        clock = now

    source = open_source(run_dir, options.words, write)
    lap("open")
    baseline, resolved = baseline_for_run(source.run, source.manifest, options.word2vec, retrain=options.retrain,
                                          progress=progress)
    lap("word2vec")
    spaces = shared_spaces(source, baseline)
    similarity = measure_similarity(spaces, options.k)
    lap("similarity")
    purity = measure_purity(spaces, source.categories, options.k)
    lap("purity")
    benchmarks = measure_benchmarks(spaces, source.tokenizer.kind)
    lap("benchmarks")
    curve, curve_rows = measure_curve(source, spaces, similarity, options.k, progress)
    lap("curve")
    neighbours = nearest_words(source, spaces, options.words, options.neighbours)
    lap("neighbours")
    probe = None
    if options.probe or options.probe_finetune:
        from embviz.training.probe import run_probe

        probe = run_probe(source.run, source.manifest, source.run.corpus_text(), source.tokenizer, baseline.vectors,
                          source.lm, finetune=options.probe_finetune, word2vec_epochs=resolved.epochs,
                          progress=progress)
        lap("probe")
    files = report_files(source.run, options.figures) if write else {}
    data = report_data(source, baseline, spaces, similarity, purity, benchmarks, curve, curve_rows, neighbours, probe,
                       timings, files)
    report = Report(run_dir=source.run.path, linear_cka=similarity.linear_cka,
                    procrustes_disparity=similarity.procrustes_disparity, jaccard_mean=float(similarity.jaccard.mean()),
                    purity=purity, data=data, files=files)
    if write:
        write_report(source, baseline, spaces, data, options, timings, lap)
    return report


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
    _find_words(words, tokens, candidates, tokenizer.kind, tokenizer.lowercase, warn=True)
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


@dataclass
class Similarity:
    """How alike the two spaces are: CKA, Procrustes disparity, each word's Jaccard@k [n] of its
    neighbour lists ``knn_lm`` / ``knn_word2vec`` [n, k]."""

    linear_cka: float
    procrustes_disparity: float
    k: int
    knn_lm: np.ndarray
    knn_word2vec: np.ndarray
    jaccard: np.ndarray


def measure_similarity(spaces: Spaces, k: int) -> Similarity:
    k = min(k, spaces.rows.size - 1)
    # The two full-vocabulary searches run side by side, one BLAS thread each: the partition of each
    # similarity block is single-threaded and releases the GIL, so two threads keep both cores busy.
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(max_workers=min(2, available_cores())) as pool:
        knn_lm, knn_w2v = pool.map(lambda x: cosine_knn(x, k), (spaces.lm, spaces.word2vec))
    return Similarity(linear_cka(spaces.lm, spaces.word2vec), padded_disparity(spaces.lm, spaces.word2vec), k,
                      knn_lm, knn_w2v, knn_jaccard(knn_lm, knn_w2v))


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
    knn_w2v_curve = cosine_knn(w2v_curve, k_curve) if sampled else similarity.knn_word2vec

    def point(snap: Snapshot) -> dict:
        if snap == source.final:
            x = spaces.lm[pick] if sampled else spaces.lm
            knn = cosine_knn(x, k_curve) if sampled else similarity.knn_lm
        else:
            x = source.run.load_snapshot(snap, curve_rows)
            knn = cosine_knn(x, k_curve)
        return {"step": snap.step, "epoch": snap.epoch, "val_loss": snap.val_loss,
                "linear_cka": linear_cka(x, w2v_curve),
                "jaccard_mean": float(knn_jaccard(knn, knn_w2v_curve).mean())}

    from threadpoolctl import threadpool_limits

    snaps = source.snapshots
    curve = []
    # numpy releases the GIL in the matrix products and partitions, so snapshots overlap on threads
    # (one BLAS thread each: threads inside threads oversubscribe the cores and crawl)
    with threadpool_limits(1, user_api="blas"), \
            ThreadPoolExecutor(max_workers=max(1, min(len(snaps), available_cores(), 4))) as pool:
        for i, p in enumerate(pool.map(point, snaps)):
            curve.append(p)
            if progress:
                progress("snapshots", i + 1, len(snaps))
    info = {"n_tokens": int(pick.size), "of": int(rows.size), "k": k_curve, "sampled": sampled,
            "rule": (f"the {pick.size:,} most frequent shared tokens (of {rows.size:,}); CKA and "
                     f"Jaccard@{k_curve} with neighbours among those tokens only" if sampled
                     else "all shared tokens, as the headline numbers")}
    return curve, info


def nearest_words(source: Source, spaces: Spaces, words: tuple[str, ...], count: int) -> list[dict]:
    """Each of ``words``' ``count`` nearest neighbours (cosine) in both spaces."""
    count = min(count, spaces.rows.size - 1)
    found = _find_words(words, source.tokens, spaces.rows, source.tokenizer.kind, source.tokenizer.lowercase)
    return [{"word": word, "token": spaces.tokens[pos], "lm": _nearest(spaces.lm, pos, count, spaces.tokens),
             "word2vec": _nearest(spaces.word2vec, pos, count, spaces.tokens)} for word, pos in found]


# -- 4. the report ---------------------------------------------------------------------------------------


def report_files(run: Run, figures: bool) -> dict[str, str]:
    base = run.path / WORD2VEC
    files = {"report_json": str(base / REPORT_JSON), "report_md": str(base / REPORT_MD),
             "vectors": str(base / SNAPSHOTS / VECTORS_FILE)}
    if figures:
        files.update({"side_by_side": str(base / SIDE_BY_SIDE), "agreement": str(base / AGREEMENT)})
    return files


def report_data(source: Source, baseline: Baseline, spaces: Spaces, similarity: Similarity, purity: Purity,
                benchmarks: dict, curve: list[dict], curve_rows: dict, neighbours: list[dict], probe: dict | None,
                timings: dict, files: dict) -> dict:
    """What ``report.json`` holds (JSON-safe: nan and inf are None)."""
    jaccard = similarity.jaccard
    order = np.argsort(-jaccard, kind="stable")
    hist, edges = np.histogram(jaccard, bins=10, range=(0.0, 1.0))
    kind = source.tokenizer.kind
    n_shared = int(spaces.rows.size)
    return _clean({
        "schema": SCHEMA,
        "run": str(source.run.path),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "tokenizer": kind,
        "lm": {"snapshot_step": source.final.step, "epoch": source.final.epoch, "val_loss": source.final.val_loss,
               "d_model": int(source.lm.shape[1]), "matrix": source.manifest.snapshot_matrix},
        "word2vec": baseline.info(),
        "shared": {"n_tokens": n_shared, "n_vocab": len(source.tokens),
                   "excluded": ([UNK] + [t for t in baseline.missing if t != UNK])[:50],
                   "n_excluded": len(source.tokens) - n_shared,
                   "rule": "all run tokens except <unk> and tokens with no Word2Vec vector (never in a corpus line)"},
        "similarity": {
            "linear_cka": similarity.linear_cka, "procrustes_disparity": similarity.procrustes_disparity,
            "procrustes_note": ("scipy.spatial.procrustes disparity; the narrower space is padded with zero columns"
                                if spaces.lm.shape[1] != spaces.word2vec.shape[1]
                                else "scipy.spatial.procrustes disparity"),
            "jaccard": {"k": similarity.k, "mean": float(jaccard.mean()),
                        "quantiles": {f"{q:g}": float(np.quantile(jaccard, q)) for q in QUANTILES},
                        "histogram": {"edges": edges.tolist(), "counts": hist.tolist()},
                        "most_agree": [{"word": spaces.tokens[i], "jaccard": float(jaccard[i])}
                                       for i in order[:EXTREMES]],
                        "least_agree": [{"word": spaces.tokens[i], "jaccard": float(jaccard[i])}
                                        for i in order[::-1][:EXTREMES]]},
        },
        "purity": asdict(purity),
        "benchmarks": {"matching": (f"case-insensitive; the BPE word-start marker {BPE_MARK} is stripped"
                                    if kind == "bpe" else "case-insensitive, token = word"),
                       **benchmarks},
        "curve": curve,
        "curve_rows": curve_rows,
        "neighbours": neighbours,
        "probe": probe,
        "timings": timings,
        "files": files,
    })


def write_report(source: Source, baseline: Baseline, spaces: Spaces, data: dict, options: CompareOptions,
                 timings: dict[str, float], lap: Callable[[str], None]) -> None:
    """Draw the figures and write the report, then store everything under ``<run>/word2vec/`` while holding
    the run's lock, each file atomically (a live lock holder is refused). ``report.json`` gets the
    ``timings`` that ``lap`` filled, these last stages included."""
    from embviz.compare.report import agreement_figure, png, report_markdown, side_by_side_figure

    run, base = source.run, source.run.path / WORD2VEC
    pngs: dict[str, bytes] = {}
    if options.figures:
        labels = purity_labels(spaces, source.categories)
        asked = [w for w, _ in _find_words(options.words, source.tokens, spaces.rows, source.tokenizer.kind,
                                           source.tokenizer.lowercase)]
        pngs[SIDE_BY_SIDE] = png(side_by_side_figure(spaces.lm, spaces.word2vec, spaces.tokens, labels,
                                                     options.label_words, asked, source.tokenizer.lowercase,
                                                     source.tokenizer.kind, options.method))
        pngs[AGREEMENT] = png(agreement_figure(data["curve"], data["curve_rows"]))
        lap("figures")
    markdown = report_markdown(data)
    with run.lock():
        if not baseline.reused:
            write_baseline(run, source.manifest, baseline)
        for name, blob in pngs.items():
            atomic_write(base / name, lambda f, blob=blob: f.write(blob))
        write_text(base / REPORT_MD, markdown)
        lap("write")
        data["timings"] = dict(timings)
        write_json(base / REPORT_JSON, data)


def word2vec_purity(run_dir: Path | str, word2vec: Word2VecOptions | None = None, *, k: int = 10,
                    write: bool = False) -> Purity:
    """Category purity of the run's final embedding and of Word2Vec on the same tokens, as
    ``compare-word2vec`` computes them (``Purity.lm``, ``Purity.word2vec``, ``Purity.chance``)."""
    options = CompareOptions(word2vec=word2vec or Word2VecOptions(), k=k, figures=write)
    return compare(run_dir, options, write=write).purity


