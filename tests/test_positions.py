"""The position-order and head-agreement measures: a smooth curve scores near 1, noise near chance."""

import numpy as np
import pytest
from scipy.stats import ortho_group

from embviz.measure.metrics import jaccard_chance
from embviz.measure.positions import adjacent_chance, head_agreement, head_columns, position_columns, position_order


def curve(n=64, d=32, turns=0.4, seed=0):
    """A helix segment [n, d]: a smooth, ordered curve, rotated into d dimensions, offset from the origin."""
    t = np.linspace(0, 2 * np.pi * turns, n)
    x = np.zeros((n, d))
    x[:, 0], x[:, 1], x[:, 2] = np.cos(t), np.sin(t), t / np.pi
    x[:, 3] = 2.0  # off the origin, as a learned table is
    return x @ ortho_group.rvs(d, random_state=seed)


def test_a_smooth_curve_is_ordered_and_low_dimensional():
    got = position_order(curve())
    assert got.adjacent == 1.0 and got.order > 0.9 and got.top3 > 0.99


def test_random_positions_are_near_chance():
    x = np.random.default_rng(0).normal(size=(64, 32))
    got = position_order(x)
    assert got.adjacent < 0.15 and abs(got.order) < 0.1 and got.top3 < 0.3


def test_shuffling_the_curve_destroys_the_order_but_not_the_variance():
    x = curve()
    shuffled = x[np.random.default_rng(1).permutation(len(x))]
    ordered, mixed = position_order(x), position_order(shuffled)
    assert mixed.adjacent < 0.2 and abs(mixed.order) < 0.15
    assert mixed.top3 == pytest.approx(ordered.top3)


def test_head_agreement_is_one_for_a_rotated_copy_and_near_chance_for_an_unrelated_head():
    rng = np.random.default_rng(0)
    token = rng.normal(size=(300, 16))
    cka, jaccard = head_agreement(token @ ortho_group.rvs(16, random_state=1), token)
    assert cka == pytest.approx(1.0) and jaccard == pytest.approx(1.0)
    cka, jaccard = head_agreement(rng.normal(size=(300, 16)), token)
    assert cka < 0.15 and jaccard < 3 * jaccard_chance(300)


def test_the_adjacency_chance_is_what_random_tables_score():
    rng = np.random.default_rng(2)
    tables = rng.normal(size=(300, 32, 16))
    columns = position_columns(tables)
    assert columns["position_adjacent"].mean() == pytest.approx(columns["chance_position_adjacent"][0], rel=0.15)
    assert columns["chance_position_adjacent"][0] == pytest.approx(adjacent_chance(32))


def test_position_and_head_columns_follow_each_snapshot():
    tables = [np.random.default_rng(0).normal(size=(64, 32)), curve()]
    columns = position_columns(tables)
    assert columns["position_adjacent"][0] < 0.2 and columns["position_adjacent"][1] == 1.0
    assert abs(columns["position_order"][0]) < 0.1 < 0.9 < columns["position_order"][1]
    token = np.random.default_rng(1).normal(size=(200, 16))
    heads = [np.random.default_rng(3).normal(size=(200, 16)), token * 2.0]
    agreement = head_columns(heads, [token, token])
    assert agreement["head_cka_token"][0] < 0.2 and agreement["head_cka_token"][1] == pytest.approx(1.0)
    assert agreement["head_jaccard10_token"][1] == pytest.approx(1.0)
