"""``import``: a series of checkpoints from another trainer → an ordinary embviz run directory.

The run holds one snapshot per distinct checkpoint (the token-embedding matrix, or the untied LM
head, rows past the tokenizer's size dropped; beside the token embedding, the position table where the
checkpoints hold one and, with ``head``, an untied LM head), ``vocab.tsv`` with readable tokens and lexicon
categories, ``tokenizer.json`` (so a corpus can be tokenized the model's way) and a ``run.json``
that records every source, its step and the SHA-256 of its matrix, and the tokenizer's origin.
``animate`` and ``compare-word2vec`` read it like a run of ``embviz train``.

The run is built in a temporary folder beside ``out`` and renamed into place at the end, so a bad
checkpoint halfway through leaves nothing behind (and an ``--overwrite``-n run stays whole until then).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import warnings
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embviz.errors import CheckpointError, ConfigError
from embviz.interop import checkpoints as ck
from embviz.progress import Progress
from embviz.rundir.files import write_json
from embviz.rundir.manifest import CorpusInfo, RunManifest
from embviz.rundir.output import check_output, replacing
from embviz.rundir.run import RUN_JSON, TOKENIZER_JSON, Run, Snapshot, snapshot_name
from embviz.text.lexicon import Lexicon
from embviz.text.tokenizer import Tokenizer

PAD_MULTIPLE = 64
PAD_MIN_SHARE = 0.9
"""Rows past the tokenizer are padding (dropped) when the row count is a multiple of PAD_MULTIPLE and
the tokenizer covers at least this share of them (nanoGPT pads 50,257 to 50,304); otherwise the
tokenizer is taken to be the wrong one."""
WORD2VEC_EPOCHS = 5
"""Word2Vec passes recorded for a run whose trainer does not say how many epochs it made (gensim's default)."""
TOKENIZER_FILES = ("tokenizer.json", "vocab.json")


@dataclass(frozen=True)
class Vocabulary:
    """The tokens of the imported rows: readable forms [V], where they came from, and (for a real
    tokenizer) its Hugging Face JSON, to tokenize a corpus with."""

    tokens: list[str]
    origin: str
    byte_level: bool
    hf_json: str | None = None

    def tokenizer(self) -> Tokenizer:
        if self.hf_json is None:
            return Tokenizer(kind="word", tokens=self.tokens, lowercase=False)
        return Tokenizer(kind="bpe", tokens=self.tokens, lowercase=False, bpe_json=self.hf_json)


@dataclass(frozen=True)
class ImportResult:
    run_dir: Path
    steps: list[int]
    dropped: list[str]
    """Checkpoints left out because their matrix equals an earlier one's."""
    shape: tuple[int, int]
    rows_dropped: int
    key: str
    tokenizer: str
    frequencies: bool
    seconds: float
    fetched: dict[str, int] | None = None
    """Bytes fetched from the Hub per run matrix (``token``, ``position``, ``head``; None for checkpoints on disk)."""

    @property
    def fetched_bytes(self) -> int | None:
        return None if self.fetched is None else sum(self.fetched.values())


# -- readable tokens ----------------------------------------------------------------------------


def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level alphabet: printable character → byte (``Ġ`` → space, ``Ċ`` → newline)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), 256))
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[chr(b)] = b
        else:
            chars[chr(256 + extra)] = b
            extra += 1
    return chars


def readable_tokens(tokens: Sequence[str], byte_level: bool, keep: frozenset[str] = frozenset()) -> list[str]:
    """Tokens as text: byte-level characters decoded (undecodable bytes as ``\\xNN``), spaces shown as
    embviz's word-start marker ``▁``; ``keep`` (special tokens) unchanged. The forms stay unique: a
    token whose readable form is taken keeps its stored form, or failing that gets ``#<id>`` appended."""
    decoder = _byte_decoder() if byte_level else {}
    out, seen = [], set()
    for i, token in enumerate(tokens):
        text = token
        if byte_level and token not in keep and all(ch in decoder for ch in token):
            text = bytes(decoder[ch] for ch in token).decode("utf-8", errors="backslashreplace")
        if token not in keep:
            text = text.replace(" ", "▁")
        if text in seen:
            text = token if token not in seen else f"{token}#{i}"
        seen.add(text)
        out.append(text)
    return out


