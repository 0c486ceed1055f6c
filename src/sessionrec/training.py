"""The trainer of every neural model.

The loss is softmax cross-entropy over the scores ``forward`` returns, plus any
``extra_loss()`` terms; a module that defines ``training_loss(batch)`` (``OwnLoss``, e.g.
BPR on sampled negatives) is trained on that instead. Validation scores in eval mode.

Adam with L2 (``weight_decay``) on all parameters, a step learning-rate schedule
stepped at the start of each epoch (SR-GNN, TAGNN) or at its end (SR-IEM), seeded
per-epoch shuffling, model selection on a validation split with early stopping,
atomic checkpoints (after each epoch, and within one every ``checkpoint_minutes``)
and exact resume.

The learning rate of batch b of epoch e (of n batches) is
``lr * gamma ** floor((e + o + b / n) / step)`` with o = 1 for "start" (PyTorch's
``StepLR.step()`` called before each epoch: 1e-3 for epochs 0-1, 1e-4 for 2-4, ...) and
o = 0 for "end" (decays after epochs 3, 6, ...). With a whole ``step`` this is constant
within an epoch, ``lr * gamma ** ((e + o) // step)``; a fractional one decays within
epochs (LGSR's official schedule: ``step`` 0.1, x0.1 every tenth of an epoch). Computing
it from the position in training, rather than carrying scheduler state, makes resume exact.

Epoch hooks: a module may do its own work at the start of each epoch, before the
recommender pass (LGSR's skip-gram passes over random walks, with their own optimizer):
it implements :class:`EpochHook`. The trainer calls ``before_epoch(epoch, lr, seed)`` once
per epoch, with that epoch's starting rate, adds the figures it returns to the epoch's
record, and saves ``epoch_hook_state()`` in every checkpoint, so that a resumed run
restores it with ``load_epoch_hook_state``; resuming inside an epoch whose hook already
ran does not run it again (a mid-epoch checkpoint keeps its figures).
A module may split its parameters into groups with their own step (a method
``parameter_groups()`` returning :class:`ParameterGroup` s; I3GN decays its inter-session
module every 5 epochs and the rest every 3): each group's rate uses its own step.

Own batches and optimiser: a model whose training batches are not shuffled prefix samples
implements :class:`OwnBatches` (GRU4Rec's session-parallel mini-batches, whose rows carry a
hidden state from one batch to the next): the trainer iterates
``model.training_batches(train, epoch, start_batch)`` instead (one process only: such
batches are ordered, so they are not dealt over ranks), and counts a batch's rows as its
samples. A module whose optimiser is part of its definition (GRU4Rec's Adagrad with
Nesterov momentum) implements :class:`OwnOptimizer`; the trainer sets the rates of its
parameter groups as for Adam, and checkpoints and restores it the same way.

Selection: each epoch is evaluated on ``valid``; the weights of the epoch with the
best ``select_metric`` are kept, and training stops after ``patience`` epochs without
improvement: an epoch improves only when it beats the best by more than
``min_delta`` (percentage points of ``select_metric``; 0 by default, the papers'
strict comparison), so a curve that creeps up by hundredths stops instead of
training on for its whole patience after each gain. A resumed run may change
``epochs`` and ``patience`` (``runs.STOPPING_KEYS``): the best epoch and the count
of epochs since it do not depend on them. When ``valid`` is the test split
(``--select-on test``, the papers' habit), the history also records the best value
of each metric over epochs, which is what those papers report; reports made so must
say so.

Within an epoch longer than ``checkpoint_minutes``, the checkpoint also records the
epoch so far: its batches done, their losses, the seconds spent and the random state
(dropout). The batch order is a function of (seed, epoch), so a resumed epoch skips the
batches done and ends with the weights, loss and metrics of an uninterrupted one; a
killed run loses at most those minutes instead of a whole epoch (50 minutes for TAGNN
on a 2-core CPU).
"""

from __future__ import annotations

import copy
import io
import logging
import math
import os
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import torch
from torch import nn
from torch.nn import functional as F

