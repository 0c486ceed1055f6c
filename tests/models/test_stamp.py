"""STAMP: the contract entry, its attention and session vector against hand computations."""

from __future__ import annotations

import torch

from sessionrec.data.batching import batch_from_lists
from sessionrec.models.registry import create
from sessionrec.models.sriem import SRIEMModule
from sessionrec.models.stamp import STAMPModule, clip_norm
from sessionrec.nn.importance import StampAttention

FAST = {"embedding_dim": 16, "batch_size": 32, "epochs": 3, "lr": 0.01}
CONTRACT = {"stamp": {"overrides": FAST, "pattern_metric": "HR@5", "pattern_threshold": 80.0}}


def identity_module(**overrides: object) -> STAMPModule:
    """d = 2, items 1 = (1, 0), 2 = (0, 1), 3 = (0.6, 0.8); every W = I and w0 = (1, 1)."""
    model = create("stamp", embedding_dim=2, **overrides)
    module = STAMPModule(3, model.config)  # type: ignore[arg-type]
    with torch.no_grad():
        module.embedding.weight.copy_(torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.6, 0.8]]))
        assert module.attention is not None
        for layer in (module.attention.w1, module.attention.w2, module.attention.w3):
            layer.weight.copy_(torch.eye(2))
        module.attention.w0.weight.fill_(1.0)
        module.mlp_session.weight.copy_(torch.eye(2))
        module.mlp_last.weight.copy_(torch.eye(2))
    return module.eval()


def test_attention_of_the_code_matches_hand_computation() -> None:
    # session x_1 = (1, 0), x_2 = (0, 1) = x_t, m_s = (0.5, 0.5); no b_a (code).
    # x_1 + x_t + m_s = (1.5, 1.5): alpha_1 = 2 sigmoid(1.5) = 1.635149;
    # x_2 + x_t + m_s = (0.5, 2.5): alpha_2 = sigmoid(0.5) + sigmoid(2.5) = 0.622459 + 0.924142.
    module = identity_module()
    batch = batch_from_lists([[1, 2]], create("stamp").batch_spec)
    inputs = module.embedding.weight[batch.items]
    assert module.attention is not None and module.attention.b_a is None
    alpha = module.attention.weights(inputs, batch.mask, inputs[:, 1])[0]
    torch.testing.assert_close(alpha, torch.tensor([1.635149, 1.546601]), atol=1e-6, rtol=0)
    # the code's m_a + m_s = (2.135149, 2.046601); h_s = tanh of it = (0.972430, 0.967176);
    # h_t = tanh(x_t) = (0, 0.761594); the session vector h_s * h_t = (0, 0.736596)
    torch.testing.assert_close(
        module.session_vector(batch)[0], torch.tensor([0.0, 0.967176 * 0.761594]), atol=1e-6, rtol=0
    )
    # scores <h_s * h_t, x_i> for items 1, 2, 3
    torch.testing.assert_close(
        module(batch)[0], torch.tensor([0.0, 0.736596, 0.8 * 0.736596]), atol=1e-5, rtol=0
    )


def test_paper_form_drops_m_s_from_the_attention_output() -> None:
    # m_a alone = (1.635149, 1.546601): h_s = (0.926791, 0.913223); h_t = (0, 0.761594)
    module = identity_module(add_mean=False)
    batch = batch_from_lists([[1, 2]], create("stamp").batch_spec)
    torch.testing.assert_close(
        module.session_vector(batch)[0], torch.tensor([0.0, 0.913223 * 0.761594]), atol=1e-6, rtol=0
    )


def test_input_embeddings_are_clipped_to_max_norm_not_the_scored_table() -> None:
    clipped = clip_norm(torch.tensor([[3.0, 4.0], [0.3, 0.4]]), 1.5)
    torch.testing.assert_close(clipped, torch.tensor([[0.9, 1.2], [0.3, 0.4]]))
    module = identity_module()
    with torch.no_grad():
        module.embedding.weight[2] = torch.tensor([0.0, 3.0])  # norm 3: looked up as (0, 1.5)
    batch = batch_from_lists([[2]], create("stamp").batch_spec)
    # x_t = m_s = (0, 1.5): alpha = sigmoid(0) + sigmoid(4.5) = 1.489013, m_a = (0, 2.233520),
    # m_a + m_s = (0, 3.733520), h_s = (0, 0.998857), h_t = (0, tanh 1.5) = (0, 0.905148)
    vector = module.session_vector(batch)[0]
    torch.testing.assert_close(vector, torch.tensor([0.0, 0.904114]), atol=1e-6, rtol=0)
    # scored against the raw row (0, 3), not the clipped one
    torch.testing.assert_close(module(batch)[0, 1], torch.tensor(2.712342), atol=1e-5, rtol=0)


def test_sr_stamp_keeps_its_attention_bias() -> None:
    config = create("sr-stamp", embedding_dim=4).config
    module = SRIEMModule(5, config)  # type: ignore[arg-type]
    assert "extractor.b_a" in module.state_dict()
    assert isinstance(StampAttention(4).b_a, torch.nn.Parameter)