def _has_byte_level(node) -> bool:
    if isinstance(node, dict):
        return node.get("type") == "ByteLevel" or any(_has_byte_level(v) for v in node.values())
    if isinstance(node, list):
        return any(_has_byte_level(v) for v in node)
    return False


def load_vocabulary(path: Path) -> Vocabulary:
    """A Hugging Face ``tokenizer.json``, a ``vocab.json`` (with ``merges.txt`` beside it), a folder
    holding either, or a plain token list (one per line)."""
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import decoders, models, pre_tokenizers

    path = Path(path)
    if path.is_dir():
        found = next((path / n for n in TOKENIZER_FILES if (path / n).is_file()), None)
        if found is None:
            raise ConfigError(f"no tokenizer.json or vocab.json in {path}")
        path = found
    if not path.is_file():
        raise ConfigError(f"tokenizer {path} does not exist")
    try:
        if path.name.endswith("vocab.json"):
            merges = path.with_name(path.name.replace("vocab.json", "merges.txt"))
            if not merges.is_file():
                raise ConfigError(f"{path} needs {merges.name} beside it")
            hf = HFTokenizer(models.BPE.from_file(str(path), str(merges)))
            hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
            hf.decoder = decoders.ByteLevel()
            origin = f"{path} + {merges.name}"
        else:
            hf = HFTokenizer.from_file(str(path))
            origin = str(path)
    except ConfigError:
        raise
    except Exception as e:  # tokenizers raises its own exception type for any malformed file
        raise ConfigError(f"{path} is not a Hugging Face tokenizer ({ck._first_line(e)})") from None
    data = json.loads(hf.to_str())
    data["truncation"] = data["padding"] = None  # a corpus is counted whole
    vocab = hf.get_vocab(with_added_tokens=True)
    size = max(vocab.values()) + 1
    stored = [f"<unused{i}>" for i in range(size)]
    for token, i in vocab.items():
        stored[i] = token
    byte_level = _has_byte_level(data.get("pre_tokenizer")) or _has_byte_level(data.get("decoder"))
    special = frozenset(t["content"] for t in data.get("added_tokens", []) if t.get("special"))
    return Vocabulary(readable_tokens(stored, byte_level, special), origin, byte_level,
                      json.dumps(data, ensure_ascii=False))


def load_token_list(path: Path) -> Vocabulary:
    """``--vocab FILE``: one token per line, line i naming row i (byte-level when tokens start with ``Ġ``)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except FileNotFoundError:
        raise ConfigError(f"vocabulary file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read vocabulary file {path} as UTF-8 text ({e})") from None
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise ConfigError(f"vocabulary file {path} is empty")
    byte_level = sum(t.startswith("Ġ") for t in lines) >= 0.05 * len(lines)
    return Vocabulary(readable_tokens(lines, byte_level), str(path), byte_level)


def find_vocabulary(found: Sequence[ck.Checkpoint]) -> Vocabulary:
    """The tokenizer beside the checkpoints: in a checkpoint's folder, the folder holding it, or above."""
    places = []
    for c in (found[0], found[-1]):
        base = c.folder or c.path.parent
        places += [base, base.parent]
    for place in dict.fromkeys(places):
        if any((place / n).is_file() for n in TOKENIZER_FILES):
            return load_vocabulary(place)
    raise ConfigError("no tokenizer found beside the checkpoints (tokenizer.json, or vocab.json + merges.txt); "
                      "pass --tokenizer FILE or --vocab FILE")


def rows_to_keep(vocab_size: int, rows: int) -> int:
    """How many matrix rows the tokenizer labels (the rest are padding), or a ConfigError."""
    if vocab_size > rows:
        raise ConfigError(f"the tokenizer has {vocab_size:,} tokens but the matrix only {rows:,} rows: "
                          "it is not this model's tokenizer")
    if vocab_size < rows and not (rows % PAD_MULTIPLE == 0 and vocab_size >= PAD_MIN_SHARE * rows):
        raise ConfigError(f"the tokenizer has {vocab_size:,} tokens for a matrix of {rows:,} rows, too few to "
                          f"label them (padding is taken only up to a multiple of {PAD_MULTIPLE}); "
                          "pass the model's own tokenizer")
    return vocab_size


