"""``compare``: two runs on the tokens they share, snapshot by matched snapshot.

:func:`compare_runs` is the one library call behind the command, a list of stages: :func:`open_side` for
each run → :func:`shared_tokens` (matched by their text) → :func:`match_snapshots` (by step, tokens seen or
fraction of training) → :func:`measure_pairs` (:func:`embviz.compare.similarity.compare_spaces` on every
matched pair: linear CKA, Procrustes disparity, Jaccard@k) → :func:`split_groups` (by frequency, word class
and part of speech) → :func:`findings` (the published result that seeds converge unevenly, held against
these runs) → the report's data, with :func:`nearest_words` for ``--words``. It writes nothing.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from embviz.compare.report import json_safe
from embviz.compare.similarity import compare_spaces, in_parallel, nearest_of
from embviz.errors import ConfigError, RunError
from embviz.measure.metrics import jaccard_chance
from embviz.progress import Progress
from embviz.rundir.manifest import RunManifest
from embviz.rundir.run import Run, Snapshot
from embviz.text.lexicon import at_level
from embviz.text.tokenizer import UNK, word_form

SCHEMA = "embviz.compare.runs/1"
MATCHES = ("step", "tokens", "fraction")
DEFAULT_MATCH = "fraction"
"""Fraction of training pairs the first snapshots, the last ones and everything between, whatever each
run's length, batch or schedule; ``step`` and ``tokens`` pair equal amounts of training."""
TOLERANCE = 0.05
"""Two snapshots pair only when their steps (tokens, fractions) differ by at most this share of the larger."""
QUARTILES = 4
"""The frequency split cuts the shared tokens, by corpus count, into this many groups of equal size."""
SAMPLE = 0
"""Shared words whose Jaccard@k is measured (their neighbours among all shared words): 0 measures every one."""
CONVERGED = 0.9
"""A group has converged at the first matched snapshot where its agreement above chance reaches this share of
its last agreement above chance."""


@dataclass(frozen=True)
class RunsOptions:
    """What ``compare`` matches and measures."""

    match: str = DEFAULT_MATCH
    tolerance: float = TOLERANCE
    k: int = 10
    words: tuple[str, ...] = ()
    """Words whose nearest neighbours in both runs (at the last matched pair) the report lists."""
    neighbours: int = 8
    sample: int = SAMPLE
    """Measure Jaccard@k (and its splits) on this many shared words drawn at random (seed 0), each against
    all shared words; 0, or at least as many as are shared: every one."""

    def validate(self) -> None:
        if self.match not in MATCHES:
            raise ConfigError(f"--match must be one of {', '.join(MATCHES)}, got {self.match!r}")
        if not 0 <= self.tolerance < 1:
            raise ConfigError(f"--tolerance must be at least 0 and below 1, got {self.tolerance}")
        if not 1 <= self.k <= 1000:
            raise ConfigError(f"--k must be between 1 and 1000, got {self.k}")
        if not 1 <= self.neighbours <= 100:
            raise ConfigError(f"--neighbours must be between 1 and 100, got {self.neighbours}")
        if self.sample != 0 and self.sample < 3:
            raise ConfigError(f"--sample must be 0 (every shared word) or at least 3, got {self.sample}")


# -- 1. the runs and their shared tokens -------------------------------------------------------------------


@dataclass
class Side:
    """One complete run as ``compare`` reads it: vocabulary [V] and snapshots (each checked [V, d])."""

    run: Run
    manifest: RunManifest
    tokens: list[str]
    counts: list[int]
    categories: list[str | None]
    snapshots: list[Snapshot]


def open_side(run_dir: Path | str) -> Side:
    """Open a complete run and check that every snapshot is a [V, d] matrix of its vocabulary."""
    run = Run.open_complete(Path(run_dir))
    tokens, counts, categories = run.vocab()
    return Side(run, run.manifest(), tokens, counts, categories, run.check_snapshots(rows=len(tokens)))


@dataclass
class Shared:
    """The tokens both runs hold: each run's rows ``rows_a``, ``rows_b`` [n] and the ``words`` [n] they spell,
    in run A's id order; ``casefold`` when they were matched case-insensitively."""

    rows_a: np.ndarray
    rows_b: np.ndarray
    words: list[str]
    casefold: bool


