import dataclasses
import os
import signal

import numpy as np
import pytest
import torch

from embviz.errors import ConfigError, CorpusError, RunError
from embviz.rundir.run import Run
from embviz.training.loop import VAL_PARTS, epoch_windows, resume, split_validation, train


def final_matrix(run_dir):
    run = Run.open(run_dir)
    return run.load_snapshot(run.snapshots()[-1])


def test_a_run_directory_holds_everything_the_contract_names(tmp_path, tiny_config):
    result = train(tiny_config, tmp_path / "run")
    run = Run.open(tmp_path / "run")
    manifest = run.manifest()
    assert manifest.status == "complete" == result.status
    assert manifest.chosen["epochs"] == 2 and manifest.model["d_model"] == 16
    assert len(manifest.corpus.sha256) == 64
    snaps = run.snapshots()
    per_epoch = manifest.steps_per_epoch
    assert [s.step for s in snaps] == [0, per_epoch, 2 * per_epoch]
    assert [s.epoch for s in snaps] == [0.0, 1.0, 2.0]
    assert all(s.val_loss is not None for s in snaps)
    assert snaps[0].train_loss is None and snaps[-1].train_loss is not None
    tokens, counts, cats = run.vocab()
    assert run.load_snapshot(snaps[0]).shape == (len(tokens), 16)
    assert cats[tokens.index("cat")] is not None and cats[tokens.index("cat")].count("/") >= 2
    metrics = run.metrics()
    assert [r["step"] for r in metrics] == list(range(1, 2 * per_epoch + 1))
    assert metrics[-1]["loss"] < metrics[0]["loss"]
    assert run.checkpoint_path.is_file()
    assert not list(run.path.rglob("*.tmp"))


def test_training_learns_the_tiny_grammar(tmp_path, tiny_config):
    result = train(dataclasses.replace(tiny_config, epochs=6, stop_when_settled=False), tmp_path / "run")
    vocab = len(Run.open(tmp_path / "run").vocab()[0])
    assert result.final_val_loss < np.log(vocab) - 1.0  # far below guessing uniformly
    assert result.purity_final > result.purity_init
    assert result.chosen["patience"] is None and not result.stopped_early and result.epochs_done == 6


def test_the_same_seed_gives_identical_snapshots(tmp_path, tiny_config):
    train(tiny_config, tmp_path / "a")
    train(tiny_config, tmp_path / "b")
    np.testing.assert_array_equal(final_matrix(tmp_path / "a"), final_matrix(tmp_path / "b"))
    train(dataclasses.replace(tiny_config, seed=1), tmp_path / "c")
    assert not np.array_equal(final_matrix(tmp_path / "a"), final_matrix(tmp_path / "c"))


def snapshot_steps(tmp_path, config):
    train(config, tmp_path / "run")
    run = Run.open(tmp_path / "run")
    return [s.step for s in run.snapshots()], run.manifest().steps_per_epoch


def test_snapshot_every_n_steps_adds_to_the_epoch_snapshots(tmp_path, tiny_config):
    steps, per_epoch = snapshot_steps(tmp_path, dataclasses.replace(tiny_config, snapshot_every=5))
    assert steps == sorted({0, per_epoch, 2 * per_epoch} | set(range(5, 2 * per_epoch + 1, 5)))


