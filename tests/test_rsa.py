"""RSA of a space against categories and frequency (embviz.measure.rsa) and its curves in the emergence table."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from embviz.measure import rsa
from embviz.measure.emergence import compute_emergence

from toyrun import toy_categories, toy_trajectory


def clustered(n: int = 300, categories: int = 5, spread: float = 0.6, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = [f"c{i % categories}" for i in range(n)]
    centres = rng.normal(size=(categories, 24))
    x = centres[np.arange(n) % categories] + spread * rng.normal(size=(n, 24))
    return x, labels


def test_all_pairs_score_is_scipys_spearman() -> None:
    x, labels = clustered(60)
    found = rsa.probes({"pos": labels}, None)
    probe = found["rsa_pos"]
    assert probe.first.size == 60 * 59 // 2  # every pair
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    cos = (unit[probe.first] * unit[probe.second]).sum(1)
    same = np.array([labels[i] == labels[j] for i, j in zip(probe.first, probe.second)], dtype=float)
    assert rsa.rsa_scores(x, found)["rsa_pos"] == pytest.approx(stats.spearmanr(cos, same).statistic, abs=1e-12)


def test_categories_and_frequency_show_where_the_space_holds_them() -> None:
    x, labels = clustered()
    counts = np.geomspace(10_000, 1, x.shape[0])
    angle = np.log(counts) / np.log(counts).max() * np.pi / 2  # log frequency as an angle: cos falls with |Δ log f|
    x_freq = 0.05 * np.random.default_rng(1).normal(size=x.shape)
    x_freq[:, 0] += np.cos(angle)
    x_freq[:, 1] += np.sin(angle)
    assert rsa.rsa_scores(x, rsa.probes({"pos": labels}, None))["rsa_pos"] > 0.6
    noise = np.random.default_rng(2).normal(size=x.shape)
    found = rsa.probes({"pos": labels}, counts)
    assert abs(rsa.rsa_scores(noise, found)["rsa_pos"]) < 0.05
    assert abs(rsa.rsa_scores(noise, found)["rsa_logfreq"]) < 0.05
    assert rsa.rsa_scores(x_freq, found)["rsa_logfreq"] > 0.9


def test_a_sample_of_pairs_is_close_to_all_pairs() -> None:
    x, labels = clustered(400, spread=1.5)
    exact = rsa.rsa_scores(x, rsa.probes({"pos": labels}, None))["rsa_pos"]
    sampled = [rsa.rsa_scores(x, {"p": _probe(labels, rsa.pair_sample(np.arange(400), 5_000, seed))})["p"]
               for seed in range(5)]
    assert np.std(sampled) < 0.03 and abs(np.mean(sampled) - exact) < 0.03
    first, second = rsa.pair_sample(np.arange(400), 5_000, 0)
    assert first.size == 5_000 and (first != second).all()


def _probe(labels, pairs) -> rsa.Probe:
    first, second = pairs
    codes = np.array(labels)
    return rsa.Probe(first, second, (codes[first] == codes[second]).astype(float))


def test_no_probe_without_two_categories_or_known_counts() -> None:
    assert rsa.probes({"pos": ["a"] * 10 + [None] * 5}, None) == {}
    assert rsa.probes({}, [0] * 10) == {}


def test_emergence_has_rsa_curves_rising_with_the_categories() -> None:
    labels = toy_categories(150)
    snaps = toy_trajectory(labels, 6)
    levels = {"pos": [p and p.split("/")[0] for p in labels], "field": [p and "/".join(p.split("/")[:2]) for p in labels]}
    table = compute_emergence(list(snaps), levels, list(range(6)), frequencies=[1000 // (i + 1) for i in range(150)])
    for name in ("rsa_pos", "rsa_field", "rsa_logfreq"):
        assert np.isfinite(table.columns[name]).all()
    assert table.columns["rsa_pos"][-1] > table.columns["rsa_pos"][0] + 0.3
    curves, chance = table.curves()
    assert {"RSA · pos", "RSA · field", "RSA · log frequency"} <= set(curves) and chance["RSA · pos"] == 0.0
    assert "rsa_pos" in table.to_csv().splitlines()[0].split(",")
