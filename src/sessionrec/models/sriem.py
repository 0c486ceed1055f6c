"""SR-IEM: Pan et al., "Rethinking Item Importance in Session-based Recommendation", SIGIR 2020
(official code nudtzpan/SRIEM; notes 4.4).

Implements, on the last ``max_length`` = 10 items of each prefix (embeddings d = 200):
- the importance extraction module (Eq. 1-5, ``nn.importance.ImportanceExtraction``);
- the long-term preference z_l = sum_i beta_i e_i (Eq. 6), the current interest z_s = e_t
  and their fusion z_h = W0 [z_l; z_s] (Eq. 7);
- scores z_h . e_i over items 1..N (Eq. 8), trained with softmax cross-entropy (what the
  code optimises, not Eq. 10's binary form).

Where the official code departs from the paper, a flag chooses; the defaults follow the
code, which produced the published numbers (preset ``sriem-paper`` selects the paper):
- ``qk_sigmoid=False``: Q = E W_q and K = E W_k are linear (paper: sigmoid, Eq. 1-2);
- ``attention_dim=0``: l = d (the code defines l = 100 but never uses it; paper: 100);
- ``scale="inside"``: C = sigmoid(QK^T / sqrt(d)) (paper: sigmoid(QK^T) / sqrt(d), Eq. 3);
- ``divisor="t-1"``: alpha_i averages over the t - 1 other items, 1 when t = 1 (paper: 1/t);
- ``fusion_bias=True``: W0 is a Linear with a bias (paper: W0 alone);
- ``batch_size=256`` (paper: 128); LR x0.1 every 3 epochs stepped after each epoch
  (``lr_step_at="end"``); every parameter ~ U(+-1/sqrt(d)).
- The code never shuffles the training batches (preset ``sriem-official``); shuffling
  each epoch is the default here, as every other model of the family does.
Departure from both: model selection on a validation split by default.

Variants (section 4.3, Fig. 3), the IEM replaced by: STAMP's attention with the mixture of
all items and the last item as query (``sr-stamp``: alpha_i = w0^T sigmoid(W1 e_i + W2 e_t +
W3 m_s + b), unnormalised as in STAMP), or a self-attention layer followed by average
pooling (``sr-sat``). The paper gives no more detail; these readings are documented in
``nn.importance``.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import torch
from torch import nn

from sessionrec.config import check
from sessionrec.data.batching import Batch, BatchSpec
from sessionrec.models.neural import NeuralConfig, NeuralRecommender, uniform_init_
from sessionrec.models.registry import register, register_preset
from sessionrec.nn.importance import ImportanceExtraction, SelfAttentionPooling, StampAttention
from sessionrec.nn.scoring import CachedItemColumns, lookup_items


@dataclasses.dataclass(frozen=True)
class SRIEMConfig(NeuralConfig):
    embedding_dim: int = 200
    batch_size: int = 256  # code; the paper says 128
    lr_step_at: Literal["start", "end"] = "end"
    max_length: int = 10  # the last 10 items of each prefix
    importance: Literal["iem", "stamp", "sat"] = "iem"  # IEM, or the SR-STAMP / SR-SAT variants
    attention_dim: int = 0  # l; 0 means l = embedding_dim (code); paper: 100
    qk_sigmoid: bool = False  # code: linear Q, K; paper: sigmoid
    scale: Literal["inside", "outside"] = "inside"  # 1/sqrt(d) inside the sigmoid (code)
    divisor: Literal["t-1", "t"] = "t-1"  # code: t - 1 (1 when t = 1); paper: t
    fusion_bias: bool = True  # code: W0 with a bias; paper: without

    def validate(self) -> None:
        super().validate()
        check(self.max_length >= 1, "max_length must be >= 1")
        check(self.attention_dim >= 0, "attention_dim must be >= 0 (0: same as embedding_dim)")
        iem_only = {"attention_dim": 0, "qk_sigmoid": False, "scale": "inside", "divisor": "t-1"}
        changed = [k for k, v in iem_only.items() if getattr(self, k) != v]
        check(
            self.importance == "iem" or not changed,
            f"{', '.join(changed)} only apply to importance='iem', not {self.importance!r}",
        )


class SRIEMModule(CachedItemColumns):
    def __init__(self, n_items: int, config: SRIEMConfig) -> None:
        super().__init__()
        dim, self.bf16 = config.embedding_dim, config.bf16_scoring
        self.embedding = nn.Embedding(n_items + 1, dim)
        self.extractor: nn.Module
        if config.importance == "iem":
            inside = config.scale == "inside"
            width = config.attention_dim or dim
            self.extractor = ImportanceExtraction(dim, width, config.qk_sigmoid, inside, config.divisor)
        elif config.importance == "stamp":
            self.extractor = StampAttention(dim)
        else:
            self.extractor = SelfAttentionPooling(dim)
        self.fusion = nn.Linear(2 * dim, dim, bias=config.fusion_bias)
        uniform_init_(self, dim)

    def session_vector(self, batch: Batch) -> torch.Tensor:
        """z_h = W0 [z_l; z_s] (Eq. 7)."""
        embeddings = lookup_items(self.embedding.weight, batch.items)
        last = embeddings[torch.arange(batch.size, device=embeddings.device), batch.lengths - 1]
        long_term = self.extractor(embeddings, batch.mask, last)
        return self.fusion(torch.cat([long_term, last], dim=1))

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.score_against_items(self.session_vector(batch), self.embedding.weight, self.bf16)


@register("sriem")
class SRIEM(NeuralRecommender):
    """SR-IEM with the official code's settings (d=200, last 10 items, batch 256)."""

    config_class = SRIEMConfig
    config: SRIEMConfig
    item_scoring = "inner_product"  # scores = session_vector(batch) @ embedding[1:]^T (sessionrec.ann)

    @property
    def batch_spec(self) -> BatchSpec:
        return BatchSpec(max_length=self.config.max_length, keep="last")

    def build_module(self, n_items: int) -> nn.Module:
        return SRIEMModule(n_items, self.config)


register_preset("sriem-official", "sriem", "the official code's training order: no shuffling", shuffle=False)
register_preset(
    "sriem-paper",
    "sriem",
    "the paper's equations: sigmoid Q/K, l=100, 1/sqrt(d) outside, 1/t, W0 without bias; batch 128",
    qk_sigmoid=True,
    attention_dim=100,
    scale="outside",
    divisor="t",
    fusion_bias=False,
    batch_size=128,
)
register_preset("sr-stamp", "sriem", "IEM replaced by STAMP's attention (section 4.3)", importance="stamp")
register_preset(
    "sr-sat", "sriem", "IEM replaced by self-attention + average pooling (section 4.3)", importance="sat"
)
