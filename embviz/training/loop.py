"""Training TinyGPT while filming its token embedding: snapshots, checkpoints, resume, DDP.

``train(config, out)`` starts a run, ``resume(run_dir)`` continues one. Both return a
:class:`TrainResult`. Under ``torchrun`` the same calls use DistributedDataParallel (``gloo`` on
CPU, ``nccl`` on CUDA); every rank trains on its share of each global batch and only rank 0 writes.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.nn import functional as F

from embviz.errors import ConfigError, CorpusError, RunError
from embviz.rundir.files import read_json
from embviz.rundir.occurrences import Occurrences
from embviz.rundir.run import OCCURRENCES_TSV, RUN_JSON, TOKENIZER_JSON, Run
from embviz.text.corpus import Corpus, check_sha256, load_corpus
from embviz.text.lexicon import PURITY_LEVEL, Lexicon, at_level, token_categories
from embviz.text.tokenizer import Tokenizer, build_tokenizer, count_words
from embviz.training import checkpoint, contextual, defaults, stopping
from embviz.training.checkpoint import Position
from embviz.training.config import TrainConfig
from embviz.training.data import VAL_PARTS, epoch_windows, split_validation
from embviz.training.distributed import Distributed, StopFlag, pick_device
from embviz.training.model import ModelConfig, TinyGPT
from embviz.training.record import Recorder, RunRecorder, write_new_run
from embviz.training.summary import TrainResult, TrainStatus, jsonable, summarize

__all__ = ["LR_FLOOR", "VAL_PARTS", "Session", "TrainConfig", "TrainResult", "TrainStatus", "epoch_windows",
           "resume", "split_validation", "train"]


_BUILDING = threading.Lock()

OnStep = Callable[[TrainStatus], None]
"""on_step(status) after every step: the loss and speed that train's bar shows (where :data:`embviz.progress.Progress` has only counts)."""


# -- public entry points --------------------------------------------------------------------------


def train(config: TrainConfig, out: Path | str, *, overwrite: bool = False,
          progress: OnStep | None = None, stop: StopFlag | None = None) -> TrainResult:
    """Train a new run into ``out`` (refused if it exists, unless ``overwrite``). ``stop`` asks for a stop from
    another thread (``stop.was_requested = True``; SIGINT/SIGTERM do it in the main thread), as Ctrl-C does.

    Under ``torchrun`` every rank calls this; each reads the corpus itself, only rank 0 creates, locks
    and writes ``out``. An error on any rank stops every rank with that error.
    """
    config.validate()
    dist = Distributed.start(config.device)
    try:
        def prepare() -> tuple:
            corpus, lexicon, min_count, tokenizer = _inputs(config)
            session = Session.prepare(config, corpus, tokenizer, dist)
            return corpus, lexicon, min_count, session, _probe_set(session, corpus, lexicon)

        corpus, lexicon, min_count, session, probe = dist.agree(prepare)
        with contextlib.ExitStack() as held:
            def create() -> None:
                run = Run.create(Path(out), overwrite=overwrite)
                held.enter_context(run.lock())
                write_new_run(run, session, corpus, lexicon, min_count, probe)

            dist.on_writer(create)
            return _train_run(session, Run(Path(out)), lexicon, progress, start=None, probe=probe, stop=stop)
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
                probed = state is None or (run.probe_dir / OCCURRENCES_TSV).is_file()  # runs before the probe: none
                return asdict(config), manifest.corpus.sha256, tokenizer, state, probed

            config_json, sha256, tokenizer_json, state, probed = dist.on_writer(open_run)
            config = TrainConfig(**config_json)
            dist.use(config.device)

            def prepare() -> tuple:
                corpus, lexicon, min_count, tokenizer = _inputs(config, tokenizer_json)
                check_sha256(corpus, sha256)
                session = Session.prepare(config, corpus, tokenizer, dist)
                if state is not None:
                    session.check_checkpoint(state, Run(run_dir).checkpoint_path)
                return corpus, lexicon, min_count, session, _probe_set(session, corpus, lexicon) if probed else None

            corpus, lexicon, min_count, session, probe = dist.agree(prepare)

            def rewind() -> None:
                run = Run(run_dir)
                if state is None:  # killed before the first checkpoint: start again from step 0
                    run.truncate_snapshots(after_step=-1)
                    run.write_metrics([])
                    write_new_run(run, session, corpus, lexicon, min_count, probe)
                else:
                    run.truncate_snapshots(after_step=state["step"])
                    run.write_metrics([r for r in run.metrics() if r["step"] <= state["step"]])
                    run.set_status("running")

            dist.on_writer(rewind)
            return _train_run(session, Run(run_dir), lexicon, progress, start=state, probe=probe)
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


