import collections
import re
from pathlib import Path

import pytest

from embviz.errors import ConfigError
from embviz.text.lexicon import LEVELS, Lexicon


@pytest.fixture(scope="module")
def builtin():
    return Lexicon.builtin()


def test_levels():
    assert LEVELS == ("pos", "field", "subfield")


def test_builtin_paths_have_three_levels(builtin):
    assert 1200 <= len(builtin) <= 2500  # English and Chinese
    assert builtin.depth == 3
    for word in builtin.words():
        for path in builtin.ambiguous(word):
            assert path.count("/") == 2, (word, path)


def test_category_truncates_path(builtin):
    assert builtin.path("cat") == "noun/animal/pet"
    assert builtin.category("cat", 0) == "noun"
    assert builtin.category("cat", "field") == "noun/animal"
    assert builtin.category("cat", "subfield") == "noun/animal/pet"
    assert builtin.category("cat", 5) == "noun/animal/pet"
    assert builtin.category("Cat", 1) == "noun/animal"
    assert builtin.category("qwertyuiop", 1) is None
    assert builtin.labels(["cow", "lion", "zzz"], "field") == ["noun/animal", "noun/animal", None]


def test_bad_level_is_config_error(builtin):
    with pytest.raises(ConfigError, match="level"):
        builtin.category("cat", "genus")
    with pytest.raises(ConfigError, match="level"):
        builtin.category("cat", -1)


def test_ambiguous_words_have_two_paths(builtin):
    for word, expected in [("orange", {"adj/colour/warm", "noun/food/fruit"}),
                           ("may", {"function/auxiliary/modal", "noun/time/month"}),
                           ("watch", {"verb/perception/sight", "noun/object/wearable"}),
                           ("turkey", {"noun/place/country", "noun/animal/farm"})]:
        assert set(builtin.ambiguous(word)) == expected
        assert builtin.path(word) == builtin.ambiguous(word)[0]
    assert builtin.ambiguous("cat") == ("noun/animal/pet",)
    assert builtin.ambiguous("qwertyuiop") == ()


@pytest.mark.parametrize("word, field", [
    ("seven", "num/cardinal"), ("twenty", "num/cardinal"), ("thousand", "num/cardinal"),
    ("third", "num/ordinal"), ("blue", "adj/colour"), ("mother", "noun/person"),
    ("president", "noun/person"), ("minister", "noun/person"), ("children", "noun/person"),
    ("sydney", "noun/place"), ("australia", "noun/place"), ("tuesday", "noun/time"),
    ("september", "noun/time"), ("year", "noun/time"), ("said", "verb/speech"), ("told", "verb/speech"),
    ("think", "verb/cognition"), ("ate", "verb/ingestion"), ("went", "verb/motion"),
    ("the", "function/determiner"), ("of", "function/preposition"), ("they", "function/pronoun"),
    ("and", "function/conjunction"), ("has", "function/auxiliary"),
])
def test_common_words_covered(builtin, word, field):
    assert builtin.category(word, "field") == field


def test_lee_corpus_common_words_covered(builtin):
    gensim = pytest.importorskip("gensim")
    path = Path(gensim.__file__).parent / "test" / "test_data" / "lee_background.cor"
    text = path.read_text(encoding="utf-8").lower()
    counts = collections.Counter(re.findall(r"[a-z]+", text))
    top = [word for word, _ in counts.most_common(300)]
    covered = sum(word in builtin for word in top) / len(top)
    assert covered >= 0.9


def _write(tmp_path, text, name="lex.tsv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_user_tsv_flat_and_paths(tmp_path):
    path = _write(tmp_path, "# my categories\n\nRed\tcolour\nblue\tcolour\n"
                            "cat\tnoun/animal/pet\norange\tcolour\norange\tfruit\n  # indented comment\n")
    lex = Lexicon.from_tsv(path)
    assert len(lex) == 4
    assert "red" in lex and "RED" in lex and "green" not in lex and 3 not in lex
    assert lex.category("red", 0) == "colour"
    assert lex.category("red", "subfield") == "colour"
    assert lex.category("cat", 1) == "noun/animal"
    assert lex.ambiguous("orange") == ("colour", "fruit")
    assert lex.path("orange") == "colour"
    assert lex.depth == 3


@pytest.mark.parametrize("text, line, message", [
    ("cat\tanimal\ndog\n", 2, "column"),
    ("cat\tanimal\n\n# c\ndog\tanimal\tpet\n", 4, "column"),
    ("cat\tanimal\n \tanimal\n", 2, "empty word"),
    ("cat\tanimal\ndog\t \n", 2, "empty category"),
])
def test_user_tsv_bad_lines_name_the_line(tmp_path, text, line, message):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as info:
        Lexicon.from_tsv(path)
    assert f"{path}:{line}:" in str(info.value)


def test_user_tsv_unreadable_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        Lexicon.from_tsv(tmp_path / "missing.tsv")
    with pytest.raises(ConfigError, match="cannot read"):
        Lexicon.from_tsv(tmp_path)
    binary = tmp_path / "b.tsv"
    binary.write_bytes(b"cat\x00\tanimal\n")
    with pytest.raises(ConfigError, match="binary"):
        Lexicon.from_tsv(binary)
    latin = tmp_path / "l.tsv"
    latin.write_bytes("café\tfood\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="UTF-8"):
        Lexicon.from_tsv(latin)
    with pytest.raises(ConfigError, match="no entries"):
        Lexicon.from_tsv(_write(tmp_path, "# nothing\n\n", "empty.tsv"))


def test_utf8_words(tmp_path):
    lex = Lexicon.from_tsv(_write(tmp_path, "\ufeffCafé\tfood/drink/hot\n猫\tnoun/animal/pet\n"))
    assert lex.path("café") == "food/drink/hot"
    assert lex.category("猫", 1) == "noun/animal"


def test_mapping_constructor():
    lex = Lexicon({"Cat": "noun/animal/pet", "orange": ["adj/colour/warm", "noun/food/fruit"]})
    assert lex.path("cat") == "noun/animal/pet"
    assert lex.ambiguous("orange") == ("adj/colour/warm", "noun/food/fruit")
    with pytest.raises(ConfigError):
        Lexicon({"": "noun"})
