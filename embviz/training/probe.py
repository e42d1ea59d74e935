"""The probe: does a Word2Vec input layer help the run's own language model?

The run's TinyGPT is trained again with the run's config, seed, data order, schedule and number of
epochs (the same budget), with its token embedding initialised from the Word2Vec vectors and either
frozen or fine-tuned. The from-scratch arm is the run itself: its validation losses at step 0 and at
every epoch end, read from its snapshots. The probe reuses the training session of
:mod:`embviz.training.loop`: each arm runs through ``Session.run_epochs``, the loop ``embviz train`` runs,
so the arms differ only in the embedding; with no initial embedding it reproduces the run's own losses
exactly on CPU (tested).

When the head is tied to the embedding (the default) a frozen embedding is also a frozen output
layer: the model must predict with the Word2Vec vectors as its output word vectors too. That is
what "frozen" means here, stated in the report.

The Word2Vec matrix is multiplied by one scalar so that its RMS equals the RMS of the run's final
embedding (the scale the blocks and the tied head work at); a scalar changes no cosine, neighbour or
CKA. Nothing is written to the run.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from embviz.errors import RunError
from embviz.progress import Progress
from embviz.rundir.manifest import RunManifest
from embviz.rundir.run import Run


@dataclass
class ProbeArm:
    """Validation loss (nats/token) before training (index 0) and after each epoch."""

    name: str
    val_loss: list[float]
    seconds: float
    source: str
    embedding: np.ndarray | None = None
    """[V, d] the trained model's final token embedding (None for the run's own arm)."""


@dataclass
class _ValLosses:
    """The probe's recorder (:class:`embviz.training.record.Recorder`): keeps the validation losses, writes
    nothing, and hands the settle rule the run's own epoch history, so an arm cools down where the run did."""

    run_history: list
    val_loss: list[float] = field(default_factory=list)

    def step(self, row: dict, loss: float) -> None:
        pass

    def snapshot(self, step: int, epoch: float, val_loss: float | None, model) -> None:
        if val_loss is not None:
            self.val_loss.append(val_loss)

    def checkpoint(self, model, optimizer, at) -> None:
        pass

    def history(self) -> list:
        return self.run_history


def train_arm(run: Run, manifest: RunManifest, text: str, tokenizer, init: np.ndarray | None, *, freeze: bool,
              epochs: int, name: str, progress: Progress | None = None) -> ProbeArm:
    """Train the run's TinyGPT for ``epochs`` epochs with embedding ``init`` [V, d] (None: the run's own init),
    through the loop ``embviz train`` runs (:meth:`embviz.training.loop.Session.run_epochs`)."""
    import torch

    from embviz.training.loop import Session, TrainConfig
    from embviz.training.stopping import Watch

    try:
        config = TrainConfig(**manifest.config)
    except TypeError:
        raise RunError(f"{run.path / 'run.json'}: config is not one this version understands") from None
    session = Session.local(config, text, tokenizer)
    recorded = {k: v for k, v in (manifest.chosen or {}).items() if k != "min_count"}
    if recorded and asdict(session.chosen) != recorded:
        raise RunError(f"{run.path}: the run's training setup cannot be rebuilt exactly (chosen values differ)")
    t0 = time.perf_counter()
    model, optimizer = session.build(session.dist.device)  # the run's seeded init and optimiser groups
    if init is not None:
        if init.shape != tuple(model.tok.weight.shape):
            raise RunError(f"initial embedding has shape {init.shape}, the model needs {tuple(model.tok.weight.shape)}")
        with torch.no_grad():
            model.tok.weight.copy_(torch.from_numpy(np.ascontiguousarray(init, dtype=np.float32)))
    # A frozen weight gets no gradient, so AdamW leaves it (and its decay) alone.
    model.tok.weight.requires_grad_(not freeze)
    recorder = _ValLosses(Watch.of_run(run).history)
    session.run_epochs(model, optimizer, recorder, progress and (lambda s: progress(name, s.step, s.total_steps)),
                       epochs=epochs)
    return ProbeArm(name=name, val_loss=recorder.val_loss, seconds=time.perf_counter() - t0,
                    source="trained by the probe", embedding=model.tok.weight.detach().float().cpu().numpy())