def _probe_set(session: "Session", corpus: Corpus, lexicon: Lexicon) -> Occurrences | None:
    """The run's probe set: None with ``--no-probe``, or where no word qualifies (a corpus without categories
    whose tokens are characters, say); an unknown ``--probe-words`` word is a ConfigError."""
    config, tokenizer = session.config, session.tokenizer
    if not config.probe:
        return None
    ids = tokenizer.encode(corpus.text)
    words = [w.strip() for w in (config.probe_words or "").split(",") if w.strip()]
    chosen = contextual.choose(
        ids, tokenizer.tokens, token_categories(tokenizer, lexicon), context=config.context,
        val_fraction=config.val_fraction, seed=config.seed, words=words,
        senses=contextual.senses_of(corpus.senses, ids, tokenizer.tokens, lexicon.ambiguous))
    return chosen if len(chosen.token_ids) else None


def _train_run(session: "Session", run: Run, lexicon: Lexicon, progress: OnStep | None,
               start: dict | None, probe: Occurrences | None, stop: StopFlag | None = None) -> TrainResult:
    """Train ``session`` into ``run`` from the checkpoint ``start`` (None: step 0), and record its result;
    ``probe``'s contextual vectors are saved at every snapshot."""
    dist = session.dist
    model, optimizer = session.build(dist.device)
    if start is not None:
        checkpoint.restore(model, optimizer, start, run.checkpoint_path)
    labels = [at_level(c, PURITY_LEVEL) for c in (run.vocab()[2] if dist.is_writer else [])]
    capture = contextual.Capture(probe, session.val_ids, session.config.context, dist.device) \
        if probe is not None and dist.is_writer else None
    recorder = RunRecorder(run, dist, session.config.snapshot_dtype, session.tokens_per_step, start, capture)
    t_start, stop = time.perf_counter(), stop or StopFlag()
    with stop.catch_signals():
        ended = session.run_epochs(model, optimizer, recorder, progress, start and Position.of(start), stop=stop)
    at = ended.at
    status = "complete" if at.epoch >= session.chosen.epochs or ended.stop_reason else "interrupted"
    result = summarize(run, dist.is_writer, session.chosen, labels, status, at.step, at.epoch, at.best,
                       ended.stop_reason, ended.tokens_timed, ended.seconds_timed, time.perf_counter() - t_start)
    # A collective: no rank leaves (and tears down the process group) while rank 0 still writes.
    dist.on_writer(lambda: run.set_status(status, result=jsonable(result)))
    return result


# -- the session: data, model, optimiser, loop -----------------------------------------------------


@dataclass
class Ended:
    """Where :meth:`Session.run_epochs` ended, why it stopped early (None: it did not), and its timed steps."""

    at: Position
    stop_reason: str | None = None
    tokens_timed: int = 0
    seconds_timed: float = 0.0


LR_FLOOR = 0.1
"""Where the learning-rate schedule ends, as a share of the peak: the cosine's end and the cooldown's."""


