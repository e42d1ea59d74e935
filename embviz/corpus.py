"""Reading a corpus: a UTF-8 file, a ``.gz`` file, a folder of ``*.txt``, or a built-in name."""

from __future__ import annotations

import gzip
import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path

from embviz.errors import CorpusError

BUILTINS = ("synthetic", "lee", "wiki")
"""``synthetic``: our generated corpus with known nested categories; ``lee``: gensim's Lee news
corpus (``lee_background.cor``); ``wiki``: gensim's stemmed Wikipedia sample (``head500.noblanks.cor``).
The two real texts ship inside the installed gensim package and are never downloaded."""

_GENSIM_FILES = {"lee": "lee_background.cor", "wiki": "head500.noblanks.cor"}


@dataclass(frozen=True)
class Corpus:
    """A corpus as text, with where it came from and the SHA-256 of that text."""

    name: str
    source: str
    text: str

    @property
    def sha256(self) -> str:
        return text_hash(self.text)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_sha256(corpus: Corpus, recorded: str) -> None:
    """Raise CorpusError unless ``corpus`` is the text whose SHA-256 a run recorded."""
    if corpus.sha256 != recorded:
        raise CorpusError(f"corpus {corpus.source} has changed since the run was trained (SHA-256 "
                          f"{corpus.sha256[:12]}… ≠ recorded {recorded[:12]}…); the run needs the same text")


def load_corpus(spec: str, *, synthetic_tokens: int | None = None, seed: int = 0,
                difficulty: float | None = None) -> Corpus:
    """Read ``spec``: a built-in name, a file (``.gz`` allowed) or a folder of ``*.txt`` files.

    The ``synthetic_*`` options apply to the built-in ``synthetic`` corpus only.
    """
    path = Path(spec)
    if spec in BUILTINS and not path.exists():
        return _builtin(spec, synthetic_tokens, seed, difficulty)
    if path.is_dir():
        files = sorted(path.glob("*.txt"))
        if not files:
            raise CorpusError(f"folder {spec} has no *.txt files")
        text = "\n".join(_read_text(f) for f in files)
        name = path.resolve().name
    elif path.is_file():
        text = _read_text(path)
        name = path.name.removesuffix(".gz").rsplit(".", 1)[0] or path.name
    elif path.exists():
        raise CorpusError(f"{spec} is neither a file nor a folder")
    else:
        hint = f" (built-in corpora: {', '.join(BUILTINS)})" if "/" not in spec and "." not in spec else ""
        raise CorpusError(f"corpus {spec} does not exist{hint}")
    if not text.strip():
        raise CorpusError(f"corpus {spec} is empty")
    return Corpus(name=name, source=str(path.resolve()), text=text)


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise CorpusError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None
    if b"\x00" in data[:1_000_000]:
        raise CorpusError(f"{path} looks binary (it contains NUL bytes); give a UTF-8 text file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise CorpusError(f"{path} is not UTF-8 text (invalid byte at offset {e.start})") from None
    if not text.strip():
        raise CorpusError(f"corpus file {path} is empty")
    return text


def _builtin(name: str, synthetic_tokens: int | None, seed: int, difficulty: float | None) -> Corpus:
    if name == "synthetic":
        from embviz import synthetic

        kwargs = {"seed": seed}
        if synthetic_tokens is not None:
            kwargs["n_tokens"] = synthetic_tokens
        if difficulty is not None:
            kwargs["difficulty"] = difficulty
        return Corpus(name="synthetic", source="builtin:synthetic", text=synthetic.generate(**kwargs))
    from embviz.gensim_eval import gensim_test_file

    path = gensim_test_file(_GENSIM_FILES[name])
    return Corpus(name=name, source=f"builtin:{name}", text=_read_text(path))