# -- the run ------------------------------------------------------------------------------------


def check_options(tokenizer: Path | None, vocab: Path | None, matrix: str, head: bool) -> None:
    """The import options that exclude each other, as a ConfigError."""
    if tokenizer is not None and vocab is not None:
        raise ConfigError("give --tokenizer or --vocab, not both")
    if matrix not in ck.MATRICES:
        raise ConfigError(f"unknown --matrix {matrix!r}; choose one of {', '.join(ck.MATRICES)}")
    if head and matrix != "input":
        raise ConfigError("--head imports the LM head beside the token embedding; with --matrix output "
                          "the head is the matrix imported")


def check_target(out: Path, overwrite: bool) -> None:
    """The overwrite rule for ``--out``: a new path, or with ``overwrite`` an embviz run no process holds."""
    check_output(out, overwrite, folder=True, marker=RUN_JSON, what="an embviz run")
    if (out / RUN_JSON).is_file():
        Run(out).check_unlocked()


def _losses(state: dict | None, step: int) -> tuple[float | None, float | None]:
    """The last training and evaluation losses a Trainer logged at or before ``step``."""
    train = val = None
    for entry in (state or {}).get("log_history", []):
        if not isinstance(entry, dict) or not isinstance(entry.get("step"), int) or entry["step"] > step:
            continue
        if isinstance(entry.get("loss"), (int, float)):
            train = float(entry["loss"])
        if isinstance(entry.get("eval_loss"), (int, float)):
            val = float(entry["eval_loss"])
    return train, val


def _metrics_rows(state: dict | None) -> list[dict]:
    """``metrics.csv`` rows from a Trainer's ``log_history`` (speed unknown: nan)."""
    rows = []
    for e in (state or {}).get("log_history", []):
        if isinstance(e, dict) and isinstance(e.get("step"), int) and isinstance(e.get("loss"), (int, float)):
            rows.append({"step": e["step"], "epoch": float(e.get("epoch", math.nan)), "loss": float(e["loss"]),
                         "lr": float(e.get("learning_rate", math.nan)), "tokens_per_s": math.nan})
    return rows


@dataclass(frozen=True)
class Entry:
    """One checkpoint of the series, surveyed: its matrix's name and shape, its Trainer state, its step."""

    checkpoint: ck.Checkpoint
    tensor: ck.Tensor
    state: dict | None
    step: int


def survey(found: Sequence[ck.Checkpoint], key: str | None, matrix: str, steps: Sequence[int] | None,
           progress: Progress | None = None) -> list[Entry]:
    """Every checkpoint's matrix and step (no tensor data read), in step order; a CheckpointError when a
    step is missing or repeated or the shapes change."""
    if steps is not None and len(steps) != len(found):
        raise ConfigError(f"--steps gives {len(steps)} step(s) for {len(found)} checkpoint(s)")
    entries = []
    for i, c in enumerate(found):
        state = ck.trainer_state(c)
        tensor = ck.inspect(c, key, matrix)
        step = steps[i] if steps is not None else ck.checkpoint_step(c, state, tensor.iter_num)
        if step is None:
            raise CheckpointError(f"cannot tell the step of {c.name} (no trainer_state.json, iter_num or number "
                                  "in its name); pass --steps")
        if step < 0:
            raise ConfigError(f"step {step} of {c.name} is negative")
        entries.append(Entry(c, tensor, state, step))
        if progress:
            progress("checking", i + 1, len(found))
    entries.sort(key=lambda e: e.step)
    for a, b in zip(entries, entries[1:]):
        if a.step == b.step:
            raise CheckpointError(f"{a.checkpoint.name} and {b.checkpoint.name} both have step {a.step}; pass --steps")
    first = entries[0]
    for e in entries[1:]:
        if [m for m, _ in e.tensor.others] != [m for m, _ in first.tensor.others]:
            raise CheckpointError(f"{first.checkpoint.name} and {e.checkpoint.name} hold different tables "
                                  f"({dict(first.tensor.others)} vs {dict(e.tensor.others)})")
        if e.tensor.shape != first.tensor.shape:
            raise CheckpointError(f"shapes change: {first.checkpoint.name} has {first.tensor.key} "
                                  f"{list(first.tensor.shape)}, {e.checkpoint.name} has {e.tensor.key} "
                                  f"{list(e.tensor.shape)}")
    return entries


