"""KNN-RNN: the score normalisation and the mixing weight chosen on validation, by hand."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from sessionrec.data.batching import Batch
from sessionrec.data.sessions import Sessions, Split
from sessionrec.data.vocab import ItemVocab
from sessionrec.models.knnrnn import KNNRNN, KNNRNNModule, best_weight, mix
from sessionrec.models.registry import create, load_model
from sessionrec.workflow import train_and_evaluate
from tests.conftest import synthetic_dataset

FAST = {"embedding_dim": 32, "batch_size": 32, "n_sample": 64, "epochs": 10, "lr": 0.1}
CONTRACT = {"knnrnn": {"overrides": FAST, "pattern_metric": "HR@5", "pattern_threshold": 80.0}}


def test_scores_are_normalised_per_prefix_before_mixing() -> None:
    knn = torch.tensor([[2.0, 4.0, 0.0], [0.0, 0.0, 0.0]])  # the second prefix has no neighbour
    gru = torch.tensor([[0.0, -math.log(2.0), 1.0], [5.0, 5.0, 3.0]])
    mixed = mix(knn, gru, 0.25)
    # knn / row max: (0.5, 1, 0) and (0, 0, 0); exp(gru - row max): (1/e, 1/(2e), 1) and (1, 1, e^-2)
    expected = torch.tensor(
        [
            [0.25 * 0.5 + 0.75 / math.e, 0.25 + 0.75 / (2 * math.e), 0.75],
            [0.75, 0.75, 0.75 * math.exp(-2.0)],
        ]
    )
    torch.testing.assert_close(mixed, expected)


# two validation prefixes over items 1..3 (prefix [3] -> 1 and [3] -> 2) with hand-made
# normalised parts. Target 1 outranks item 2 iff 0.2w + (1 - w) > w + 0.1(1 - w), i.e. w < 9/17;
# target 2 outranks item 1 iff w + 0.5(1 - w) > 1 - w, i.e. w > 1/3: both first for w in 0.4, 0.5
KNN = {1: [0.2, 1.0, 0.0], 2: [0.0, 1.0, 0.5]}
GRU = {1: [1.0, 0.1, 0.5], 2: [1.0, 0.5, 1e-30]}


def toy_parts(self: KNNRNN, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    assert batch.targets is not None
    targets = batch.targets.tolist()
    knn = torch.tensor([KNN[t] for t in targets])
    gru = torch.log(torch.tensor([GRU[t] for t in targets]))  # exp(r - max r) gives GRU back
    return knn, gru


def test_weight_selection_picks_the_validation_best_weight(monkeypatch: pytest.MonkeyPatch) -> None:
    vocab = ItemVocab(np.array(["a", "b", "c"]))
    valid = Split.augmented(Sessions.from_lists([[3, 1], [3, 2]]), vocab)
    model = create("knnrnn", weight_grid=11)
    assert isinstance(model, KNNRNN)
    model.vocab_ = vocab
    model.module_ = KNNRNNModule(3, model.config, np.array([0.0, 0.5, 0.25, 0.25]))
    monkeypatch.setattr(KNNRNN, "parts", toy_parts)
    metrics = model.weight_metrics(valid)
    mrr = {round(w, 2): m["MRR@20"] for w, m in metrics.items()}
    assert mrr[0.4] == mrr[0.5] == 100.0  # both targets first
    assert mrr[0.3] == mrr[0.0] == 75.0  # target 2 second (ranks 1 and 2)
    assert mrr[0.6] == mrr[1.0] == 75.0  # target 1 second
    assert best_weight(metrics, "MRR@20") == pytest.approx(0.4)  # the smaller of the tied best


def test_the_weight_chosen_on_validation_is_used_and_carried_into_the_refit(tmp_path: Path) -> None:
    data = synthetic_dataset()
    model = create("knnrnn", **{**FAST, "epochs": 2, "weight_grid": 5})
    assert isinstance(model, KNNRNN)
    result = train_and_evaluate(model, data, tmp_path / "run", refit=True)
    metrics = model.weight_selection_
    assert sorted(metrics) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert model.weight == best_weight(metrics, model.config.select_metric)
    refit = load_model(result.run.model_dir)
    assert isinstance(refit, KNNRNN) and refit.weight == model.weight and refit.config.weight == model.weight
