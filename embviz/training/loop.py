"""Training TinyGPT while filming its token embedding: snapshots, checkpoints, resume, DDP.

``train(config, out)`` starts a run, ``resume(run_dir)`` continues one. Both return a
:class:`TrainResult`. Under ``torchrun`` the same calls use DistributedDataParallel (``gloo`` on
CPU, ``nccl`` on CUDA); every rank trains on its share of each global batch and only rank 0 writes.
"""

from __future__ import annotations

import contextlib
import math
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.nn import functional as F

from embviz.errors import ConfigError, CorpusError, RunError
from embviz.rundir.files import read_json, write_json
from embviz.rundir.manifest import CorpusInfo, RunManifest
from embviz.rundir.run import RUN_JSON, TOKENIZER_JSON, Run, Snapshot, snapshot_name
from embviz.text.corpus import Corpus, check_sha256, load_corpus
from embviz.text.lexicon import PURITY_LEVEL, Lexicon, at_level, token_categories
from embviz.text.tokenizer import Tokenizer, build_tokenizer, count_words
from embviz.training import checkpoint, defaults, stopping
from embviz.training.config import TrainConfig
from embviz.training.data import VAL_PARTS, epoch_windows, split_validation
from embviz.training.distributed import Distributed, StopFlag, pick_device
from embviz.training.model import ModelConfig, TinyGPT
from embviz.training.summary import TrainResult, TrainStatus, jsonable, summarize

__all__ = ["LR_FLOOR", "VAL_PARTS", "Session", "TrainConfig", "TrainResult", "TrainStatus", "epoch_windows",
           "resume", "split_validation", "train"]


OnStep = Callable[[TrainStatus], None]
"""on_step(status) after every step: the loss and speed that train's bar shows (where :data:`embviz.progress.Progress` has only counts)."""


# -- public entry points --------------------------------------------------------------------------


def train(config: TrainConfig, out: Path | str, *, overwrite: bool = False,
          progress: OnStep | None = None) -> TrainResult:
    """Train a new run into ``out`` (refused if it exists, unless ``overwrite``).

    Under ``torchrun`` every rank calls this; each reads the corpus itself, only rank 0 creates, locks
    and writes ``out``. An error on any rank stops every rank with that error.
    """
    config.validate()
    dist = Distributed.start(config.device)
    try:
        def prepare() -> tuple:
            corpus, lexicon, min_count, tokenizer = _inputs(config)
            return corpus, lexicon, min_count, Session.prepare(config, corpus, tokenizer, dist)

        corpus, lexicon, min_count, session = dist.agree(prepare)
        with contextlib.ExitStack() as held:
            def create() -> None:
                run = Run.create(Path(out), overwrite=overwrite)
                held.enter_context(run.lock())
                session.write_new_run(run, corpus, lexicon, min_count)

            dist.on_writer(create)
            return session.loop(Run(Path(out)), lexicon, progress, start=None)
    finally:
        dist.stop()


def resume(run_dir: Path | str, *, progress: OnStep | None = None) -> TrainResult:
    """Continue an interrupted (or killed) run from its last checkpoint; the result equals an unbroken run.

    A run killed before its first checkpoint starts again from step 0. Under ``torchrun`` only rank 0
    needs to see ``run_dir`` (it sends the config and checkpoint to the others), so a multi-node job
    resumes without a shared file system; the corpus must be readable on every node, as for ``train``.
    """
    run_dir = Path(run_dir)
    dist = Distributed.start(None)
    try:
        with contextlib.ExitStack() as held:
            def open_run() -> tuple:
                run = Run.open(run_dir)
                where = run.path / RUN_JSON
                manifest = run.manifest()
                if manifest.status == "complete":
                    raise RunError(f"{run.path} is already complete; nothing to resume")
                config = TrainConfig.from_json(manifest.config, where)
                if manifest.corpus is None or manifest.corpus.sha256 is None:
                    raise RunError(f"{where}: 'corpus' must be an object with the corpus 'sha256'")
                has_checkpoint = run.checkpoint_path.is_file()
                if has_checkpoint:  # what is kept must be whole: refuse a damaged run before changing it
                    run.check_snapshots(rows=len(run.vocab()[0]))
                    run.metrics()
                held.enter_context(run.lock())
                run.remove_temp_files()
                state = checkpoint.load_checkpoint(run.checkpoint_path) if has_checkpoint else None
                tokenizer = read_json(run.path / TOKENIZER_JSON) if state is not None else None
                return asdict(config), manifest.corpus.sha256, tokenizer, state

            config_json, sha256, tokenizer_json, state = dist.on_writer(open_run)
            config = TrainConfig(**config_json)
            dist.use(config.device)

            def prepare() -> tuple:
                corpus, lexicon, min_count, tokenizer = _inputs(config, tokenizer_json)
                check_sha256(corpus, sha256)
                session = Session.prepare(config, corpus, tokenizer, dist)
                if state is not None:
                    session.check_checkpoint(state, Run(run_dir).checkpoint_path)
                return corpus, lexicon, min_count, session

            corpus, lexicon, min_count, session = dist.agree(prepare)

            def rewind() -> None:
                run = Run(run_dir)
                if state is None:  # killed before the first checkpoint: start again from step 0
                    run.truncate_snapshots(after_step=-1)
                    run.write_metrics([])
                    session.write_new_run(run, corpus, lexicon, min_count)
                else:
                    run.truncate_snapshots(after_step=state["step"])
                    run.write_metrics([r for r in run.metrics() if r["step"] <= state["step"]])
                    run.set_status("running")

            dist.on_writer(rewind)
            return session.loop(Run(run_dir), lexicon, progress, start=state)
    finally:
        dist.stop()


