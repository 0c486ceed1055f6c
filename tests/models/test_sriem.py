"""SR-IEM: the shared contract, and the importance extraction module against hand computations."""

from __future__ import annotations

import math

import pytest
import torch

from sessionrec.data.batching import batch_from_lists
from sessionrec.errors import ConfigError
from sessionrec.models.registry import create
from sessionrec.models.sriem import SRIEMModule
from sessionrec.nn.importance import ImportanceExtraction, SelfAttentionPooling, StampAttention

FAST = {"embedding_dim": 16, "batch_size": 32, "epochs": 3, "lr": 0.02, "lr_step": 100}


CONTRACT = {"sriem": {"overrides": FAST, "pattern_metric": "HR@5", "pattern_threshold": 80.0}}


def identity_iem(**flags: object) -> ImportanceExtraction:
    """d = l = 2 with W_q = W_k = I, so that Q and K are the embeddings (or their sigmoid)."""
    options = {"qk_sigmoid": False, "scale_inside": True, "divisor": "t-1", **flags}
    module = ImportanceExtraction(2, 2, **options)  # type: ignore[arg-type]
    with torch.no_grad():
        module.query.weight.copy_(torch.eye(2))
        module.key.weight.copy_(torch.eye(2))
    return module


# e1 = e3 = [1, 0], e2 = [0, 1], then a padded position holding garbage
SESSION = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [9.0, -7.0]]])
MASK = torch.tensor([[True, True, True, False]])


def test_code_importance_matches_hand_computation() -> None:
    # QK^T = [[1,0,1],[0,1,0],[1,0,1]]; C = sigmoid(QK^T / sqrt 2): sigmoid(0.7071) = 0.66976,
    # sigmoid(0) = 0.5. alpha_1 = (C12 + C13) / (t - 1) = (0.5 + 0.66976) / 2 = 0.58488 (the
    # diagonal C11 is left out), alpha_2 = (0.5 + 0.5) / 2 = 0.5, alpha_3 = alpha_1.
    # beta = softmax(0.58488, 0.5, 0.58488) = (0.34263, 0.31475, 0.34263); padding gets 0.
    module = identity_iem()
    alpha = module.importance(SESSION, MASK)[0, :3]
    torch.testing.assert_close(alpha, torch.tensor([0.58488, 0.5, 0.58488]), atol=1e-5, rtol=0)
    beta = module.weights(SESSION, MASK, SESSION[:, 2])[0]
    torch.testing.assert_close(beta, torch.tensor([0.34263, 0.31475, 0.34263, 0.0]), atol=1e-5, rtol=0)
    z_l = module(SESSION, MASK, SESSION[:, 2])[0]
    torch.testing.assert_close(z_l, torch.tensor([0.68525, 0.31475]), atol=1e-5, rtol=0)


def test_paper_importance_matches_hand_computation() -> None:
    # Q = K = sigmoid(E): q1 = q3 = (0.73106, 0.5), q2 = (0.5, 0.73106).
    # q1.q1 = 0.78445, q1.q2 = 0.73106; C = sigmoid(QK^T) / sqrt 2: C11 = C13 = 0.48553,
    # C12 = 0.47732. alpha_1 = (C12 + C13) / t = 0.32095, alpha_2 = 2 C12 / 3 = 0.31822.
    module = identity_iem(qk_sigmoid=True, scale_inside=False, divisor="t")
    alpha = module.importance(SESSION, MASK)[0, :3]
    torch.testing.assert_close(alpha, torch.tensor([0.32095, 0.31822, 0.32095]), atol=1e-5, rtol=0)