def text_index(tokens: list[str], casefold: bool) -> dict[str, int]:
    """Each word a vocabulary spells (:func:`~embviz.text.tokenizer.word_form`, lowercased when ``casefold``) →
    the row that spells it best: a word-start BPE token before a word piece, then the exact case."""
    best: dict[str, tuple[tuple[bool, bool], int]] = {}
    for i, token in enumerate(tokens):
        if token == UNK:
            continue
        form = word_form(token)
        key = form.lower() if casefold else form
        rank = (form == token, form != key)
        if key not in best or rank < best[key][0]:
            best[key] = (rank, i)
    return {key: i for key, (_, i) in best.items()}


def shared_tokens(a: Side, b: Side) -> Shared:
    """The tokens of ``a`` and ``b`` that spell the same word; case-insensitively when either vocabulary has no
    capital letter (a lowercasing tokenizer), exactly otherwise. Fewer than 3 is a RunError."""
    capitals = lambda tokens: any(t != t.lower() for t in tokens)  # noqa: E731
    casefold = not capitals(a.tokens) or not capitals(b.tokens)
    index_a, index_b = text_index(a.tokens, casefold), text_index(b.tokens, casefold)
    words = sorted((w for w in index_a if w in index_b), key=index_a.__getitem__)
    if len(words) < 3:
        raise RunError(f"{a.run.path} and {b.run.path} share {len(words)} token(s); at least 3 are needed "
                       "(tokens match by their text)")
    return Shared(np.array([index_a[w] for w in words], dtype=np.int64),
                  np.array([index_b[w] for w in words], dtype=np.int64), words, casefold)


def sample_of(shared: Shared, count: int) -> np.ndarray:
    """Positions in ``shared`` [m] of ``count`` words drawn at random (seed 0), in order; all of them when
    ``count`` is 0 or at least their number."""
    n = len(shared.words)
    if count == 0 or count >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).choice(n, count, replace=False))


def subset(shared: Shared, positions: np.ndarray) -> Shared:
    """The shared words at ``positions`` [m]."""
    return Shared(shared.rows_a[positions], shared.rows_b[positions], [shared.words[i] for i in positions],
                  shared.casefold)


def find_shared(words: tuple[str, ...], shared: Shared) -> list[tuple[str, int]]:
    """(asked word, position in ``shared``) for each of ``words`` both runs hold; warns about the others, and
    none found is a ConfigError."""
    where = {w: pos for pos, w in enumerate(shared.words)}
    keys = [word_form(w).lower() if shared.casefold else word_form(w) for w in words]
    found = [(w, where[key]) for w, key in zip(words, keys) if key in where]
    missing = [w for w, key in zip(words, keys) if key not in where]
    if words and not found:
        raise ConfigError(f"none of the --words is a token both runs hold: {', '.join(words)}")
    if missing:
        warnings.warn(f"not a token both runs hold, skipped: {', '.join(missing)}", stacklevel=3)
    return found


def nearest_words(a: Side, b: Side, shared: Shared, agreement: Agreement, found: list[tuple[str, int]],
                  count: int) -> list[dict]:
    """Each found word's ``count`` nearest shared words (cosine) in both runs at the matched pair ``agreement``."""
    if not found:
        return []
    count = min(count, len(shared.words) - 1)
    x, y = a.run.load_snapshot(agreement.a, shared.rows_a), b.run.load_snapshot(agreement.b, shared.rows_b)
    return [{"word": word, "token": shared.words[pos], "step_a": agreement.a.step, "step_b": agreement.b.step,
             "a": nearest_of(x, pos, count, shared.words), "b": nearest_of(y, pos, count, shared.words)}
            for word, pos in found]


# -- 2. matched snapshots --------------------------------------------------------------------------------


def progress_keys(snapshots: list[Snapshot], match: str) -> np.ndarray:
    """How far training was at each snapshot [T]: its step, its tokens seen, or its step over the last one's
    (a run whose only snapshot is at step 0 is at fraction 1)."""
    steps = np.array([s.step for s in snapshots], dtype=np.float64)
    if match == "step":
        return steps
    if match == "tokens":
        return np.array([s.tokens_seen for s in snapshots], dtype=np.float64)
    return steps / steps[-1] if steps[-1] > 0 else np.ones_like(steps)


def relative_gap(x: float, y: float) -> float:
    """``|x - y|`` over the larger of ``|x|``, ``|y|`` (0 when both are 0)."""
    scale = max(abs(x), abs(y))
    return abs(x - y) / scale if scale > 0 else 0.0