def write_snapshots(run: Run, entries: Sequence[Entry], rows: int, matrix: str, head: bool,
                    progress: Progress | None = None) -> tuple[list[dict], list[str]]:
    """Read each entry's matrix (its first ``rows`` rows) and the tables beside it (:func:`~embviz.interop.
    checkpoints.beside`) into ``run`` as a snapshot, dropping repeats.

    One checkpoint is read and hashed on a thread while the previous one is written: disk reads,
    hashing and the snapshot's write + fsync overlap (each releases the GIL). Returns the sources
    for ``run.json`` and the names of the checkpoints dropped as duplicates.
    """

    def load(e: Entry) -> tuple[np.ndarray, str, dict[str, np.ndarray]]:
        array = ck.read_matrix(e.checkpoint, e.tensor.key, rows)
        others = {m: ck.read_matrix(e.checkpoint, name, None if m == "position" else rows)
                  for m, name in ck.beside(e.tensor.others, head)}
        if "head" in others and np.array_equal(others["head"], array):
            del others["head"]  # tied: the head is the token table
        return array, hashlib.sha256(memoryview(array).cast("B")).hexdigest(), others

    sources, dropped, seen = [], [], {}
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = deque([pool.submit(load, entries[0])])
        for n, e in enumerate(entries):
            array, digest, others = pending.popleft().result()
            if n + 1 < len(entries):
                pending.append(pool.submit(load, entries[n + 1]))
            c = e.checkpoint
            source = {"path": str(c.path.resolve()), "step": e.step, "key": e.tensor.key, "dtype": e.tensor.dtype,
                      "sha256": digest}
            if digest in seen:
                warnings.warn(f"{c.name} has the same {matrix} matrix as {seen[digest]} (SHA-256 {digest[:12]}…); "
                              "dropped", stacklevel=3)
                dropped.append(c.name)
                source["duplicate_of"] = seen[digest]
            else:
                seen[digest] = c.name
                state = e.state or {}
                epoch, tokens_seen = state.get("epoch"), state.get("num_input_tokens_seen")
                train_loss, val_loss = _losses(state, e.step)
                run.add_snapshot(array, Snapshot(
                    file=snapshot_name(e.step), step=e.step,
                    epoch=float(epoch) if isinstance(epoch, (int, float)) else math.nan,
                    tokens_seen=tokens_seen if isinstance(tokens_seen, int) else 0,
                    train_loss=train_loss, val_loss=val_loss), others)
            sources.append(source)
            del array
            if progress:
                progress("reading", n + 1, len(entries))
    return sources, dropped


