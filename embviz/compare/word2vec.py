"""The Word2Vec baseline: gensim's ``Word2Vec`` trained on a run's own corpus with the run's own tokens.

The sentences are the corpus lines, tokenized by the run's tokenizer (``Tokenizer.split``); a token
the run's vocabulary does not hold becomes ``<unk>``, exactly as the language model saw it. With
``min_count=1`` every run token that occurs gets a vector; a run token that never occurs in a line
(possible for BPE merges and tokens spanning a line break) gets a zero row and is reported.

The vectors are stored under ``<run>/word2vec/`` as a small run directory of their own, so
``Run.open(run / "word2vec")`` reads them like any run (one snapshot)::

    word2vec/
      run.json, tokenizer.json, vocab.tsv       copies of the run's, plus the Word2Vec options
      snapshots/index.json                      one entry, file word2vec.npy
      snapshots/word2vec.npy                    [V, d] float32, rows in the run's vocabulary order
      gensim/word2vec.model                     gensim's own ``model.save`` (a pickle: never loaded)

A baseline is reused only from the ``.npy`` (never from gensim's pickle) and only when its recorded
options, corpus hash and vocabulary hash equal the ones asked for.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from embviz.errors import ConfigError, CorpusError, RunError
from embviz.progress import Progress
from embviz.rundir.files import write_json, write_npy, write_text
from embviz.rundir.manifest import RunManifest
from embviz.rundir.output import replacing
from embviz.rundir.run import INDEX_JSON, SNAPSHOTS, TOKENIZER_JSON, VOCAB_TSV, WORD2VEC, Run
from embviz.text.tokenizer import UNK, Tokenizer

VECTORS_FILE = "word2vec.npy"
GENSIM_DIR = "gensim"
GENSIM_MODEL = "word2vec.model"
MAX_SENTENCE = 10_000
"""gensim's compiled path truncates longer sentences; longer lines are cut into pieces of this size."""



@dataclass(frozen=True)
class Word2VecOptions:
    """gensim ``Word2Vec`` options; ``None`` means taken from the run (see :meth:`resolve`).

    ``vector_size`` defaults to the run's d_model, ``epochs`` to the epochs the run trained (the same
    passes over the same text; fewer than it was set to when it stopped early), ``seed`` to the run's
    seed, ``workers`` to every core. These defaults are the ones ``compare-word2vec`` shows.
    """

    sg: bool = True
    vector_size: int | None = None
    window: int = 5
    negative: int = 5
    epochs: int | None = None
    seed: int | None = None
    workers: int | None = None

    def validate(self) -> None:
        checks = [("vector_size", self.vector_size, 1, 4096), ("window", self.window, 1, 1000),
                  ("negative", self.negative, 1, 100), ("epochs", self.epochs, 1, 10_000),
                  ("workers", self.workers, 1, 1024), ("seed", self.seed, 0, 2**32 - 1)]
        for name, value, low, high in checks:
            if value is not None and (isinstance(value, bool) or not low <= value <= high):
                raise ConfigError(f"--{name.replace('_', '-')} must be between {low} and {high:,}, got {value}")

    def resolve(self, manifest: RunManifest) -> "Word2VecOptions":
        """Fill every ``None`` from the run's manifest (and the machine, for ``workers``)."""
        self.validate()
        d_model, epochs = manifest.d_model, manifest.epochs_run
        if self.vector_size is None and d_model is None:
            raise RunError("run.json records no d_model; pass --vector-size")
        if self.epochs is None and epochs is None:
            raise RunError("run.json records no epochs; pass --epochs")
        resolved = Word2VecOptions(
            sg=self.sg, vector_size=self.vector_size or d_model, window=self.window, negative=self.negative,
            epochs=self.epochs or epochs, seed=self.seed if self.seed is not None else manifest.seed,
            workers=self.workers or available_cores())
        resolved.validate()
        return resolved

    def cache_key(self) -> dict:
        """What makes two baselines the same (workers too: with more than one thread gensim's result
        depends on the thread schedule)."""
        return asdict(self)


def available_cores() -> int:
    with contextlib.suppress(AttributeError):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


@dataclass
class Sentences:
    """The corpus as Word2Vec sentences: lists of run token strings (unknown ones as ``<unk>``)."""

    sentences: list[list[str]]
    n_words: int
    counts: np.ndarray
    """[V] occurrences of each run token in the sentences."""