def _inputs(config: TrainConfig, tokenizer_json: Any = None) -> tuple[Corpus, Lexicon, int, Tokenizer]:
    """The corpus, lexicon, min count and tokenizer of a run (the tokenizer rebuilt from JSON if given)."""
    corpus = load_corpus(config.corpus, synthetic_tokens=config.synthetic_tokens, seed=config.seed,
                         difficulty=config.difficulty, max_tokens=config.max_tokens)
    lexicon = Lexicon.from_tsv(Path(config.categories)) if config.categories else corpus.categories or Lexicon.builtin()
    min_count = config.min_count or defaults.min_count_for(
        count_words(corpus.text, config.tokenizer, lowercase=config.lowercase, segmenter=config.segmenter))
    if tokenizer_json is not None:
        tokenizer = Tokenizer.from_json(tokenizer_json)
    else:
        tokenizer = build_tokenizer(corpus.text, config.tokenizer, lowercase=config.lowercase,
                                    min_count=min_count, max_vocab=config.max_vocab, vocab_size=config.vocab_size,
                                    segmenter=config.segmenter)
    return corpus, lexicon, min_count, tokenizer


# -- the session: data, model, optimiser, loop -----------------------------------------------------


LR_FLOOR = 0.1
"""Where the learning-rate schedule ends, as a share of the peak: the cosine's end and the cooldown's."""


