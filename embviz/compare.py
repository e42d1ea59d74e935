"""``compare-word2vec``: the language model's token embedding beside a Word2Vec trained on the same tokens.

:func:`compare` is the one library call behind the command: it opens the run, trains (or reuses)
the Word2Vec baseline of :mod:`embviz.word2vec`, measures both spaces, optionally runs the probe of
:mod:`embviz.probe`, draws the figures and only then writes everything under ``<run>/word2vec/``, each
file atomically, so a failure leaves the previous results as they were.

The comparison uses the rows that exist in both spaces: every run token except ``<unk>`` and except
tokens that never occur in the corpus lines (no Word2Vec vector). Benchmark words match tokens
case-insensitively as gensim does; for BPE a leading ``▁`` word-start marker is stripped first.
"""

from __future__ import annotations

import io
import math
from concurrent.futures import ThreadPoolExecutor
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from embviz.errors import ConfigError, RunError
from embviz.lexicon import at_level
from embviz.gensim_eval import ANALOGIES, SIMLEX999, WORDSIM353, WordIndex, analogy_accuracy, gensim_test_file, word_pair_spearman
from embviz.options import DEFAULT_METHOD, METHODS
from embviz.metrics import cosine_knn, knn_jaccard, knn_purity, linear_cka, purity_chance, unit_rows
from embviz.run import WORD2VEC, atomic_write, write_json, write_text
from embviz.tokenizer import BPE_MARK, UNK
from embviz.word2vec import (
    Progress,
    Word2VecOptions,
    available_cores,
    baseline_for_run,
    open_complete_run,
    run_corpus_text,
    check_output_dir,
    run_tokenizer,
    write_baseline,
)

