"""Base of every neural model: the training settings shared by the papers, and persistence.

A neural model builds an ``nn.Module`` whose ``forward(batch)`` returns scores
[B, N] of items 1..N; the trainer (``sessionrec.training``) fits it with softmax
cross-entropy over all items, as every paper's code does (the binary
cross-entropy printed in several papers is not what their code optimises); a module
with an objective of its own defines ``training_loss(batch)`` (``training.OwnLoss``).

``fit(train, valid, options)`` is the one path every caller takes (library, CLI,
experiment runner, refit, resume, demo, benchmarks): ``prepare_fit`` (vocabulary,
popularity, ``prepare(train)``), then ``build_module`` from what was prepared, then the
trainer. With a run directory, the prepared structures are also written there before
training, and a resumed run reads them back instead of preparing again.
"""

from __future__ import annotations

import dataclasses
from abc import abstractmethod
from pathlib import Path
from typing import Literal, Self

import numpy as np
import torch
from torch import nn

from sessionrec import distributed
from sessionrec.config import Config, check
from sessionrec.data.batching import Batch
from sessionrec.data.sessions import Split
from sessionrec.errors import CheckpointError
from sessionrec.models.base import Recommender
from sessionrec.models.prepared import (
    PREPARED_FILE,
    Prepared,
    decode_prepared,
    save_prepared,
    split_fingerprint,
)
from sessionrec.training import Trainer, TrainerOptions, TrainingState

WEIGHTS_FILE = "weights.pt"


@dataclasses.dataclass(frozen=True)
class NeuralConfig(Config):
    """Training settings; defaults are the SR-GNN family's (notes section 3)."""

    embedding_dim: int = 100
    batch_size: int = 100
    epochs: int = 30
    lr: float = 1e-3
    weight_decay: float = 1e-5  # Adam's L2, on every parameter (embeddings included)
    lr_step: int = 3
    lr_gamma: float = 0.1
    lr_step_at: Literal["start", "end"] = "start"  # SR-GNN/TAGNN step at epoch start
    patience: int = 10
    min_delta: float = 0.0  # an epoch improves on the best by more than this (metric points)
    select_metric: str = "MRR@20"
    shuffle: bool = True
    seed: int = 2020
    bf16_scoring: bool = False  # opt-in: bfloat16 autocast on the item-scoring matmul

    def validate(self) -> None:
        super().validate()
        check(self.embedding_dim > 0, "embedding_dim must be positive")
        check(self.batch_size > 0, "batch_size must be positive")
        check(self.epochs > 0, "epochs must be positive")
        check(self.lr > 0, "lr must be positive")
        check(self.weight_decay >= 0, "weight_decay must be >= 0")
        check(self.lr_step > 0, "lr_step must be positive")
        check(0 < self.lr_gamma <= 1, "lr_gamma must be in (0, 1]")
        check(self.patience > 0, "patience must be positive")
        check(self.min_delta >= 0, "min_delta must be >= 0")
        metric, _, cutoff = self.select_metric.partition("@")
        check(
            metric in ("HR", "MRR", "NDCG") and cutoff in ("5", "10", "20"),
            f"select_metric must be HR|MRR|NDCG@5|10|20, got {self.select_metric!r}",
        )


def uniform_init_(module: nn.Module, dim: int) -> None:
    """Every parameter from U(-1/sqrt(d), 1/sqrt(d)), as the official PyTorch codes do."""
    bound = dim**-0.5
    for parameter in module.parameters():
        nn.init.uniform_(parameter, -bound, bound)


class NeuralRecommender(Recommender):
    config: NeuralConfig
    module_: nn.Module | None = None
    _device: torch.device = torch.device("cpu")

    @abstractmethod
    def build_module(self, n_items: int) -> nn.Module:
        """The network for a catalogue of ``n_items`` items (seeded by the caller)."""

    def init_module(self, n_items: int) -> nn.Module:
        torch.manual_seed(self.config.seed)
        self.module_ = self.build_module(n_items).to(self._device)
        return self.module_

    @property
    def device(self) -> torch.device:
        return self._device

    def to(self, device: torch.device | str) -> NeuralRecommender:
        self._device = torch.device(device)
        if self.module_ is not None:
            self.module_.to(self._device)
        return self

    def fit(self, train: Split, valid: Split | None = None, options: TrainerOptions | None = None) -> Self:
        """Prepare on ``train``, build the network, train it (``options``: run directory, resume...)."""
        options = options or TrainerOptions()
        self.prepare_fit(train, valid, _resumed_prepared(options, train))
        if options.run is not None and distributed.is_writer():
            assert self.train_fingerprint_ is not None
            path = options.run.directory / PREPARED_FILE
            save_prepared(path, self.prepared_, train.n_items, self.train_fingerprint_)
        self.training_state_: TrainingState = Trainer(self, options).fit(train, valid)
        return self

    def setup(self, train: Split, prepared: Prepared | None = None) -> nn.Module:
        """Prepare on ``train`` and build the seeded network, without training (benchmarks, checks)."""
        self.prepare_fit(train, None, prepared)
        return self.init_module(train.n_items)

    def _fit(self, train: Split, valid: Split | None) -> None:
        self.training_state_ = Trainer(self).fit(train, valid)

    def score(self, batch: Batch) -> torch.Tensor:
        if self.module_ is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted")
        return self.module_(batch)

    def session_vectors(self, batch: Batch) -> torch.Tensor:
        """The module's ``session_vector(batch)`` (models that declare ``item_scoring``)."""
        if self.module_ is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted")
        return self.module_.session_vector(batch)

    def item_table(self) -> torch.Tensor:
        """The module's ``embedding.weight``; a model scoring another table overrides this."""
        if self.module_ is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted")
        return self.module_.embedding.weight

    def _state(self) -> dict[str, np.ndarray]:  # neural weights go to weights.pt instead
        return {}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        pass

    def _save_weights(self, directory: Path) -> None:
        assert self.module_ is not None
        state = {k: v.detach().cpu() for k, v in self.module_.state_dict().items()}
        torch.save(state, directory / WEIGHTS_FILE)

    def _load_weights(self, directory: Path) -> None:
        state = load_state_dict(directory / WEIGHTS_FILE)
        module = self.init_module(self.n_items)
        try:
            module.load_state_dict(state)
        except RuntimeError as exc:
            raise CheckpointError(f"{directory}: weights do not fit this model ({exc})") from None
        module.eval()


def _resumed_prepared(options: TrainerOptions, train: Split) -> Prepared | None:
    """A resumed run's prepared structures, checked to come from these training sessions."""
    run = options.run
    if not options.resume or run is None or not (run.directory / PREPARED_FILE).is_file():
        return None
    prepared, meta = decode_prepared(run.directory / PREPARED_FILE, train.n_items)
    if meta.get("train_fingerprint") != split_fingerprint(train):
        raise CheckpointError(
            f"{run.directory}: the run was prepared on other training sessions; it cannot resume on these"
        )
    return prepared


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """``torch.load`` restricted to tensors, with one clear error for bad files."""
    if not path.is_file():
        raise CheckpointError(f"{path}: missing")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated or foreign files raise many kinds of errors
        raise CheckpointError(f"{path}: unreadable or truncated ({type(exc).__name__})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: not a state dict")
    return state
