"""What the training loop reports to: the :class:`Recorder` protocol, and the one that writes a run directory.

:meth:`embviz.training.loop.Session.run_epochs` tells its recorder of every step, every snapshot
point (with the validation loss at step 0 and at epoch ends), every checkpoint point, and reads the
recorder's epoch history to decide whether the map has settled. :class:`RunRecorder` writes
``embviz train``'s run directory (on rank 0); the probe's recorder (:mod:`embviz.training.probe`)
keeps the validation losses and writes nothing.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch

from embviz.rundir.files import write_json
from embviz.rundir.manifest import CorpusInfo, RunManifest
from embviz.rundir.occurrences import Occurrences
from embviz.rundir.run import OCCURRENCES_TSV, TOKENIZER_JSON, Run, Snapshot, snapshot_name
from embviz.rundir.snapshot import PROBE
from embviz.text.corpus import Corpus
from embviz.text.lexicon import Lexicon, token_categories
from embviz.training import checkpoint, stopping
from embviz.training.checkpoint import Position
from embviz.training.contextual import Capture
from embviz.training.distributed import Distributed
from embviz.training.model import TinyGPT

if TYPE_CHECKING:
    from embviz.training.loop import Session


class Recorder(Protocol):
    """What the loop tells as it trains (every rank calls it; what a rank keeps is the recorder's choice)."""

    def step(self, row: dict, loss: float) -> None:
        """After every optimiser step: its metrics row (step, epoch, loss, lr, tokens/s) and mean loss."""

    def snapshot(self, step: int, epoch: float, val_loss: float | None, model: TinyGPT) -> None:
        """At a snapshot step; ``val_loss`` is given at step 0 and at every epoch end."""

    def checkpoint(self, model: TinyGPT, optimizer: torch.optim.Optimizer, at: Position) -> None:
        """After step 0, every epoch end and a stop: where training could resume from."""

    def history(self) -> list[stopping.EpochRecord]:
        """The epoch records the settle rule decides on (read on rank 0)."""


class RunRecorder:
    """Writes a run: snapshots, metrics, checkpoints; keeps the settle rule's history of its epoch snapshots.

    The history is rebuilt from the run's own epoch snapshots, so a resumed run decides (and cools
    down) where the unbroken run did.
    """

    def __init__(self, run: Run, dist: Distributed, dtype: str, tokens_per_step: int, start: dict | None,
                 capture: Capture | None = None) -> None:
        self.run, self.dist, self.dtype, self.tokens_per_step = run, dist, dtype, tokens_per_step
        self.capture = capture
        self.rows: list[dict] = []
        self.losses: list[float] = list(start["losses_since_snapshot"]) if start else []
        self.watch = stopping.Watch.of_run(run) if dist.is_writer else None

    def step(self, row: dict, loss: float) -> None:
        self.rows.append(row)
        self.losses.append(loss)

    def snapshot(self, step: int, epoch: float, val_loss: float | None, model: TinyGPT) -> None:
        train_loss = float(np.mean(self.losses)) if self.losses else None
        self.losses.clear()
        if not self.dist.is_writer:
            return
        def saved(weight: torch.Tensor) -> np.ndarray:
            return weight.detach().float().cpu().numpy().astype(self.dtype)

        matrix = saved(model.embedding())
        others = {"position": saved(model.positions())}
        if model.head_matrix() is not None:
            others["head"] = saved(model.head_matrix())
        if self.capture is not None:
            others[PROBE] = self.capture(model).astype(self.dtype)
        snap = Snapshot(file=snapshot_name(step), step=step, epoch=round(epoch, 6),
                        tokens_seen=step * self.tokens_per_step, train_loss=train_loss, val_loss=val_loss)
        self.run.add_snapshot(matrix, snap, others)
        if val_loss is not None:
            self.watch.add(snap, matrix)

    def checkpoint(self, model: TinyGPT, optimizer: torch.optim.Optimizer, at: Position) -> None:
        if self.dist.is_writer:
            self.run.append_metrics(self.rows)
            checkpoint.save_checkpoint(self.run, checkpoint.state_of(model, optimizer, at, self.losses))
        self.rows.clear()

    def history(self) -> list[stopping.EpochRecord]:
        return self.watch.history if self.watch is not None else []


def write_new_run(run: Run, session: Session, corpus: Corpus, lexicon: Lexicon, min_count: int,
                  probe: Occurrences | None) -> None:
    """A new run's manifest (status ``running``), tokenizer, vocabulary and probe set, before its first step."""
    config, tokenizer = session.config, session.tokenizer
    run.write_manifest(RunManifest(
        status="running",
        config=asdict(config),
        chosen={**asdict(session.chosen), "min_count": min_count},
        model=session.model_cfg.to_json(),
        snapshot_matrix="token embedding (tied with the LM head)" if config.tie else "token embedding (input only; the LM head is separate)",
        corpus=CorpusInfo(name=corpus.name, source=corpus.source, sha256=corpus.sha256,
                          tokens=len(session.train_ids) + len(session.val_ids),
                          train_tokens=len(session.train_ids), val_tokens=len(session.val_ids)),
        steps_per_epoch=session.steps_per_epoch,
        total_steps=session.total_steps,
        world_size=session.dist.world,
        segmenter=tokenizer.segmenter,
        versions=_versions(tokenizer),
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    ))
    write_json(run.path / TOKENIZER_JSON, tokenizer.to_json())
    counts = np.bincount(np.concatenate([session.train_ids.numpy(), session.val_ids.numpy()]),
                         minlength=session.model_cfg.vocab_size)
    run.write_vocab(tokenizer.tokens, counts.tolist(), token_categories(tokenizer, lexicon))
    if probe is not None:
        run.probe_dir.mkdir(exist_ok=True)
        probe.write(run.probe_dir / OCCURRENCES_TSV)


def _versions(tokenizer) -> dict:
    import platform

    import embviz
    from embviz.text import chinese

    segmenter = {"jieba": chinese.segmenter_version()} if tokenizer.segmenter == "jieba" else {}
    return {"embviz": embviz.__version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version(), **segmenter}
