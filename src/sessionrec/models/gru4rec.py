"""GRU4Rec: Hidasi et al., "Session-based Recommendations with Recurrent Neural Networks",
ICLR 2016, with the losses and sampling of Hidasi & Karatzoglou, "Recurrent Neural Networks
with Top-k Gains for Session-based Recommendations", CIKM 2018 (official code
hidasib/GRU4Rec, Theano, and hidasib/GRU4Rec_PyTorch_Official; notes 5.4). Written from
the papers and the notes; no code of those repositories is used (their licence forbids it).

Implements:
- the network (2016, section 3.1): one GRU layer (``nn.GRUEncoder``, ``torch.nn.GRU``'s
  r/z/n gates) over the clicks of a session, then scores r_j = g(h_t . W_j + b_j) of every
  item j, g the final activation (``final_activation``: ELU with ``elu_alpha``, linear or
  tanh). ``embedding_dim`` is the layer size, and the input vector of an item is its output
  vector W_j (the official code's ``constrained_embedding``), so one [N + 1, d] table;
- session-parallel mini-batches (2016, section 3.1.1; ``data.session_parallel``): each of
  ``batch_size`` rows follows one training session click by click, its hidden state
  carried from one batch to the next (detached: the gradient of a step stops at the state
  it started from) and reset to 0 where a new session takes the row. The state lives in the
  module between steps, starts each epoch at 0 (``before_epoch``) and is checkpointed
  (``epoch_hook_state``), so a resumed epoch continues from it. Sessions are taken in time
  order (``shuffle=False``, the official order; ``shuffle=True`` draws a seeded permutation
  per epoch);
- the candidates of a step (2018, section 3.1): the batch's own targets (mini-batch
  negatives for the other rows) plus ``n_sample`` negatives shared by the batch, drawn with
  P(j) ~ supp_j^``sample_alpha`` (``nn.popularity_sampler``; the sampler is built in
  ``prepare`` from the training clicks and saved with the model);
- the losses over those candidates (``nn.sampled_losses``): ``loss="bpr-max"`` (2018,
  section 3.3, with the score regularisation ``bpreg``) or ``"cross-entropy"`` (section 3.2)
  with the log-Q correction of strength ``logq`` (subtracting logq * log P(j) from every
  candidate's score before the softmax);
- Adagrad with Nesterov momentum (``nn.adagrad_momentum``; ``momentum``), no L2, the
  item rows a step touches updated sparsely; dropout on the input vectors
  (``embedding_dropout``) and on the GRU's output (``hidden_dropout``); weights uniform in
  +-sqrt(6 / (fan_in + fan_out)) per matrix (each gate's block on its own), biases 0.

Defaults are the official Diginetica parameters (``paramfiles/diginetica_bprmax_shared_best``
per notes 5.4: bpr-max, layers [512], batch 128, dropout 0.5 / 0.3, lr 0.05, momentum 0.15,
2048 samples, sample_alpha 0.3, bpreg 0.9, ELU 1, 10 epochs); preset ``gru4rec-diginetica``
names them, ``gru4rec-yoochoose`` is ``yoochoose_xe_shared_best`` (cross-entropy, [480],
batch 48, dropout 0 / 0.2, lr 0.07, momentum 0, sample_alpha 0.2, logq 1; its final activation
is linear here, as the notes give none for that set). The SR-GNN-table rows of GRU4Rec
(29.45 / 8.33 on Diginetica) come from 2016-style runs (TOP1/BPR, about 100 units), not from
these parameters; TOP1 and BPR are not implemented.

Scoring for evaluation and serving: the GRU runs over the whole prefix from h_0 = 0 and
every item is scored; in eval mode (no dropout) this is the hidden state session-parallel
training reaches after the same clicks, and every prefix of a test session is scored as
the project's protocol does (the official evaluation also predicts at every position).

Departures, and what the notes do not settle:
- ``constrained_embedding`` is the only input representation (the notes name it as the
  option the official code offers; the separate-embedding and one-hot inputs are not
  implemented), and item vectors have the layer's size;
- ``carry_dropped_state=True``: the state carried to the session's next click is the
  dropped-out output, as we understand the official code to do (not verified in the notes);
  ``False`` carries the state before dropout;
- the log-Q correction uses the sampler's P(j) for every candidate, the in-batch targets
  included (those are drawn by the data, not by the sampler);
- the epoch ends when a row cannot be refilled (the official rule), so the last sessions in
  progress lose their remaining clicks: at most ``batch_size - 1`` sessions per epoch;
- model selection is the project's (an epoch per validation score, in eval mode); the
  official code trains a fixed number of epochs. Training events are counted as samples.
- the GRU's gates are torch's (the official GRU is the same function; its initialisation of
  the hidden-to-hidden block is not orthogonal here).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from sessionrec.config import check
from sessionrec.data.batching import Batch
from sessionrec.data.session_parallel import (
    SessionStarts,
    n_session_parallel_batches,
    session_order,
    session_parallel_batches,
)
from sessionrec.data.sessions import Split
from sessionrec.models.neural import NeuralConfig, NeuralRecommender
from sessionrec.models.prepared import Prepared
from sessionrec.models.registry import register, register_preset
from sessionrec.nn.adagrad_momentum import AdagradNesterov
from sessionrec.nn.gru import GRUEncoder
from sessionrec.nn.popularity_sampler import draw, sampling_cdf, sampling_probabilities
from sessionrec.nn.sampled_losses import bpr_max_loss, sampled_cross_entropy
from sessionrec.nn.scoring import CachedItemColumns, lookup_items


@dataclasses.dataclass(frozen=True)
class GRU4RecConfig(NeuralConfig):
    embedding_dim: int = 512  # the GRU layer's size, and the items' vectors (constrained embedding)
    batch_size: int = 128  # session-parallel rows
    epochs: int = 10
    lr: float = 0.05
    weight_decay: float = 0.0  # GRU4Rec has no L2
    lr_gamma: float = 1.0  # no learning-rate decay
    shuffle: bool = False  # sessions in time order, as the official code
    momentum: float = 0.15  # Nesterov momentum of Adagrad
    adagrad_eps: float = 1e-6
    loss: Literal["bpr-max", "cross-entropy"] = "bpr-max"
    final_activation: Literal["elu", "linear", "tanh"] = "elu"
    elu_alpha: float = 1.0
    n_sample: int = 2048  # shared negatives per step, besides the batch's own targets
    sample_alpha: float = 0.3
    bpreg: float = 0.9  # BPR-max score regularisation
    logq: float = 0.0  # log-Q correction of cross-entropy (0: none)
    embedding_dropout: float = 0.5
    hidden_dropout: float = 0.3
    carry_dropped_state: bool = True

    def validate(self) -> None:
        super().validate()
        check(self.weight_decay == 0, "GRU4Rec has no L2: weight_decay must be 0 (its optimiser ignores it)")
        check(0 <= self.momentum < 1, "momentum must be in [0, 1)")
        check(self.adagrad_eps > 0, "adagrad_eps must be positive")
        check(self.elu_alpha > 0, "elu_alpha must be positive")
        check(self.n_sample >= 0, "n_sample must be >= 0")
        check(self.sample_alpha >= 0, "sample_alpha must be >= 0")
        check(self.bpreg >= 0, "bpreg must be >= 0")
        check(self.logq >= 0, "logq must be >= 0")
        check(0 <= self.embedding_dropout < 1, "embedding_dropout must be in [0, 1)")
        check(0 <= self.hidden_dropout < 1, "hidden_dropout must be in [0, 1)")


def xavier_uniform_(tensor: torch.Tensor) -> None:
    """U(-a, a) with a = sqrt(6 / (rows + columns)), GRU4Rec's initialisation."""
    bound = math.sqrt(6.0 / (tensor.shape[0] + tensor.shape[1]))
    nn.init.uniform_(tensor, -bound, bound)


