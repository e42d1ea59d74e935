"""A run's snapshots in other tools' formats: TensorBoard's projector, word2vec files, one NumPy file.

``projector`` writes a folder that ``tensorboard --logdir OUT`` shows in its projector tab::

    projector_config.pbtxt   one ``embeddings { }`` entry per snapshot, named step-XXXXXXXX
    projector_config.json    the same entries for the standalone projector (camelCase keys)
    metadata.tsv             header ``token count <level>...``, then one row per token
    step-XXXXXXXX.bytes      the snapshot [V, d] as raw little-endian float32

``word2vec`` writes one snapshot in the word2vec text (or binary) format that gensim's
``KeyedVectors.load_word2vec_format`` reads; tokens become keys without whitespace
(:func:`word2vec_key`, undone by :func:`word2vec_token`).

``npz`` writes every snapshot ``embeddings`` [T, V, d] with ``steps``, ``epochs``, ``tokens``,
``counts`` and ``categories`` [L, V] in one ``.npz`` file that ``np.load(allow_pickle=False)`` reads.

Every output appears whole or not at all: it is written under a temporary name beside ``OUT`` and
renamed into place, and an existing output is replaced only with ``overwrite``.
"""

from __future__ import annotations

import codecs
import json
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embviz.errors import ConfigError, EmbvizError
from embviz.film.selection import category_levels
from embviz.progress import Progress
from embviz.rundir.files import atomic_write, tsv_escape, write_json, write_text
from embviz.rundir.output import check_output, replacing
from embviz.rundir.run import Run, Snapshot
from embviz.rundir.snapshot import DEFAULT_MATRIX, layer_of
from embviz.text.lexicon import at_level

FORMATS = ("projector", "word2vec", "npz")
PROJECTOR_PBTXT = "projector_config.pbtxt"
PROJECTOR_JSON = "projector_config.json"
METADATA_TSV = "metadata.tsv"


# TensorBoard's projector reads a tensor file as UTF-8 TSV text first and as float32 bytes only when
# that fails; Python's text reader decodes 8 KiB before it yields a line.
_TEXT_PROBE = 8192