@dataclass
class Baseline:
    """Word2Vec vectors aligned to the run's vocabulary."""

    vectors: np.ndarray
    """[V, d] float32, row i = run token i; zero for tokens that never occur."""
    tokens: list[str]
    present: np.ndarray
    """[V] bool: the token occurs in the sentences, so its vector was trained."""
    options: Word2VecOptions
    n_sentences: int
    n_words: int
    seconds: float
    reused: bool = False
    model: object | None = field(default=None, repr=False)
    """The gensim model (None when reused from disk)."""

    @property
    def missing(self) -> list[str]:
        return [t for t, p in zip(self.tokens, self.present) if not p]

    def info(self) -> dict:
        import gensim

        return {**asdict(self.options), "min_count": 1, "sentences": self.n_sentences, "words": self.n_words,
                "vocab": len(self.tokens), "trained_tokens": int(self.present.sum()),
                "missing_tokens": self.missing[:50], "n_missing": len(self.missing),
                "seconds": round(self.seconds, 3), "reused": self.reused, "gensim": gensim.__version__}


# -- sentences ----------------------------------------------------------------------------------------


def corpus_sentences(text: str, tokenizer: Tokenizer) -> Sentences:
    """Each non-empty line of ``text`` as run tokens (``<unk>`` for the rest), cut at MAX_SENTENCE."""
    ids = tokenizer.ids
    counts = np.zeros(len(tokenizer), dtype=np.int64)
    sentences: list[list[str]] = []
    n_words = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        tokens = [t if t in ids else UNK for t in tokenizer.split(line)]
        if not tokens:
            continue
        for t in tokens:
            counts[ids[t]] += 1
        n_words += len(tokens)
        sentences.extend(tokens[i:i + MAX_SENTENCE] for i in range(0, len(tokens), MAX_SENTENCE))
    if not sentences:
        raise CorpusError("the run's corpus gives no tokens for Word2Vec")
    return Sentences(sentences, n_words, counts)


# -- training --------------------------------------------------------------------------------------


def train_word2vec(sentences: Sentences, tokens: list[str], options: Word2VecOptions,
                   progress: Progress | None = None) -> Baseline:
    """Train gensim ``Word2Vec`` (compiled path, ``options.workers`` threads) on resolved options.

    Returns
    -------
    Baseline whose ``vectors`` [V, d] follow the order of ``tokens`` (the run's vocabulary).
    """
    from gensim.models import Word2Vec
    from gensim.models.callbacks import CallbackAny2Vec

    if options.vector_size is None or options.epochs is None or options.seed is None or options.workers is None:
        raise ConfigError("Word2Vec options must be resolved against the run first")

    class _Epochs(CallbackAny2Vec):
        def __init__(self) -> None:
            self.done = 0

        def on_epoch_end(self, model: object) -> None:
            self.done += 1
            if progress:
                progress("word2vec", self.done, options.epochs)

    t0 = time.perf_counter()
    if progress:
        progress("word2vec", 0, options.epochs)
    model = Word2Vec(sentences.sentences, vector_size=options.vector_size, window=options.window,
                     min_count=1, sg=int(options.sg), negative=options.negative, epochs=options.epochs,
                     seed=options.seed, workers=options.workers, callbacks=[_Epochs()])
    seconds = time.perf_counter() - t0
    vectors = np.zeros((len(tokens), options.vector_size), dtype=np.float32)
    present = np.zeros(len(tokens), dtype=bool)
    for i, token in enumerate(tokens):
        j = model.wv.key_to_index.get(token)
        if j is not None:
            vectors[i] = model.wv.vectors[j]
            present[i] = True
    return Baseline(vectors=vectors, tokens=list(tokens), present=present, options=options,
                    n_sentences=len(sentences.sentences), n_words=sentences.n_words, seconds=seconds, model=model)


# -- storing and reusing -----------------------------------------------------------------------------


def _fingerprint(manifest: RunManifest, tokens: list[str]) -> dict:
    vocab = hashlib.sha256("\n".join(tokens).encode("utf-8")).hexdigest()
    return {"corpus_sha256": manifest.corpus.sha256 if manifest.corpus else None, "vocab_sha256": vocab}


