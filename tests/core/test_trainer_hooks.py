"""The trainer's hooks: a module's own training loss, and validation in eval mode."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from sessionrec.data.batching import Batch, BatchSpec, batch_from_lists
from sessionrec.models.narm import NARMModule
from sessionrec.models.neural import NeuralConfig
from sessionrec.models.registry import create
from sessionrec.training import OwnLoss, Trainer
from tests.conftest import synthetic_dataset


class _Model:
    name = "toy"
    config = NeuralConfig()


class _OwnLoss(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.tensor(3.0))

    def forward(self, batch: Batch) -> torch.Tensor:
        raise AssertionError("a module with its own loss is not scored while training")

    def training_loss(self, batch: Batch) -> torch.Tensor:
        return self.weight * batch.size

    def extra_loss(self) -> torch.Tensor:
        return self.weight**2


class _Scores(nn.Module):
    def forward(self, batch: Batch) -> torch.Tensor:
        return torch.tensor([[0.0, 0.0, math.log(3.0)]])


def _batch() -> Batch:
    batch = batch_from_lists([[1, 2]], BatchSpec())
    return Batch(batch.items, batch.lengths, torch.tensor([3]))


def test_own_training_loss_replaces_cross_entropy_and_keeps_extra_terms() -> None:
    module = _OwnLoss()
    assert isinstance(module, OwnLoss) and not isinstance(_Scores(), OwnLoss)
    trainer = Trainer(_Model())  # type: ignore[arg-type]
    # training_loss = w x 1 sample = 3, extra_loss = w^2 = 9
    assert trainer.batch_loss(module, _batch()).item() == 12.0
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
    trainer.step(module, optimizer, _batch())  # d/dw (w + w^2) = 1 + 2w = 7
    assert module.weight.item() == pytest.approx(3.0 - 0.7)


def test_other_modules_keep_softmax_cross_entropy() -> None:
    trainer = Trainer(_Model())  # type: ignore[arg-type]
    # scores (0, 0, log 3) for items 1..3, target 3: -log(3 / (1 + 1 + 3)) = log(5/3)
    assert trainer.batch_loss(_Scores(), _batch()).item() == pytest.approx(math.log(5 / 3), abs=1e-6)


def test_validation_scores_in_eval_mode_and_training_steps_in_train_mode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[bool, bool]] = []  # (inference mode, module.training)
    original = NARMModule.forward

    def forward(self: NARMModule, batch: Batch) -> torch.Tensor:
        calls.append((torch.is_inference_mode_enabled(), self.training))
        return original(self, batch)

    monkeypatch.setattr(NARMModule, "forward", forward)
    train, valid = synthetic_dataset().validation_split()
    create("narm", embedding_dim=8, hidden_dim=8, batch_size=64, epochs=2).fit(train, valid)
    scoring = [training for inference, training in calls if inference]
    stepping = [training for inference, training in calls if not inference]
    assert scoring and not any(scoring)  # dropout off while the validation split is scored
    assert len(stepping) == 2 * -(-len(train) // 64) and all(stepping)  # back in train mode for epoch 2
