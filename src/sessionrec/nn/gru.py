r"""A GRU over right-padded item sequences (NARM, CSRM, GRU4Rec).

.. math::
    r_t = \sigma(W_r x_t + U_r h_{t-1} + b_r),\quad z_t = \sigma(W_z x_t + U_z h_{t-1} + b_z)

    n_t = \tanh(W_n x_t + b_n + r_t \odot (U_n h_{t-1} + b'_n)),\quad
    h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}

(``torch.nn.GRU``, one layer, h_0 = 0 or ``initial``). Batches are left-aligned and right-padded, and a
GRU is causal: the output at position j < length depends on positions 0..j only, so the
padded tail never reaches a real position and no packing is needed. The session's final
state is the output at position ``length - 1``; outputs at padded positions are zeroed.
Shapes: inputs [B, L, d_in], lengths [B] (>= 1), initial [B, h] -> outputs [B, L, h], last [B, h].
GRU4Rec's session-parallel training runs it one click at a time (L = 1) from the state
carried over from the session's previous click: the same function as running it over the
whole prefix from h_0 = 0, which is how it scores a prefix.
"""

from __future__ import annotations

import torch
from torch import nn


class GRUEncoder(nn.Module):
    def __init__(self, input_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.hidden_dim = hidden_dim
        self.gru = nn.GRU(input_dim, hidden_dim, batch_first=True)

    def reset_parameters(self) -> None:
        self.gru.reset_parameters()

    def forward(
        self, inputs: torch.Tensor, lengths: torch.Tensor, initial: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        outputs, _ = self.gru(inputs, None if initial is None else initial.unsqueeze(0))
        width = outputs.shape[1]
        real = torch.arange(width, device=outputs.device)[None, :] < lengths[:, None]
        outputs = outputs * real.unsqueeze(2).to(outputs.dtype)
        rows = torch.arange(outputs.shape[0], device=outputs.device)
        return outputs, outputs[rows, lengths - 1]