def match_snapshots(a: list[Snapshot], b: list[Snapshot], match: str = DEFAULT_MATCH,
                    tolerance: float = TOLERANCE) -> list[tuple[int, int]]:
    """Pairs (index in ``a``, index in ``b``), in training order: each snapshot of ``a`` with the snapshot of
    ``b`` nearest by ``match`` (the earlier on a tie), kept when they are within ``tolerance``
    (:func:`relative_gap`); a snapshot of ``b`` pairs at most once, with the nearest of those choosing it."""
    key_a, key_b = progress_keys(a, match), progress_keys(b, match)
    chosen: dict[int, tuple[float, int]] = {}
    for i, x in enumerate(key_a):
        j = int(np.argmin(np.abs(key_b - x)))
        gap = relative_gap(x, key_b[j])
        if gap <= tolerance and (j not in chosen or gap < chosen[j][0]):
            chosen[j] = (gap, i)
    return sorted((i, j) for j, (_, i) in chosen.items())


def matched_pairs(a: Side, b: Side, options: RunsOptions) -> list[tuple[int, int]]:
    """:func:`match_snapshots`, or a one-line error saying why nothing matched."""
    if options.match == "tokens":
        for side in (a, b):
            if not any(s.tokens_seen for s in side.snapshots):
                raise ConfigError(f"{side.run.path} records no tokens seen in its snapshots; use --match step "
                                  "or --match fraction")
    pairs = match_snapshots(a.snapshots, b.snapshots, options.match, options.tolerance)
    if not pairs:
        spans = [f"{side.run.path} {k[0]:g}–{k[-1]:g}" for side in (a, b)
                 for k in [progress_keys(side.snapshots, options.match)]]
        raise RunError(f"no snapshots match by {options.match} within {options.tolerance:.0%} ({'; '.join(spans)}); "
                       "try --match fraction")
    return pairs


# -- 3. measures --------------------------------------------------------------------------------------


@dataclass
class Agreement:
    """One matched pair of snapshots: CKA, Procrustes disparity and each shared word's Jaccard@k [n]."""

    a: Snapshot
    b: Snapshot
    cka: float
    disparity: float
    jaccard: np.ndarray


def measure_pairs(a: Side, b: Side, shared: Shared, pairs: list[tuple[int, int]], k: int,
                  progress: Progress | None = None, queries: np.ndarray | None = None) -> list[Agreement]:
    """:func:`~embviz.compare.similarity.compare_spaces` on the shared rows of every matched pair; Jaccard@k of
    the shared words at ``queries`` [m] alone when given."""
    k = min(k, len(shared.words) - 1)

    def measure(pair: tuple[int, int]) -> Agreement:
        snap_a, snap_b = a.snapshots[pair[0]], b.snapshots[pair[1]]
        x, y = a.run.load_snapshot(snap_a, shared.rows_a), b.run.load_snapshot(snap_b, shared.rows_b)
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            raise RunError(f"snapshot {snap_a.file} or {snap_b.file} contains nan or infinite values")
        sim = compare_spaces(x, y, k=k, queries=queries)
        return Agreement(snap_a, snap_b, sim.linear_cka, max(0.0, sim.procrustes_disparity), sim.jaccard)

    return in_parallel(measure, pairs, progress)


@dataclass
class Group:
    """Shared words of one kind: their positions ``rows`` [m] in :class:`Shared` and what sets them apart."""

    name: str
    rows: np.ndarray
    detail: dict = field(default_factory=dict)


def frequency_groups(counts: np.ndarray, parts: int = QUARTILES) -> list[Group]:
    """The shared words by corpus count ``counts`` [n], most frequent first, cut into ``parts`` equal groups
    (ties: lower position first)."""
    order = np.lexsort((np.arange(counts.size), -counts))
    names = [f"Q{q + 1}" + (" (most frequent)" if q == 0 else " (rarest)" if q == parts - 1 else "")
             for q in range(parts)]
    return [Group(name, np.sort(rows), {"counts": [int(counts[rows].min()), int(counts[rows].max())]})
            for name, rows in zip(names, np.array_split(order, parts)) if rows.size]


def label_groups(labels: list[str | None], order: tuple[str, ...] = ()) -> list[Group]:
    """One group per label (None: left out), in ``order`` and then by size."""
    names = sorted({lab for lab in labels if lab is not None},
                   key=lambda n: (order.index(n) if n in order else len(order), -labels.count(n), n))
    return [Group(n, np.array([i for i, lab in enumerate(labels) if lab == n], dtype=np.int64)) for n in names]


