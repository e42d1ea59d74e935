"""The figures and text of a ``compare-word2vec`` report: both spaces side by side, their agreement over
training, and ``report.md`` from the numbers of ``report.json`` (:func:`embviz.compare.comparison.compare`)."""

from __future__ import annotations

import io
import math
import warnings

import numpy as np

from embviz.layout.choices import DEFAULT_METHOD
from embviz.text.tokenizer import BPE_MARK


def json_safe(value):
    """JSON-safe: nan/inf → None, numpy scalars → Python, recursively."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def png(fig) -> bytes:
    """A matplotlib figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=130)
    return buf.getvalue()


def _plane(x: np.ndarray, method: str) -> np.ndarray:
    """The rows [n, d] laid out in 2-D by ``method`` (the film's projector), centred and scaled to unit
    Frobenius norm -> [n, 2]."""
    from embviz.layout.projectors import make_projector

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

    from embviz.film.drawing import UNCATEGORISED_COLOR, category_colors, choose_label_words
    from embviz.film.fonts import font_families
    from embviz.measure.align import procrustes_align

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
    from embviz.film.figures import curves_figure

    steps = np.array([c["step"] for c in curve], dtype=float)
    table = {"linear CKA vs Word2Vec": np.array([np.nan if c["linear_cka"] is None else c["linear_cka"]
                                                for c in curve], dtype=float),
             "mean Jaccard@k vs Word2Vec": np.array([c["jaccard_mean"] for c in curve], dtype=float)}
    title = "agreement of the LM embedding with Word2Vec over training"
    if curve_rows and curve_rows.get("sampled"):
        title += f" ({curve_rows['n_tokens']:,} most frequent of {curve_rows['of']:,} tokens)"
    return curves_figure(table, steps, title=title)


def fmt(value: float | None, digits: int = 3) -> str:
    """``value`` with ``digits`` decimals, or an en dash for None (a number that could not be computed)."""
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
        f"| linear CKA | {fmt(sim['linear_cka'])} |",
        f"| Procrustes disparity (0 = same shape) | {fmt(sim['procrustes_disparity'])} |",
        f"| mean Jaccard@{jac['k']} of neighbour sets | {fmt(jac['mean'])} |",
        "| Jaccard quantiles " + " / ".join(jac["quantiles"]) + " | "
        + " / ".join(fmt(v, 2) for v in jac["quantiles"].values()) + " |", "",
        "Agree most: " + ", ".join(f"{w['word']} ({w['jaccard']:.2f})" for w in jac["most_agree"]), "",
        "Agree least: " + ", ".join(f"{w['word']} ({w['jaccard']:.2f})" for w in jac["least_agree"]), "",
        "## Each space on its own", "",
        "| measure | language model | Word2Vec |", "|---|---|---|",
        f"| category purity@{pur['k']} (level {pur['level']}, {pur['n_words']} labelled tokens, chance "
        f"{fmt(pur['chance'])}) | {fmt(pur['lm'])} | {fmt(pur['word2vec'])} |",
    ]
    bench = data["benchmarks"]
    for key, title in (("wordsim353", "WordSim-353 Spearman"), ("simlex999", "SimLex-999 Spearman")):
        lm, wv = bench[key]["lm"], bench[key]["word2vec"]
        lines.append(f"| {title} (coverage {lm['coverage']:.1%}, {lm['n_pairs']} pairs) | {fmt(lm['spearman'])} | "
                     f"{fmt(wv['spearman'])} |")
    lm, wv = bench["analogies"]["lm"], bench["analogies"]["word2vec"]
    lines += [f"| Google analogies accuracy (coverage {lm['coverage']:.1%}, {lm['n_total']} questions) | "
              f"{fmt(lm['accuracy'])} | {fmt(wv['accuracy'])} |", "",
              f"Benchmark matching: {bench['matching']}. Scores equal gensim's evaluate_word_pairs / "
              "evaluate_word_analogies on the same vectors; low coverage means few benchmark words are run tokens.", "",
              "## Over training (every LM snapshot vs Word2Vec)", "",
              *([f"Measured on {data['curve_rows']['rule']}.", ""] if data.get("curve_rows", {}).get("sampled")
                else []),
              "| step | epoch | val loss | linear CKA | mean Jaccard |", "|---|---|---|---|---|"]
    for c in data["curve"]:
        lines.append(f"| {c['step']} | {c['epoch']:g} | {fmt(c['val_loss'])} | {fmt(c['linear_cka'])} | "
                     f"{fmt(c['jaccard_mean'])} |")
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
            lines.append(f"| {e} | " + " | ".join(fmt(a["val_loss"][e], 4) for a in arms.values()) + " |")
        lines += ["", probe["verdict"]]
    return "\n".join(lines) + "\n"
