"""The settle rule: a pure function of the per-epoch history, and the training loop that obeys it."""

import dataclasses
import os
import signal

import numpy as np
import pytest

from embviz.rundir.run import Run
from embviz.training.loop import LR_FLOOR, resume, train
from embviz.training.probe import scratch_arm, train_arm
from embviz.training.stopping import RULE, EpochRecord, Rule, Watch, first_settled, map_change, settled


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


def test_first_settled_is_the_first_epoch_the_rule_stops_at_and_leaves_room_to_cool_down():
    records = levelling(20, 4)
    stop = first_stop(records)
    assert first_settled(records, 20) == (stop, settled(records[:stop + 1]))
    assert first_settled(records, stop) is None  # no epoch of the budget left after it
    assert first_settled(levelling(20, 30), 20) is None


@pytest.mark.slow
def test_a_settled_run_cools_down_for_one_epoch_records_why_and_resumes_to_the_same_stop(tmp_path, tiny_config):
    config = dataclasses.replace(tiny_config, epochs=8)
    assert config.stop_when_settled  # the default
    result = train(config, tmp_path / "whole")
    run = Run.open(tmp_path / "whole")
    epochs = [s for s in run.snapshots() if s.val_loss is not None]
    history = Watch.of_run(run).history
    assert result.stopped_early and result.status == "complete"
    settle = result.epochs_done - 1  # the map settled here; the next epoch cooled down
    assert RULE.min_epochs <= settle < result.epochs_done < 8 == result.chosen["epochs"]
    assert settled(history[:settle]) is None and settled(history[:settle + 1]).startswith(f"settled at epoch {settle}")
    assert result.stop_reason == f"{settled(history[:settle + 1])}; cooled down over epoch {settle + 1}"
    assert run.manifest().result["stop_reason"] == result.stop_reason
    assert epochs[-1].epoch == result.epochs_done

    # the cooldown: the learning rate falls in a straight line to the schedule's floor over one epoch
    per_epoch = run.manifest().steps_per_epoch
    lr = [row["lr"] for row in run.metrics()]
    peak = result.chosen["lr"]
    cooling = np.array(lr[settle * per_epoch:])
    assert len(cooling) == per_epoch and cooling[-1] == pytest.approx(LR_FLOOR * peak)
    np.testing.assert_allclose(np.diff(cooling), (LR_FLOOR * peak - lr[settle * per_epoch - 1]) / per_epoch, rtol=1e-6)

    # compare-word2vec's probe retrains the run as it ran, cooldown included
    again = train_arm(run, run.manifest(), run.corpus_text(), run.tokenizer(), None, freeze=False,
                      epochs=result.epochs_done, name="again")
    assert again.val_loss == pytest.approx(scratch_arm(run).val_loss, abs=1e-6)

    # --all-epochs runs every epoch; the settled run is step for step its beginning until it cools down
    every = train(dataclasses.replace(config, stop_when_settled=False), tmp_path / "every")
    assert every.epochs_done == 8 and not every.stopped_early and every.stop_reason is None
    full = Run.open(tmp_path / "every")
    for snap in epochs[:-1]:
        np.testing.assert_array_equal(run.load_snapshot(snap), full.load_snapshot(snap))
    assert not np.array_equal(run.load_snapshot(epochs[-1]), full.load_snapshot(epochs[-1]))
    assert [row["lr"] for row in full.metrics()][:settle * per_epoch] == lr[:settle * per_epoch]

    # interrupted before the map settled, or while it cools down: resume ends where the whole run did
    for name, at_step in [("before", per_epoch * (settle - 1) + 1), ("cooling", per_epoch * settle + 1)]:
        def interrupt(status, at_step=at_step):
            if status.step == at_step:
                os.kill(os.getpid(), signal.SIGINT)

        assert train(config, tmp_path / name, progress=interrupt).status == "interrupted"
        again = resume(tmp_path / name)
        assert (again.epochs_done, again.stop_reason) == (result.epochs_done, result.stop_reason)
        np.testing.assert_array_equal(run.load_snapshot(epochs[-1]), Run.open(tmp_path / name).load_snapshot(epochs[-1]))