from sessionrec import distributed
from sessionrec.data.batching import Batch, BatchSpec, n_batches
from sessionrec.data.sessions import Split
from sessionrec.errors import CheckpointError, DataError
from sessionrec.io import atomic_write_bytes
from sessionrec.runs import Run, same_training
from sessionrec.runtime.memory import retain_freed_buffers
from sessionrec.runtime.numerics import check_flushed, cpu_has_native_bf16
from sessionrec.runtime.split_blas import cpu_scoring, set_cpu_scoring

log = logging.getLogger("sessionrec.training")


class TrainingConfig(Protocol):
    """The settings the trainer reads (``models.neural.NeuralConfig`` has them all)."""

    @property
    def batch_size(self) -> int: ...
    @property
    def epochs(self) -> int: ...
    @property
    def lr(self) -> float: ...
    @property
    def weight_decay(self) -> float: ...
    @property
    def lr_step(self) -> float: ...
    @property
    def lr_gamma(self) -> float: ...
    @property
    def lr_step_at(self) -> str: ...
    @property
    def patience(self) -> int: ...
    @property
    def min_delta(self) -> float: ...
    @property
    def select_metric(self) -> str: ...
    @property
    def shuffle(self) -> bool: ...
    @property
    def seed(self) -> int: ...
    @property
    def bf16_scoring(self) -> bool: ...
    def to_dict(self) -> dict[str, Any]: ...


class Trainable(Protocol):
    """What the trainer needs of a model, so that it never imports the models.

    The model has been through ``prepare_fit`` (vocabulary and prepared structures set)
    before the trainer builds its network with ``init_module``.
    """

    name: str

    @property
    def config(self) -> TrainingConfig: ...
    @property
    def batch_spec(self) -> BatchSpec: ...
    @property
    def n_items(self) -> int: ...
    @property
    def device(self) -> torch.device: ...
    def to(self, device: torch.device | str) -> Any: ...
    def init_module(self, n_items: int) -> nn.Module: ...
    def score(self, batch: Batch) -> torch.Tensor: ...


@runtime_checkable
class OwnLoss(Protocol):
    """A module trained on its own loss instead of softmax cross-entropy over its scores."""

    def training_loss(self, batch: Batch) -> torch.Tensor:
        """The scalar loss of a training batch (its ``forward`` still scores every item)."""
        ...


def _extra_loss(module: Any) -> torch.Tensor | float:
    extra = getattr(module, "extra_loss", None)
    return extra() if callable(extra) else 0.0


@runtime_checkable
class EpochHook(Protocol):
    """A module's own work at the start of each epoch (see the module docstring)."""

    def before_epoch(self, epoch: int, lr: float, seed: int) -> dict[str, float]:
        """Run the epoch's extra work; return figures for the epoch's record."""
        ...

    def epoch_hook_state(self) -> dict[str, Any]:
        """What a resumed run needs besides the weights (optimizer state...); tensors and plain values."""
        ...

    def load_epoch_hook_state(self, state: dict[str, Any]) -> None: ...


@runtime_checkable
class OwnBatches(Protocol):
    """A model that iterates its own training batches (see the module docstring)."""

    def training_batches(self, train: Split, epoch: int, start_batch: int = 0) -> Iterator[Batch]:
        """Epoch ``epoch``'s batches from batch ``start_batch`` on, a function of (config, train, epoch)."""
        ...

    def n_training_batches(self, train: Split, epoch: int = 0) -> int: ...


@runtime_checkable
class OwnOptimizer(Protocol):
    """A module that builds its own optimiser over the trainer's parameter groups."""

    def training_optimizer(self, groups: list[dict[str, Any]], lr: float) -> torch.optim.Optimizer: ...


