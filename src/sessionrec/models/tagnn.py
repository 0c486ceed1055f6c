"""TAGNN: Yu et al., "TAGNN: Target Attentive Graph Neural Networks for Session-based
Recommendation", SIGIR 2020 (official code CRIPAC-DIG/TAGNN; notes 4.3).

Implements:
- SR-GNN's session graph and gated graph cell (Eq. 1-5, ``nn.GGNNCell``), one step;
- target-aware attention beta_{i,t} = softmax_i(v_t^T W v_i) (Eq. 6) and the target
  embedding s_target^t = sum_i beta_{i,t} v_i (Eq. 7), scored for all N candidates
  without ever building a [B, N, d] tensor (``nn.target_attention``);
- local embedding s_local = state of the last item; global embedding
  s_global = sum_i alpha_i v_i with alpha_i = q^T sigmoid(W1 v_n + W2 v_i + c) (Eq. 8-9);
- the session embedding s_t = W3 [s_target^t; s_local; s_global] (Eq. 10) and the scores
  z_t = s_t . v_t (Eq. 11), trained with softmax cross-entropy (what the code optimises,
  not Eq. 13's binary form).

Where the official code departs from the paper, a flag chooses; the defaults follow the
code, which produced the published numbers (preset ``tagnn-paper`` selects the paper):
- ``combine="add"``: score_t = (W3'[s_global; s_local] + b + s_target^t) . e_t, the target
  vector added to SR-GNN's hybrid vector; ``"concat"`` is Eq. 10 (W3 in R^{d x 3d}, no bias).
- ``readout_softmax="padded"``: a softmax over Eq. 8's alpha across the padded sequence;
  ``"none"`` is Eq. 8 as printed (and SR-GNN), ``"masked"`` a softmax over real positions.
- ``target_softmax="padded"``: padded positions (zeroed states) enter Eq. 6's softmax with
  logit 0; ``"masked"`` is the proper softmax over the session's items.
- ``pad_length``: the official code pads every prefix to the dataset's longest, so a prefix
  of length n has ``pad_length - n`` phantom positions; they are counted analytically
  (readout phantoms hold the padding node's state: embedding row 0 through the GGNN with
  no edges, as in the code). Default -1: the longest training prefix, fixed at fit and
  saved with the weights; 0: no phantoms; k > 0: fixed. The official code pads the test
  file to its own maximum (40 on Diginetica, 69 for training); here one value serves
  training and scoring, so a session scores the same wherever it is used.
Also from the code: every parameter ~ U(+-1/sqrt(d)); LR x0.1 every 3 epochs stepped at
epoch start. Departure from both: model selection on a validation split by default.
``bf16_scoring`` only touches the s . e_t matmul; the target term stays in float32 (its
logits feed an exponential, and CPU matmuls cannot return float32 from bfloat16 inputs).

Variants (section 3.3, Fig. 2): without target attention, the session vector is the
local embedding only (``tagnn-l``), average pooling of the states (``tagnn-avg``), the
attentive global embedding (``tagnn-att``) or local + attentive global (``tagnn-l+att``).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from sessionrec.config import check
from sessionrec.data.batching import Batch, BatchSpec
from sessionrec.data.sessions import Split
from sessionrec.models.neural import NeuralConfig, NeuralRecommender, uniform_init_
from sessionrec.models.prepared import Prepared
from sessionrec.models.registry import register, register_preset
from sessionrec.nn.ggnn import GGNNCell
from sessionrec.nn.readout import SoftAttentionReadout
from sessionrec.nn.scoring import CachedItemColumns, lookup_items
from sessionrec.nn.target_attention import TargetAttention


@dataclasses.dataclass(frozen=True)
class TAGNNConfig(NeuralConfig):
    steps: int = 1  # GGNN propagation steps
    target: bool = True  # target-aware attention (the ablation variants drop it)
    local: bool = True  # s_local: the last item's state
    global_pool: Literal["att", "avg", "none"] = "att"  # s_global: Eq. 8-9, mean, absent
    combine: Literal["add", "concat"] = "add"  # code: target added; paper: W3[...] (Eq. 10)
    readout_softmax: Literal["padded", "masked", "none"] = "padded"  # code; paper: none
    target_softmax: Literal["padded", "masked"] = "padded"  # code; paper: masked
    pad_length: int = -1  # -1: longest training prefix; 0: no phantom padding
    target_memory_mb: int = 512  # work buffer of the target attention; items chunked beyond

    def validate(self) -> None:
        super().validate()
        check(1 <= self.steps <= 10, "steps must be in 1..10")
        check(self.pad_length >= -1, "pad_length must be -1 (auto), 0 (none) or a positive length")
        check(self.target_memory_mb > 0, "target_memory_mb must be positive")
        check(
            self.target or self.local or self.global_pool != "none",
            "empty session representation: enable target, local or a global_pool",
        )
        check(
            self.pad_length <= 0 or self.uses_padding,
            "pad_length only applies with readout_softmax='padded' (global_pool='att') "
            "or target_softmax='padded' (target=true)",
        )

    @property
    def uses_padding(self) -> bool:
        readout = self.global_pool == "att" and self.readout_softmax == "padded"
        return readout or (self.target and self.target_softmax == "padded")


class TAGNNModule(CachedItemColumns):
    pad_length: torch.Tensor

    def __init__(self, n_items: int, config: TAGNNConfig, pad_length: int) -> None:
        super().__init__()
        dim, self.config = config.embedding_dim, config
        self.embedding = nn.Embedding(n_items + 1, dim)
        self.gnn = GGNNCell(dim, config.steps)
        self.readout: SoftAttentionReadout | None = None
        if config.global_pool == "att":
            self.readout = SoftAttentionReadout(dim, config.readout_softmax)
        parts = int(config.local) + int(config.global_pool != "none")
        self.linear_transform: nn.Linear | None = None  # SR-GNN's hybrid transform (code)
        self.w3: nn.Linear | None = None  # Eq. 10's W3 (paper)
        if config.combine == "add" and parts == 2:
            self.linear_transform = nn.Linear(2 * dim, dim)
        elif config.combine == "concat":
            self.w3 = nn.Linear((parts + int(config.target)) * dim, dim, bias=False)
        self.target = TargetAttention(dim, config.target_memory_mb) if config.target else None
        self.register_buffer("pad_length", torch.tensor(pad_length, dtype=torch.int64))
        uniform_init_(self, dim)

    def _pad_state(self) -> torch.Tensor:
        """State of the official code's padding node: row 0 through the GGNN, no edges."""
        dim = self.embedding.weight.shape[1]
        no_edges = self.embedding.weight.new_zeros(1, 1, 1)
        return self.gnn(self.embedding.weight[:1].view(1, 1, dim), no_edges, no_edges).view(dim)

    def forward(self, batch: Batch) -> torch.Tensor:
        config, graph = self.config, batch.graph
        assert graph is not None, "TAGNN needs batches built with BatchSpec(graph=True)"
        hidden = self.gnn(lookup_items(self.embedding.weight, graph.nodes), graph.adj_in, graph.adj_out)
        states = hidden.gather(1, graph.alias.unsqueeze(2).expand(-1, -1, hidden.shape[2]))
        last = states[torch.arange(batch.size, device=states.device), batch.lengths - 1]
        mask = batch.mask
        pad_count = (self.pad_length - batch.lengths).clamp(min=0).to(hidden.dtype)
        local = [last] if config.local else []
        pooled = []
        if self.readout is not None:
            padding = (pad_count, self._pad_state()) if config.readout_softmax == "padded" else (None, None)
            pooled = [self.readout(states, mask, last, *padding)]
        elif config.global_pool == "avg":
            pooled = [(states * mask.unsqueeze(2)).sum(1) / batch.lengths.unsqueeze(1).to(hidden.dtype)]
        values = hidden
        if config.combine == "add":
            parts = [*pooled, *local]  # the code's order: [s_global; s_local]
            if self.linear_transform is not None:
                session = self.linear_transform(torch.cat(parts, dim=1))
            else:
                session = parts[0] if parts else last.new_zeros(last.shape)
        else:  # Eq. 10: W3 [s_target; s_local; s_global] = W3_t s_target + W3_r [s_local; s_global]
            assert self.w3 is not None
            dim, weight = hidden.shape[2], self.w3.weight
            rest = weight[:, dim:] if config.target else weight
            parts = [*local, *pooled]
            session = F.linear(torch.cat(parts, dim=1), rest) if parts else last.new_zeros(last.shape)
            values = F.linear(hidden, weight[:, :dim]) if config.target else hidden
        weight = self.embedding.weight
        scores = self.score_against_items(session, weight, config.bf16_scoring)
        if self.target is None:
            return scores
        counts = torch.zeros(hidden.shape[:2], dtype=hidden.dtype, device=hidden.device)
        counts.scatter_add_(1, graph.alias, mask.to(hidden.dtype))  # positions per node
        phantoms = pad_count if config.target_softmax == "padded" else torch.zeros_like(pad_count)
        return scores + self.target(self.embedding.weight, hidden, counts, phantoms, values)


