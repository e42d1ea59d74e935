"""``compare-word2vec``: the language model's token embedding beside a Word2Vec trained on the same tokens.

:func:`compare` is the one library call behind the command, a list of stages a test can call one by
one: it opens the run, trains (or reuses) the Word2Vec baseline of :mod:`embviz.compare.word2vec`, measures
both spaces, optionally runs the probe of :mod:`embviz.training.probe`, draws the figures of
:mod:`embviz.compare.report` and only then writes everything under ``<run>/word2vec/``, each file
atomically, so a failure leaves the previous results as they were.

What is measured, and on which rows, is :mod:`embviz.compare.measures`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from embviz.compare.measures import (
    Purity,
    Source,
    Spaces,
    find_words,
    measure_benchmarks,
    measure_curve,
    measure_purity,
    measure_similarity,
    nearest_words,
    open_source,
    purity_labels,
    shared_spaces,
)
from embviz.compare.report import json_safe
from embviz.compare.similarity import Similarity
from embviz.compare.word2vec import (
    VECTORS_FILE,
    Baseline,
    Progress,
    Word2VecOptions,
    baseline_for_run,
    write_baseline,
)
from embviz.errors import ConfigError
from embviz.layout.choices import DEFAULT_METHOD, METHODS
from embviz.rundir.files import atomic_write, write_json, write_text
from embviz.rundir.run import SNAPSHOTS, WORD2VEC, Run
from embviz.text.tokenizer import BPE_MARK, UNK

SCHEMA = "embviz.compare.comparison-word2vec/1"
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


def compare(run_dir: Path | str, options: CompareOptions | None = None, *, write: bool = True,
            progress: Progress | None = None) -> Report:
    """Compare a complete run's final token embedding (and every snapshot) with a Word2Vec baseline.

    The stages: :func:`open_source` → :func:`embviz.compare.word2vec.baseline_for_run` → :func:`shared_spaces`
    → :func:`measure_similarity`, :func:`measure_purity`, :func:`measure_benchmarks`,
    :func:`measure_curve`, :func:`nearest_words` (and the probe) → :func:`report_data` → :func:`write_report`.

    Parameters
    ----------
    run_dir : path of a complete run (``embviz train``).
    options : what to train and measure (defaults: :class:`CompareOptions`).
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
    return json_safe({
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
        asked = [w for w, _ in find_words(options.words, source.tokens, spaces.rows, source.tokenizer.kind,
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


def word2vec_purity(run_dir: Path | str, word2vec: Word2VecOptions | None = None, *, k: int = CompareOptions.k,
                    write: bool = False) -> Purity:
    """Category purity of the run's final embedding and of Word2Vec on the same tokens, as
    ``compare-word2vec`` computes them (``Purity.lm``, ``Purity.word2vec``, ``Purity.chance``)."""
    options = CompareOptions(word2vec=word2vec or Word2VecOptions(), k=k, figures=write)
    return compare(run_dir, options, write=write).purity


