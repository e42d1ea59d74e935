"""The emergence table: its metrics on a trajectory whose story is known, its CSV and its cache."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from embviz.measure.emergence import EmergenceCache, compute_emergence, first_crossing
from embviz.rundir.run import Run


def _table(run: Run):
    tokens, _, cats = run.vocab()
    rows = np.arange(len(tokens))
    mats = [run.load_snapshot(s, rows) for s in run.snapshots()]
    levels = {lvl: [None if c is None else "/".join(c.split("/")[: i + 1]) for c in cats]
              for i, lvl in enumerate(("pos", "field", "subfield"))}
    steps = [s.step for s in run.snapshots()]
    return compute_emergence(mats, levels, steps), levels, steps


def test_emergence_rises_coarse_before_fine(toy: Path) -> None:
    table, levels, _ = _table(Run.open(toy))
    for lvl in levels:
        purity = table.columns[f"purity_{lvl}"]
        chance = table.columns[f"chance_{lvl}"][0]
        assert abs(purity[0] - chance) < 0.15  # noise at init
        assert purity[-1] > 0.8 and purity[-1] > purity[0] + 0.4
        assert table.columns[f"silhouette_{lvl}"][-1] > table.columns[f"silhouette_{lvl}"][0]
    cross = table.first_crossing
    assert all(cross[lvl] is not None for lvl in levels)
    assert cross["pos"] <= cross["field"] <= cross["subfield"]
    np.testing.assert_allclose(table.columns["cka_final"][-1], 1.0)
    np.testing.assert_allclose(table.columns["jaccard10_final"][-1], 1.0)
    assert np.isnan(table.columns["drift_prev"][0]) and (table.columns["drift_prev"][1:] > 0).all()
    assert first_crossing([1, 2, 3], [0.5, float("nan"), 0.95]) == 3
    assert first_crossing([1, 2], [0.1, 0.2]) is None


def test_csv_has_a_row_per_snapshot_and_empty_fields_for_nan(toy: Path) -> None:
    table, _, steps = _table(Run.open(toy))
    lines = table.to_csv().splitlines()
    header = lines[0].split(",")
    assert header[:3] == ["step", "epoch", "train_loss"] and len(lines) == len(steps) + 1
    first = dict(zip(header, lines[1].split(",")))
    assert first["step"] == "0" and first["drift_prev"] == "" and first["train_loss"] == ""
    assert float(first["purity_pos"]) == pytest.approx(table.columns["purity_pos"][0], rel=1e-5)


def test_cache_returns_the_stored_table_and_a_changed_input_misses(toy: Path, tmp_path: Path) -> None:
    table, levels, steps = _table(Run.open(toy))
    snapshots = [{"file": f"s{i}.npy", "step": s, "size": 1, "mtime_ns": 0} for i, s in enumerate(steps)]
    key = EmergenceCache.key(range(120), [f"w{i}" for i in range(120)], levels, snapshots, {}, "layout-a")
    cache = EmergenceCache(tmp_path)
    assert cache.load(key, steps, table.epochs, table.losses, list(levels)) is None
    cache.save(key, table)
    again = cache.load(key, steps, table.epochs, [None] * len(steps), list(levels))
    assert again is not None and again.first_crossing == table.first_crossing
    for name, values in table.columns.items():
        np.testing.assert_array_equal(again.columns[name], values)
    assert all(math.isnan(v) for v in again.losses)
    moved = [{**s, "mtime_ns": 1} for s in snapshots]
    assert EmergenceCache.key(range(120), [f"w{i}" for i in range(120)], levels, moved, {}, "layout-a") != key
    assert EmergenceCache.key(range(120), [f"w{i}" for i in range(120)], levels, snapshots, {}, "layout-b") != key
    assert cache.load(key, steps[:-1], table.epochs[:-1], table.losses[:-1], list(levels)) is None
