"""NARM: Li et al., "Neural Attentive Session-based Recommendation", CIKM 2017
(official code lijingsdu/sessionRec_NARM, Theano; notes 5.2).

Implements, on the last ``max_length`` = 19 items of each prefix:
- item embeddings (d = 50) with dropout 0.25, a GRU encoder (h = 100, ``nn.GRUEncoder``);
- the global encoder c_g = h_t, the last hidden state;
- the local encoder c_l = sum_j alpha_tj h_j with alpha_tj = v^T g(A1 h_t + A2 h_j)
  (``nn.AdditiveAttention``);
- c_t = [c_g; c_l] with dropout 0.5 and the bilinear decoder S_i = emb_i^T B c_t,
  B in R^{d x 2h}, over items 1..N with softmax cross-entropy.

Where the official code departs from the paper, a flag chooses; the defaults follow the
code, which produced the published numbers (preset ``narm-paper`` selects the paper):
- ``attention_activation="hard_sigmoid"``: g = Theano's clip(0.2x + 0.5, 0, 1) (paper: sigma);
- ``attention_softmax=True``: alpha is a softmax over the real positions (paper: raw);
- ``keep="last"``: the last 19 items of a prefix. The code keeps the *first* 19
  (``x[:19]``), so a long prefix loses its most recent clicks; ``keep="first"`` (preset
  ``narm-official``) reproduces it.
Also from the code: batch 512, Adam lr 1e-3 without L2 or decay, 30 epochs; weights
N(0, 2/fan_in), recurrent weights orthogonal, embeddings N(0, 2/N), biases 0.
Departures from the code, kept on purpose:
- the GRU's gates are sigmoids (the code's are hard sigmoids): ``torch.nn.GRU`` runs fused
  kernels, a hand-written hard-sigmoid cell would be a Python loop over positions;
- dropout is inverted (scaled by 1/keep at training time, identity when scoring); the code
  scales by keep at test time instead. Both give the same function up to a rescaling of
  the next layer's weights;
- row 0 (padding) is never scored (the code ranks it with the items); it starts at 0
  and no gradient reaches it (padded positions never reach a real state);
- model selection on the last 10% of the training sessions (the code: a random 10% of
  the prefixes).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import torch
from torch import nn

from sessionrec.config import check
from sessionrec.data.batching import Batch, BatchSpec
from sessionrec.models.neural import NeuralConfig, NeuralRecommender
from sessionrec.models.registry import register, register_preset
from sessionrec.nn.narm_encoder import NARMEncoder
from sessionrec.nn.scoring import CachedItemColumns, lookup_items


@dataclasses.dataclass(frozen=True)
class NARMConfig(NeuralConfig):
    embedding_dim: int = 50
    hidden_dim: int = 100
    batch_size: int = 512
    weight_decay: float = 0.0
    lr_gamma: float = 1.0  # no learning-rate decay
    max_length: int = 19
    keep: Literal["last", "first"] = "last"  # the code keeps the first 19 items
    embedding_dropout: float = 0.25
    output_dropout: float = 0.5
    attention_activation: Literal["sigmoid", "hard_sigmoid"] = "hard_sigmoid"
    attention_softmax: bool = True

    def validate(self) -> None:
        super().validate()
        check(self.hidden_dim > 0, "hidden_dim must be positive")
        check(self.max_length >= 1, "max_length must be >= 1")
        check(0 <= self.embedding_dropout < 1, "embedding_dropout must be in [0, 1)")
        check(0 <= self.output_dropout < 1, "output_dropout must be in [0, 1)")


def narm_init_(module: nn.Module, n_items: int) -> None:
    """The official code's initialisation: N(0, 2/fan_in), orthogonal recurrences, zero biases."""
    for name, parameter in module.named_parameters():
        if name.endswith("embedding.weight"):
            nn.init.normal_(parameter, 0.0, math.sqrt(2.0 / n_items))
        elif "bias" in name:
            nn.init.zeros_(parameter)
        elif "weight_hh" in name:
            for gate in parameter.data.chunk(3):  # U_r, U_z, U_n each orthogonal
                nn.init.orthogonal_(gate)
        else:
            nn.init.normal_(parameter, 0.0, math.sqrt(2.0 / parameter.shape[1]))
    with torch.no_grad():
        for embedding in (m for m in module.modules() if isinstance(m, nn.Embedding)):
            embedding.weight[0].zero_()


class NARMModule(CachedItemColumns):
    def __init__(self, n_items: int, config: NARMConfig) -> None:
        super().__init__()
        self.bf16 = config.bf16_scoring
        self.embedding = nn.Embedding(n_items + 1, config.embedding_dim)
        self.encoder = NARMEncoder(
            config.embedding_dim,
            config.hidden_dim,
            config.embedding_dropout,
            config.attention_activation,
            config.attention_softmax,
        )
        self.output_dropout = nn.Dropout(config.output_dropout)
        self.bilinear = nn.Linear(2 * config.hidden_dim, config.embedding_dim, bias=False)  # B
        narm_init_(self, n_items)

    def session_vector(self, batch: Batch) -> torch.Tensor:
        """B c_t [B, d]: the session side of the bilinear decoder."""
        global_vector, local_vector = self.encoder(lookup_items(self.embedding.weight, batch.items), batch)
        return self.bilinear(self.output_dropout(torch.cat([global_vector, local_vector], dim=1)))

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.score_against_items(self.session_vector(batch), self.embedding.weight, self.bf16)


@register("narm")
class NARM(NeuralRecommender):
    """NARM with the official code's settings (d=50, h=100, batch 512), the last 19 items."""

    config_class = NARMConfig
    config: NARMConfig
    item_scoring = "inner_product"  # scores = session_vector(batch) @ embedding[1:]^T (sessionrec.ann)

    @property
    def batch_spec(self) -> BatchSpec:
        return BatchSpec(max_length=self.config.max_length, keep=self.config.keep)

    def build_module(self, n_items: int) -> nn.Module:
        return NARMModule(n_items, self.config)


register_preset("narm-official", "narm", "the official code's truncation: the first 19 items", keep="first")
register_preset(
    "narm-paper",
    "narm",
    "the paper's attention: sigmoid, no softmax over positions",
    attention_activation="sigmoid",
    attention_softmax=False,
)
