import gzip

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embviz.errors import CorpusError
from embviz.text.corpus import load_corpus


def test_reads_a_file_a_gz_file_and_a_folder_of_txt(tmp_path):
    (tmp_path / "a.txt").write_text("alpha beta\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("gamma delta\n", encoding="utf-8")
    (tmp_path / "skip.md").write_text("not me\n", encoding="utf-8")
    gz = tmp_path / "c.txt.gz"
    gz.write_bytes(gzip.compress("epsilon zeta\n".encode()))
    assert load_corpus(str(tmp_path / "a.txt")).text == "alpha beta\n"
    assert load_corpus(str(gz)).text == "epsilon zeta\n"
    folder = load_corpus(str(tmp_path))
    assert folder.text.index("alpha") < folder.text.index("gamma")
    assert "not me" not in folder.text


def test_builtin_lee_comes_from_the_installed_gensim_package():
    corpus = load_corpus("lee")
    assert corpus.source == "builtin:lee"
    assert len(corpus.text.split()) > 50_000
    assert len(corpus.sha256) == 64


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (b"   \n\t  \n", "empty"),
    (b"\x00\x01\x02binary", "binary"),
    (b"caf\xe9 latin-1", "not UTF-8"),
])
def test_unusable_files_are_refused_with_a_clear_message(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(CorpusError, match=message):
        load_corpus(str(path))


def test_missing_paths_and_unknown_builtins_are_refused(tmp_path):
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(str(tmp_path / "nope.txt"))
    with pytest.raises(CorpusError, match="built-in corpora"):
        load_corpus("shakespeare")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CorpusError, match="no \\*.txt"):
        load_corpus(str(empty))


@settings(max_examples=80, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_either_load_or_raise_our_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "f.txt"
    path.write_bytes(data)
    try:
        corpus = load_corpus(str(path))
    except CorpusError:
        return
    assert corpus.text.strip()