def split_groups(a: Side, b: Side, shared: Shared) -> dict[str, dict]:
    """The splits of the shared words: by frequency (run A's corpus counts, else B's), by word class
    (function, content, other) and by part of speech (A's categories, else B's)."""
    from embviz.film.selection import WORD_CLASSES, word_classes

    splits: dict[str, dict] = {}
    for side, rows, name in ((a, shared.rows_a, "A"), (b, shared.rows_b, "B")):
        counts = np.asarray(side.counts, dtype=np.int64)[rows]
        if counts.any():
            splits["frequency"] = {"source": f"run {name}'s corpus counts", "groups": frequency_groups(counts)}
            break
    paths = [a.categories[i] or b.categories[j] for i, j in zip(shared.rows_a, shared.rows_b)]
    splits["word_class"] = {"source": "function words: a function part of speech or a stop word; other: "
                                      "punctuation and special tokens",
                            "groups": label_groups(word_classes(shared.words, paths), WORD_CLASSES)}
    pos = label_groups([at_level(p, 0) for p in paths])
    if pos:
        splits["pos"] = {"source": "the runs' categories (run A's, else B's), first level", "groups": pos}
    return splits


def converged_at(curve: np.ndarray, fractions: np.ndarray, chance: float) -> float | None:
    """The fraction of training [P] at which ``curve`` [P] first rises :data:`CONVERGED` of the way from
    ``chance`` to its last value; None when its last value is not above chance."""
    if curve.size == 0 or not curve[-1] > chance:
        return None
    return float(fractions[np.argmax(curve - chance >= CONVERGED * (curve[-1] - chance))])


def finding(claim: str, faster: Group, slower: Group, agreements: list[Agreement], fractions: np.ndarray,
            chance: float) -> dict:
    """``claim`` (``faster`` converge across the runs faster than ``slower``) held against the matched snapshots
    after initialisation: ``earlier`` when ``faster`` rise :data:`CONVERGED` of the way from ``chance`` to their
    last agreement at an earlier fraction of training (:func:`converged_at`), ``higher`` when they agree more at most snapshots and at the last one.
    It holds with both, holds in part with one."""
    trained = [i for i, p in enumerate(agreements) if p.a.step > 0 and p.b.step > 0]
    fast = np.array([agreements[i].jaccard[faster.rows].mean() for i in trained])
    slow = np.array([agreements[i].jaccard[slower.rows].mean() for i in trained])
    when = [converged_at(fast, fractions[trained], chance), converged_at(slow, fractions[trained], chance)]
    out = {"claim": claim, "faster": faster.name, "slower": slower.name, "snapshots": len(trained),
           "higher_at": int((fast > slow).sum()), "final": [float(fast[-1]), float(slow[-1])] if trained else None,
           "converged_at": when}
    if not trained or None in when:
        out.update(earlier=False, higher=False, holds=False,
                   verdict=f"{claim}: cannot be judged (no agreement above chance after initialisation).")
        return out
    out["earlier"] = bool(when[0] < when[1])
    out["higher"] = bool(out["higher_at"] * 2 > len(trained) and fast[-1] > slow[-1])
    out["holds"] = out["earlier"] and out["higher"]
    status = "holds" if out["holds"] else "holds in part" if out["earlier"] or out["higher"] else "does NOT hold"
    out["verdict"] = (f"{claim}: {status} on these runs. {faster.name} tokens rise {CONVERGED:.0%} of the way from chance to "
                      f"their last agreement at {when[0]:.0%} of training, {slower.name} tokens at {when[1]:.0%}; they agree "
                      f"more at {out['higher_at']} of {len(trained)} matched snapshots after initialisation "
                      f"(last: Jaccard@k {fast[-1]:.3f} vs {slow[-1]:.3f}).")
    return out


def findings(splits: dict[str, dict], agreements: list[Agreement], fractions: np.ndarray,
             chance: float) -> list[dict]:
    """Fehlauer, Mahowald & Pimentel (2025): across seeds, frequent tokens converge faster than rare ones,
    and function words faster than content words."""
    out = []
    if "frequency" in splits:
        groups = splits["frequency"]["groups"]
        out.append(finding("frequent tokens converge across runs faster than rare ones", groups[0], groups[-1],
                           agreements, fractions, chance))
    classes = {g.name: g for g in splits["word_class"]["groups"]}
    if "function" in classes and "content" in classes:
        out.append(finding("function words converge across runs faster than content words", classes["function"],
                           classes["content"], agreements, fractions, chance))
    return out


