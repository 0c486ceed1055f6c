"""STAMP: Liu et al., "STAMP: Short-Term Attention/Memory Priority Model for Session-based
Recommendation", KDD 2018 (official code uestcnlp/STAMP, ``STAMP_cikm.py``; notes 5.3).

Implements, for a prefix x_1..x_t (embeddings d = 100):
- the general interest m_s = (1/t) sum_i x_i and the last click x_t;
- the attention alpha_i = w0^T sigmoid(W1 x_i + W2 x_t + W3 m_s [+ b_a]), unnormalised,
  and m_a = sum_i alpha_i x_i, with SR-IEM's layer ``nn.importance.StampAttention``;
- the two MLP cells h_s = tanh(W_s m_a'), h_t = tanh(W_t x_t) and the
  trilinear scores z_i = <h_s, h_t, x_i> = (h_s * h_t) . x_i over items 1..N,
  with softmax cross-entropy.

Where the official code departs from the paper, a flag chooses; the defaults follow the
code, which produced the published numbers (preset ``stamp-paper`` selects the paper):
- ``add_mean=True``: the attention output is m_a' = m_a + m_s (paper: m_a alone);
- ``attention_bias=False``: no b_a in the attention (paper: b_a);
- ``mlp_bias=False``: no biases in the MLP cells (paper: b_s, b_t);
- ``max_norm=1.5``: embeddings are clipped to norm 1.5 where they are looked up as
  inputs (the code's ``embedding_lookup(max_norm=1.5)``; scoring uses the raw table);
  0 turns it off (the paper does not mention it).
Also from the code: lr 3e-3, batch 512, 10 epochs, no L2 or decay; weights N(0, 0.05^2),
embeddings N(0, 0.002^2).
Departures from the code:
- the code clips each gradient tensor to norm 150; the trainer does not clip;
- the code batches sessions of equal length; here prefixes are padded to the batch's
  longest, which changes nothing in the scores (padding is masked out of m_s and alpha);
- model selection on a validation split, padding row 0 never scored.
Variant: ``stmp``, no attention: m_a' = m_s.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from sessionrec.config import check
from sessionrec.data.batching import Batch
from sessionrec.models.neural import NeuralConfig, NeuralRecommender
from sessionrec.models.registry import register, register_preset
from sessionrec.nn.importance import StampAttention, masked_mean
from sessionrec.nn.scoring import CachedItemColumns, lookup_items


@dataclasses.dataclass(frozen=True)
class STAMPConfig(NeuralConfig):
    batch_size: int = 512
    epochs: int = 10
    lr: float = 3e-3
    weight_decay: float = 0.0
    lr_gamma: float = 1.0  # no learning-rate decay
    attention: bool = True  # False: STMP (m_a' = m_s)
    add_mean: bool = True  # code: m_a + m_s; paper: m_a
    attention_bias: bool = False  # code: none; paper: b_a
    mlp_bias: bool = False  # code: none; paper: b_s, b_t
    max_norm: float = 1.5  # input embeddings clipped to this norm (code); 0: off
    init_std: float = 0.05
    embedding_init_std: float = 0.002

    def validate(self) -> None:
        super().validate()
        check(self.max_norm >= 0, "max_norm must be >= 0 (0: no clipping)")
        check(self.init_std > 0 and self.embedding_init_std > 0, "init stds must be positive")


def clip_norm(vectors: torch.Tensor, max_norm: float) -> torch.Tensor:
    """Rows scaled down to norm ``max_norm`` where longer (TF's clip_by_norm), differentiable."""
    norms = vectors.norm(dim=-1, keepdim=True)
    return vectors * (max_norm / norms.clamp(min=max_norm))


class STAMPModule(CachedItemColumns):
    def __init__(self, n_items: int, config: STAMPConfig) -> None:
        super().__init__()
        dim = config.embedding_dim
        self.bf16, self.max_norm = config.bf16_scoring, config.max_norm
        self.add_mean = config.add_mean
        self.embedding = nn.Embedding(n_items + 1, dim)
        self.attention = StampAttention(dim, bias=config.attention_bias) if config.attention else None
        self.mlp_session = nn.Linear(dim, dim, bias=config.mlp_bias)  # W_s
        self.mlp_last = nn.Linear(dim, dim, bias=config.mlp_bias)  # W_t
        for name, parameter in self.named_parameters():
            if name == "embedding.weight":
                nn.init.normal_(parameter, 0.0, config.embedding_init_std)
            elif parameter.ndim > 1:
                nn.init.normal_(parameter, 0.0, config.init_std)
            else:
                nn.init.zeros_(parameter)

    def session_vector(self, batch: Batch) -> torch.Tensor:
        """h_s * h_t [B, d]."""
        inputs = lookup_items(self.embedding.weight, batch.items)
        if self.max_norm > 0:
            inputs = clip_norm(inputs, self.max_norm)
        last = inputs[torch.arange(batch.size, device=inputs.device), batch.lengths - 1]
        mean = masked_mean(inputs, batch.mask)
        if self.attention is None:
            memory = mean
        else:
            memory = self.attention(inputs, batch.mask, last)
            memory = memory + mean if self.add_mean else memory
        return torch.tanh(self.mlp_session(memory)) * torch.tanh(self.mlp_last(last))

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.score_against_items(self.session_vector(batch), self.embedding.weight, self.bf16)


@register("stamp")
class STAMP(NeuralRecommender):
    """STAMP with the official code's settings (d=100, batch 512, lr 3e-3, 10 epochs)."""

    config_class = STAMPConfig
    config: STAMPConfig
    item_scoring = "inner_product"  # scores = session_vector(batch) @ embedding[1:]^T (sessionrec.ann)

    def build_module(self, n_items: int) -> nn.Module:
        return STAMPModule(n_items, self.config)


register_preset(
    "stamp-paper",
    "stamp",
    "the paper's equations: m_a alone, biases in the attention and MLP cells, no max_norm",
    add_mean=False,
    attention_bias=True,
    mlp_bias=True,
    max_norm=0.0,
)
register_preset("stmp", "stamp", "STMP: no attention, the MLP cell reads m_s", attention=False)
