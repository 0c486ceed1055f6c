"""NARM: the contract entry, NARM's attention against a hand computation, the GRU encoder."""

from __future__ import annotations

import torch

from sessionrec.data.batching import batch_from_lists
from sessionrec.models.narm import NARMModule
from sessionrec.models.registry import create
from sessionrec.nn.additive_attention import AdditiveAttention, theano_hard_sigmoid
from sessionrec.nn.gru import GRUEncoder

FAST = {"embedding_dim": 16, "hidden_dim": 16, "batch_size": 32, "epochs": 3, "lr": 0.01}
CONTRACT = {"narm": {"overrides": FAST, "pattern_metric": "HR@5", "pattern_threshold": 80.0}}


def identity_attention(**options: object) -> AdditiveAttention:
    """h = 2 with A1 = A2 = I and v = (1, 1)."""
    layer = AdditiveAttention(2, 2, **options)  # type: ignore[arg-type]
    with torch.no_grad():
        layer.a1.weight.copy_(torch.eye(2))
        layer.a2.weight.copy_(torch.eye(2))
        layer.v.weight.fill_(1.0)
    return layer


# h_1 = (1, 0), h_2 = (0, 1) = h_t, then a padded position holding garbage
STATES = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [7.0, -9.0]]])
MASK = torch.tensor([[True, True, False]])
LAST = STATES[:, 1]


def test_attention_with_sigmoid_and_softmax_matches_hand_computation() -> None:
    # A1 h_t + A2 h_1 = (1, 1): q_1 = 2 sigmoid(1) = 1.462117; A1 h_t + A2 h_2 = (0, 2):
    # q_2 = sigmoid(0) + sigmoid(2) = 0.5 + 0.880797 = 1.380797.
    # softmax over the two real positions: alpha_1 = 1 / (1 + e^-(q_1 - q_2)) = 0.520319.
    layer = identity_attention(activation="sigmoid", softmax=True)
    alpha = layer.weights(STATES, MASK, LAST)[0]
    torch.testing.assert_close(alpha, torch.tensor([0.520319, 0.479681, 0.0]), atol=1e-6, rtol=0)
    torch.testing.assert_close(
        layer(STATES, MASK, LAST)[0], torch.tensor([0.520319, 0.479681]), atol=1e-6, rtol=0
    )


def test_attention_of_the_paper_is_unnormalised() -> None:
    layer = identity_attention(activation="sigmoid", softmax=False)
    alpha = layer.weights(STATES, MASK, LAST)[0]
    torch.testing.assert_close(alpha, torch.tensor([1.462117, 1.380797, 0.0]), atol=1e-6, rtol=0)


def test_attention_of_the_code_uses_theanos_hard_sigmoid() -> None:
    # clip(0.2 x + 0.5, 0, 1): (1, 1) -> 0.7 + 0.7 = 1.4; (0, 2) -> 0.5 + 0.9 = 1.4: equal weights
    hard = theano_hard_sigmoid(torch.tensor([-3.0, 0.0, 1.0, 2.0, 3.0]))
    torch.testing.assert_close(hard, torch.tensor([0.0, 0.5, 0.7, 0.9, 1.0]))
    layer = identity_attention(activation="hard_sigmoid", softmax=True)
    torch.testing.assert_close(layer.weights(STATES, MASK, LAST)[0], torch.tensor([0.5, 0.5, 0.0]))
    garbage = STATES.clone()
    garbage[0, 2] = torch.tensor([-40.0, 50.0])  # whatever sits in padding changes nothing
    torch.testing.assert_close(layer(garbage, MASK, LAST), layer(STATES, MASK, LAST))


def test_gru_encoder_ignores_padding_and_returns_the_last_real_state() -> None:
    torch.manual_seed(0)
    encoder = GRUEncoder(3, 4)
    inputs = torch.randn(2, 5, 3)
    lengths = torch.tensor([5, 2])
    outputs, last = encoder(inputs, lengths)
    alone, _ = encoder.gru(inputs[1:, :2])  # the short sequence without its padding
    torch.testing.assert_close(outputs[1, :2], alone[0])
    torch.testing.assert_close(last[1], alone[0, 1])
    assert outputs[1, 2:].abs().sum() == 0
    torch.testing.assert_close(last[0], outputs[0, 4])


def test_session_vector_is_the_bilinear_map_of_global_and_local_encoders() -> None:
    model = create("narm", **FAST)
    module = NARMModule(10, model.config)  # type: ignore[arg-type]
    module.eval()
    batch = batch_from_lists([[3, 1, 4], [5]], model.batch_spec)
    embeddings = module.embedding.weight[batch.items]
    states, c_g = module.encoder.gru(embeddings, batch.lengths)
    c_l = module.encoder.attention(states, batch.mask, c_g)
    expected = torch.cat([c_g, c_l], 1) @ module.bilinear.weight.T
    torch.testing.assert_close(module.session_vector(batch), expected)
    scores = module(batch)
    torch.testing.assert_close(scores, expected @ module.embedding.weight[1:].T)
    assert module.embedding.weight[0].abs().sum() == 0  # padding row starts at zero


def test_truncation_keeps_the_last_19_items_by_default_and_the_first_in_the_official_preset() -> None:
    long = [list(range(1, 26))]
    assert batch_from_lists(long, create("narm").batch_spec).items[0].tolist() == list(range(7, 26))
    official = create("narm-official").batch_spec
    assert batch_from_lists(long, official).items[0].tolist() == list(range(1, 20))