def test_log_schedule_is_dense_early_and_sparse_late(tmp_path, tiny_config):
    config = dataclasses.replace(tiny_config, snapshot_schedule="log", log_snapshots=8)
    steps, per_epoch = snapshot_steps(tmp_path, config)
    total = 2 * per_epoch
    log_steps = set(np.unique(np.round(np.geomspace(1, total, 8))).astype(int).tolist())
    assert steps == sorted(log_steps | {0, per_epoch, total})
    assert sum(s <= total // 10 for s in steps) > sum(s > total // 2 for s in steps)


def test_float16_snapshots_halve_the_disk(tmp_path, tiny_config):
    train(dataclasses.replace(tiny_config, snapshot_dtype="float16"), tmp_path / "run")
    run = Run.open(tmp_path / "run")
    raw = np.load(run.snapshot_dir / run.snapshots()[-1].file, allow_pickle=False)
    assert raw.dtype == np.float16
    assert run.load_snapshot(run.snapshots()[-1]).dtype == np.float32


def test_an_interrupted_run_resumes_to_the_same_final_snapshot(tmp_path, tiny_config):
    config = dataclasses.replace(tiny_config, epochs=3)
    train(config, tmp_path / "whole")

    def interrupt(status):
        if status.step == 7:
            os.kill(os.getpid(), signal.SIGINT)

    result = train(config, tmp_path / "broken", progress=interrupt)
    assert result.status == "interrupted"
    run = Run.open(tmp_path / "broken")
    assert run.manifest().status == "interrupted"
    assert run.snapshots()[-1].step == 7
    assert resume(tmp_path / "broken").status == "complete"
    np.testing.assert_array_equal(final_matrix(tmp_path / "whole"), final_matrix(tmp_path / "broken"))
    whole, broken = Run.open(tmp_path / "whole"), Run.open(tmp_path / "broken")
    assert [s.step for s in whole.snapshots()] == [s.step for s in broken.snapshots() if s.step != 7]
    assert [r["step"] for r in whole.metrics()] == [r["step"] for r in broken.metrics()]


def test_resume_refuses_a_complete_run_and_a_non_run(tmp_path, tiny_config):
    train(tiny_config, tmp_path / "run")
    with pytest.raises(RunError, match="already complete"):
        resume(tmp_path / "run")
    with pytest.raises(RunError, match="not a run"):
        resume(tmp_path / "nothing")


def test_an_existing_run_is_kept_unless_overwrite(tmp_path, tiny_config):
    train(tiny_config, tmp_path / "run")
    before = final_matrix(tmp_path / "run")
    with pytest.raises(RunError, match="--overwrite"):
        train(dataclasses.replace(tiny_config, seed=3), tmp_path / "run")
    np.testing.assert_array_equal(final_matrix(tmp_path / "run"), before)
    train(dataclasses.replace(tiny_config, seed=3), tmp_path / "run", overwrite=True)
    assert not np.array_equal(final_matrix(tmp_path / "run"), before)


@pytest.mark.slow
def test_untied_runs_record_which_matrix_is_filmed_and_save_the_head(tmp_path, tiny_config):
    result = train(dataclasses.replace(tiny_config, tie=False), tmp_path / "run")
    run = Run.open(tmp_path / "run")
    assert "input only" in run.manifest().snapshot_matrix
    assert set(result.head) == {"init", "final"} and 0 <= result.head["final"]["cka"] <= 1
    snaps = run.check_snapshots(rows=len(run.vocab()[0]))
    assert all(s.matrices == ("token", "position", "head") for s in snaps)
    state = torch.load(run.checkpoint_path, weights_only=True)["model"]
    np.testing.assert_array_equal(run.load_snapshot(snaps[-1], matrix="head"), state["head.weight"].numpy())
    assert not np.array_equal(run.load_snapshot(snaps[-1], matrix="head"), run.load_snapshot(snaps[-1]))


def test_every_snapshot_saves_the_position_table_and_a_tied_run_no_head(tmp_path, tiny_config):
    result = train(tiny_config, tmp_path / "run")
    assert not result.head and set(result.positions["final"]) == {"adjacent", "order", "top3"}
    run = Run.open(tmp_path / "run")
    snaps = run.check_snapshots()
    assert all(s.matrices == ("token", "position") for s in snaps)
    first, last = (run.load_snapshot(s, matrix="position") for s in (snaps[0], snaps[-1]))
    assert first.shape == (tiny_config.context, 16) and not np.array_equal(first, last)  # it trains
    state = torch.load(run.checkpoint_path, weights_only=True)["model"]
    np.testing.assert_array_equal(last, state["pos.weight"].numpy())


@pytest.mark.parametrize("options, error, message", [
    ({"epochs": 0}, ConfigError, "epochs"),
    ({"lr": -1.0}, ConfigError, "lr"),
    ({"batch_size": 10**9}, ConfigError, "batch-size"),
    ({"heads": 3}, ConfigError, "must divide"),
    ({"tokenizer": "nope"}, ConfigError, "unknown tokenizer"),
    ({"context": 100_000}, ConfigError, "context"),
    ({"device": "tpu"}, ConfigError, "device"),
])
def test_bad_options_fail_before_anything_is_written(tmp_path, tiny_config, options, error, message):
    with pytest.raises(error, match=message):
        train(dataclasses.replace(tiny_config, **options), tmp_path / "run")
    assert not (tmp_path / "run" / "run.json").exists()


def test_a_corpus_shorter_than_a_context_window_is_refused(tmp_path, tiny_config):
    short = tmp_path / "short.txt"
    short.write_text("a b c a b c d\n")
    with pytest.raises(CorpusError, match="too short"):
        train(dataclasses.replace(tiny_config, corpus=str(short)), tmp_path / "run")


def test_a_run_killed_before_its_first_checkpoint_starts_again(tmp_path, tiny_config):
    train(tiny_config, tmp_path / "whole")
    train(tiny_config, tmp_path / "early")
    run = Run.open(tmp_path / "early")
    # what a kill right after run.json leaves: no vocab, no snapshots, no checkpoint, status running
    run.set_status("running")
    for name in ("vocab.tsv", "metrics.csv"):
        (run.path / name).unlink()
    import shutil

    shutil.rmtree(run.path / "checkpoint")
    shutil.rmtree(run.path / "snapshots")
    assert resume(tmp_path / "early").status == "complete"
    np.testing.assert_array_equal(final_matrix(tmp_path / "whole"), final_matrix(tmp_path / "early"))


@pytest.mark.parametrize("n, fraction, context", [(1000, 0.05, 8), (30, 0.05, 8), (100_000, 0.1, 64), (70, 0.3, 4)])
def test_validation_is_spread_over_the_corpus(n: int, fraction: float, context: int) -> None:
    ids = torch.arange(n)
    train_ids, val_ids = split_validation(ids, fraction, context)
    n_val = max(context + 1, int(n * fraction))
    assert len(val_ids) == n_val and len(train_ids) == n - n_val
    assert sorted(torch.cat([train_ids, val_ids]).tolist()) == list(range(n))  # a partition, order kept in each
    assert (torch.diff(train_ids) > 0).all() and (torch.diff(val_ids) > 0).all()
    # contiguous val slices, each at least one window long, spread from the first part to the end
    starts = [0] + [i + 1 for i in range(len(val_ids) - 1) if val_ids[i + 1] != val_ids[i] + 1]
    lengths = [b - a for a, b in zip(starts, starts[1:] + [len(val_ids)])]
    assert min(lengths) >= context + 1
    assert val_ids[-1] == n - 1
    if n_val >= VAL_PARTS * (context + 1):
        assert len(starts) == VAL_PARTS and val_ids[0] < n / VAL_PARTS


@pytest.mark.parametrize("n, context", [(10_000, 64), (1_000, 8), (65, 64), (200, 33)])
def test_each_epoch_cuts_the_text_at_new_places(n: int, context: int) -> None:
    windows = (n - 1) // context
    epochs = [epoch_windows(n, context, seed=3, epoch=e) for e in range(6)]
    for starts in epochs:
        assert len(starts) == windows and starts.min() >= 0 and starts.max() + context + 1 <= n
    np.testing.assert_array_equal(epochs[2], epoch_windows(n, context, seed=3, epoch=2))  # resumable
    if windows < 10:
        return
    assert not np.array_equal(epochs[0], epochs[1]) and not np.array_equal(epochs[0], epoch_windows(n, context, 4, 0))
    assert (epochs[0] % context != 0).mean() > 0.5  # not the fixed slot boundaries
    covered = np.zeros((len(epochs), n - 1), dtype=bool)
    for e, starts in enumerate(epochs):
        for s in starts:
            covered[e, s:s + context] = True
    assert covered.mean(axis=1).min() > 0.7  # each epoch still reads most of the text
    assert covered.any(axis=0).mean() > 0.97  # and a few epochs read all of it


def test_patience_stops_when_validation_loss_turns_up_and_the_best_step_is_recorded(tmp_path, tiny_config):
    config = dataclasses.replace(tiny_config, d_model=64, epochs=60, lr=3e-2, patience=2, stop_when_settled=False)
    result = train(config, tmp_path / "run")
    run = Run.open(tmp_path / "run")
    epochs = [s for s in run.snapshots() if s.val_loss is not None and s.step > 0]
    best = min(epochs, key=lambda s: s.val_loss)
    assert result.stopped_early and result.epochs_done < 60 and result.stop_reason.startswith("patience")
    assert result.best_step == best.step == run.manifest().result["best_step"]
    assert epochs[-1].epoch - best.epoch == 2  # exactly `patience` epochs without a better loss


def test_training_starts_from_the_unigram_prior_not_from_uniform_guessing(tmp_path, tiny_config):
    train(tiny_config, tmp_path / "run")
    run = Run.open(tmp_path / "run")
    _, counts, _ = run.vocab()
    p = (np.array(counts, dtype=float) + 1) / (np.sum(counts) + len(counts))
    entropy = float(-(p * np.log(p)).sum())
    first = run.snapshots()[0]
    assert first.step == 0
    assert entropy < np.log(len(counts)) - 0.25  # a skewed text, so the two starts differ
    assert abs(first.val_loss - entropy) < 0.1