def test_diagonal_and_padding_are_masked() -> None:
    module = identity_iem()
    affinity = module.affinity(SESSION)[0]
    # an item with itself would score sigmoid(1 / sqrt 2) = 0.66976; item 2 sees only 1 and 3
    assert affinity[1, 1] > affinity[1, 0]
    garbage = SESSION.clone()
    garbage[0, 3] = torch.tensor([-50.0, 80.0])  # whatever sits in padding changes nothing
    torch.testing.assert_close(
        module.importance(garbage, MASK)[0, :3], module.importance(SESSION, MASK)[0, :3]
    )
    # t = 1: no other item; the code's divisor becomes 1, alpha = 0 and beta = 1
    one = module.weights(SESSION[:, :1], MASK[:, :1], SESSION[:, 0])
    assert module.importance(SESSION[:, :1], MASK[:, :1]).item() == 0.0 and one.item() == 1.0


def test_model_is_w0_of_long_term_and_last_item_scored_against_items() -> None:
    model = create("sriem", embedding_dim=4)
    net = model.init_module(9)
    assert isinstance(net, SRIEMModule)
    batch = batch_from_lists([[3, 4, 3, 7], [5]], model.batch_spec)
    e = net.embedding(batch.items)
    last = e[torch.arange(2), batch.lengths - 1]
    beta = net.extractor.weights(e, batch.mask, last)  # type: ignore[operator]
    z_h = net.fusion(torch.cat([(beta.unsqueeze(2) * e).sum(1), last], 1))  # Eq. 6-7
    torch.testing.assert_close(net(batch), z_h @ net.embedding.weight[1:].T)  # Eq. 8, items 1..N


def test_only_the_last_ten_items_count() -> None:
    model = create("sriem", embedding_dim=4)
    net = model.init_module(20)
    long = list(range(1, 16))
    whole, tail = batch_from_lists([long], model.batch_spec), batch_from_lists([long[-10:]], model.batch_spec)
    assert whole.items.shape[1] == 10
    torch.testing.assert_close(net(whole), net(tail))


def test_stamp_variant_is_stamps_unnormalised_attention() -> None:
    torch.manual_seed(0)
    stamp = StampAttention(3)
    e, mask = torch.randn(1, 4, 3), torch.tensor([[True, True, True, False]])
    last, mean = e[:, 2], e[:, :3].mean(1)
    alpha = stamp.w0(torch.sigmoid(stamp.w1(e[:, :3]) + stamp.w2(last) + stamp.w3(mean) + stamp.b_a))
    torch.testing.assert_close(stamp(e, mask, last)[0], (alpha[0] * e[0, :3]).sum(0))


def test_sat_variant_is_mean_of_masked_self_attention() -> None:
    torch.manual_seed(0)
    sat = SelfAttentionPooling(3)
    e, mask = torch.randn(1, 4, 3), torch.tensor([[True, True, True, False]])
    real = e[0, :3]
    attention = torch.softmax(sat.query(real) @ sat.key(real).T / math.sqrt(3), dim=1)
    torch.testing.assert_close(sat(e, mask, e[:, 2])[0], (attention @ sat.value(real)).mean(0))


def test_defaults_follow_the_code_and_presets_the_paper() -> None:
    config = create("sriem").config
    assert (config.embedding_dim, config.batch_size, config.max_length, config.lr_step_at) == (
        200,
        256,
        10,
        "end",
    )
    assert (config.qk_sigmoid, config.attention_dim, config.scale, config.divisor) == (
        False,
        0,
        "inside",
        "t-1",
    )
    paper = create("sriem-paper").config
    assert (paper.qk_sigmoid, paper.attention_dim, paper.scale, paper.divisor) == (True, 100, "outside", "t")
    assert create("sriem").config.shuffle and not create("sriem-official").config.shuffle


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"importance": "stamp", "qk_sigmoid": True}, "qk_sigmoid only apply to importance='iem'"),
        ({"importance": "sat", "divisor": "t"}, "divisor only apply"),
        ({"max_length": 0}, "max_length"),
        ({"attention_dim": -1}, "attention_dim"),
    ],
)
def test_impossible_configurations_are_rejected(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        create("sriem", **overrides)
