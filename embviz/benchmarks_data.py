"""Word-similarity and analogy benchmark files that ship inside the installed gensim package."""

from __future__ import annotations

from pathlib import Path

from embviz.errors import EmbvizError

WORDSIM353 = "wordsim353.tsv"
SIMLEX999 = "simlex999.txt"
ANALOGIES = "questions-words.txt"


def gensim_test_file(name: str) -> Path:
    """Path of ``name`` in gensim's bundled test data (``gensim.test.utils.datapath``).

    Parameters
    ----------
    name : str
        A file name such as :data:`WORDSIM353`, :data:`SIMLEX999` or :data:`ANALOGIES`.

    Returns
    -------
    pathlib.Path
        An existing file.
    """
    try:
        from gensim.test.utils import datapath
    except ImportError:
        raise EmbvizError("gensim is not installed; it provides the benchmark files") from None
    path = Path(datapath(name))
    if not path.is_file():
        raise EmbvizError(f"the installed gensim does not ship {name!r} (looked in {path.parent})")
    return path