class GRU4RecModule(CachedItemColumns):
    """One GRU layer over item vectors; scores against the same vectors plus item biases."""

    def __init__(self, n_items: int, config: GRU4RecConfig, probabilities: np.ndarray) -> None:
        super().__init__()
        dim = config.embedding_dim
        self.config, self.bf16 = config, config.bf16_scoring
        self.items = nn.Parameter(torch.empty(n_items + 1, dim))  # W (inputs and outputs)
        self.bias = nn.Parameter(torch.zeros(n_items + 1, 1))  # b, [N + 1, 1] for sparse lookups
        self.encoder = GRUEncoder(dim, dim)
        self.embedding_dropout = nn.Dropout(config.embedding_dropout)
        self.hidden_dropout = nn.Dropout(config.hidden_dropout)
        probabilities = np.asarray(probabilities, dtype=np.float64)
        self.register_buffer("cdf", torch.from_numpy(sampling_cdf(probabilities)), persistent=False)
        with np.errstate(divide="ignore"):
            log_p = np.log(probabilities).astype(np.float32)
        self.register_buffer("log_p", torch.from_numpy(log_p), persistent=False)
        self.hidden: torch.Tensor | None = None  # [B, d], the rows' states between training steps
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            xavier_uniform_(self.items)
            self.items[0].zero_()
            self.bias.zero_()
            gru = self.encoder.gru
            for weight in (gru.weight_ih_l0, gru.weight_hh_l0):
                for gate in weight.chunk(3):
                    xavier_uniform_(gate)
            gru.bias_ih_l0.zero_()
            gru.bias_hh_l0.zero_()

    def activation(self, scores: torch.Tensor) -> torch.Tensor:
        kind = self.config.final_activation
        if kind == "elu":
            return F.elu(scores, self.config.elu_alpha)
        return torch.tanh(scores) if kind == "tanh" else scores

    def forward(self, batch: Batch) -> torch.Tensor:
        """Scores [B, N] of every item after each prefix: the GRU over the prefix from h_0 = 0."""
        _, state = self.encoder(lookup_items(self.items, batch.items), batch.lengths)
        scores = self.score_against_items(state, self.items, self.bf16) + self.bias[1:, 0]
        return self.activation(scores)

    def step_state(self, batch: Batch) -> torch.Tensor:
        """The rows' outputs [B, d] at this session-parallel step (the carried state advanced)."""
        assert isinstance(batch.extra, SessionStarts), "GRU4Rec trains on session-parallel batches"
        rows, dim = batch.size, self.items.shape[1]
        hidden = self.hidden
        if hidden is None or hidden.shape[0] != rows:
            hidden = torch.zeros(rows, dim, device=self.items.device)
        hidden = hidden.masked_fill(batch.extra.starts.unsqueeze(1), 0.0)
        inputs = self.embedding_dropout(F.embedding(batch.items[:, 0], self.items, sparse=True))
        _, state = self.encoder(inputs.unsqueeze(1), batch.lengths, hidden)
        output = self.hidden_dropout(state)
        self.hidden = (output if self.config.carry_dropped_state else state).detach()
        return output

    def training_loss(self, batch: Batch) -> torch.Tensor:
        assert batch.targets is not None
        output = self.step_state(batch)
        negatives = draw(self.cdf, self.config.n_sample) if self.config.n_sample else batch.targets[:0]
        candidates = torch.cat([batch.targets, negatives])
        weights = F.embedding(candidates, self.items, sparse=True)  # [C, d]
        bias = F.embedding(candidates, self.bias, sparse=True).squeeze(1)  # [C]
        scores = self.activation(torch.addmm(bias.unsqueeze(0), output, weights.t()))  # [B, C]
        positive = torch.arange(batch.size, device=scores.device)
        if self.config.loss == "cross-entropy":
            return sampled_cross_entropy(scores, positive, self.log_p[candidates], self.config.logq)
        return bpr_max_loss(scores, positive, self.config.bpreg)

    def training_optimizer(self, groups: list[dict[str, Any]], lr: float) -> torch.optim.Optimizer:
        return AdagradNesterov(groups, lr=lr, momentum=self.config.momentum, eps=self.config.adagrad_eps)

    # session-parallel state: reset per epoch, kept in checkpoints (training.EpochHook)
    def before_epoch(self, epoch: int, lr: float, seed: int) -> dict[str, float]:
        self.hidden = None
        return {}

    def epoch_hook_state(self) -> dict[str, Any]:
        return {"hidden": self.hidden if self.hidden is not None else torch.zeros(0)}

    def load_epoch_hook_state(self, state: dict[str, Any]) -> None:
        hidden = state.get("hidden")
        self.hidden = hidden.to(self.items.device) if hidden is not None and hidden.numel() else None


