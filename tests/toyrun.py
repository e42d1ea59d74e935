"""Run directories built without training, for the tests and the benchmarks (not part of the package:
the tests import it from beside them, the benchmarks put ``tests/`` on their path).

:func:`make_toy_run`: embeddings that go from noise to a nested category map, a trajectory whose
story is known (part of speech separates first, then semantic fields, then sub-fields).
:func:`make_corpus_run`: a complete run over a given text (corpus file, word tokenizer, run.json,
vocab.tsv), ready for the caller's snapshots — what ``compare-word2vec`` needs at any scale.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from embviz.rundir.files import write_json, write_npy
from embviz.rundir.manifest import CorpusInfo, RunManifest
from embviz.rundir.run import TOKENIZER_JSON, Run, Snapshot, snapshot_name


def toy_categories(n_words: int, pos: int = 3, fields: int = 3, subfields: int = 2) -> list[str | None]:
    """Category paths ``p<i>/f<j>/s<k>`` for ``n_words`` words, round-robin over the leaves.

    Every fifth word is uncategorised (None), like punctuation or rare words in a real run.
    """
    leaves = [f"p{i}/f{i}{j}/s{i}{j}{k}" for i in range(pos) for j in range(fields) for k in range(subfields)]
    return [None if w % 5 == 4 else leaves[w % len(leaves)] for w in range(n_words)]


def toy_trajectory(
    labels: list[str | None], n_snapshots: int, dim: int = 32, seed: int = 0, levels: int = 3
) -> np.ndarray:
    """Embeddings [T, n, dim] drifting from Gaussian noise to nested clusters.

    Word i at snapshot t is ``noise_i(t) + sum_l a_l(t) * centre_l(path_i[:l])``: one random centre per
    category at each level, and a level's weight ``a_l`` ramps up later the finer the level, so
    coarse categories separate first. The noise is a random walk that shrinks as training goes on.
    """
    rng = np.random.default_rng(seed)
    n = len(labels)
    centres: dict[str, np.ndarray] = {}

    def centre(key: str) -> np.ndarray:
        if key not in centres:
            centres[key] = rng.normal(size=dim)
        return centres[key]

    parts = [lab.split("/") if lab else [] for lab in labels]
    # Uncategorised words drift towards a fixed random place of their own.
    loose = [i for i, p in enumerate(parts) if not p]
    own = rng.normal(size=(len(loose), dim))
    t = np.linspace(0.0, 1.0, n_snapshots)
    noise = rng.normal(size=(n, dim))
    out = np.empty((n_snapshots, n, dim), dtype=np.float32)
    members = [np.array([i for i, p in enumerate(parts) if len(p) > lvl], dtype=int) for lvl in range(levels)]
    stacked: dict[int, np.ndarray] = {}  # level → its members' centres, drawn in word order when first needed
    for s in range(n_snapshots):
        if s:
            noise = noise + 0.15 * rng.normal(size=(n, dim))
        x = noise * (1.0 - 0.9 * t[s])
        for lvl in range(levels):
            start = 0.05 + 0.25 * lvl
            weight = np.clip((t[s] - start) / 0.35, 0.0, 1.0) * (1.6 - 0.3 * lvl)
            if weight == 0:
                continue
            if lvl not in stacked:
                stacked[lvl] = np.array([centre("/".join(parts[i][: lvl + 1])) for i in members[lvl]]).reshape(-1, dim)
            x[members[lvl]] += weight * stacked[lvl]
        x[loose] += 0.8 * t[s] * own
        out[s] = x * (0.02 + t[s])  # norms grow during training, as in a real run
    return out


def make_toy_run(
    path: Path,
    n_words: int = 120,
    n_snapshots: int = 8,
    dim: int = 32,
    seed: int = 0,
    labels: list[str | None] | None = None,
    steps: list[int] | None = None,
    tokens: list[str] | None = None,
) -> Run:
    """Write a complete run directory at ``path``: run.json, vocab.tsv, metrics.csv and snapshots.

    Words are ``tokens`` (default ``w0 … w{n-1}``) with decreasing counts; ``labels`` defaults to
    :func:`toy_categories`.
    Snapshot steps default to 0, then log-spaced up to 1000.
    """
    if labels is None:
        labels = toy_categories(len(tokens) if tokens is not None else n_words)
    n_words = len(labels)
    tokens = [f"w{i}" for i in range(n_words)] if tokens is None else list(tokens)
    if len(tokens) != n_words:
        raise ValueError(f"{len(tokens)} tokens for {n_words} labels")
    run = Run.create(Path(path), overwrite=True)
    run.write_manifest(RunManifest(status="complete", config={"corpus": "toy", "seed": seed},
                                   corpus=CorpusInfo(name="toy"), model={"vocab_size": n_words, "d_model": dim}))
    run.write_vocab(tokens, [10_000 // (i + 1) for i in range(n_words)], labels)
    if steps is None:  # 0, then log-spaced up to about 1000, strictly increasing
        steps = [0] + [int(round(x)) + i for i, x in enumerate(np.geomspace(1, 1000, n_snapshots - 1))]
    trajectory = toy_trajectory(labels, len(steps), dim=dim, seed=seed)
    losses = [6.0 - 3.0 * (1 - np.exp(-s / 200)) for s in steps]
    rows = [{"step": s, "epoch": s / 250, "loss": loss, "lr": 1e-3, "tokens_per_s": 1000.0}
            for s, loss in zip(steps, losses)]
    run.write_metrics(rows)
    snaps = [Snapshot(snapshot_name(s), s, s / 250, s * 512, None if s == 0 else float(loss), None)
             for s, loss in zip(steps, losses)]
    run.snapshot_dir.mkdir(exist_ok=True)
    for snap, matrix in zip(snaps, trajectory):
        write_npy(run.snapshot_dir / snap.file, matrix)
    run._write_index(snaps)
    return run


def make_corpus_run(
    root: Path,
    lines: Sequence[str],
    *,
    dim: int,
    heads: int,
    epochs: int,
    categories: Callable[[str], str | None],
    snapshot_dtype: str = "float32",
) -> tuple[Run, list[str]]:
    """Write ``root/corpus.txt`` (``lines``) and a run directory ``root/run`` over it: word tokenizer
    (min_count 1), a complete run.json (2 layers, context 64), vocab.tsv with the text's counts and
    ``categories(token)``. Returns the run, to which the caller adds snapshots [V, dim], and its tokens.
    """
    from embviz.text.corpus import load_corpus
    from embviz.text.tokenizer import build_tokenizer
    from embviz.training.loop import TrainConfig

    corpus_path = Path(root) / "corpus.txt"
    corpus_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    corpus = load_corpus(str(corpus_path))
    tokenizer = build_tokenizer(corpus.text, "word", min_count=1)
    ids = tokenizer.encode(corpus.text)
    vocab = len(tokenizer)
    config = TrainConfig(corpus=str(corpus_path), d_model=dim, layers=2, heads=heads, epochs=epochs, device="cpu",
                         snapshot_dtype=snapshot_dtype)
    run = Run.create(Path(root) / "run")
    run.write_manifest(RunManifest(
        status="complete", config=asdict(config),
        chosen={"d_model": dim, "layers": 2, "heads": heads, "epochs": epochs, "lr": 3e-3, "warmup": 10,
                "batch_size": 32, "min_count": 1},
        model={"vocab_size": vocab, "d_model": dim, "layers": 2, "heads": heads, "context": 64, "dropout": 0.0,
               "tie": True},
        corpus=CorpusInfo(name="corpus", source=str(corpus_path), sha256=corpus.sha256, tokens=len(ids)),
    ))
    write_json(run.path / TOKENIZER_JSON, tokenizer.to_json())
    tokens = list(tokenizer.tokens)
    run.write_vocab(tokens, np.bincount(ids, minlength=vocab).tolist(), [categories(t) for t in tokens])
    return run, tokens
