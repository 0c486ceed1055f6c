"""SR-GNN: the shared contract, plus the maths of its layers on hand-made inputs."""

from __future__ import annotations

import torch

from sessionrec.data.batching import BatchSpec, batch_from_lists
from sessionrec.models.registry import create
from sessionrec.nn.ggnn import GGNNCell
from sessionrec.nn.readout import SoftAttentionReadout

FAST = {"embedding_dim": 32, "batch_size": 32, "epochs": 6, "lr": 0.01, "lr_step": 100}


CONTRACT = {"srgnn": {"overrides": FAST, "pattern_metric": "HR@5", "pattern_threshold": 80.0}}


def test_ggnn_step_equals_the_gru_equations() -> None:
    torch.manual_seed(0)
    cell = GGNNCell(4)
    hidden = torch.randn(1, 3, 4)
    adj_in = torch.tensor([[[0.0, 0, 0], [1, 0, 0], [0, 1, 0]]])
    adj_out = torch.tensor([[[0.0, 1, 0], [0, 0, 1], [0, 0, 0]]])
    a_in = adj_in[0] @ (hidden[0] @ cell.linear_in.weight.T + cell.linear_in.bias) + cell.bias_iah
    a_out = adj_out[0] @ (hidden[0] @ cell.linear_out.weight.T + cell.linear_out.bias) + cell.bias_oah
    a = torch.cat([a_in, a_out], 1)
    w_r, w_z, w_n = cell.w_ih.chunk(3)
    u_r, u_z, u_n = cell.w_hh.chunk(3)
    b_r, b_z, b_n = cell.b_ih.chunk(3)
    c_r, c_z, c_n = cell.b_hh.chunk(3)
    h = hidden[0]
    r = torch.sigmoid(a @ w_r.T + b_r + h @ u_r.T + c_r)
    z = torch.sigmoid(a @ w_z.T + b_z + h @ u_z.T + c_z)
    n = torch.tanh(a @ w_n.T + b_n + r * (h @ u_n.T + c_n))
    expected = (1 - z) * n + z * h
    torch.testing.assert_close(cell(hidden, adj_in, adj_out)[0], expected)


def test_readout_has_no_softmax_and_ignores_padding() -> None:
    torch.manual_seed(0)
    readout = SoftAttentionReadout(3)
    states = torch.randn(1, 3, 3)
    mask = torch.tensor([[True, True, False]])
    last = states[:, 1]
    alpha = readout.linear_three(
        torch.sigmoid(readout.linear_one(last)[:, None] + readout.linear_two(states))
    ).squeeze(2)
    expected = alpha[0, 0] * states[0, 0] + alpha[0, 1] * states[0, 1]
    torch.testing.assert_close(readout(states, mask, last)[0], expected)
    garbage = states.clone()
    garbage[0, 2] = 100.0  # whatever sits in a padded position changes nothing
    torch.testing.assert_close(readout(garbage, mask, last), readout(states, mask, last))


def test_scores_do_not_depend_on_padding_width() -> None:
    model = create("srgnn", embedding_dim=16)
    module = model.init_module(20)
    module.eval()
    spec = BatchSpec(graph=True)
    alone = module(batch_from_lists([[3, 4, 3]], spec))
    padded = module(batch_from_lists([[3, 4, 3], [1, 2, 5, 6, 7, 8, 9]], spec))[:1]
    torch.testing.assert_close(alone, padded)


def test_bf16_scoring_stays_close_to_fp32() -> None:
    fp32 = create("srgnn", embedding_dim=16)
    bf16 = create("srgnn", embedding_dim=16, bf16_scoring=True)
    batch = batch_from_lists([[3, 4, 3], [5, 6]], BatchSpec(graph=True))
    a, b = fp32.init_module(50)(batch), bf16.init_module(50)(batch)
    assert b.dtype == torch.float32
    torch.testing.assert_close(a, b, atol=0.02, rtol=0.02)