SCHEMA = "embviz.compare-word2vec/1"
PURITY_LEVEL = 1
"""Lexicon level of the purity labels (1 = semantic field, ``noun/animal``), as ``train`` reports it."""
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
    from embviz.align import procrustes_disparity

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

    run, manifest = open_complete_run(run_dir)
    if write:
        check_output_dir(run)  # before any training: a file in the way fails fast
    tokens, counts, categories = run.vocab()
    tokenizer = run_tokenizer(run)
    snaps = run.snapshots()
    final = snaps[-1]
    lm_full = run.load_snapshot(final)
    if lm_full.shape[0] != len(tokens):
        raise RunError(f"{run.path}: the final snapshot has {lm_full.shape[0]} rows for {len(tokens)} tokens")
    # --words against the vocabulary before any training, so a typo fails fast.
    candidate_rows = np.array([i for i, t in enumerate(tokens) if t != UNK], dtype=np.int64)
    _find_words(options.words, tokens, candidate_rows, tokenizer.kind, tokenizer.lowercase, warn=True)
    lap("open")

    baseline, resolved = baseline_for_run(run, manifest, options.word2vec, retrain=options.retrain,
                                          progress=progress)
    lap("word2vec")

    rows = np.array([i for i, t in enumerate(tokens) if t != UNK and baseline.present[i]], dtype=np.int64)
    if rows.size < 3:
        raise RunError(f"only {rows.size} token(s) have vectors in both spaces; nothing to compare")
    shared_tokens = [tokens[i] for i in rows]
    lm = lm_full[rows]
    w2v = baseline.vectors[rows]
    k = min(options.k, rows.size - 1)

    cka = linear_cka(lm, w2v)
    disparity = padded_disparity(lm, w2v)
    # The two full-vocabulary searches run side by side, one BLAS thread each: the partition of each
    # similarity block is single-threaded and releases the GIL, so two threads keep both cores busy.
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(max_workers=min(2, available_cores())) as pool:
        knn_lm, knn_w2v = pool.map(lambda x: cosine_knn(x, k), (lm, w2v))
    jaccard = knn_jaccard(knn_lm, knn_w2v)
    order = np.argsort(-jaccard, kind="stable")
    agree = [{"word": shared_tokens[i], "jaccard": float(jaccard[i])} for i in order[:EXTREMES]]
    disagree = [{"word": shared_tokens[i], "jaccard": float(jaccard[i])} for i in order[::-1][:EXTREMES]]
    hist, edges = np.histogram(jaccard, bins=10, range=(0.0, 1.0))
    lap("similarity")

    labels = [at_level(categories[i], PURITY_LEVEL) for i in rows]
    n_labelled = sum(lab is not None for lab in labels)
    purity = Purity(lm=knn_purity(lm, labels, options.k), word2vec=knn_purity(w2v, labels, options.k),
                    chance=purity_chance(labels), n_words=n_labelled, k=options.k, level=PURITY_LEVEL)
    lap("purity")

    forms = word_forms(shared_tokens, tokenizer.kind)
    index = WordIndex.from_words(forms)
    bench_lm, bench_w2v = _bench(lm, index), _bench(w2v, index)
    benchmarks = {name: {"lm": bench_lm[name], "word2vec": bench_w2v[name]} for name in bench_lm}
    lap("benchmarks")

    # The curve is measured on a fixed sample of rows when the vocabulary is large: a k-NN search over
    # V rows at each of T snapshots costs O(T V^2 d) (50,000 x 512 x 100 snapshots: about an hour).
    pick = curve_sample(rows, counts)
    sampled = pick.size < rows.size
    curve_rows = rows[pick]
    w2v_curve = w2v[pick] if sampled else w2v
    k_curve = min(options.k, pick.size - 1)
    knn_w2v_curve = cosine_knn(w2v_curve, k_curve) if sampled else knn_w2v

    def curve_point(snap) -> dict:
        if snap == final:
            x = lm[pick] if sampled else lm
            knn = cosine_knn(x, k_curve) if sampled else knn_lm
        else:
            x = run.load_snapshot(snap, curve_rows)
            knn = cosine_knn(x, k_curve)
        return {"step": snap.step, "epoch": snap.epoch, "val_loss": snap.val_loss,
                "linear_cka": linear_cka(x, w2v_curve),
                "jaccard_mean": float(knn_jaccard(knn, knn_w2v_curve).mean())}

    curve = []
    # numpy releases the GIL in the matrix products and partitions, so snapshots overlap on threads
    # (one BLAS thread each: threads inside threads oversubscribe the cores and crawl)
    with threadpool_limits(1, user_api="blas"), \
            ThreadPoolExecutor(max_workers=max(1, min(len(snaps), available_cores(), 4))) as pool:
        for i, point in enumerate(pool.map(curve_point, snaps)):
            curve.append(point)
            if progress:
                progress("snapshots", i + 1, len(snaps))
    lap("curve")

    neighbours = []
    for word, pos in _find_words(options.words, tokens, rows, tokenizer.kind, tokenizer.lowercase):
        neighbours.append({"word": word, "token": shared_tokens[pos],
                           "lm": _nearest(lm, pos, min(options.neighbours, rows.size - 1), shared_tokens),
                           "word2vec": _nearest(w2v, pos, min(options.neighbours, rows.size - 1), shared_tokens)})
    lap("neighbours")

    probe = None
    if options.probe or options.probe_finetune:
        from embviz.probe import run_probe

        text = run_corpus_text(run, manifest)
        probe = run_probe(run, manifest, text, tokenizer, baseline.vectors, lm_full,
                          finetune=options.probe_finetune, word2vec_epochs=resolved.epochs, progress=progress)
        lap("probe")

    base = run.path / WORD2VEC
    files = {"report_json": str(base / REPORT_JSON), "report_md": str(base / REPORT_MD),
             "vectors": str(base / "snapshots" / "word2vec.npy")}
    if options.figures:
        files.update({"side_by_side": str(base / SIDE_BY_SIDE), "agreement": str(base / AGREEMENT)})
    data = _clean({
        "schema": SCHEMA,
        "run": str(run.path),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "tokenizer": tokenizer.kind,
        "lm": {"snapshot_step": final.step, "epoch": final.epoch, "val_loss": final.val_loss,
               "d_model": int(lm_full.shape[1]), "matrix": manifest.get("snapshot_matrix")},
        "word2vec": baseline.info(),
        "shared": {"n_tokens": int(rows.size), "n_vocab": len(tokens),
                   "excluded": ([UNK] + [t for t in baseline.missing if t != UNK])[:50], "n_excluded": len(tokens) - int(rows.size),
                   "rule": "all run tokens except <unk> and tokens with no Word2Vec vector (never in a corpus line)"},
        "similarity": {
            "linear_cka": cka, "procrustes_disparity": disparity,
            "procrustes_note": ("scipy.spatial.procrustes disparity; the narrower space is padded with zero columns"
                                if lm.shape[1] != w2v.shape[1] else "scipy.spatial.procrustes disparity"),
            "jaccard": {"k": k, "mean": float(jaccard.mean()),
                        "quantiles": {f"{q:g}": float(np.quantile(jaccard, q)) for q in QUANTILES},
                        "histogram": {"edges": edges.tolist(), "counts": hist.tolist()},
                        "most_agree": agree, "least_agree": disagree},
        },
        "purity": asdict(purity),
        "benchmarks": {"matching": (f"case-insensitive; the BPE word-start marker {BPE_MARK} is stripped" if tokenizer.kind == "bpe"
                                    else "case-insensitive, token = word"),
                       **benchmarks},
        "curve": curve,
        "curve_rows": {"n_tokens": int(pick.size), "of": int(rows.size), "k": k_curve, "sampled": sampled,
                       "rule": (f"the {pick.size:,} most frequent shared tokens (of {rows.size:,}); CKA and "
                                f"Jaccard@{k_curve} with neighbours among those tokens only" if sampled
                                else "all shared tokens, as the headline numbers")},
        "neighbours": neighbours,
        "probe": probe,
        "timings": timings,
        "files": files if write else {},
    })
    report = Report(run_dir=run.path, linear_cka=cka, procrustes_disparity=disparity,
                    jaccard_mean=float(jaccard.mean()), purity=purity, data=data, files=files if write else {})
    if not write:
        return report

    pngs: dict[str, bytes] = {}
    if options.figures:
        pngs[SIDE_BY_SIDE] = _png(side_by_side_figure(lm, w2v, shared_tokens, labels, options.label_words,
                                                      [w for w, _ in _find_words(options.words, tokens, rows,
                                                                                 tokenizer.kind, tokenizer.lowercase)],
                                                      tokenizer.lowercase, tokenizer.kind, options.method))
        pngs[AGREEMENT] = _png(agreement_figure(curve, data["curve_rows"]))
        lap("figures")
    markdown = report_markdown(data)
    # Everything is computed: only now touch the run, holding its lock (a live holder is refused).
    with run.lock():
        if not baseline.reused:
            write_baseline(run, manifest, baseline)
        for name, blob in pngs.items():
            atomic_write(base / name, lambda f, blob=blob: f.write(blob))
        write_text(base / REPORT_MD, markdown)
        lap("write")
        data["timings"] = dict(timings)
        write_json(base / REPORT_JSON, data)
    return report


