"""Ethayarajh's measures of contextual vectors and the sense purity, by their properties on tiny data."""

import numpy as np
import pytest

from embviz.measure import contextual as c


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_identical_occurrences_are_perfectly_self_similar_and_one_dimensional(rng):
    words = [w for w in "abcdefgh" for _ in range(6)]
    base = {w: rng.normal(size=32) for w in set(words)}
    vectors = np.array([base[w] * rng.uniform(0.5, 2) for w in words])  # same direction, any length
    assert c.self_similarity(vectors, words) == pytest.approx(1.0)
    assert c.mev(vectors, words) == pytest.approx(1.0)
    assert abs(c.anisotropy(vectors, words)) < 0.2  # different words still point anywhere


def test_isotropic_noise_has_no_anisotropy_self_similarity_or_leading_direction(rng):
    words = [f"w{i}" for i in range(100) for _ in range(8)]
    vectors = rng.normal(size=(len(words), 64))
    assert abs(c.anisotropy(vectors, words)) < 0.02
    assert abs(c.self_similarity(vectors, words)) < 0.02
    assert c.mev(vectors, words) < 0.35  # 8 random vectors: the first of 8 equal-ish directions
    shifted = vectors + 5.0  # one shared direction: every pair of words looks alike
    assert c.anisotropy(shifted, words) > 0.8 and c.self_similarity(shifted, words) > 0.8


def test_intra_sentence_similarity_is_one_for_a_sentence_of_one_vector(rng):
    sentences = [s for s in range(10) for _ in range(4)]
    base = rng.normal(size=(10, 16))
    assert c.intra_sentence(base[sentences], sentences) == pytest.approx(1.0)
    noise = rng.normal(size=(40, 256))
    assert c.intra_sentence(noise, sentences) == pytest.approx(0.5, abs=0.06)  # cos with the mean of 4: 1/sqrt(4)


def test_sense_purity_is_one_when_senses_part_and_chance_when_they_mix(rng):
    words = ["bank"] * 20 + ["other"] * 6
    senses = ["river"] * 10 + ["money"] * 10 + [None] * 6
    parted = np.concatenate([rng.normal(size=(10, 16)) * 0.1 + 3, rng.normal(size=(10, 16)) * 0.1 - 3,
                             rng.normal(size=(6, 16))])
    purity, chance = c.sense_purity(parted, words, senses)
    assert purity == 1.0 and chance == pytest.approx(9 / 19)
    mixed = rng.normal(size=(26, 16))
    scores = [c.sense_purity(rng.normal(size=(26, 16)), words, senses)[0] for _ in range(50)]
    assert abs(np.mean(scores) - chance) < 0.05 and c.sense_purity(mixed, words, senses)[1] == chance
    assert np.isnan(c.sense_purity(mixed, ["a"] * 26, [None] * 26)[0])


def test_every_measure_at_every_layer(rng):
    states = rng.normal(size=(24, 3, 8))
    words, sentences = [w for w in "abcd" for _ in range(6)], list(range(12)) * 2
    table = c.measure_layers(states, words, sentences, [None] * 24)
    assert list(table) == list(c.COLUMNS) and all(v.shape == (3,) for v in table.values())
    assert np.isnan(table["sense_purity"]).all() and np.isfinite(table["self_similarity"]).all()