@register("gru4rec")
class GRU4Rec(NeuralRecommender):
    """GRU4Rec with the official Diginetica parameters, trained on session-parallel batches."""

    config_class = GRU4RecConfig
    config: GRU4RecConfig

    def prepare(self, train: Split) -> Prepared:
        """The negative sampler: P(j) ~ supp_j^sample_alpha over the training clicks."""
        return {"sample_probability": sampling_probabilities(train.item_counts(), self.config.sample_alpha)}

    def build_module(self, n_items: int) -> nn.Module:
        return GRU4RecModule(n_items, self.config, self.prepared_["sample_probability"])

    def _order(self, train: Split, epoch: int) -> np.ndarray:
        return session_order(train.sessions, self.config.shuffle, self.config.seed, epoch)

    def training_batches(self, train: Split, epoch: int, start_batch: int = 0) -> Iterator[Batch]:
        return session_parallel_batches(
            train.sessions, self._order(train, epoch), self.config.batch_size, start_batch
        )

    def n_training_batches(self, train: Split, epoch: int = 0) -> int:
        return n_session_parallel_batches(train.sessions, self._order(train, epoch), self.config.batch_size)


register_preset("gru4rec-diginetica", "gru4rec", "the official Diginetica parameters (the defaults)")
register_preset(
    "gru4rec-yoochoose",
    "gru4rec",
    "the official Yoochoose parameters: cross-entropy with log-Q correction, [480], batch 48",
    loss="cross-entropy",
    final_activation="linear",
    embedding_dim=480,
    batch_size=48,
    embedding_dropout=0.0,
    hidden_dropout=0.2,
    lr=0.07,
    momentum=0.0,
    sample_alpha=0.2,
    bpreg=0.0,
    logq=1.0,
)