_KEY_ESCAPES = {"\\": "\\\\", " ": "\\s", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
_KEY_UNESCAPES = {code[1]: char for char, code in _KEY_ESCAPES.items()}
_ESCAPED = re.compile(r"[\s\\]")  # for str patterns re's \s is exactly str.isspace()
_EMPTY_KEY = "\\e"


@dataclass(frozen=True)
class Exported:
    """What :func:`export` wrote: ``path`` holds ``len(steps)`` snapshots of ``tokens`` × ``dim``."""

    path: Path
    fmt: str
    steps: list[int]
    tokens: int
    dim: int


def export(
    run_dir: Path | str,
    fmt: str,
    out: Path | str,
    *,
    snapshot: str | None = None,
    binary: bool = False,
    overwrite: bool = False,
    matrix: str = DEFAULT_MATRIX,
    progress: Progress | None = None,
) -> Exported:
    """Write the complete run ``run_dir`` to ``out`` in format ``fmt`` (projector, word2vec or npz).

    ``snapshot`` picks one snapshot: ``final``, ``init`` or a step number (default: every snapshot
    for projector and npz, the final one for word2vec). ``binary`` asks for binary word2vec. ``matrix``
    picks the table: ``token``, ``head`` (an untied run's output head) or ``position`` (rows named ``0``,
    ``1``, … with no counts or categories)
    ``progress(stage, done, total)`` is called as snapshots (word2vec: rows) are written.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if binary and fmt != "word2vec":
        raise ConfigError("--binary applies only to --to word2vec")
    out = Path(out)
    run = Run.open_complete(Path(run_dir))
    tokens, counts, categories = run.vocab()
    if layer_of(matrix) is not None:
        raise ConfigError(f"export --matrix {matrix!r}: export writes tables of tokens (token, position, head); the "
                          "probe's occurrences are in <run>/probe/ as .npy files already")
    every = run.check_snapshots(rows=len(tokens), matrix=matrix)
    if matrix == "position":
        context = run.load_snapshot(every[0], matrix=matrix).shape[0]
        tokens, counts, categories = [str(i) for i in range(context)], [0] * context, [None] * context
    snaps = select_snapshots(every,
                             "final" if snapshot is None and fmt == "word2vec" else snapshot)
    folder = fmt == "projector"
    _check_output(out, folder, overwrite)
    report = progress or (lambda stage, done, total: None)
    dim = run.load_snapshot(snaps[0], rows=[0], matrix=matrix).shape[1]  # one row: the width d
    try:
        with replacing(out, folder=folder) as tmp:
            if folder:
                _write_projector(tmp, run, snaps, matrix, tokens, counts, categories, report)
            elif fmt == "word2vec":
                _write_word2vec(tmp, run.load_snapshot(snaps[0], matrix=matrix), tokens, binary, report)
            else:
                _write_npz(tmp, run, snaps, matrix, tokens, counts, categories, report)
    except OSError as e:
        raise EmbvizError(f"cannot write {out}: {e.strerror or e}") from None
    return Exported(out, fmt, [s.step for s in snaps], len(tokens), dim)


def select_snapshots(snaps: list[Snapshot], which: str | None) -> list[Snapshot]:
    """Every snapshot (``which`` None), or the one that ``final``, ``init`` or a step number names."""
    if which is None:
        return snaps
    if which in ("final", "init"):
        return [snaps[-1] if which == "final" else snaps[0]]
    try:
        step = int(which)
    except ValueError:
        raise ConfigError(f"--snapshot must be final, init or a step number, got {which!r}") from None
    picked = [s for s in snaps if s.step == step]
    if not picked:
        steps = [str(s.step) for s in snaps]
        listed = ", ".join(steps) if len(steps) <= 12 else f"{', '.join(steps[:6])}, …, {', '.join(steps[-6:])}"
        raise ConfigError(f"no snapshot at step {step}; the run has {len(steps)} snapshot(s), at steps {listed}")
    return picked


# -- output paths -------------------------------------------------------------------------------


def _check_output(out: Path, folder: bool, overwrite: bool) -> None:
    """Refuse an output that would replace something without ``overwrite``, or anything but an export."""
    if not out.parent.is_dir():
        raise EmbvizError(f"cannot write {out}: {out.parent} is not an existing folder")
    check_output(out, overwrite, folder=folder, marker=PROJECTOR_PBTXT, what="a projector export")


# -- projector ----------------------------------------------------------------------------------


def _write_projector(folder: Path, run: Run, snaps: list[Snapshot], matrix_name: str, tokens: list[str], counts: list[int],
                     categories: list[str | None], report: Progress) -> None:
    write_text(folder / METADATA_TSV, metadata_tsv(tokens, counts, categories))
    entries = []
    for i, snap in enumerate(snaps):
        matrix = _float32(run.load_snapshot(snap, matrix=matrix_name))
        name = Path(snap.files[matrix_name]).stem
        if _reads_as_text(matrix):  # TensorBoard would misread these bytes: write the values as TSV text
            path = f"{name}.tsv"
            write_text(folder / path, "".join("\t".join(f"{v:.9g}" for v in row) + "\n" for row in matrix.tolist()))
        else:
            path = f"{name}.bytes"
            atomic_write(folder / path, lambda f: f.write(memoryview(matrix).cast("B")))
        entries.append({"tensorName": name, "tensorShape": list(matrix.shape), "tensorPath": path,
                        "metadataPath": METADATA_TSV})
        report("export", i + 1, len(snaps))
    pbtxt = "".join(
        "embeddings {\n"
        f"  tensor_name: {json.dumps(e['tensorName'])}\n"
        f"  tensor_path: {json.dumps(e['tensorPath'])}\n"
        f"  metadata_path: {json.dumps(e['metadataPath'])}\n"
        + "".join(f"  tensor_shape: {n}\n" for n in e["tensorShape"])
        + "}\n" for e in entries)
    write_text(folder / PROJECTOR_PBTXT, pbtxt)
    write_json(folder / PROJECTOR_JSON, {"embeddings": entries})


def metadata_tsv(tokens: list[str], counts: list[int], categories: list[str | None]) -> str:
    """The projector's metadata: a header (token, count, one column per category level), one row per token.

    Tokens are escaped with :func:`embviz.rundir.run.tsv_escape` (backslash, tab, newline, carriage return), so
    every token is one field of one line; an uncategorised token has empty category fields. With at
    least two columns the header always holds a tab, which is how the projector knows it is a header.
    """
    levels, columns = category_columns(categories)
    lines = ["\t".join(["token", "count", *levels])]
    for i, (token, count) in enumerate(zip(tokens, counts)):
        lines.append("\t".join([tsv_escape(token), str(count), *(column[i] for column in columns)]))
    return "\n".join(lines) + "\n"


def category_columns(categories: list[str | None]) -> tuple[list[str], list[list[str]]]:
    """The vocabulary's category level names [L] and each token's category at each level [L][V] (``""``: none)."""
    levels = category_levels(categories)
    return levels, [[at_level(c, i) or "" for c in categories] for i in range(len(levels))]


def _float32(matrix: np.ndarray) -> np.ndarray:
    """``matrix`` as C-contiguous little-endian float32 (no copy when it already is)."""
    return np.ascontiguousarray(matrix, dtype="<f4")


def _reads_as_text(matrix: np.ndarray) -> bool:
    """Whether TensorBoard would take the bytes of ``matrix`` (float32) for TSV text: their first 8 KiB are UTF-8."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(matrix.reshape(-1)[: _TEXT_PROBE // 4].tobytes())
    except UnicodeDecodeError:
        return False
    return True


# -- word2vec -----------------------------------------------------------------------------------


def word2vec_key(token: str) -> str:
    r"""``token`` as a word2vec key: non-empty, without whitespace, and undone by :func:`word2vec_token`.

    ``\`` → ``\\``, space → ``\s``, tab → ``\t``, newline → ``\n``, carriage return → ``\r``, any other
    whitespace character → ``\uXXXX``; the empty token is ``\e``. Other tokens are unchanged.
    """
    if not token:
        return _EMPTY_KEY
    return _ESCAPED.sub(lambda m: _KEY_ESCAPES.get(m[0]) or f"\\u{ord(m[0]):04x}", token)


def word2vec_token(key: str) -> str:
    """The token that :func:`word2vec_key` wrote as ``key``."""
    if key == _EMPTY_KEY:
        return ""
    return re.sub(r"\\(u[0-9a-f]{4}|.)",
                  lambda m: chr(int(m[1][1:], 16)) if len(m[1]) == 5 else _KEY_UNESCAPES[m[1]], key)


def _write_word2vec(path: Path, matrix: np.ndarray, tokens: list[str], binary: bool, report: Progress) -> None:
    """``V d`` then one line per token: its key and the row [d], as text (9 significant digits, which
    give back the same float32) or as raw little-endian float32 (``binary``)."""
    rows, dim = matrix.shape
    row_text = " ".join(["%.9g"] * dim)
    every = max(1, rows // 100)
    values = _float32(matrix) if binary else matrix.tolist()
    with open(path, "wb") as f:
        f.write(f"{rows} {dim}\n".encode())
        for i, (token, row) in enumerate(zip(tokens, values)):
            f.write(word2vec_key(token).encode("utf-8") + b" ")
            f.write(row if binary else (row_text % tuple(row)).encode())
            f.write(b"\n")
            if (i + 1) % every == 0 or i + 1 == rows:
                report("export", i + 1, rows)
        f.flush()
        os.fsync(f.fileno())


# -- npz ----------------------------------------------------------------------------------------


def _write_npz(path: Path, run: Run, snaps: list[Snapshot], matrix: str, tokens: list[str], counts: list[int],
               categories: list[str | None], report: Progress) -> None:
    """The ``.npz`` (an uncompressed zip of ``.npy`` files) with ``embeddings`` [T, V, d] float32
    streamed one snapshot at a time, so memory holds one snapshot whatever the run's size. Strings are
    fixed-width unicode arrays (an object array would need pickle to load)."""
    levels, columns = category_columns(categories)
    arrays = {
        "steps": np.array([s.step for s in snaps], dtype=np.int64),
        "epochs": np.array([s.epoch for s in snaps], dtype=np.float64),
        "tokens_seen": np.array([s.tokens_seen for s in snaps], dtype=np.int64),
        "train_loss": np.array([np.nan if s.train_loss is None else s.train_loss for s in snaps]),
        "val_loss": np.array([np.nan if s.val_loss is None else s.val_loss for s in snaps]),
        "tokens": np.array(tokens, dtype=str),
        "counts": np.array(counts, dtype=np.int64),
        "levels": np.array(levels, dtype=str),
        "categories": np.array(columns, dtype=str).reshape(len(levels), len(tokens)),
    }
    first = run.load_snapshot(snaps[0], matrix=matrix)
    header = {"descr": "<f4", "fortran_order": False, "shape": (len(snaps), *first.shape)}
    with open(path, "wb") as raw:
        with zipfile.ZipFile(raw, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            for name, array in arrays.items():
                with zf.open(f"{name}.npy", "w", force_zip64=True) as f:
                    np.lib.format.write_array(f, array, allow_pickle=False)
            with zf.open("embeddings.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array_header_1_0(f, header)
                for i, snap in enumerate(snaps):
                    f.write(memoryview(_float32(first if i == 0 else run.load_snapshot(snap, matrix=matrix))).cast("B"))
                    report("export", i + 1, len(snaps))
        raw.flush()
        os.fsync(raw.fileno())