def word2vec_purity(run_dir: Path | str, word2vec: Word2VecOptions | None = None, *, k: int = 10,
                    write: bool = False) -> Purity:
    """Category purity of the run's final embedding and of Word2Vec on the same tokens, as
    ``compare-word2vec`` computes them (``Purity.lm``, ``Purity.word2vec``, ``Purity.chance``)."""
    options = CompareOptions(word2vec=word2vec or Word2VecOptions(), k=k, figures=write)
    return compare(run_dir, options, write=write).purity


# -- figures -------------------------------------------------------------------------------------------


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=130)
    return buf.getvalue()


def _plane(x: np.ndarray, method: str) -> np.ndarray:
    """The rows [n, d] laid out in 2-D by ``method`` (the film's projector), centred and scaled to unit
    Frobenius norm -> [n, 2]."""
    from embviz.project import make_projector

    x = np.asarray(x, dtype=np.float64)
    if x.shape[1] < 2:
        x = np.pad(x, ((0, 0), (0, 2 - x.shape[1])))
    layout = make_projector(method).fit([x]).embeddings_[0]
    layout = layout - layout.mean(axis=0)
    norm = np.linalg.norm(layout)
    return layout / norm if norm > 0 else layout


def side_by_side_figure(lm: np.ndarray, w2v: np.ndarray, words: list[str], labels: list[str | None],
                        label_count: int, always: list[str], lowercase: bool = True, kind: str = "word",
                        method: str = DEFAULT_METHOD):
    """Both spaces in 2-D (each laid out by ``method``; Word2Vec rotated onto the LM by Procrustes),
    coloured by category as in the film, the same words labelled in both."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    from embviz.align import procrustes_align
    from embviz.fonts import font_families
    from embviz.render import UNCATEGORISED_COLOR, category_colors, choose_label_words

    a = _plane(lm, method)
    b = procrustes_align(_plane(w2v, method), a)
    colors = category_colors(labels)
    wanted = [w.lower() if lowercase else w for w in always]
    wanted = [w if w in words or kind != "bpe" else BPE_MARK + w for w in wanted]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        label_index = choose_label_words(words, labels, label_count, always=[w for w in wanted if w in words])
    families, _ = font_families([words[i] for i in label_index])
    with matplotlib.rc_context({"font.family": families}):
        fig = Figure(figsize=(11, 5.8), layout="constrained", facecolor="white")
        FigureCanvasAgg(fig)
        point_colors = np.array([colors[lab] if lab is not None else UNCATEGORISED_COLOR for lab in labels])
        size = float(np.clip(3000 / max(len(words), 1), 2, 30))
        sizes = np.where([lab is None for lab in labels], size * 0.5, size)
        uncategorised = np.array([lab is None for lab in labels])
        draw_order = np.concatenate([np.flatnonzero(uncategorised), np.flatnonzero(~uncategorised)])
        for panel, (pos, title) in enumerate([(a, "language model (final snapshot)"),
                                              (b, "Word2Vec (Procrustes-aligned)")]):
            ax = fig.add_subplot(1, 2, panel + 1)
            ax.scatter(*pos[draw_order].T, s=sizes[draw_order], c=point_colors[draw_order], linewidths=0)
            for i in label_index:
                ax.annotate(words[i], pos[i], xytext=(2, 2), textcoords="offset points", fontsize=7,
                            color="0.1", parse_math=False)
            ax.set_title(title, fontsize=10)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_aspect("equal", adjustable="datalim")
        shown = sorted(colors, key=lambda c: -sum(lab == c for lab in labels))[:12]
        handles = [Line2D([], [], ls="", marker="o", color=colors[c], label=c) for c in shown]
        if handles:
            fig.legend(handles=handles, loc="outside lower center", ncols=min(6, len(handles)), fontsize=8,
                       frameon=False)
        fig.suptitle("token embeddings: language model vs Word2Vec on the same tokens", fontsize=11)
    return fig


def agreement_figure(curve: list[dict], curve_rows: dict | None = None):
    """Linear CKA and mean Jaccard@k of every LM snapshot against Word2Vec, over training steps."""
    from embviz.render import curves_figure

    steps = np.array([c["step"] for c in curve], dtype=float)
    table = {"linear CKA vs Word2Vec": np.array([np.nan if c["linear_cka"] is None else c["linear_cka"]
                                                for c in curve], dtype=float),
             "mean Jaccard@k vs Word2Vec": np.array([c["jaccard_mean"] for c in curve], dtype=float)}
    title = "agreement of the LM embedding with Word2Vec over training"
    if curve_rows and curve_rows.get("sampled"):
        title += f" ({curve_rows['n_tokens']:,} most frequent of {curve_rows['of']:,} tokens)"
    return curves_figure(table, steps, title=title)


# -- markdown --------------------------------------------------------------------------------------------


def _f(value, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def report_markdown(data: dict) -> str:
    """``report.md``: the report's numbers as readable tables."""
    sim, pur, w2v, shared = data["similarity"], data["purity"], data["word2vec"], data["shared"]
    jac = sim["jaccard"]
    lines = [
        f"# Word2Vec comparison — {data['run']}", "",
        f"Language model: final snapshot at step {data['lm']['snapshot_step']} (epoch {data['lm']['epoch']:g}), "
        f"d_model {data['lm']['d_model']}. Word2Vec: gensim {w2v['gensim']}, {'skip-gram' if w2v['sg'] else 'CBOW'}, "
        f"vector_size {w2v['vector_size']}, window {w2v['window']}, negative {w2v['negative']}, epochs {w2v['epochs']}, "
        f"seed {w2v['seed']}, workers {w2v['workers']}, min_count 1, {w2v['sentences']:,} sentences / "
        f"{w2v['words']:,} tokens{' (reused from disk)' if w2v['reused'] else ''}.", "",
        f"Compared on {shared['n_tokens']:,} of {shared['n_vocab']:,} run tokens ({shared['rule']}; "
        f"{shared['n_excluded']} excluded). Tokenizer: {data['tokenizer']}.", "",
        "## Agreement between the spaces", "",
        "| measure | value |", "|---|---|",
        f"| linear CKA | {_f(sim['linear_cka'])} |",
        f"| Procrustes disparity (0 = same shape) | {_f(sim['procrustes_disparity'])} |",
        f"| mean Jaccard@{jac['k']} of neighbour sets | {_f(jac['mean'])} |",
        "| Jaccard quantiles " + " / ".join(jac["quantiles"]) + " | "
        + " / ".join(_f(v, 2) for v in jac["quantiles"].values()) + " |", "",
        "Agree most: " + ", ".join(f"{w['word']} ({w['jaccard']:.2f})" for w in jac["most_agree"]), "",
        "Agree least: " + ", ".join(f"{w['word']} ({w['jaccard']:.2f})" for w in jac["least_agree"]), "",
        "## Each space on its own", "",
        "| measure | language model | Word2Vec |", "|---|---|---|",
        f"| category purity@{pur['k']} (level {pur['level']}, {pur['n_words']} labelled tokens, chance "
        f"{_f(pur['chance'])}) | {_f(pur['lm'])} | {_f(pur['word2vec'])} |",
    ]
    bench = data["benchmarks"]
    for key, title in (("wordsim353", "WordSim-353 Spearman"), ("simlex999", "SimLex-999 Spearman")):
        lm, wv = bench[key]["lm"], bench[key]["word2vec"]
        lines.append(f"| {title} (coverage {lm['coverage']:.1%}, {lm['n_pairs']} pairs) | {_f(lm['spearman'])} | "
                     f"{_f(wv['spearman'])} |")
    lm, wv = bench["analogies"]["lm"], bench["analogies"]["word2vec"]
    lines += [f"| Google analogies accuracy (coverage {lm['coverage']:.1%}, {lm['n_total']} questions) | "
              f"{_f(lm['accuracy'])} | {_f(wv['accuracy'])} |", "",
              f"Benchmark matching: {bench['matching']}. Scores equal gensim's evaluate_word_pairs / "
              "evaluate_word_analogies on the same vectors; low coverage means few benchmark words are run tokens.", "",
              "## Over training (every LM snapshot vs Word2Vec)", "",
              *([f"Measured on {data['curve_rows']['rule']}.", ""] if data.get("curve_rows", {}).get("sampled")
                else []),
              "| step | epoch | val loss | linear CKA | mean Jaccard |", "|---|---|---|---|---|"]
    for c in data["curve"]:
        lines.append(f"| {c['step']} | {c['epoch']:g} | {_f(c['val_loss'])} | {_f(c['linear_cka'])} | "
                     f"{_f(c['jaccard_mean'])} |")
    if data["neighbours"]:
        lines += ["", "## Nearest neighbours", ""]
        for entry in data["neighbours"]:
            lines += [f"**{entry['word']}**", "", "| # | language model | cos | Word2Vec | cos |", "|---|---|---|---|---|"]
            for i, (a, b) in enumerate(zip(entry["lm"], entry["word2vec"]), start=1):
                lines.append(f"| {i} | {a['word']} | {a['cosine']:.3f} | {b['word']} | {b['cosine']:.3f} |")
            lines.append("")
    probe = data.get("probe")
    if probe:
        arms = probe["arms"]
        lines += ["", "## Probe: Word2Vec as the LM's input layer", "",
                  f"Same config, seed, data order and {probe['epochs']} epoch(s). Head: {probe['head']}. "
                  f"Initial scale: {probe['init_scale']['rule']} (factor {probe['init_scale']['factor']:.4g}).", "",
                  "| epoch | " + " | ".join(arms) + " |", "|---" * (len(arms) + 1) + "|"]
        for e in range(probe["epochs"] + 1):
            lines.append(f"| {e} | " + " | ".join(_f(a["val_loss"][e], 4) for a in arms.values()) + " |")
        lines += ["", probe["verdict"]]
    return "\n".join(lines) + "\n"
