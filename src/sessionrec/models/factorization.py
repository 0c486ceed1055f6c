"""Factorisation baselines trained with BPR on sampled negatives (notes 5.10).

- FPMC: Rendle et al., "Factorizing Personalized Markov Chains for Next-Basket
  Recommendation", WWW 2010. The score of item i after the last click l is the factorised
  Markov chain x(l -> i) = <V_l^{IL}, V_i^{LI}> (the paper's score without its user term
  <V_u^{UI}, V_i^{IU}>, as the session papers use it: NARM, STAMP, FOCOL; sessions are
  anonymous, and the basket is the last click).
- BPR-MF: Rendle et al., "BPR: Bayesian Personalized Ranking from Implicit Feedback",
  UAI 2009, as the session papers use it (Hidasi et al. 2016): one factor table V, a
  session's vector is the mean of its items' factors and x(s -> i) = <mean_{l in s} V_l, V_i>.

Both are trained on the library's (prefix -> next item) samples with the BPR criterion
(``nn.bpr``): for each sample, ``negatives`` items drawn uniformly, loss
mean softplus(x_j - x_i), plus ``l2`` (lambda) times the squared norms of each sample's
session vector and positive and negative factors, per sample (BPR-SGD regularises the
factors a step touches; for BPR-MF the session vector is their mean). The module defines
``training_loss(batch)``, which the trainer uses instead of softmax cross-entropy, so no
step ever scores every item. Scoring for ranking is the full product over items 1..N.
Departures: Adam (lr 1e-3, batch 512) instead of per-sample SGD (the result of one step
no longer depends on the order of the samples within a batch); BPR-MF has no user factors
at training time either (the session vector is its items' mean in training as at test);
an item's bias is not modelled (neither model's session-based form has one).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from sessionrec.config import check
from sessionrec.data.batching import Batch
from sessionrec.models.neural import NeuralConfig, NeuralRecommender
from sessionrec.models.registry import register
from sessionrec.nn.bpr import bpr_loss, uniform_negatives
from sessionrec.nn.importance import masked_mean
from sessionrec.nn.scoring import CachedItemColumns


@dataclasses.dataclass(frozen=True)
class BPRConfig(NeuralConfig):
    batch_size: int = 512
    epochs: int = 20
    weight_decay: float = 0.0  # regularisation is ``l2`` on the factors a batch touches
    lr_gamma: float = 1.0  # no learning-rate decay
    negatives: int = 1  # sampled per training sample
    l2: float = 1e-5
    init_std: float = 0.01

    def validate(self) -> None:
        super().validate()
        check(self.negatives >= 1, "negatives must be >= 1")
        check(self.l2 >= 0, "l2 must be >= 0")
        check(self.init_std > 0, "init_std must be positive")


class BPRModule(CachedItemColumns):
    """A session vector against a target factor table; BPR as the training loss."""

    target: nn.Embedding

    def __init__(self, n_items: int, config: BPRConfig) -> None:
        super().__init__()
        self.n_items, self.bf16 = n_items, config.bf16_scoring
        self.negatives, self.l2, self.init_std = config.negatives, config.l2, config.init_std

    def reset_parameters(self) -> None:
        for parameter in self.parameters():
            nn.init.normal_(parameter, 0.0, self.init_std)

    def session_vector(self, batch: Batch) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.score_against_items(self.session_vector(batch), self.target.weight, self.bf16)

    def training_loss(self, batch: Batch) -> torch.Tensor:
        assert batch.targets is not None
        session = self.session_vector(batch)
        negatives = uniform_negatives(self.n_items, batch.size, self.negatives, session.device)
        positive_factors = self.target(batch.targets)  # [B, d]
        negative_factors = self.target(negatives)  # [B, K, d]
        positive = (session * positive_factors).sum(1)
        negative = torch.bmm(negative_factors, session.unsqueeze(2)).squeeze(2)
        touched = session.square().sum() + positive_factors.square().sum() + negative_factors.square().sum()
        return bpr_loss(positive, negative) + self.l2 * touched / batch.size


class FPMCModule(BPRModule):
    def __init__(self, n_items: int, config: BPRConfig) -> None:
        super().__init__(n_items, config)
        self.last = nn.Embedding(n_items + 1, config.embedding_dim)  # V^{IL}: the last click
        self.target = nn.Embedding(n_items + 1, config.embedding_dim)  # V^{LI}: the next item
        self.reset_parameters()

    def session_vector(self, batch: Batch) -> torch.Tensor:
        return self.last(batch.last_items)


class BPRMFModule(BPRModule):
    def __init__(self, n_items: int, config: BPRConfig) -> None:
        super().__init__(n_items, config)
        self.target = nn.Embedding(n_items + 1, config.embedding_dim)  # V, items' factors
        self.reset_parameters()

    def session_vector(self, batch: Batch) -> torch.Tensor:
        return masked_mean(self.target(batch.items), batch.mask)


@register("fpmc")
class FPMC(NeuralRecommender):
    """FPMC without the user term: the factorised first-order Markov chain of the last click."""

    config_class = BPRConfig
    config: BPRConfig
    item_scoring = "inner_product"  # scores = session_vector(batch) @ target[1:]^T (sessionrec.ann)

    def build_module(self, n_items: int) -> nn.Module:
        return FPMCModule(n_items, self.config)

    def item_table(self) -> torch.Tensor:
        assert self.module_ is not None
        return self.module_.target.weight


@register("bprmf")
class BPRMF(NeuralRecommender):
    """BPR-MF with a session's vector the mean of its items' factors."""

    config_class = BPRConfig
    config: BPRConfig
    item_scoring = "inner_product"  # scores = session_vector(batch) @ target[1:]^T (sessionrec.ann)

    def build_module(self, n_items: int) -> nn.Module:
        return BPRMFModule(n_items, self.config)

    def item_table(self) -> torch.Tensor:
        assert self.module_ is not None
        return self.module_.target.weight
