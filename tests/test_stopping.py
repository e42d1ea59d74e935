"""The settle rule: a pure function of the per-epoch history, and the training loop that obeys it."""

import dataclasses
import os
import signal

import numpy as np
import pytest

from embviz.run import Run
from embviz.stopping import RULE, EpochRecord, Rule, Watch, map_change, settled
from embviz.training import resume, train


def history(val: list[float], change: list[float]) -> list[EpochRecord]:
    """Records for epochs 0..len(val)-1; ``change[e - 1]`` is epoch e's change (epoch 0 has none)."""
    return [EpochRecord(e, 10 * e, v, None if e == 0 else change[e - 1]) for e, v in enumerate(val)]


def first_stop(records: list[EpochRecord], rule: Rule = RULE) -> int | None:
    """The epoch after which a run reading ``records`` one epoch at a time stops."""
    return next((r.epoch for i, r in enumerate(records) if settled(records[:i + 1], rule)), None)


def levelling(n: int, level_at: int, *, val_start: float = 7.0, drop: float = 0.3) -> list[EpochRecord]:
    """Validation loss falls by ``drop`` an epoch and the map moves a lot until ``level_at``; flat after."""
    val = [val_start - drop * min(e, level_at) for e in range(n)]
    change = [0.5 if e <= level_at else RULE.change_tol / 4 for e in range(1, n)]
    return history(val, change)


@pytest.mark.parametrize("level_at", [2, 4, 7])
def test_stops_once_both_signals_have_levelled_for_the_window(level_at):
    stop = first_stop(levelling(20, level_at))
    assert stop == max(RULE.min_epochs, level_at + RULE.window)


def test_never_stops_before_the_minimum_even_when_flat_from_the_start():
    rule = Rule(min_epochs=6, window=2)
    flat = history([5.0] * 12, [0.0] * 11)
    assert all(settled(flat[:i + 1], rule) is None for i in range(6))
    assert first_stop(flat, rule) == 6


def test_never_stops_while_validation_loss_still_improves():
    val = [7.0 * (1 - 2 * RULE.loss_tol) ** e for e in range(30)]  # 2 tolerances better every epoch
    assert first_stop(history(val, [0.0] * 29)) is None


def test_never_stops_while_the_map_still_moves():
    moving = history([5.0] * 30, [2 * RULE.change_tol] * 29)
    assert first_stop(moving) is None
    big, small = 2 * RULE.change_tol, 0.0
    moves_again = history([5.0] * 30, [big] * 5 + [small, big] + [small] * 22)  # epoch 7 moves again
    assert first_stop(moves_again) == 7 + RULE.window


def test_validation_loss_that_turns_up_counts_as_levelled():
    val = [7.0, 6.0, 5.5, 5.4, 5.6, 5.9, 6.3, 6.8]  # overfitting after epoch 3
    change = [0.5, 0.3, 0.2] + [RULE.change_tol / 2] * 4
    stop = first_stop(history(val, change))
    assert stop is not None and stop == 3 + RULE.window
    assert "settled at epoch" in settled(history(val, change)[:stop + 1])


def test_map_change_is_zero_for_a_rotated_and_scaled_map_and_grows_with_noise():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 16))
    q, _ = np.linalg.qr(rng.normal(size=(16, 16)))
    assert map_change(x, 3.0 * x @ q) == pytest.approx(0.0, abs=1e-9)
    small, large = (map_change(x, x + s * rng.normal(size=x.shape)) for s in (0.1, 1.0))
    assert 0 < small < large < 1


def test_a_run_stops_by_the_rule_records_why_and_resumes_to_the_same_stop(tmp_path, tiny_config):
    config = dataclasses.replace(tiny_config, epochs=8)
    assert config.stop_when_settled  # the default
    result = train(config, tmp_path / "whole")
    run = Run.open(tmp_path / "whole")
    epochs = [s for s in run.snapshots() if s.val_loss is not None]
    assert result.stopped_early and result.status == "complete"
    assert RULE.min_epochs <= result.epochs_done < 8 == result.chosen["epochs"]
    assert result.stop_reason.startswith(f"settled at epoch {result.epochs_done}")
    assert run.manifest()["result"]["stop_reason"] == result.stop_reason
    assert epochs[-1].epoch == result.epochs_done
    assert settled(Watch.of_run(run).history) == result.stop_reason
    assert settled(Watch.of_run(run).history[:-1]) is None  # it stopped at the first settled epoch

    # --all-epochs runs every epoch, and the stopped run is step for step its beginning
    every = train(dataclasses.replace(config, stop_when_settled=False), tmp_path / "every")
    assert every.epochs_done == 8 and not every.stopped_early and every.stop_reason is None
    full = Run.open(tmp_path / "every")
    for snap in epochs:
        np.testing.assert_array_equal(run.load_snapshot(snap), full.load_snapshot(snap))

    per_epoch = run.manifest()["steps_per_epoch"]

    def interrupt(status):
        if status.step == per_epoch * (result.epochs_done - 1) + 1:  # mid-epoch, one before the stop
            os.kill(os.getpid(), signal.SIGINT)

    assert train(config, tmp_path / "broken", progress=interrupt).status == "interrupted"
    again = resume(tmp_path / "broken")
    assert (again.epochs_done, again.stop_reason) == (result.epochs_done, result.stop_reason)
    np.testing.assert_array_equal(run.load_snapshot(epochs[-1]),
                                  Run.open(tmp_path / "broken").load_snapshot(epochs[-1]))
