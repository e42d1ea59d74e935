"""Training from Python in a background thread (``embviz.start_training``) and the live map that follows a run
(``embviz.LiveMap``), in this process: what they end with, stopping, and errors."""

from __future__ import annotations

import threading
import time

import pytest

import embviz
from embviz.errors import ConfigError, CorpusError
from embviz.film.selection import choose_words
from embviz.notebook.explorer import explore_options
from embviz.rundir.run import Run
from embviz.training.loop import resume

from conftest import TINY
from toyrun import make_toy_run

SMALL = {**TINY, "synthetic_tokens": 3000, "snapshot_schedule": "log", "log_snapshots": 4}


def test_bad_options_fail_before_any_thread_starts(tmp_path) -> None:
    threads = threading.active_count()
    with pytest.raises(ConfigError, match="unknown train option.*widht.*the options are"):
        embviz.start_training("synthetic", tmp_path / "run", widht=3)
    with pytest.raises(ConfigError, match="tokenizer"):
        embviz.start_training("synthetic", tmp_path / "run", tokenizer="letters")
    assert threading.active_count() == threads and not (tmp_path / "run").exists()


@pytest.mark.slow
def test_a_run_trained_in_the_background_equals_one_trained_in_the_foreground(tmp_path) -> None:
    training = embviz.start_training("synthetic", tmp_path / "bg", live=False, **SMALL)
    assert training.map is None
    foreground = embviz.train(embviz.TrainConfig(corpus="synthetic", **SMALL), tmp_path / "fg")  # meanwhile
    result = training.wait(120)
    assert training.done and result.status == "complete" and training.status.step == result.steps == foreground.steps
    assert result.purity_final == foreground.purity_final  # same seed and config on CPU: the same run
    assert "done" in repr(training)


@pytest.mark.slow
def test_stop_saves_a_resumable_run(tmp_path) -> None:
    training = embviz.start_training("synthetic", tmp_path / "run", live=False, **{**SMALL, "epochs": 50})
    deadline = time.monotonic() + 120
    while training.status is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert training.status is not None, "no step reported in 120 s"
    training.stop()
    result = training.wait(60)
    assert result.status == "interrupted" and 0 < result.steps < training.status.total_steps
    assert Run.open(tmp_path / "run").manifest().status == "interrupted"
    assert resume(tmp_path / "run").status == "complete"


def test_an_error_of_the_run_comes_from_wait_and_shows_on_the_map(tmp_path) -> None:
    training = embviz.start_training(str(tmp_path / "missing.txt"), tmp_path / "run", **SMALL)
    with pytest.raises(CorpusError):
        training.wait(60)
    assert training.map.state.startswith("error: ") and training.map.snapshots == 0


@pytest.mark.slow
def test_the_live_map_draws_every_snapshot_of_a_run_with_explores_words(tmp_path) -> None:
    run = make_toy_run(tmp_path / "run", n_words=40, n_snapshots=5)
    live = embviz.LiveMap(run.path, top=10)
    live.wait(120)
    assert live.state == "complete" and live.snapshots == 5 and live.step == run.snapshots()[-1].step
    words = choose_words(run, explore_options(top=10)).words
    assert live.words == words and len(live.codes) == len(words) and max(live.codes) < len(live.palette)
    assert len(live.positions) == 8 * len(words) and 0 <= live.purity <= 1


def test_a_live_map_of_a_folder_not_yet_a_run_waits_and_stops(tmp_path) -> None:
    live = embviz.LiveMap(tmp_path / "later")
    time.sleep(0.3)
    assert live.state == "waiting" and live._thread.is_alive()
    live.stop()
    live.wait(5)
    assert not live._thread.is_alive() and live.state == "waiting" and live.snapshots == 0