def training_batches(
    model: Any, train: Split, config: TrainingConfig, epoch: int, start_batch: int = 0
) -> Iterator[tuple[Batch, float, int]]:
    """``(batch, loss_weight, samples)`` of this rank for epoch ``epoch``, from ``start_batch`` on."""
    if isinstance(model, OwnBatches):
        if distributed.active():
            raise DataError(f"{model.name} trains on ordered batches of its own: run it in one process")
        for batch in model.training_batches(train, epoch, start_batch):
            yield batch, 1.0, batch.size
        return
    yield from distributed.shard_batches(
        train, config.batch_size, model.batch_spec, config.shuffle, config.seed, epoch, start_batch
    )


def batches_per_epoch(model: Any, train: Split, batch_size: int, epoch: int = 0) -> int:
    if isinstance(model, OwnBatches):
        return model.n_training_batches(train, epoch)
    return n_batches(train, batch_size)


def build_optimizer(module: nn.Module, config: TrainingConfig, device: torch.device) -> torch.optim.Optimizer:
    """The module's own optimiser (``OwnOptimizer``), else Adam with ``weight_decay``."""
    groups = optimizer_groups(module)
    if isinstance(module, OwnOptimizer):
        return module.training_optimizer(groups, config.lr)
    return make_optimizer(groups, config.lr, config.weight_decay, device)


@dataclass
class TrainerOptions:
    run: Run | None = None  # where metrics.jsonl and checkpoint.pt go
    device: str | None = None  # default: cuda when available, else cpu
    threads: int | None = None
    cpu_scoring: Literal["torch", "openblas"] = "torch"  # see nn.scoring.set_cpu_scoring
    progress: bool = False
    resume: bool = False
    select_on: Literal["valid", "test"] = "valid"
    max_batches: int | None = None  # per epoch; for quick runs and benchmarks
    eval_batch_size: int = 1000
    checkpoint_minutes: float | None = 10.0  # within an epoch; None: only after each epoch


@dataclass
class PartialEpoch:
    """An epoch interrupted after ``batches`` batches, as a mid-epoch checkpoint holds it."""

    epoch: int
    batches: int
    losses: torch.Tensor  # [batches], the per-batch losses so far
    seen: int  # samples trained on
    seconds: float  # training time spent so far
    rng: torch.Tensor  # torch's CPU random state after the last batch done
    hooked: dict[str, float] = field(default_factory=dict)  # the epoch hook's figures (EpochHook)


@dataclass
class TrainingState:
    epoch: int = 0  # completed epochs
    best_score: float = -math.inf
    best_epoch: int = -1
    bad_epochs: int = 0
    best_state: dict[str, torch.Tensor] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    partial: PartialEpoch | None = None


def learning_rate(
    config: TrainingConfig, epoch: int, progress: float = 0.0, step: float | None = None
) -> float:
    """The rate at ``progress`` (batches done / batches per epoch, in [0, 1)) into ``epoch``,
    decayed every ``step`` epochs (default ``config.lr_step``; a parameter group's own)."""
    offset = 1 if config.lr_step_at == "start" else 0
    every = step or config.lr_step
    # the tolerance makes fractional steps exact (1.0 // 0.1 is 9.0 in floating point)
    return config.lr * config.lr_gamma ** math.floor((epoch + offset + progress) / every + 1e-9)


@dataclass(frozen=True)
class ParameterGroup:
    """Parameters whose learning rate decays every ``lr_step`` epochs (None: the config's)."""

    params: list[nn.Parameter]
    lr_step: int | None = None


def optimizer_groups(module: nn.Module) -> list[dict[str, Any]]:
    """The optimiser's parameter groups: one, unless the module declares ``parameter_groups()``.

    Declared groups must cover every parameter exactly once.
    """
    declared = getattr(module, "parameter_groups", None)
    if not callable(declared):
        return [{"params": list(module.parameters()), "lr_step": None}]
    groups: list[ParameterGroup] = declared()
    ids = [id(p) for group in groups for p in group.params]
    if len(ids) != len(set(ids)) or set(ids) != {id(p) for p in module.parameters()}:
        raise ValueError(f"{type(module).__name__}.parameter_groups() must hold every parameter once")
    return [{"params": group.params, "lr_step": group.lr_step} for group in groups]