@dataclass
class Session:
    """One run's training: its data split, chosen values, model builder, schedule and step.

    :func:`train` and :func:`resume` drive it over a run directory; the probe of
    ``compare-word2vec`` drives it directly (:meth:`local`) to retrain a run with another embedding.
    """

    config: TrainConfig
    chosen: defaults.Chosen
    model_cfg: ModelConfig
    train_ids: torch.Tensor
    val_ids: torch.Tensor
    steps_per_epoch: int
    tokenizer: Tokenizer
    dist: Distributed
    epoch_starts: tuple[int, np.ndarray] | None = field(default=None, repr=False)
    """The last epoch's window starts, ``(epoch, epoch_windows(...))``: computed once per epoch."""
    settle: tuple[int, str] | None = None
    """The epoch end at which the map settled and why (:meth:`settled_in`); the next epoch cools down."""

    @classmethod
    def prepare(cls, config: TrainConfig, corpus: Corpus, tokenizer: Tokenizer, dist: Distributed) -> "Session":
        ids = torch.from_numpy(tokenizer.encode(corpus.text))
        train_ids, val_ids = split_validation(ids, config.val_fraction, config.context)
        if len(train_ids) < config.context + 1:
            raise CorpusError(f"the corpus has {len(ids)} tokens: too short for a context of {config.context} "
                              "plus a validation split (give more text or a smaller --context)")
        chosen = defaults.choose(
            n_train_tokens=len(train_ids), context=config.context, d_model=config.d_model, layers=config.layers,
            heads=config.heads, epochs=config.epochs, lr=config.lr, warmup=config.warmup,
            batch_size=config.batch_size, vocab_size=len(tokenizer), patience=config.patience)
        if chosen.batch_size % dist.world:
            raise ConfigError(f"--batch-size {chosen.batch_size} must divide evenly over {dist.world} processes")
        model_cfg = ModelConfig(vocab_size=len(tokenizer), d_model=chosen.d_model, layers=chosen.layers,
                                heads=chosen.heads, context=config.context, dropout=config.dropout, tie=config.tie)
        windows = (len(train_ids) - 1) // config.context
        return cls(config, chosen, model_cfg, train_ids, val_ids, windows // chosen.batch_size, tokenizer, dist)

    @classmethod
    def local(cls, config: TrainConfig, text: str, tokenizer: Tokenizer) -> "Session":
        """A one-process session over ``text`` on ``config.device``, as the run was prepared."""
        dist = Distributed(0, 1, pick_device(config.device))
        return cls.prepare(config, Corpus(name="run", source="run", text=text), tokenizer, dist)

    def build(self, device: torch.device) -> tuple[TinyGPT, torch.optim.Optimizer]:
        """The model (seeded init, head bias at the training text's unigram prior) and its AdamW
        optimiser (no decay on biases and norms)."""
        torch.manual_seed(self.config.seed)
        model = TinyGPT(self.model_cfg).to(device)
        model.set_unigram_prior(torch.bincount(self.train_ids, minlength=self.model_cfg.vocab_size))
        decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
        no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
        optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": self.config.weight_decay},
                                       {"params": no_decay, "weight_decay": 0.0}], lr=self.chosen.lr,
                                      betas=(0.9, 0.95))
        return model, optimizer

    @staticmethod
    def restore(model: TinyGPT, optimizer: torch.optim.Optimizer, state: dict, where: Path) -> None:
        """Load a checkpoint's model, optimiser and RNG; a mismatch is a one-line :class:`RunError`."""
        try:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            torch.set_rng_state(state["rng"])
        except (RuntimeError, ValueError, KeyError, TypeError, IndexError, AttributeError) as e:
            detail = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
            raise RunError(f"{where} does not match this run's model ({detail})") from None

    def check_checkpoint(self, state: dict, where: Path) -> None:
        """Refuse a checkpoint that does not fit this run, before anything in the run is changed."""
        self.check_position(state, where)
        rng = torch.get_rng_state()
        try:
            model, optimizer = self.build(torch.device("cpu"))
            self.restore(model, optimizer, state, where)
        finally:
            torch.set_rng_state(rng)

    def check_position(self, state: dict, where: Path) -> None:
        """Refuse a checkpoint whose step/epoch/batch do not fit this run's schedule."""
        step, epoch, batch = state["step"], state["epoch"], state["batch"]
        if not (0 <= epoch <= self.chosen.epochs and 0 <= batch < max(1, self.steps_per_epoch)
                and step == epoch * self.steps_per_epoch + batch and step <= self.total_steps):
            raise RunError(f"{where}: the checkpoint's position (step {step}, epoch {epoch}, batch {batch}) "
                           "does not fit this run")

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.chosen.epochs

    def lr_at(self, step: int) -> float:
        """Linear warmup to ``lr`` then cosine decay to :data:`LR_FLOOR` of it, as a function of the step;
        once the map has settled (:attr:`settle`), a straight fall to that floor over the next epoch."""
        if self.settle is not None and step >= (cool := self.settle[0] * self.steps_per_epoch):
            start, done = self.lr_at(cool - 1), min(1.0, (step - cool + 1) / self.steps_per_epoch)
            return start + (LR_FLOOR * self.chosen.lr - start) * done
        peak, warm, total = self.chosen.lr, self.chosen.warmup, self.total_steps
        if step < warm:
            return peak * (step + 1) / warm
        progress = min(1.0, (step - warm) / max(1, total - warm))
        return peak * (LR_FLOOR + (1 - LR_FLOOR) * 0.5 * (1 + math.cos(math.pi * progress)))

    def settled_in(self, history: list[stopping.EpochRecord]) -> tuple[int, str] | None:
        """Where the map settled in ``history`` and why, for a run that stops when it settles; only an
        epoch end that leaves an epoch of the budget to cool down in counts."""
        return stopping.first_settled(history, self.chosen.epochs - 1) if self.config.stop_when_settled else None

    def snapshot_steps(self) -> set[int]:
        """Steps after which the embedding is saved: 0, every epoch end, and the optional schedules."""
        total, per_epoch = self.total_steps, self.steps_per_epoch
        steps = {0} | {e * per_epoch for e in range(1, self.chosen.epochs + 1)}
        if self.config.snapshot_every:
            steps |= set(range(self.config.snapshot_every, total + 1, self.config.snapshot_every))
        if self.config.snapshot_schedule == "log":
            steps |= {int(s) for s in np.unique(np.round(np.geomspace(1, total, self.config.log_snapshots)))}
        return steps

    def batch_windows(self, epoch: int, batch: int) -> torch.Tensor:
        """This rank's window starts for one global batch; they depend only on seed and epoch."""
        if self.epoch_starts is None or self.epoch_starts[0] != epoch:
            self.epoch_starts = (epoch, epoch_windows(len(self.train_ids), self.config.context, self.config.seed, epoch))
        size = self.chosen.batch_size
        starts = self.epoch_starts[1][batch * size:(batch + 1) * size]
        share = size // self.dist.world
        return torch.from_numpy(starts[self.dist.rank * share:(self.dist.rank + 1) * share])

    def write_new_run(self, run: Run, corpus: Corpus, lexicon: Lexicon, min_count: int) -> None:
        run.write_manifest(RunManifest(
            status="running",
            config=asdict(self.config),
            chosen={**asdict(self.chosen), "min_count": min_count},
            model=self.model_cfg.to_json(),
            snapshot_matrix="token embedding (tied with the LM head)" if self.config.tie else "token embedding (input only; the LM head is separate)",
            corpus=CorpusInfo(name=corpus.name, source=corpus.source, sha256=corpus.sha256,
                              tokens=len(self.train_ids) + len(self.val_ids),
                              train_tokens=len(self.train_ids), val_tokens=len(self.val_ids)),
            steps_per_epoch=self.steps_per_epoch,
            total_steps=self.total_steps,
            world_size=self.dist.world,
            segmenter=self.tokenizer.segmenter,
            versions=_versions(self.tokenizer),
            created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        ))
        write_json(run.path / TOKENIZER_JSON, self.tokenizer.to_json())
        counts = np.bincount(np.concatenate([self.train_ids.numpy(), self.val_ids.numpy()]),
                             minlength=self.model_cfg.vocab_size)
        run.write_vocab(self.tokenizer.tokens, counts.tolist(), token_categories(self.tokenizer, lexicon))

    def loop(self, run: Run, lexicon: Lexicon, progress: OnStep | None, start: dict | None) -> TrainResult:
        cfg, dist = self.config, self.dist
        model, optimizer = self.build(dist.device)
        step, epoch, batch = 0, 0, 0
        pending_rows: list[dict] = []
        losses_since_snapshot: list[float] = []
        if start is not None:
            self.restore(model, optimizer, start, run.checkpoint_path)
            step, epoch, batch = start["step"], start["epoch"], start["batch"]
            losses_since_snapshot.extend(start["losses_since_snapshot"])
        wrapped = dist.wrap(model)
        forward = torch.compile(wrapped) if cfg.compile else wrapped
        labels = [at_level(c, PURITY_LEVEL) for c in (run.vocab()[2] if dist.is_writer else [])]
        snap_steps = self.snapshot_steps()
        tokens_per_step = self.chosen.batch_size * cfg.context
        best = (start or {}).get("best", {"step": None, "val": math.inf, "since": 0})
        t_start, tokens_timed, time_timed = time.perf_counter(), 0, 0.0
        stop = StopFlag()
        stop_reason: str | None = None
        # The settle rule's history, rebuilt from the run's own epoch snapshots (so --resume decides
        # as an unbroken run, and cools down where it did); rank 0 keeps it and tells the other ranks.
        watch = stopping.Watch.of_run(run) if dist.is_writer else None

        def check_settled() -> None:
            if self.settle is None:
                self.settle = dist.on_writer(lambda: self.settled_in(watch.history))

        def save_snapshot(at_step: int, epoch_float: float, val_loss: float | None) -> None:
            train_loss = float(np.mean(losses_since_snapshot)) if losses_since_snapshot else None
            losses_since_snapshot.clear()
            if not dist.is_writer:
                return
            matrix = model.embedding().detach().float().cpu().numpy().astype(cfg.snapshot_dtype)
            snap = Snapshot(file=snapshot_name(at_step), step=at_step, epoch=round(epoch_float, 6),
                            tokens_seen=at_step * tokens_per_step, train_loss=train_loss, val_loss=val_loss)
            run.add_snapshot(matrix, snap)
            if val_loss is not None:
                watch.add(snap, matrix)

        def save_checkpoint() -> None:
            if dist.is_writer:
                run.append_metrics(pending_rows)
                pending_rows.clear()
                state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                         "rng": torch.get_rng_state(), "step": step, "epoch": epoch, "batch": batch, "best": best,
                         "losses_since_snapshot": list(losses_since_snapshot)}
                checkpoint.save_checkpoint(run, state)

        if start is None:
            save_snapshot(0, 0.0, self.evaluate(model))
            save_checkpoint()
        check_settled()
        with stop.catch_signals():
            while epoch < self.chosen.epochs and not stop.requested(dist):
                model.train()
                while batch < self.steps_per_epoch:
                    t0 = time.perf_counter()
                    loss = dist.mean(self.step(forward, optimizer, epoch, batch, step))
                    dt = time.perf_counter() - t0
                    step, batch = step + 1, batch + 1
                    tokens_timed += tokens_per_step
                    time_timed += dt
                    losses_since_snapshot.append(loss)
                    tps = tokens_per_step / dt if dt > 0 else 0.0
                    pending_rows.append({"step": step, "epoch": round(epoch + batch / self.steps_per_epoch, 6),
                                         "loss": round(loss, 6), "lr": self.lr_at(step - 1),
                                         "tokens_per_s": round(tps, 1)})
                    if progress and dist.is_writer:
                        progress(TrainStatus(step, self.total_steps, epoch + 1, self.chosen.epochs, loss,
                                             tokens_timed / time_timed))
                    epoch_float = epoch + batch / self.steps_per_epoch
                    if batch == self.steps_per_epoch:
                        break
                    if step in snap_steps:
                        save_snapshot(step, epoch_float, None)
                    if stop.requested(dist):
                        break
                if batch == self.steps_per_epoch:
                    val = self.evaluate(model)
                    epoch, batch = epoch + 1, 0
                    if val < best["val"]:
                        best = {"step": step, "val": val, "since": 0}
                    else:
                        best = {**best, "since": best["since"] + 1}
                    save_snapshot(step, float(epoch), val)
                    save_checkpoint()
                    check_settled()
                    if self.chosen.patience and best["since"] >= self.chosen.patience:
                        stop_reason = f"patience: no better validation loss for {best['since']} epochs"
                    elif self.settle is not None and epoch == self.settle[0] + 1:
                        stop_reason = f"{self.settle[1]}; cooled down over epoch {epoch}"
                    if stop_reason:
                        break
                else:  # stopped mid-epoch by a signal
                    if step not in snap_steps:
                        save_snapshot(step, epoch + batch / self.steps_per_epoch, None)
                    save_checkpoint()
        status = "complete" if epoch >= self.chosen.epochs or stop_reason else "interrupted"
        result = summarize(run, dist.is_writer, self.chosen, labels, status, step, epoch, best, stop_reason,
                           tokens_timed, time_timed, time.perf_counter() - t_start)
        # A collective: no rank leaves (and tears down the process group) while rank 0 still writes.
        dist.on_writer(lambda: run.set_status(status, result=jsonable(result)))
        return result

    def step(self, forward: torch.nn.Module, optimizer: torch.optim.Optimizer, epoch: int, batch: int,
             step: int) -> float:
        """One optimiser step on one global batch; returns the mean loss of this rank's share."""
        starts = self.batch_windows(epoch, batch)
        offsets = torch.arange(self.config.context + 1)
        chunk = self.train_ids[starts[:, None] + offsets].to(self.dist.device, non_blocking=True)
        for group in optimizer.param_groups:
            group["lr"] = self.lr_at(step)
        with self.dist.autocast():
            logits = forward(chunk[:, :-1])
            loss = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), chunk[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    @torch.no_grad()
    def evaluate(self, model: TinyGPT, max_windows: int = 256) -> float:
        """Mean validation cross-entropy over up to ``max_windows`` contiguous windows."""
        model.eval()
        ctx = self.config.context
        n = min(max_windows, max(1, (len(self.val_ids) - 1) // ctx))
        starts = (torch.arange(n) * ctx)[self.dist.rank::self.dist.world]  # each rank scores its share
        chunk = self.val_ids[starts[:, None] + torch.arange(ctx + 1)].to(self.dist.device)
        total = 0.0
        for part in chunk.split(64):
            with self.dist.autocast():
                logits = model(part[:, :-1])
            total += float(F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), part[:, 1:].reshape(-1),
                                           reduction="sum"))
        model.train()
        return self.dist.sum(total) / (n * ctx)  # the same value on every rank, so all agree on patience

def _versions(tokenizer: Tokenizer) -> dict:
    import embviz
    from embviz.text import chinese

    segmenter = {"jieba": chinese.segmenter_version()} if tokenizer.segmenter == "jieba" else {}
    return {"embviz": embviz.__version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version(), **segmenter}