def import_checkpoints(
    sources: Sequence[str | Path | ck.Checkpoint],
    out: Path,
    *,
    key: str | None = None,
    matrix: str = "input",
    steps: Sequence[int] | None = None,
    tokenizer: Path | None = None,
    vocab: Path | None = None,
    corpus: str | None = None,
    categories: Path | None = None,
    head: bool = False,
    overwrite: bool = False,
    progress: Progress | None = None,
    hub: dict | None = None,
    stored_rows: int | None = None,
) -> ImportResult:
    """Build the run ``out`` from the checkpoints ``sources`` (see the module docstring); ``head`` also
    imports an untied LM head beside the token embedding (the position table always is, where there is
    one). ``hub`` (the repository, endpoint and revisions they were fetched from) is recorded in
    ``run.json`` when given, and ``stored_rows``, the row count of the stored matrices when the files
    hold only the rows the tokenizer labels (what a Hub import fetches).

    Raises EmbvizError subclasses for bad input, before anything is written where possible; warns
    (``warnings.warn``) about duplicate checkpoints, dropped padding rows and unknown frequencies.
    """
    from embviz.text.corpus import load_corpus

    t0 = time.perf_counter()
    out = Path(out)
    check_options(tokenizer, vocab, matrix, head)
    check_target(out, overwrite)
    found = ck.find_checkpoints(sources)
    entries = survey(found, key, matrix, steps, progress)
    first = entries[0].tensor
    rows, dim = first.shape

    words = load_token_list(vocab) if vocab is not None else (
        load_vocabulary(tokenizer) if tokenizer is not None else find_vocabulary(found))
    keep = rows_to_keep(len(words.tokens), rows)
    rows = stored_rows or rows
    if keep < rows:
        warnings.warn(f"dropped {rows - keep} padding row(s) past the tokenizer's {keep:,} tokens", stacklevel=2)
    tok = words.tokenizer()
    text = None
    counts = np.zeros(keep, dtype=np.int64)
    if corpus is not None:
        if words.hf_json is None:
            raise ConfigError("--corpus needs a real tokenizer (--tokenizer or one beside the checkpoints), "
                              "not a --vocab list")
        text = load_corpus(corpus)
        counts = np.bincount(tok.encode(text.text), minlength=keep)[:keep]
    lexicon = Lexicon.from_tsv(categories) if categories is not None else Lexicon.builtin()

    out.parent.mkdir(parents=True, exist_ok=True)
    with replacing(out, folder=True) as built:
        run = Run(built)
        sources_json, dropped = write_snapshots(run, entries, keep, matrix, head, progress)
        last_state = entries[-1].state or {}
        epochs = last_state.get("epoch")
        run.write_metrics(_metrics_rows(last_state))
        write_json(built / TOKENIZER_JSON, tok.to_json())
        run.write_vocab(words.tokens, counts.tolist(), lexicon.token_paths(words.tokens))
        run.write_manifest(RunManifest(
            status="complete",
            config={"imported": True, "seed": 0,
                    "corpus": None if text is None else corpus if text.source.startswith("builtin:") else text.source},
            chosen={"epochs": max(1, math.ceil(epochs)) if isinstance(epochs, (int, float)) and epochs > 0
                    else WORD2VEC_EPOCHS},
            model={"d_model": int(dim), "vocab_size": int(keep), "rows": int(rows)},
            snapshot_matrix=f"{'token embedding' if matrix == 'input' else 'LM head'} {first.key} of imported checkpoints",
            frequencies="corpus" if text else "unknown",
            import_={"kind": found[0].kind, "matrix": matrix, "key": first.key,
                     "others": dict(ck.beside(first.others, head)),
                     "left_out": {m: n for m, n in {**dict(first.others), **(hub or {}).get("beside", {})}.items()
                                  if m not in dict(ck.beside(first.others, head))},
                     "sources": sources_json,
                     "dropped_duplicates": dropped, "padding_rows_dropped": rows - keep,
                     **({"hub": hub} if hub is not None else {}),
                     "tokenizer": {"origin": words.origin, "size": len(words.tokens), "byte_level": words.byte_level}},
            versions=_versions(),
            created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            corpus=None if text is None else CorpusInfo(name=text.name, source=text.source, sha256=text.sha256,
                                                        tokens=int(counts.sum())),
        ))
        check_target(out, overwrite)  # again: time has passed since the first check
    if text is None:
        warnings.warn("token frequencies are unknown (no --corpus): --top, the norm-frequency measure and "
                      "compare-word2vec need one", stacklevel=2)
    kept = [e.step for e, source in zip(entries, sources_json) if "duplicate_of" not in source]
    return ImportResult(run_dir=out, steps=kept, dropped=dropped, shape=(keep, int(dim)), rows_dropped=rows - keep,
                        key=first.key, tokenizer=words.origin, frequencies=text is not None,
                        seconds=time.perf_counter() - t0)


def _versions() -> dict:
    import platform

    import safetensors
    import torch

    import embviz

    return {"embviz": embviz.__version__, "torch": torch.__version__, "safetensors": safetensors.__version__,
            "python": platform.python_version()}