def make_optimizer(params: Any, lr: float, weight_decay: float, device: torch.device) -> torch.optim.Adam:
    try:
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, foreach=True)


class Trainer:
    def __init__(self, model: Trainable, options: TrainerOptions | None = None) -> None:
        self.model = model
        self.options = options or TrainerOptions()
        self.config = model.config

    def fit(self, train: Split, valid: Split | None = None) -> TrainingState:
        opts, config = self.options, self.config
        if opts.threads:
            torch.set_num_threads(opts.threads)
        retain_freed_buffers()
        device = torch.device(opts.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        set_cpu_scoring(opts.cpu_scoring, opts.threads or torch.get_num_threads())
        if device.type == "cpu":
            check_flushed()
        if config.bf16_scoring and device.type == "cpu" and not cpu_has_native_bf16():
            warnings.warn(
                "bf16_scoring on a CPU without native bfloat16 products (AVX512-BF16/AMX): torch "
                "emulates them, and training will be several times slower than in float32",
                RuntimeWarning,
                stacklevel=2,
            )
        self.model.to(device)
        if self.model.n_items != train.n_items:
            raise DataError(
                f"the model was prepared for {self.model.n_items} items, the data has {train.n_items}"
            )
        module = self.model.init_module(train.n_items)
        optimizer = build_optimizer(module, config, device)
        state = TrainingState()
        if opts.resume and opts.run is not None and opts.run.checkpoint_path.is_file():
            state = self._restore(opts.run, module, optimizer)
        spec = self.model.batch_spec
        while state.epoch < config.epochs and state.bad_epochs < config.patience:
            epoch = state.epoch
            per_epoch = batches_per_epoch(self.model, train, config.batch_size, epoch)
            total = min(per_epoch, opts.max_batches or 10**12)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(config, epoch, step=group.get("lr_step"))
            hooked: dict[str, float] = {}
            if state.partial is not None and state.partial.epoch == epoch:
                hooked = state.partial.hooked  # the hook ran before this epoch was interrupted
            elif isinstance(module, EpochHook):
                hooked = module.before_epoch(epoch, learning_rate(config, epoch), config.seed)
                distributed.broadcast_parameters(module)  # every rank continues from rank 0's hook
            record = self._train_epoch(module, optimizer, train, spec, epoch, total, device, state, hooked)
            if valid is not None:
                record.update(self._validate(module, valid, device))
                self._select(state, record, module)
            state.epoch += 1
            state.history.append(record)
            scored = self._metric_prefix if valid is not None else None
            log.info(_epoch_summary(record, scored, config.select_metric, state.best_epoch))
            if opts.run is not None:
                opts.run.append_metrics(record)
                self._checkpoint(opts.run, module, optimizer, state)
        if state.best_state is not None:
            module.load_state_dict(state.best_state)
        module.eval()
        return state

    def _train_epoch(
        self,
        module: Any,
        optimizer: Any,
        train: Split,
        spec: Any,
        epoch: int,
        total: int,
        device: torch.device,
        state: TrainingState,
        hooked: dict[str, float] | None = None,
    ) -> dict[str, Any]:
        config, run, every = self.config, self.options.run, self.options.checkpoint_minutes
        module.train()
        partial = state.partial if state.partial is not None and state.partial.epoch == epoch else None
        losses: list[torch.Tensor] = []
        first, seen, before = 0, 0, 0.0
        if partial is None:
            torch.manual_seed(config.seed + epoch)  # dropout masks reproducible per epoch
        else:
            torch.set_rng_state(partial.rng)
            losses, first, seen, before = (
                list(partial.losses.unbind()),
                partial.batches,
                partial.seen,
                partial.seconds,
            )
        per_epoch = batches_per_epoch(self.model, train, config.batch_size, epoch)
        started = saved = time.perf_counter()
        progress = _progress(self.options.progress, f"epoch {epoch}", total, first)
        # this rank's share of each global batch (all of it in one process); see distributed.py
        batches = training_batches(self.model, train, config, epoch, first)
        trained = distributed.wrap(module, device)
        for index, (batch, weight, size) in enumerate(batches, start=first):
            if index >= total:
                break
            for group in optimizer.param_groups:  # a fractional lr_step decays within the epoch
                group["lr"] = learning_rate(config, epoch, index / per_epoch, group.get("lr_step"))
            loss = distributed.global_loss(self.step(trained, optimizer, batch.to(device), weight))
            losses.append(loss)
            seen += size
            if progress is not None:
                progress.advance(size, float(loss))
            now = time.perf_counter()
            if run is not None and every is not None and index + 1 < total and now - saved >= every * 60:
                seconds = before + now - started
                state.partial = PartialEpoch(
                    epoch, index + 1, torch.stack(losses), seen, seconds, torch.get_rng_state(), hooked or {}
                )
                self._checkpoint(run, module, optimizer, state)
                saved = time.perf_counter()
        if progress is not None:
            progress.close()
        state.partial = None
        elapsed = before + time.perf_counter() - started
        mean_loss = float(torch.stack(losses).mean()) if losses else float("nan")
        return {
            "epoch": epoch,
            "lr": learning_rate(config, epoch),
            "loss": mean_loss,
            "train_samples_per_s": seen / max(elapsed, 1e-9),
            "train_seconds": elapsed,
            "cpu_scoring": cpu_scoring() if device.type == "cpu" else None,
            **(hooked or {}),
        }

    def step(self, module: Any, optimizer: Any, batch: Any, weight: float = 1.0) -> torch.Tensor:
        """One optimisation step on one batch; returns the (detached) loss, times ``weight``."""
        loss = self.batch_loss(module, batch)
        if weight != 1.0:  # a rank's share of a distributed global batch
            loss = loss * weight
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach()

    def batch_loss(self, module: Any, batch: Batch) -> torch.Tensor:
        """The training loss of one batch.

        A module with its own objective (``OwnLoss``: BPR on sampled negatives, ...) is
        trained on ``module.training_loss(batch)`` and its ``forward`` is not called, so
        such a step need not score every item; any other module on ``loss`` of its scores.
        ``extra_loss()`` terms are added either way.
        """
        if isinstance(module, OwnLoss):
            return module.training_loss(batch) + _extra_loss(module)
        return self.loss(module, batch, module(batch))

    def loss(self, module: Any, batch: Any, scores: torch.Tensor) -> torch.Tensor:
        """Softmax cross-entropy over items 1..N; a model may add terms via ``extra_loss``."""
        return F.cross_entropy(scores, batch.targets - 1) + _extra_loss(module)

    @property
    def _metric_prefix(self) -> str:
        """The prefix of the selection split's metrics in an epoch's record."""
        return "test" if self.options.select_on == "test" else "valid"

    def _validate(self, module: nn.Module, valid: Split, device: torch.device) -> dict[str, Any]:
        """Metrics on ``valid``, scored in eval mode (no dropout, no training-time state updates)."""
        started = time.perf_counter()
        module.eval()
        try:
            evaluation = distributed.evaluate_scores(
                self.model.score, valid, self.model.batch_spec, self.options.eval_batch_size, device=device
            )
        finally:
            module.train()
        metrics = {f"{self._metric_prefix}_{k}": v for k, v in evaluation.metrics().items()}
        metrics["eval_seconds"] = time.perf_counter() - started
        return metrics

    def _select(self, state: TrainingState, record: dict[str, Any], module: Any) -> None:
        score = record[f"{self._metric_prefix}_{self.config.select_metric}"]
        if score > state.best_score + self.config.min_delta:
            state.best_score, state.best_epoch, state.bad_epochs = score, record["epoch"], 0
            state.best_state = copy.deepcopy(module.state_dict())
        else:
            state.bad_epochs += 1
        record["best_epoch"] = state.best_epoch

    def _checkpoint(self, run: Run, module: Any, optimizer: Any, state: TrainingState) -> None:
        if not distributed.is_writer():
            return
        payload = {
            "model": self.model.name,
            "config": self.config.to_dict(),
            "n_items": self.model.n_items,
            "module": module.state_dict(),
            "optimizer": optimizer.state_dict(),
            "epoch": state.epoch,
            "best_score": state.best_score,
            "best_epoch": state.best_epoch,
            "bad_epochs": state.bad_epochs,
            "best_state": state.best_state,
            "history": state.history,
            "partial": None if state.partial is None else vars(state.partial),
            "epoch_hook": module.epoch_hook_state() if isinstance(module, EpochHook) else None,
        }
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        atomic_write_bytes(run.checkpoint_path, buffer.getvalue())

    def _restore(self, run: Run, module: Any, optimizer: Any) -> TrainingState:
        path = run.checkpoint_path
        try:
            payload = torch.load(path, map_location=self.model.device, weights_only=True)
        except Exception as exc:  # a truncated file raises one of several error types
            raise CheckpointError(f"{path}: unreadable or truncated ({type(exc).__name__})") from None
        defaults = type(self.config)().to_dict()
        same = same_training(payload.get("config") or {}, self.config.to_dict(), defaults)
        if payload.get("model") != self.model.name or not same:
            raise CheckpointError(f"{path}: checkpoint of another model or configuration")
        if payload.get("n_items") != self.model.n_items:
            raise CheckpointError(
                f"{path}: checkpoint for {payload.get('n_items')} items, data has {self.model.n_items}"
            )
        module.load_state_dict(payload["module"])
        optimizer.load_state_dict(payload["optimizer"])
        if isinstance(module, EpochHook) and payload.get("epoch_hook") is not None:
            module.load_epoch_hook_state(payload["epoch_hook"])
        partial = payload.get("partial")
        return TrainingState(
            payload["epoch"],
            payload["best_score"],
            payload["best_epoch"],
            payload["bad_epochs"],
            payload["best_state"],
            payload["history"],
            None if partial is None else PartialEpoch(**partial),
        )


def _epoch_summary(record: dict[str, Any], scored: str | None, select_metric: str, best_epoch: int) -> str:
    """One line per epoch, so a long run's log shows where it stands without a progress bar.

    ``scored`` is the prefix of the split the epoch was scored on, None when it was not.
    """
    line = (
        f"epoch {record['epoch']}: lr {record['lr']:g}, loss {record['loss']:.4f}, "
        f"{record['train_samples_per_s']:.0f} samples/s, {record['train_seconds']:.0f} s"
    )
    if scored is not None:
        names = dict.fromkeys(("HR@20", "MRR@20", select_metric))  # ordered, without repeats
        shown = ", ".join(f"{n} {record[f'{scored}_{n}']:.2f}" for n in names)
        line += f"; {scored} {shown} (best epoch {best_epoch})"
    return line


def _progress(enabled: bool, description: str, total_batches: int, done: int = 0) -> _EpochProgress | None:
    return _EpochProgress(description, total_batches, done) if enabled else None


class _EpochProgress:
    """A Rich progress bar with loss, samples/s and ETA."""

    def __init__(self, description: str, total_batches: int, done: int = 0) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("loss {task.fields[loss]:.4f}"),
            TextColumn("{task.fields[rate]:,.0f} samples/s"),
            TimeRemainingColumn(),
            disable=os.environ.get("SESSIONREC_NO_PROGRESS") == "1",
        )
        self.bar.start()
        self.task = self.bar.add_task(
            description, total=total_batches, completed=done, loss=float("nan"), rate=0.0
        )
        self.started, self.samples = time.perf_counter(), 0

    def advance(self, samples: int, loss: float) -> None:
        self.samples += samples
        rate = self.samples / max(time.perf_counter() - self.started, 1e-9)
        self.bar.update(self.task, advance=1, loss=loss, rate=rate)

    def close(self) -> None:
        self.bar.stop()