def scratch_arm(run: Run) -> ProbeArm:
    """The run's own validation losses: step 0 and every epoch end (snapshots that carry a val loss)."""
    losses = [s.val_loss for s in run.snapshots() if s.val_loss is not None]
    if len(losses) < 2:
        raise RunError(f"{run.path} records no per-epoch validation loss; the probe has nothing to compare with")
    return ProbeArm(name="scratch", val_loss=[float(v) for v in losses], seconds=0.0,
                    source="the run's own snapshots (embedding learned from scratch)")


def run_probe(run: Run, manifest: RunManifest, text: str, tokenizer, word2vec: np.ndarray, lm_final: np.ndarray, *,
              finetune: bool = False, word2vec_epochs: int | None = None, progress: Progress | None = None) -> dict:
    """Scratch (the run) vs Word2Vec-initialised frozen (and fine-tuned) embeddings, same budget and seed.

    Returns the ``probe`` section of the report (see docs/compare-word2vec.md).
    """
    scratch = scratch_arm(run)
    epochs = len(scratch.val_loss) - 1
    rms_w2v = float(np.sqrt(np.mean(np.square(word2vec, dtype=np.float64))))
    rms_lm = float(np.sqrt(np.mean(np.square(lm_final, dtype=np.float64))))
    scale = rms_lm / rms_w2v if rms_w2v > 0 else 1.0
    init = (word2vec * scale).astype(np.float32)
    arms = [scratch, train_arm(run, manifest, text, tokenizer, init, freeze=True, epochs=epochs,
                               name="word2vec_frozen", progress=progress)]
    if finetune:
        arms.append(train_arm(run, manifest, text, tokenizer, init, freeze=False, epochs=epochs,
                              name="word2vec_finetune", progress=progress))
    tied = manifest.tied
    final = {a.name: a.val_loss[-1] for a in arms}
    ranked = sorted(final, key=lambda n: final[n])
    winner, runner_up = ranked[0], ranked[1]
    margin = final[runner_up] - final[winner]
    return {
        "epochs": epochs,
        "head": ("tied: freezing the embedding also freezes the output layer" if tied
                 else "untied: only the input embedding is frozen; the output layer trains"),
        "init_scale": {"factor": scale, "rms_word2vec": rms_w2v, "rms_lm_final": rms_lm,
                       "rule": "Word2Vec vectors times one scalar so their RMS equals the run's final embedding's"},
        "arms": {a.name: {"val_loss": a.val_loss, "seconds": round(a.seconds, 3), "source": a.source} for a in arms},
        "final_val_loss": final,
        "winner": winner,
        "margin_nats": margin,
        "verdict": _verdict(final, winner, runner_up, margin, epochs) + (
            f" The Word2Vec arms also had Word2Vec's own training ({word2vec_epochs} epoch(s) over the corpus), "
            "which this budget does not count." if word2vec_epochs else ""),
    }


def _verdict(final: dict[str, float], winner: str, runner_up: str, margin: float, epochs: int) -> str:
    names = {"scratch": "the embedding learned from scratch",
             "word2vec_frozen": "the frozen Word2Vec embedding",
             "word2vec_finetune": "the Word2Vec-initialised, fine-tuned embedding"}
    parts = ", ".join(f"{names[n]} {v:.4f}" for n, v in final.items())
    return (f"After {epochs} epoch(s), {names[winner]} gave the lowest validation loss, "
            f"{margin:.4f} nats/token below {names[runner_up]} (perplexity {math.exp(final[winner]):.2f} vs "
            f"{math.exp(final[runner_up]):.2f}). Final validation losses: {parts}. One seed, so differences of "
            "a few thousandths of a nat may be noise.")
