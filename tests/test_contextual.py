"""The contextual probe: the probe set chosen from the validation text, its capture at every snapshot, and that
training is the same with it and without it."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from embviz.errors import ConfigError
from embviz.rundir.occurrences import Occurrences
from embviz.rundir.run import Run
from embviz.text.corpus import load_corpus
from embviz.text.lexicon import Lexicon, token_categories
from embviz.text.tokenizer import build_tokenizer
from embviz.training import contextual
from embviz.training.data import split_validation
from embviz.training.loop import TrainConfig, train


@pytest.fixture(scope="module")
def synthetic_ids():
    corpus = load_corpus("synthetic", synthetic_tokens=60_000, seed=3)
    tokenizer = build_tokenizer(corpus.text, min_count=2)
    ids = tokenizer.encode(corpus.text)
    lexicon = Lexicon.builtin()
    senses = contextual.senses_of(corpus.senses, ids, tokenizer.tokens, lexicon.ambiguous)
    return ids, tokenizer.tokens, token_categories(tokenizer, lexicon), senses


def choose(synthetic_ids, **kw):
    ids, tokens, categories, senses = synthetic_ids
    return contextual.choose(ids, tokens, categories, context=64, val_fraction=0.05, senses=senses,
                             **{"seed": 0, **kw})


def test_the_probe_set_is_seeded_and_lies_in_the_validation_text(synthetic_ids):
    ids, tokens, categories, senses = synthetic_ids
    probe = choose(synthetic_ids)
    again, other = choose(synthetic_ids), choose(synthetic_ids, seed=1)
    w = contextual.window_length(64)
    assert w == contextual.WINDOW == 32
    assert np.array_equal(probe.windows * w + probe.positions, again.windows * w + again.positions)
    assert not np.array_equal(probe.windows * w + probe.positions, other.windows * w + other.positions)
    val = split_validation(torch.from_numpy(ids), 0.05, 64)[1].numpy()
    assert np.array_equal(val[probe.windows * w + probe.positions], probe.token_ids)
    assert probe.positions.min() >= contextual.min_position(64) == 8 and probe.positions.max() < w
    assert len(set(probe.windows)) < len(probe) / 3  # the words share the windows the rarest opened
    assert probe.words == [tokens[i] for i in probe.token_ids]
    at = probe.windows * w + probe.positions
    assert [int((val[:p] == tokens.index(".")).sum()) for p in at] == probe.sentences.tolist()  # full stops before it
    words = list(dict.fromkeys(probe.words))
    categorised = [t for i, t in enumerate(tokens) if categories[i] and i in set(probe.token_ids)]
    assert len(words) >= contextual.TOP_WORDS and words[:5] == categorised[:5]  # the most frequent first
    # a homonym: up to PER_WORD occurrences of each of its senses, each sense one of its paths
    homonyms = probe.homonyms()
    assert {"orange", "turkey"} & set(homonyms)
    for word in homonyms:
        kinds = [s for w, s in zip(probe.words, probe.senses) if w == word]
        assert len(set(kinds)) == 2 and all(kinds.count(k) <= contextual.PER_WORD for k in kinds)
    plain = [w for w in words if w not in homonyms]
    assert all(probe.words.count(w) <= contextual.PER_WORD for w in plain)


def test_senses_survive_words_the_vocabulary_drops(synthetic_ids):
    ids, tokens, _, senses = synthetic_ids
    rare = ids.copy()
    rare[rare == tokens.index("lion")] = 0  # <unk>, as a higher --min-count makes it
    assert contextual.senses_of(senses, rare, tokens, Lexicon.builtin().ambiguous) is senses
    shifted = np.roll(ids, 1)  # another tokenizer's cut: the senses no longer fit
    assert contextual.senses_of(senses, shifted, tokens, Lexicon.builtin().ambiguous) is None


def test_probe_words_choose_other_words_and_an_unknown_one_names_near_words(synthetic_ids):
    probe = choose(synthetic_ids, words=["my", "Is"])
    assert set(probe.words) == {"my", "is"} and len(probe) == 2 * contextual.PER_WORD
    with pytest.raises(ConfigError, match="'oragne' is not in the vocabulary; words it could follow: orange"):
        choose(synthetic_ids, words=["oragne"])


def test_the_probe_set_file_reads_back_as_written(tmp_path, synthetic_ids):
    probe = choose(synthetic_ids)
    probe.write(tmp_path / "occurrences.tsv")
    back = Occurrences.read(tmp_path / "occurrences.tsv")
    assert back.words == probe.words and back.senses == probe.senses and back.categories == probe.categories
    for name in ("token_ids", "sentences", "windows", "positions"):
        assert np.array_equal(getattr(back, name), getattr(probe, name))


def test_training_is_the_same_with_and_without_the_probe(tmp_path, tiny_config):
    train(tiny_config, tmp_path / "probed")
    train(dataclasses.replace(tiny_config, probe=False), tmp_path / "plain")
    probed, plain = Run.open(tmp_path / "probed"), Run.open(tmp_path / "plain")
    assert not plain.probe_dir.exists()
    for a, b in zip(probed.snapshots(), plain.snapshots(), strict=True):
        for matrix in ("token", "position"):
            np.testing.assert_array_equal(probed.load_snapshot(a, matrix=matrix), plain.load_snapshot(b, matrix=matrix))
    assert [(r["step"], r["loss"]) for r in probed.metrics()] == [(r["step"], r["loss"]) for r in plain.metrics()]
    # every entry names its probe file, written before the entry; layer 0 is token + position embedding
    occurrences = probed.occurrences()
    index = json.loads((probed.snapshot_dir / "index.json").read_text())
    assert all(entry["files"]["probe"] == entry["file"] for entry in index)
    for snap in probed.snapshots():
        states = probed.load_probe(snap)
        assert states.shape == (len(occurrences), 2, 16) and states.dtype == np.float32
        expected = probed.load_snapshot(snap)[occurrences.token_ids] + \
            probed.load_snapshot(snap, matrix="position")[occurrences.positions]
        np.testing.assert_allclose(states[:, 0], expected, rtol=1e-6, atol=1e-7)
    first, last = (probed.load_probe(s) for s in (probed.snapshots()[0], probed.snapshots()[-1]))
    assert not np.allclose(first[:, 1], last[:, 1])


def test_an_unknown_probe_word_is_one_error_line_before_anything_is_written(tmp_path, corpus_file, cli_error):
    from conftest import tiny_args

    line = cli_error(["train", str(corpus_file), "--out", str(tmp_path / "run"), *tiny_args(),
                      "--probe-words", "the,kat"])
    assert "'kat' is not in the vocabulary" in line and "eats" in line
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def probed_runs(tmp_path_factory):
    from conftest import TINY, tiny_text

    root = tmp_path_factory.mktemp("probed")
    (root / "tiny.txt").write_text(tiny_text(), encoding="utf-8")
    config = TrainConfig(corpus=str(root / "tiny.txt"), **{**TINY, "layers": 2})
    train(config, root / "run")
    train(dataclasses.replace(config, probe=False), root / "plain")
    return root


@pytest.mark.slow
def test_a_layer_film_shows_each_occurrence_beside_its_words_static_vector(probed_runs, tmp_path):
    from embviz.film.animate import animate
    from embviz.film.animate_options import AnimateOptions, FilmOptions
    from embviz.measure.emergence import CONTEXTUAL_PANELS

    run = Run.open(probed_runs / "run")
    occurrences = run.occurrences()
    options = AnimateOptions(matrix="layer:2", method="pca", cache=False,
                             film=FilmOptions(size=(320, 240), fps=2, label=4))
    result = animate(probed_runs / "run", tmp_path / "layer.gif", options)
    probed = list(dict.fromkeys(occurrences.words))
    assert result.words == [f"[{w}]" for w in probed] + [f"{w}@{s}" for w, s in zip(occurrences.words,
                                                                                    occurrences.sentences)]
    header = result.metrics_csv.read_text().splitlines()[0].split(",")
    assert {"contextual_self_similarity", "contextual_anisotropy", "contextual_mev"} <= set(header)
    rows = [dict(zip(header, line.split(","))) for line in result.metrics_csv.read_text().splitlines()[1:]]
    assert all(-1 <= float(r["contextual_anisotropy"]) <= 1 and 0 < float(r["contextual_mev"]) <= 1 for r in rows)
    from PIL import Image

    with Image.open(result.metrics_png) as curves:
        assert curves.size[0] > 300
    assert CONTEXTUAL_PANELS["contextual_self_similarity"] in result.emergence.curves()[0]
    with Image.open(result.film) as film:
        assert film.n_frames == result.n_frames and film.size == (320, 240)
    # layer 0 at step 0 is the token + position table; the static marker is the token row itself
    items = run.load_snapshot(run.snapshots()[0], matrix="layer:0")
    first = run.load_snapshot(run.snapshots()[0])
    np.testing.assert_array_equal(items[:len(probed)], first[occurrences.probed()])


@pytest.mark.parametrize("run, matrix, message", [
    ("run", "layer:3", "this run's model has 2 layer(s); choose layer:0 (token + position) to layer:2"),
    ("plain", "layer:1", "--matrix layer:1: this run has no probe"),
    ("run", "layer:one", "N in layer:N must be a whole number"),
])
def test_a_layer_the_run_lacks_is_one_error_line(probed_runs, tmp_path, cli_error, run, matrix, message):
    for command in ("animate", "explore"):
        line = cli_error([command, str(probed_runs / run), "--out", str(tmp_path / "x.html"), "--method", "pca",
                          "--matrix", matrix, "--quiet"])
        assert message in line
    assert not any(tmp_path.iterdir())


def test_an_old_run_without_a_probe_still_opens_and_films_its_tokens(probed_runs):
    from embviz.film.animate_options import AnimateOptions
    from embviz.film.selection import choose_words

    run = Run.open(probed_runs / "plain")
    assert all("probe" not in s.files for s in run.check_snapshots())
    assert len(choose_words(run, AnimateOptions()).words) > 3


@pytest.mark.slow
def test_the_explorer_takes_the_occurrences_as_its_items(probed_runs, tmp_path):
    from embviz.film.animate_options import AnimateOptions
    from embviz.film.explore import explore

    result = explore(probed_runs / "run", tmp_path / "layer.html", AnimateOptions(matrix="layer:1", method="pca"))
    page = result.path.read_text(encoding="utf-8")
    n = len(Run.open(probed_runs / "run").occurrences())
    assert result.n_words == n + len(set(Run.open(probed_runs / "run").occurrences().words))
    assert "layer 1 · " in page and '"[the]"' in page and '"the@' in page
    assert '"intra-sentence similarity"' in page and '"anisotropy of occurrences (mean cosine)"' in page  # its panel


@pytest.mark.slow
def test_upper_layers_part_a_homonyms_occurrences_by_sense_while_its_token_row_stays_one_point(tmp_path):
    from embviz.measure.contextual import sense_purity
    from embviz.text.lexicon import at_level

    config = TrainConfig(corpus="synthetic", synthetic_tokens=30_000, difficulty=0.0, d_model=32, layers=2, heads=2,
                         context=16, batch_size=32, epochs=10, lr=0.01, device="cpu", val_fraction=0.3,
                         stop_when_settled=False, probe_words="orange,turkey,watch,may")
    train(config, tmp_path / "run")
    run = Run.open(tmp_path / "run")
    occ = run.occurrences()
    assert set(occ.homonyms()) == {"orange", "turkey", "watch", "may"}
    first, last = (run.load_probe(s) for s in (run.snapshots()[0], run.snapshots()[-1]))
    purity = [sense_purity(last[:, layer], occ.words, occ.senses) for layer in range(3)]
    chance = purity[0][1]
    assert abs(purity[0][0] - chance) < 0.1  # token + position: the occurrences differ by position alone
    assert purity[2][0] > chance + 0.15 and purity[2][0] > purity[0][0] + 0.15
    assert purity[2][0] > sense_purity(first[:, 2], occ.words, occ.senses)[0] + 0.15  # learnt, not the init's
    # the token table holds one row per homonym, between its two fields: both are among its nearest fields
    tokens, _, categories = run.vocab()
    table = run.load_snapshot(run.snapshots()[-1])
    unit = table / np.linalg.norm(table, axis=1, keepdims=True)
    fields: dict[str, list[int]] = {}
    for i, path in enumerate(categories):
        if path and tokens[i] not in ("orange", "turkey", "watch", "watches", "may"):
            fields.setdefault(at_level(path, 1), []).append(i)
    for word in ("orange", "turkey"):
        centroid = {f: unit[rows].mean(0) for f, rows in fields.items() if len(rows) >= 3}
        near = sorted(centroid, key=lambda f: -unit[tokens.index(word)] @ centroid[f] / np.linalg.norm(centroid[f]))
        senses = {at_level(s, 1) for w, s in zip(occ.words, occ.senses) if w == word}
        assert senses <= set(near[:4]), (word, near[:4])