@register("tagnn")
class TAGNN(NeuralRecommender):
    """TAGNN with the official code's settings (d=100, batch 100, 1 step, padded softmaxes)."""

    config_class = TAGNNConfig
    config: TAGNNConfig

    @property
    def batch_spec(self) -> BatchSpec:
        return BatchSpec(graph=True)

    def prepare(self, train: Split) -> Prepared:
        # pad_length=-1 follows the code: phantom padding up to the longest training prefix
        return {"longest_prefix": np.array(int(train.prefix_lengths.max(initial=0)), dtype=np.int64)}

    @property
    def resolved_pad_length(self) -> int:
        """The phantom padding length the network uses (0 where no padded softmax is on)."""
        config = self.config
        if not config.uses_padding:
            return 0
        if config.pad_length >= 0:
            return config.pad_length
        if "longest_prefix" not in self.prepared_:
            raise RuntimeError("TAGNN with pad_length=-1 must be prepared on its training sessions first")
        return int(self.prepared_["longest_prefix"])

    def build_module(self, n_items: int) -> nn.Module:
        return TAGNNModule(n_items, self.config, self.resolved_pad_length)


_PAPER = {"combine": "concat", "readout_softmax": "none", "target_softmax": "masked"}
register_preset(
    "tagnn-paper", "tagnn", "the paper's equations: W3[s_target; s_local; s_global], masking", **_PAPER
)
_NO_TARGET = {"target": False}
register_preset("tagnn-l", "tagnn", "ablation: local embedding only", **_NO_TARGET, global_pool="none")
register_preset(
    "tagnn-avg", "tagnn", "ablation: average pooling only", **_NO_TARGET, local=False, global_pool="avg"
)
register_preset("tagnn-att", "tagnn", "ablation: attentive global embedding only", **_NO_TARGET, local=False)
register_preset(
    "tagnn-l+att", "tagnn", "ablation: local + attentive global, no target attention", **_NO_TARGET
)