def load_cached(run: Run, manifest: RunManifest, tokens: list[str], options: Word2VecOptions) -> Baseline | None:
    """The stored baseline if it was trained with the same options on the same text and vocabulary.

    Reads ``word2vec/run.json`` and the ``.npy`` only; anything unreadable or different gives None.
    """
    base = run.path / WORD2VEC
    try:
        stored = Run(base).manifest().word2vec or {}
        same = (stored.get("options") == options.cache_key()
                and stored.get("fingerprint") == _fingerprint(manifest, tokens))
        if not same:
            return None
        vectors = np.load(base / SNAPSHOTS / VECTORS_FILE, allow_pickle=False)
    except (RunError, OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if vectors.shape != (len(tokens), options.vector_size) or vectors.dtype != np.float32:
        return None
    present = np.any(vectors != 0, axis=1)  # a trained Word2Vec vector is never exactly zero
    return Baseline(vectors=vectors, tokens=list(tokens), present=present, options=options,
                    n_sentences=int(stored.get("sentences", 0)), n_words=int(stored.get("words", 0)),
                    seconds=0.0, reused=True)


def check_output_dir(run: Run) -> Path:
    """``<run>/word2vec``, or a one-line RunError when something other than a folder is in its way."""
    base = run.path / WORD2VEC
    for path in (base, base / SNAPSHOTS, base / GENSIM_DIR):
        if path.exists() and not path.is_dir():
            raise RunError(f"cannot write the Word2Vec baseline: {path} is a file, not a folder")
    return base


def write_baseline(run: Run, manifest: RunManifest, baseline: Baseline) -> None:
    """Store the vectors as a one-snapshot run under ``word2vec/`` and gensim's model under ``gensim/``.

    Each file is replaced atomically; the gensim folder is saved beside and swapped in.
    """
    from embviz.rundir.run import Snapshot

    base = check_output_dir(run)
    try:
        (base / SNAPSHOTS).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunError(f"cannot write the Word2Vec baseline under {base}: {e.strerror or e}") from None
    opts = baseline.options
    write_npy(base / SNAPSHOTS / VECTORS_FILE, baseline.vectors)
    snap = Snapshot(file=VECTORS_FILE, step=int(opts.epochs), epoch=float(opts.epochs),
                    tokens_seen=int(baseline.n_words * opts.epochs), train_loss=None, val_loss=None)
    write_json(base / SNAPSHOTS / INDEX_JSON, [asdict(snap)])
    for name in (TOKENIZER_JSON, VOCAB_TSV):
        write_text(base / name, (run.path / name).read_text(encoding="utf-8"))
    sub = replace(manifest, status="complete", result=None, baseline_of=str(run.path.resolve()),
                  snapshot_matrix="gensim Word2Vec input vectors (wv), rows in the run's vocabulary order",
                  word2vec={**baseline.info(), "options": opts.cache_key(),
                            "fingerprint": _fingerprint(manifest, baseline.tokens)})
    if baseline.model is not None:
        _save_gensim(base, baseline.model)
    Run(base).write_manifest(sub)


def _save_gensim(base: Path, model: object) -> None:
    """gensim's own save, as a folder swapped in whole (inside the run: replaced without asking)."""
    with replacing(base / GENSIM_DIR, folder=True) as tmp:
        model.save(str(tmp / GENSIM_MODEL))


def baseline_for_run(run: Run, manifest: RunManifest, options: Word2VecOptions, *, retrain: bool = False,
                     progress: Progress | None = None) -> tuple[Baseline, Word2VecOptions]:
    """The run's Word2Vec baseline for ``options`` (resolved): reused if stored and equal, else trained.

    Nothing is written here; see :func:`write_baseline`.
    """
    resolved = options.resolve(manifest)
    tokens = run.vocab()[0]
    tokenizer = run.tokenizer()
    if tokenizer.tokens != tokens:
        raise RunError(f"{run.path}: tokenizer.json and vocab.tsv disagree")
    text = run.corpus_text()  # checks the hash even when a cached baseline exists
    if not retrain:
        cached = load_cached(run, manifest, tokens, resolved)
        if cached is not None:
            return cached, resolved
    sentences = corpus_sentences(text, tokenizer)
    return train_word2vec(sentences, tokens, resolved, progress), resolved