# -- 4. the report -------------------------------------------------------------------------------------


@dataclass
class RunsReport:
    """The comparison; ``data`` is what ``compare --json`` prints, ``agreements`` the matched pairs."""

    data: dict
    agreements: list[Agreement]


def compare_runs(run_a: Path | str, run_b: Path | str, options: RunsOptions | None = None, *,
                 progress: Progress | None = None) -> RunsReport:
    """Compare two complete runs on their shared tokens at every matched snapshot (see the module's stages)."""
    options = options or RunsOptions()
    options.validate()
    clock = time.perf_counter()
    a, b = open_side(run_a), open_side(run_b)
    shared = shared_tokens(a, b)
    found = find_shared(options.words, shared)
    pairs = matched_pairs(a, b, options)
    queries = sample_of(shared, options.sample)
    agreements = measure_pairs(a, b, shared, pairs, options.k, progress, queries)
    splits = split_groups(a, b, subset(shared, queries))
    fractions = progress_keys(a.snapshots, "fraction")[[i for i, _ in pairs]]
    chance = jaccard_chance(len(shared.words), min(options.k, len(shared.words) - 1))
    data = report_data(a, b, shared, pairs, options, agreements, splits,
                       findings(splits, agreements, fractions, chance), queries.size)
    data["neighbours"] = nearest_words(a, b, shared, agreements[-1], found, options.neighbours)
    data["timings"] = {"total": round(time.perf_counter() - clock, 4)}
    return RunsReport(data, agreements)


def side_info(side: Side) -> dict:
    last = side.snapshots[-1]
    return {"run": str(side.run.path), "corpus": side.manifest.setting("corpus", str), "seed": side.manifest.seed,
            "d_model": side.manifest.d_model, "n_vocab": len(side.tokens), "snapshots": len(side.snapshots),
            "final_step": last.step, "final_tokens_seen": last.tokens_seen}


def report_data(a: Side, b: Side, shared: Shared, pairs: list[tuple[int, int]], options: RunsOptions,
                agreements: list[Agreement], splits: dict[str, dict], found: list[dict], sampled: int) -> dict:
    """What ``compare --json`` prints: the runs, the shared tokens, one entry per matched snapshot (with its
    ``cka``), the splits (each group's mean Jaccard@k per matched snapshot) and the findings."""
    frac_a, frac_b = progress_keys(a.snapshots, "fraction"), progress_keys(b.snapshots, "fraction")
    n = len(shared.words)
    k = min(options.k, n - 1)
    snapshots = [{"step_a": p.a.step, "step_b": p.b.step, "epoch_a": p.a.epoch, "epoch_b": p.b.epoch,
                  "tokens_a": p.a.tokens_seen, "tokens_b": p.b.tokens_seen,
                  "fraction_a": float(frac_a[i]), "fraction_b": float(frac_b[j]),
                  "cka": p.cka, "procrustes_disparity": p.disparity, "jaccard_mean": float(p.jaccard.mean()),
                  "jaccard_median": float(np.median(p.jaccard))}
                 for (i, j), p in zip(pairs, agreements)]
    return json_safe({
        "schema": SCHEMA,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "a": side_info(a), "b": side_info(b),
        "shared": {"n_tokens": n, "of_a": len(a.tokens), "of_b": len(b.tokens),
                   "rule": ("tokens match by their text (BPE's word-start marker stripped; "
                            + ("case-insensitive" if shared.casefold else "case-sensitive") + "); <unk> left out")},
        "match": {"by": options.match, "tolerance": options.tolerance, "pairs": len(pairs),
                  "unmatched_a": len(a.snapshots) - len(pairs), "unmatched_b": len(b.snapshots) - len(pairs)},
        "k": k, "jaccard_chance": jaccard_chance(n, k),
        "jaccard_words": {"n": sampled, "of": n, "sampled": sampled < n, "seed": 0},
        "snapshots": snapshots,
        "split": {name: {"source": split["source"],
                         "groups": [{"name": g.name, "n": int(g.rows.size), **g.detail,
                                     "jaccard": [float(p.jaccard[g.rows].mean()) for p in agreements]}
                                    for g in split["groups"]]}
                  for name, split in splits.items()},
        "findings": found,
    })