@dataclass
class Session:
    """One run's training: its data split, chosen values, model builder, schedule, step and loop.

    :func:`train` and :func:`resume` run its loop (:meth:`run_epochs`) into a run directory; the probe
    of ``compare-word2vec`` runs the same loop on a :meth:`local` session to retrain a run with another
    embedding.
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
        optimiser (no decay on biases and norms). One build at a time in a process: the init draws from torch's
        global generator, and a run training in a background thread (a notebook's) builds beside others."""
        with _BUILDING:
            torch.manual_seed(self.config.seed)
            model = TinyGPT(self.model_cfg).to(device)
        model.set_unigram_prior(torch.bincount(self.train_ids, minlength=self.model_cfg.vocab_size))
        decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
        no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
        optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": self.config.weight_decay},
                                       {"params": no_decay, "weight_decay": 0.0}], lr=self.chosen.lr,
                                      betas=(0.9, 0.95))
        return model, optimizer

    def check_checkpoint(self, state: dict, where: Path) -> None:
        """Refuse a checkpoint that does not fit this run, before anything in the run is changed."""
        self.check_position(state, where)
        rng = torch.get_rng_state()
        try:
            model, optimizer = self.build(torch.device("cpu"))
            checkpoint.restore(model, optimizer, state, where)
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

    @property
    def tokens_per_step(self) -> int:
        return self.chosen.batch_size * self.config.context

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

    def run_epochs(self, model: TinyGPT, optimizer: torch.optim.Optimizer, recorder: Recorder,
                   progress: OnStep | None = None, start: Position | None = None, *, epochs: int | None = None,
                   stop: StopFlag | None = None) -> Ended:
        """Train ``model`` from ``start`` (None: step 0, recording the untrained embedding first), telling
        ``recorder``, to the end of ``epochs`` epochs (None: the run's budget, ended early by patience or
        the settle rule) or until ``stop`` is requested."""
        cfg, dist, per_epoch = self.config, self.dist, self.steps_per_epoch
        last = self.chosen.epochs if epochs is None else epochs
        forward = dist.wrap(model)
        forward = torch.compile(forward) if cfg.compile else forward
        snap_steps = self.snapshot_steps()
        at = start or Position()
        ended = Ended(at)
        if start is None:
            recorder.snapshot(0, 0.0, self.evaluate(model), model)
            recorder.checkpoint(model, optimizer, at)
        self._check_settled(recorder)
        while at.epoch < last and not (stop and stop.requested(dist)):
            model.train()
            while at.batch < per_epoch:
                t0 = time.perf_counter()
                loss = dist.mean(self.step(forward, optimizer, at.epoch, at.batch, at.step))
                dt = time.perf_counter() - t0
                at.step, at.batch = at.step + 1, at.batch + 1
                ended.tokens_timed += self.tokens_per_step
                ended.seconds_timed += dt
                epoch_float = at.epoch + at.batch / per_epoch
                recorder.step({"step": at.step, "epoch": round(epoch_float, 6), "loss": round(loss, 6),
                               "lr": self.lr_at(at.step - 1),
                               "tokens_per_s": round(self.tokens_per_step / dt if dt > 0 else 0.0, 1)}, loss)
                if progress and dist.is_writer:
                    progress(TrainStatus(at.step, last * per_epoch, at.epoch + 1, last, loss,
                                         ended.tokens_timed / ended.seconds_timed))
                if at.batch == per_epoch:
                    break
                if at.step in snap_steps:
                    recorder.snapshot(at.step, epoch_float, None, model)
                if stop and stop.requested(dist):
                    break
            if at.batch < per_epoch:  # stopped mid-epoch
                if at.step not in snap_steps:
                    recorder.snapshot(at.step, at.epoch + at.batch / per_epoch, None, model)
                recorder.checkpoint(model, optimizer, at)
                break
            val = self.evaluate(model)
            at.epoch, at.batch = at.epoch + 1, 0
            since = at.best["since"] + 1
            at.best = {"step": at.step, "val": val, "since": 0} if val < at.best["val"] else {**at.best, "since": since}
            recorder.snapshot(at.step, float(at.epoch), val, model)
            recorder.checkpoint(model, optimizer, at)
            self._check_settled(recorder)
            ended.stop_reason = self._stop_reason(at) if epochs is None else None
            if ended.stop_reason:
                break
        return ended

    def _check_settled(self, recorder: Recorder) -> None:
        """Rank 0 decides from the recorder's epoch history whether the map settled, and tells the others."""
        if self.settle is None:
            self.settle = self.dist.on_writer(lambda: self.settled_in(recorder.history()))

    def _stop_reason(self, at: Position) -> str | None:
        """Why training stops at this epoch end (patience, or the epoch that cooled down after settling)."""
        if self.chosen.patience and at.best["since"] >= self.chosen.patience:
            return f"patience: no better validation loss for {at.best['since']} epochs"
        if self.settle is not None and at.epoch == self.settle[0] + 1:
            return f"{self.settle[1]}; cooled down over epoch {at.epoch}"
        return None

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
