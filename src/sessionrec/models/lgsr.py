"""LGSR: Xu et al., "Joint Modeling of Local and Global Behavior Dynamics for Session-based
Recommendation", ECAI 2020 (official code chenjh1988/LGSR, TensorFlow; notes 4.2).

Implements:
- the cross-session item dependency encoder (section 2.3): the global directed item graph
  of the training sessions (self-transitions skipped, weights = counts normalised per
  source; ``graphs.transitions``), T = 13 weighted random walks of length L = 50 from
  every item by alias sampling (``graphs.walks``), generated once in ``prepare`` and
  reshuffled every pass, and a skip-gram over them (Eq. 1-5, ``nn.skipgram``) whose input
  table is the recommender's item embedding;
- the hierarchical attentive aggregation module (section 2.4): item + learnable position
  embeddings, one causal self-attention block with its FFN (Eq. 6-8,
  ``nn.causal_attention``), the aggregation layer a_i = softmax(v^T g(W1 f_t + W2 f_i))
  (Eq. 9, ``nn.hard_readout``), s_f = W3 [s_c; s_l] with s_c = f_t, and scores
  z_i = s_f . v_i (Eq. 10) trained with softmax cross-entropy (the code's loss; Eq. 11
  prints a binary form);
- the alternating optimisation (section 2.5): each epoch, g = 2 skip-gram passes over all
  walks with their own Adam, then one recommender pass (the trainer's epoch hook).

From the official code, where the paper is silent or differs (a flag where both matter):
- the skip-gram pairs take input = context item (shared embedding), label = centre item,
  with an asymmetric window: 8 positions before the centre, 7 after (``window_left``,
  ``window_right``); the output table is indexed by the labels' rank by descending degree
  (in- plus out-neighbours in the global graph; the degree kind is inferred);
- ``skipgram_loss="nce"`` (default): TensorFlow's ``nce_loss`` with 512 negatives shared
  by the batch, drawn without repetition from a log-uniform sampler over those ranks,
  log-Q correction and accidental hits removed; ``"neg"`` is the paper's Eq. 5 (no bias,
  no correction, the same negatives). About 8,192 pairs per batch (whole walks);
- skip-gram training stops for good once a pass's mean loss moves by at most
  ``skipgram_stop_delta`` = 5e-4 from the previous pass's (0 disables);
- the recommender sees the last ``max_length`` = 19 items; position ids are reversed
  (the last item has position 1, the first n; the paper only says "learnable"); dropout
  0.3 on the input, the attention weights, inside the FFN and on [s_c; s_l]; the causal
  mask includes the diagonal; ``readout_activation="hard_sigmoid"`` (the paper: sigmoid);
  W3 (the code's ``bili``) has no bias; every weight ~ U(+-1/sqrt(d)), LayerNorm 1/0,
  position row 0 and padding inputs are zero;
- batch 512, Adam 1e-3, L2 1e-6 on the recommender's variables only (Adam's weight decay
  touches only parameters with a recommender gradient: the skip-gram output table and
  bias have none, and the skip-gram optimizer has no decay).
Learning rate: constant 1e-3 by default (``lr_gamma=1``). The code's final commit decays
it x0.1 every tenth of an epoch (``exponential_decay(..., 0.1 |train| / batch, 0.1,
staircase)``), which freezes training after about one epoch; preset ``lgsr-official-lr``
selects it (``lr_step=0.1, lr_gamma=0.1, lr_step_at="end"``). The skip-gram passes use the
rate of the epoch's start (the code shares one rate tensor, stepped by the recommender).
Departures from the code: ``skipgram_mean="restore"`` (default; ``"free"`` is the code):
with the 512 Zipfian negatives shared by a batch, every input item's gradient shares one
component (the sum over the negatives' output vectors, the most frequent ranks in every
batch), which Adam turns into full-size steps: the passes add a large common direction
to every row of the shared embedding (on Diginetica, after 2 x 2,000 batches, the mean
row has norm 1.60 against a mean row norm of 1.74, and the largest row norm is 8.5 against
0.68 at initialisation; the official code does the same, and with its dense Adam the
common direction grows faster, measured), the
recommender's inputs then look alike and its first epoch stalls at the popularity
level. ``restore`` moves the mean item embedding back to where it was before the passes
and adds theta_k . drift to each skip-gram bias b_k, which leaves every skip-gram logit
and every score softmax unchanged (only the recommender's inputs change);
the skip-gram optimizer is a lazy Adam by default (``nn.lazy_adam``,
``torch.optim.SparseAdam``'s update), updating only the rows a batch touches, from dense
gradients of the gathered rows (``LazyAdam.step_rows``; ``skipgram_optimizer="dense"`` is
the code's Adam, whose per-step cost over the whole tables is several times the batch's
own on a CPU);
batches hold whole walks (the code cuts the pair stream every 8,192 pairs); model selection
on a validation split by default (``--select-on test`` for the paper's habit).

Variants (section 3.3, Fig. 3): ``lgsr-c`` without the cross-session encoder (g = 0, no
graph, no walks), ``lgsr-a`` scoring with f_t alone (no aggregation layer, no W3), ``lgsr-h``
with SR-GNN (official PyTorch form, ``models.srgnn``) as the recommender on the shared
embedding. The hyper-parameter studies' d, g, L, T, N_w, N_s are ``embedding_dim``,
``skipgram_passes``, ``walk_length``, ``walks_per_node``, ``window_left``/``window_right``
and ``negatives``. ``LGSR.attention_maps`` returns a session's self-attention and
aggregation weights (the heat maps of Fig. 7-8).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from sessionrec.config import check
from sessionrec.data.batching import Batch, BatchSpec, batch_from_lists
from sessionrec.data.sessions import Split
from sessionrec.graphs.transitions import row_normalise, transition_counts
from sessionrec.graphs.walks import compact_walks, degree_ranks, node_walks
from sessionrec.models.neural import NeuralConfig, NeuralRecommender
from sessionrec.models.prepared import Prepared
from sessionrec.models.registry import register, register_preset
from sessionrec.models.srgnn import SRGNNConfig, SRGNNModule
from sessionrec.nn.causal_attention import CausalSelfAttentionBlock
from sessionrec.nn.hard_readout import HardAttentionReadout
from sessionrec.nn.lazy_adam import LazyAdam
from sessionrec.nn.scoring import CachedItemColumns, lookup_items
from sessionrec.nn.skipgram import SkipGram, sample_negatives


@dataclasses.dataclass(frozen=True)
class LGSRConfig(NeuralConfig):
    batch_size: int = 512
    weight_decay: float = 1e-6
    lr_step: float = 3.0  # fractional steps decay within an epoch (lgsr-official-lr: 0.1)
    lr_gamma: float = 1.0  # constant learning rate (see the module docstring)
    seed: int = 1111  # the official code's
    max_length: int = 19  # the last 19 items of each prefix
    dropout: float = 0.3
    recommender: Literal["attention", "srgnn"] = "attention"  # lgsr-h: SR-GNN
    readout: Literal["attention", "last"] = "attention"  # lgsr-a: f_t alone
    readout_activation: Literal["hard_sigmoid", "sigmoid"] = "hard_sigmoid"  # code; paper: sigmoid
    skipgram_passes: int = 2  # g; 0 = no cross-session encoder (lgsr-c)
    walks_per_node: int = 13  # T
    walk_length: int = 50  # L
    window_left: int = 8  # N_w: context positions before the centre (code: 8 before, 7 after)
    window_right: int = 7
    negatives: int = 512  # N_s, shared by a batch
    skipgram_batch: int = 8192  # pairs per skip-gram batch (rounded to whole walks)
    skipgram_loss: Literal["nce", "neg"] = "nce"  # code: NCE with log-Q; paper: Eq. 5
    skipgram_optimizer: Literal["lazy", "dense"] = "lazy"  # sparse Adam; dense: the code's Adam
    skipgram_stop_delta: float = 5e-4  # stop skip-gram for good when a pass's loss moves less
    skipgram_max_batches: int = 0  # per pass; 0 = every walk (quick checks only)
    # "restore": the passes leave the mean item embedding where it was (the shift moves to
    # the skip-gram's bias: both losses unchanged); "free": the code (the passes add a large
    # common direction to every item embedding, which stalls the recommender)
    skipgram_mean: Literal["restore", "free"] = "restore"

    def validate(self) -> None:
        super().validate()
        check(self.lr_step > 0, "lr_step must be positive")
        check(self.max_length >= 1, "max_length must be >= 1")
        check(0.0 <= self.dropout < 1.0, "dropout must be in [0, 1)")
        check(self.skipgram_passes >= 0, "skipgram_passes (g) must be >= 0")
        check(self.walks_per_node >= 1, "walks_per_node (T) must be >= 1")
        check(self.walk_length >= 2, "walk_length (L) must be >= 2: a walk of one item has no pairs")
        check(self.window_left >= 0 and self.window_right >= 0, "window sizes must be >= 0")
        check(self.window_left + self.window_right >= 1, "the skip-gram window must hold a position")
        check(self.negatives >= 1, "negatives (N_s) must be >= 1")
        check(self.skipgram_batch >= 1, "skipgram_batch must be >= 1")
        check(self.skipgram_stop_delta >= 0, "skipgram_stop_delta must be >= 0")
        check(self.skipgram_max_batches >= 0, "skipgram_max_batches must be >= 0")
        attention_only = {"readout": "attention", "readout_activation": "hard_sigmoid", "dropout": 0.3}
        changed = [k for k, v in attention_only.items() if getattr(self, k) != v]
        check(
            self.recommender == "attention" or not changed,
            f"{', '.join(changed)} only apply to recommender='attention'; SR-GNN (lgsr-h) has its own "
            "readout and no dropout",
        )
        check(
            self.readout == "attention" or self.readout_activation == "hard_sigmoid",
            "readout_activation only applies to readout='attention'",
        )

    @property
    def walks_per_batch(self) -> int:
        """Whole walks per skip-gram batch: about ``skipgram_batch`` pairs from full-length walks."""
        per_walk = sum(
            min(i, self.window_left) + min(self.walk_length - 1 - i, self.window_right)
            for i in range(self.walk_length)
        )
        return max(1, round(self.skipgram_batch / max(per_walk, 1)))


class AttentionEncoder(nn.Module):
    """Section 2.4: item + reversed position embeddings, the causal block, the aggregation."""

    def __init__(self, config: LGSRConfig) -> None:
        super().__init__()
        dim = config.embedding_dim
        self.position = nn.Embedding(config.max_length + 1, dim)
        self.input_dropout = nn.Dropout(config.dropout)
        self.block = CausalSelfAttentionBlock(dim, config.dropout)
        self.readout = (
            HardAttentionReadout(dim, config.readout_activation) if config.readout == "attention" else None
        )
        self.session_dropout = nn.Dropout(config.dropout)
        self.w3 = nn.Linear(2 * dim, dim, bias=False) if self.readout is not None else None
        bound = dim**-0.5
        for module in (self.position, self.readout, self.w3):
            for parameter in module.parameters() if module is not None else ():
                nn.init.uniform_(parameter, -bound, bound)
        with torch.no_grad():
            self.position.weight[0].zero_()

    def forward(
        self, embedding: torch.Tensor, batch: Batch, need_weights: bool = False
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        mask = batch.mask
        width = batch.items.shape[1]
        positions = batch.lengths[:, None] - torch.arange(width, device=mask.device)  # n..1
        # the real positions only, packed [T, d] (nn.causal_attention)
        tokens = lookup_items(embedding, batch.items[mask]) + self.position(positions[mask])
        states, weights = self.block(self.input_dropout(tokens), mask, need_weights)
        ends = batch.lengths.cumsum(0) - 1  # packed row of each session's last item
        last = states[ends]
        maps = {"self_attention": weights} if weights is not None else {}
        if self.readout is None:  # lgsr-a
            return last, maps
        alpha = self.readout.weights(states, mask, last)
        if need_weights:
            maps["aggregation"] = alpha
        session = mask.nonzero()[:, 0]
        long_term = states.new_zeros(last.shape).index_add_(0, session, alpha[mask][:, None] * states)
        assert self.w3 is not None
        return self.w3(self.session_dropout(torch.cat([last, long_term], dim=1))), maps


class LGSRModule(CachedItemColumns):
    def __init__(self, n_items: int, config: LGSRConfig, ranks: np.ndarray, walks: np.ndarray) -> None:
        super().__init__()
        dim, self.config = config.embedding_dim, config
        self.srgnn: SRGNNModule | None = None
        self.encoder: AttentionEncoder | None = None
        if config.recommender == "srgnn":  # lgsr-h: SR-GNN owns the shared embedding
            self.srgnn = SRGNNModule(
                n_items, SRGNNConfig(embedding_dim=dim, bf16_scoring=config.bf16_scoring)
            )
        else:
            self.item_embedding = nn.Embedding(n_items + 1, dim)
            nn.init.uniform_(self.item_embedding.weight, -(dim**-0.5), dim**-0.5)
            self.encoder = AttentionEncoder(config)
        self.walks, self.ranks = walks, torch.from_numpy(ranks.astype(np.int64)) if len(ranks) else None
        n_ranks = int((ranks >= 0).sum()) if len(ranks) else 0
        use_skipgram = config.skipgram_passes > 0 and n_ranks > 0 and len(walks) > 0
        sparse = config.skipgram_optimizer == "lazy"
        self.skipgram = SkipGram(n_ranks, dim, config.skipgram_loss, sparse) if use_skipgram else None
        self._sg_optimizer: torch.optim.Optimizer | None = None
        self._sg_last_loss, self._sg_stopped = float("nan"), False

    @property
    def embedding(self) -> nn.Embedding:
        return self.srgnn.embedding if self.srgnn is not None else self.item_embedding

    def session_vector(self, batch: Batch, need_weights: bool = False) -> tuple[torch.Tensor, dict[str, Any]]:
        if self.srgnn is not None:
            return self.srgnn.session_vector(batch), {}
        assert self.encoder is not None
        return self.encoder(self.embedding.weight, batch, need_weights)

    def forward(self, batch: Batch) -> torch.Tensor:
        session, _ = self.session_vector(batch)
        return self.score_against_items(session, self.embedding.weight, self.config.bf16_scoring)

    # -- the alternating skip-gram passes (training.EpochHook) ---------------------------
    def _optimizer(self, lr: float) -> torch.optim.Optimizer:
        if self._sg_optimizer is None:
            assert self.skipgram is not None
            params = [self.embedding.weight, *self.skipgram.parameters()]
            lazy = self.config.skipgram_optimizer == "lazy"
            self._sg_optimizer = LazyAdam(params, lr=lr) if lazy else torch.optim.Adam(params, lr=lr)
        for group in self._sg_optimizer.param_groups:
            group["lr"] = lr
        return self._sg_optimizer

    def skipgram_batches(self) -> int:
        """Batches in one pass over every walk."""
        return -(-len(self.walks) // self.config.walks_per_batch)

    def skipgram_pass(
        self, rng: np.random.Generator, optimizer: torch.optim.Optimizer, max_batches: int = 0
    ) -> float:
        """One pass over every walk in a fresh order (its first ``max_batches`` batches, or
        ``skipgram_max_batches``, when positive); the mean of its batch losses."""
        assert self.skipgram is not None and self.ranks is not None
        config, device = self.config, self.embedding.weight.device
        order = rng.permutation(len(self.walks))
        step = config.walks_per_batch
        limit = max_batches or config.skipgram_max_batches or len(order)
        ranks, total, count = self.ranks.to(device), 0.0, 0
        table, skipgram = self.embedding.weight, self.skipgram
        tables = (table, skipgram.theta, skipgram.bias)
        for start in range(0, len(order), step):
            if count >= limit:
                break
            walks = torch.from_numpy(self.walks[order[start : start + step]].astype(np.int64)).to(device)
            negatives = sample_negatives(rng, skipgram.n_ranks, config.negatives).to(device)
            rows = skipgram.rows(walks, ranks[walks], negatives, config.window_left, config.window_right)
            # the touched rows as leaves: dense gradients of [U, d], [K, d], [K] only
            gathered = [
                table.detach()[rows.items].requires_grad_(),
                skipgram.theta.detach()[rows.ranks].requires_grad_(),
                skipgram.bias.detach()[rows.ranks, 0].requires_grad_(),
            ]
            loss = skipgram.rows_loss(*gathered, rows)
            loss.backward()
            indices = (rows.items, rows.ranks, rows.ranks)
            # the paper's Eq. 5 has no bias: its rows get no gradient, hence zeros
            grads = [
                (g.grad if g.grad is not None else torch.zeros_like(g)).view(-1, *t.shape[1:])
                for g, t in zip(gathered, tables, strict=True)
            ]
            if isinstance(optimizer, LazyAdam):
                optimizer.step_rows(list(zip(tables, indices, grads, strict=True)))
            else:  # the code's dense Adam: every row moves with its moments
                for tensor, index, grad in zip(tables, indices, grads, strict=True):
                    tensor.grad = torch.zeros_like(tensor).index_add_(0, index, grad)
                optimizer.step()
                for tensor in tables:
                    tensor.grad = None
            total, count = total + float(loss.detach()), count + 1
        return total / max(count, 1)

    def before_epoch(self, epoch: int, lr: float, seed: int) -> dict[str, float]:
        if self.skipgram is None or self._sg_stopped:
            return {}
        started, optimizer, losses = time.perf_counter(), self._optimizer(lr), []
        table = self.embedding.weight
        mean_before = table.detach()[1:].mean(0)
        for index in range(self.config.skipgram_passes):
            loss = self.skipgram_pass(np.random.default_rng([seed, epoch, index]), optimizer)
            losses.append(loss)
            delta = self.config.skipgram_stop_delta
            if delta > 0 and abs(loss - self._sg_last_loss) <= delta:
                self._sg_stopped = True  # the code stops skip-gram training for good
            self._sg_last_loss = loss
            if self._sg_stopped:
                break
        drift = table.detach()[1:].mean(0) - mean_before
        if self.config.skipgram_mean == "restore":
            self.restore_mean(drift)
        self.drop_item_columns()  # the shared embedding changed
        return {
            "skipgram_mean_drift": float(drift.norm()),
            "skipgram_loss": losses[-1],
            "skipgram_passes": float(len(losses)),
            "skipgram_seconds": time.perf_counter() - started,
        }

    @torch.no_grad()
    def restore_mean(self, drift: torch.Tensor) -> None:
        """Move every item embedding by ``-drift`` and each skip-gram bias b_k by
        ``+theta_k . drift``: every skip-gram logit (e_x - drift) . theta_k + b_k + theta_k . drift
        is unchanged, and every recommender score s . (v_i - drift) moves by the same -s . drift
        for all items of a session (its softmax is unchanged); only the recommender's inputs
        lose the common direction."""
        assert self.skipgram is not None
        self.embedding.weight[1:] -= drift
        self.skipgram.bias[:, 0] += self.skipgram.theta @ drift

    def epoch_hook_state(self) -> dict[str, Any]:
        optimizer = None if self._sg_optimizer is None else self._sg_optimizer.state_dict()
        return {"optimizer": optimizer, "last_loss": self._sg_last_loss, "stopped": self._sg_stopped}

    def load_epoch_hook_state(self, state: dict[str, Any]) -> None:
        self._sg_last_loss, self._sg_stopped = float(state["last_loss"]), bool(state["stopped"])
        if state.get("optimizer") is not None and self.skipgram is not None:
            self._optimizer(1.0).load_state_dict(state["optimizer"])  # the saved rate is restored too


@register("lgsr")
class LGSR(NeuralRecommender):
    """LGSR with the official code's settings (d=100, batch 512, last 19 items, g=2)."""

    config_class = LGSRConfig
    config: LGSRConfig
    item_scoring = "inner_product"  # scores = session_vector(batch) @ embedding[1:]^T (sessionrec.ann)

    prepare_keys = ("skipgram_passes", "walks_per_node", "walk_length", "seed")

    def session_vectors(self, batch: Batch) -> torch.Tensor:
        assert self.module_ is not None
        return self.module_.session_vector(batch)[0]

    @property
    def batch_spec(self) -> BatchSpec:
        return BatchSpec(
            max_length=self.config.max_length, keep="last", graph=self.config.recommender == "srgnn"
        )

    def prepare(self, train: Split) -> Prepared:
        """The global graph's degree ranks and the random walks (nothing for g = 0)."""
        config = self.config
        if config.skipgram_passes == 0:
            return {}
        counts = transition_counts(train.sessions, train.n_items, self_loops=False)
        graph = row_normalise(counts)
        walks = node_walks(
            graph, config.walks_per_node, config.walk_length, np.random.default_rng(config.seed)
        )
        return {"item_rank": degree_ranks(counts), "walks": compact_walks(walks, train.n_items)}

    def build_module(self, n_items: int) -> nn.Module:
        ranks = self.prepared_.get("item_rank", np.zeros(0, dtype=np.int64))
        walks = self.prepared_.get("walks", np.zeros((0, self.config.walk_length), dtype=np.int32))
        return LGSRModule(n_items, self.config, np.asarray(ranks), np.asarray(walks))

    def attention_maps(self, sessions: Sequence[Sequence[int]]) -> dict[str, np.ndarray]:
        """Weights of the internal-index ``sessions`` (the paper's heat maps, Fig. 7-8):
        ``self_attention`` [S, L, L] (row i: the weights of query i over keys j <= i) and
        ``aggregation`` [S, L] (a_i of Eq. 9), over each session's last ``max_length`` items."""
        module = self.module_
        if not isinstance(module, LGSRModule) or module.encoder is None:
            raise RuntimeError("attention maps need a fitted LGSR with the attention recommender")
        batch = batch_from_lists([list(s) for s in sessions], self.batch_spec).to(self.device)
        was_training = module.training
        module.eval()
        with torch.inference_mode():
            _, maps = module.session_vector(batch, need_weights=True)
        module.train(was_training)
        return {name: value.cpu().numpy() for name, value in maps.items()}


register_preset(
    "lgsr-c", "lgsr", "ablation: no cross-session item dependency encoder (g = 0)", skipgram_passes=0
)
register_preset("lgsr-a", "lgsr", "ablation: scores from the last self-attention output only", readout="last")
register_preset(
    "lgsr-h", "lgsr", "ablation: SR-GNN as the recommender on the shared embedding", recommender="srgnn"
)
register_preset(
    "lgsr-paper",
    "lgsr",
    "the paper's equations: sigmoid in Eq. 9, plain negative sampling (Eq. 5)",
    readout_activation="sigmoid",
    skipgram_loss="neg",
)
register_preset(
    "lgsr-official-lr",
    "lgsr",
    "the final commit's schedule: x0.1 every tenth of an epoch (training freezes after ~1 epoch)",
    lr_step=0.1,
    lr_gamma=0.1,
    lr_step_at="end",
)
