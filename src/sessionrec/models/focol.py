"""FOCOL: Chen et al., "Exploiting Inter-session Dependencies in Session-based Recommendation via
Fine-grained Co-occurrences and Contrastive Learning" (official code twchen/FOCOL; notes 4.5).

Implements:
- the fine-grained co-occurrence graph (FOG, Eq. 1; ``graphs.fog``), built in ``prepare`` from
  the training sessions: counts per signed distance on every directed item edge;
- FOGCN (Eq. 2-4; ``nn.fogcn``): L_G = 3 layers over the whole item graph in every training
  step, the global embeddings E_g = the mean of the layer outputs 0..L_G;
- the session encoder (Eq. 5-7; ``nn.transformer``): E_g of the session's items plus reverse
  position embeddings through a Transformer (L_T = 3, the code's default; preset
  ``focol-lt2`` for the paper's "default" 2), the last item's output as h_s;
- scores z = h_s . E_g[i] over items 1..N (Eq. 8-9) with softmax cross-entropy (Eq. 10);
- contrastive session representation learning (Eq. 11-13; ``nn.contrastive``): for each
  sample, a positive = a training prefix with the same next item (possibly itself, as in the
  code; ``graphs.targets``), 32 negatives drawn without replacement from the batch's other
  positives whose next item differs, all sampled sessions augmented (corrupt, dropout, insert
  or identity, ``nn.augment``) and encoded in the same pass; L = L_rec + beta L_cl, beta = 0.03.

Where the official code departs from the paper, a flag chooses; the defaults follow the code:
- ``fogcn_weighting="code"``: softmax over distances of W (initialised to ones) and an edge
  score linear in the counts, normalised as a weighted mean; ``"paper"`` is Eq. 3's softmax
  over neighbours of exp(P w_ij) (it builds [edges, d] tensors: memory-hungry on big graphs).
- ``cl_similarity="cosine"`` with ``cl_temperature=0.5``; the paper's Eq. 11 is a dot
  product (``"dot"``, temperature 1; preset ``focol-paper``).
- ``augment_per="batch"``: one augmentation drawn per batch; ``"sample"`` draws one per sampled
  session. ``dropout_main=True``: when the batch's augmentation is Dropout, the code also drops
  out the main sessions' item embeddings (in ``"sample"`` mode they never are).
- ``augment_inputs=False``: Corrupt and Dropout act on the item embeddings before the
  position embedding (code); True: on X^(0) (paper).
- ``init="code"``: PyTorch's defaults (N(0, 1) embeddings, the Transformer's own init, FOGCN
  weights ones); ``"paper"``: N(0, 0.1) for every weight matrix and embedding (LayerNorm
  gains and biases keep their defaults, which the paper surely meant).
- no learning-rate schedule, patience 1 (the code's early stopping).
Departures from both:
- ``fogcn_importance="distance"`` (preset ``focol-fast``; the default is ``"feature"``, one
  weight per bucket and feature as the code and the paper): one importance weight per
  distance bucket and layer, shared by the features (softmax over the buckets as the code),
  so that each FOGCN layer is one sparse matrix on the edge pattern, w_ij . p / sum_j w_ij . p,
  instead of 2K + 2 sparse products per layer and direction. The two forms agree when every
  feature has the same weights (as at initialisation); ``benchmarks/README.md`` measures the
  speed and the difference of the embeddings; its effect on accuracy is not measured yet, so
  the faithful form stays the default;
- distances past ``max_distance`` (10) share one bucket per direction (the code keeps every
  distance up to the longest session: ``max_distance=0``); ``benchmarks/focol_graph.py``
  measures what the cap changes on Diginetica;
- a self-pair (the same item twice in a session) is one self-loop edge counted in both the
  +k and -k buckets (whether the code also emits its reverse twice was not verified);
- reverse positions past the longest training prefix (+ 1 for Insert) share the table's last
  row, where the code sizes the table on train and test together;
- when a batch has fewer than 32 other positives with another next item, the missing
  negative slots are left out (the code adds random prefixes); the last short batch of an
  epoch is trained on (the code drops it);
- model selection on a validation split by default (the code selects on test).

Variants (section 4.5): FOCOL-NG (no FOGCN, E_g = E^(0)), FOCOL-SG (one undirected
co-occurrence count per edge, weights fixed), FOCOL-NCL (no CSRL), FOCOL-NC / -ND / -NI / -NId
(no Corrupt / Dropout / Insert / Identity). ``FOCOL.distance_importance()`` exports figure 4's
learned importance per relative distance.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from sessionrec.config import check
from sessionrec.data.batching import Batch
from sessionrec.data.sessions import Split
from sessionrec.graphs.fog import FineGrainedGraph, fine_grained_graph
from sessionrec.graphs.targets import samples_by_target
from sessionrec.models.neural import NeuralConfig, NeuralRecommender
from sessionrec.models.prepared import Prepared
from sessionrec.models.registry import register, register_preset
from sessionrec.nn.augment import corrupt, drop, insert_mask
from sessionrec.nn.contrastive import info_nce
from sessionrec.nn.fogcn import FOGCN, BucketGraph
from sessionrec.nn.scoring import CachedItemColumns
from sessionrec.nn.session_sampler import ContrastiveSampler
from sessionrec.nn.transformer import ReversePositionTransformer

AUGMENTATIONS = ("corrupt", "dropout", "insert", "identity")


@dataclasses.dataclass(frozen=True)
class FOCOLConfig(NeuralConfig):
    lr_gamma: float = 1.0  # the code has no learning-rate schedule
    patience: int = 1  # the code's early stopping
    gnn_layers: int = 3  # L_G
    transformer_layers: int = 3  # L_T (code default; the paper's study fixes 2)
    graph: Literal["fine", "simple", "none"] = "fine"  # FOG; FOCOL-SG; FOCOL-NG
    max_distance: int = 10  # distances beyond share a bucket; 0: every distance (the code)
    fogcn_weighting: Literal["code", "paper"] = "code"
    # one importance weight per distance bucket shared by the features (fast: one sparse
    # product per layer), or one per bucket and feature (the code and the paper)
    fogcn_importance: Literal["distance", "feature"] = "feature"
    transformer_dropout: float = 0.1
    cl_weight: float = 0.03  # beta; 0: no CSRL (FOCOL-NCL)
    cl_negatives: int = 32
    cl_similarity: Literal["cosine", "dot"] = "cosine"
    cl_temperature: float = 0.5
    augment_corrupt: bool = True
    augment_dropout: bool = True
    augment_insert: bool = True
    augment_identity: bool = True
    augment_per: Literal["batch", "sample"] = "batch"
    augment_inputs: bool = False  # False: item embeddings (code); True: X^(0) (paper)
    dropout_main: bool = True  # the code's Dropout also hits the main sessions
    corrupt_sigma: float = 0.1
    dropout_rate: float = 0.1
    init: Literal["code", "paper"] = "code"

    def validate(self) -> None:
        super().validate()
        check(1 <= self.gnn_layers <= 10, "gnn_layers must be in 1..10")
        check(1 <= self.transformer_layers <= 10, "transformer_layers must be in 1..10")
        check(self.max_distance >= 0, "max_distance must be >= 0 (0: every distance)")
        check(0 <= self.transformer_dropout < 1, "transformer_dropout must be in [0, 1)")
        check(self.cl_weight >= 0, "cl_weight must be >= 0")
        check(self.cl_negatives >= 1, "cl_negatives must be >= 1")
        check(self.cl_temperature > 0, "cl_temperature must be positive")
        check(self.corrupt_sigma >= 0, "corrupt_sigma must be >= 0")
        check(0 <= self.dropout_rate < 1, "dropout_rate must be in [0, 1)")
        check(
            self.cl_weight == 0 or bool(self.augmentations),
            "CSRL needs at least one augmentation (augment_corrupt/dropout/insert/identity)",
        )
        check(
            self.graph != "simple" or self.fogcn_weighting == "code",
            "graph='simple' fixes the weights of the code's linear form: use fogcn_weighting='code'",
        )
        check(
            self.fogcn_weighting != "paper" or self.fogcn_importance == "feature",
            "Eq. 3 weighs every feature: fogcn_weighting='paper' needs fogcn_importance='feature'",
        )

    @property
    def augmentations(self) -> tuple[str, ...]:
        return tuple(a for a in AUGMENTATIONS if getattr(self, f"augment_{a}"))


def graph_halves(prepared: Prepared, n_items: int, kind: str) -> list[sp.csr_array]:
    """The positive-bucket matrices over items 1..N (padding row and column dropped)."""
    fog = FineGrainedGraph.from_stack(sp.csr_array(prepared["fog"]), n_items)
    halves = fog.halves()
    if kind == "simple":  # one "after, at any distance" bucket and its transpose, weighed alike
        halves = [sp.csr_array(sum(halves[1:], halves[0].copy()))]
    return [sp.csr_array(m[1:, 1:]) for m in halves]


class FOCOLModule(CachedItemColumns):
    def __init__(self, n_items: int, config: FOCOLConfig, prepared: Prepared) -> None:
        super().__init__()
        self.config, dim = config, config.embedding_dim
        self.embedding = nn.Embedding(n_items + 1, dim)  # row 0: the mask embedding (Insert)
        positions = int(prepared["longest_prefix"]) + 2  # + 1 for the last item, + 1 for Insert
        self.encoder = ReversePositionTransformer(
            dim, config.transformer_layers, positions, dropout=config.transformer_dropout
        )
        self.fogcn: FOGCN | None = None
        self.graph: BucketGraph | None = None
        if config.graph != "none":
            halves = graph_halves(prepared, n_items, config.graph)
            per_feature = config.fogcn_importance == "feature"
            code = config.fogcn_weighting == "code"
            self.graph = BucketGraph(
                halves,
                with_edges=not (per_feature and code),
                with_buckets=per_feature and code,
                reorder=True,
            )
            learn = config.graph == "fine"
            self.fogcn = FOGCN(
                dim,
                self.graph.n_buckets,
                config.gnn_layers,
                config.fogcn_weighting,
                learn,
                config.fogcn_importance,
            )
        self.sampler = ContrastiveSampler(prepared) if config.cl_weight > 0 else None
        self._cl_loss: torch.Tensor | None = None
        self._table: torch.Tensor | None = None
        self._init_parameters()

    def _init_parameters(self) -> None:
        if self.config.init == "code":
            nn.init.normal_(self.embedding.weight)  # nn.Embedding's default, N(0, 1)
            return
        for name, parameter in self.named_parameters():
            if parameter.dim() >= 2 and parameter.requires_grad and "norm" not in name:
                nn.init.normal_(parameter, 0.0, 0.1)

    # -- global embeddings ---------------------------------------------------------------
    def drop_item_columns(self) -> None:
        super().drop_item_columns()
        self._table = None  # the eval-mode cache of E_g goes with the columns

    def global_table(self) -> torch.Tensor:
        """[N + 1, d]: row 0 the mask embedding, rows 1..N E_g (FOGCN over E^(0), Eq. 4)."""
        if not self.training and not torch.is_grad_enabled() and self._table is not None:
            return self._table
        weight = self.embedding.weight
        table = weight
        if self.fogcn is not None and self.graph is not None:
            table = torch.cat([weight[:1], self.fogcn(weight[1:], self.graph)])
        if not self.training and not torch.is_grad_enabled():
            # detached: without FOGCN the table is the embedding Parameter itself, and a
            # Parameter set as an attribute would register as one (and enter the state dict)
            self._table = table.detach()
        return table

    # -- forward -------------------------------------------------------------------------
    def forward(self, batch: Batch) -> torch.Tensor:
        table = self.global_table()
        self._cl_loss = None
        if self.training and self.sampler is not None and batch.targets is not None:
            session = self._with_contrastive(table, batch)
        else:
            session = self.encoder(table[batch.items], batch.lengths)
        return self.score_against_items(session, table, self.config.bf16_scoring)

    def _with_contrastive(self, table: torch.Tensor, batch: Batch) -> torch.Tensor:
        """h_s of the batch, and L_cl of its sampled sessions stashed for ``extra_loss``."""
        config, sampler = self.config, self.sampler
        assert sampler is not None and batch.targets is not None
        drawn = sampler.draw(batch.targets, config.cl_negatives)
        ops = self._draw_augmentations(len(drawn.lengths), batch.items.device)
        items, lengths = insert_mask(drawn.items, drawn.lengths, ops["insert"])
        main, sampled = table[batch.items], table[items]
        main_rows = torch.full_like(batch.lengths, bool(ops["dropout"].all()), dtype=torch.bool)
        main_rows &= config.dropout_main and config.augment_per == "batch"
        if config.augment_inputs:
            main = self.encoder.inputs(main, batch.lengths)
            sampled = self.encoder.inputs(sampled, lengths)
        main = drop(main, main_rows, config.dropout_rate)
        sampled = drop(
            corrupt(sampled, ops["corrupt"], config.corrupt_sigma), ops["dropout"], config.dropout_rate
        )
        if not config.augment_inputs:
            main = self.encoder.inputs(main, batch.lengths)
            sampled = self.encoder.inputs(sampled, lengths)
        width = max(main.shape[1], sampled.shape[1])
        inputs = torch.cat([_pad_to(main, width), _pad_to(sampled, width)])
        encoded = self.encoder.encode(inputs, torch.cat([batch.lengths, lengths]))
        session, pool = encoded[: batch.size], encoded[batch.size :]
        self._cl_loss = info_nce(
            session,
            pool,
            drawn.positive,
            drawn.negatives,
            drawn.valid,
            config.cl_similarity,
            config.cl_temperature,
            drawn.has_positive,
        )
        return session

    def _draw_augmentations(self, rows: int, device: torch.device) -> dict[str, torch.Tensor]:
        """One flag row [M] per augmentation: the batch's single draw, or one per session."""
        names = self.config.augmentations
        count = 1 if self.config.augment_per == "batch" else rows
        choice = torch.randint(len(names), (count,), device=device).expand(rows)
        return {
            a: (choice == names.index(a)) if a in names else torch.zeros_like(choice, dtype=torch.bool)
            for a in AUGMENTATIONS
        }

    def extra_loss(self) -> torch.Tensor | float:
        """beta L_cl of the last training forward (0 when there was none); read once."""
        loss, self._cl_loss = self._cl_loss, None
        return 0.0 if loss is None else self.config.cl_weight * loss


def _pad_to(x: torch.Tensor, width: int) -> torch.Tensor:
    return x if x.shape[1] == width else torch.nn.functional.pad(x, (0, 0, 0, width - x.shape[1]))


@register("focol")
class FOCOL(NeuralRecommender):
    """FOCOL with the official code's settings (d=100, batch 100, L_G=3, L_T=3, beta=0.03)."""

    config_class = FOCOLConfig
    config: FOCOLConfig
    prepare_keys = ("graph", "max_distance")

    def prepare(self, train: Split) -> Prepared:
        prepared: Prepared = {
            "longest_prefix": np.array(int(train.prefix_lengths.max(initial=1)), dtype=np.int64)
        }
        if self.config.graph != "none":
            cap = self.config.max_distance or None
            prepared["fog"] = fine_grained_graph(train.sessions, train.n_items, cap).stack()
        prepared.update({f"positives_{k}": v for k, v in samples_by_target(train).items()})
        return prepared

    def build_module(self, n_items: int) -> nn.Module:
        return FOCOLModule(n_items, self.config, self.prepared_)

    def distance_importance(self) -> dict[str, object]:
        """Figure 4: each layer's importance per signed distance, mean and std over the features.

        ``labels`` name the buckets: "+k" = the neighbour occurs k places after the item,
        "-k" = k places before (the paper's w_ij[k]); the code's W_imp index +k is our -k.
        """
        module = self.module_
        if not isinstance(module, FOCOLModule) or module.fogcn is None:
            raise RuntimeError("distance importance needs a fitted FOCOL with a graph (not FOCOL-NG)")
        with torch.no_grad():
            weights = module.fogcn.importance().cpu()  # [L, n_b, d]
        if self.config.graph == "simple":
            labels = ["+any", "-any"]
        else:
            fog = FineGrainedGraph.from_stack(sp.csr_array(self.prepared_["fog"]), self.n_items)
            labels = fog.labels()
        return {
            "labels": labels,
            "mean": weights.mean(2).numpy(),
            "std": weights.std(2).numpy(),
            "weights": weights.numpy(),
        }


register_preset(
    "focol-lt2", "focol", "L_T = 2 Transformer layers (the paper's study default)", transformer_layers=2
)
register_preset(
    "focol-paper",
    "focol",
    "the paper's equations: exp-softmax FOGCN (Eq. 3), dot-product CL (Eq. 11), N(0, 0.1) init",
    fogcn_weighting="paper",
    fogcn_importance="feature",
    cl_similarity="dot",
    cl_temperature=1.0,
    augment_inputs=True,
    dropout_main=False,
    init="paper",
)
register_preset(
    "focol-fast",
    "focol",
    "one FOGCN importance weight per distance bucket shared by the features (one sparse product a layer)",
    fogcn_importance="distance",
)
register_preset("focol-ng", "focol", "ablation: no FOGCN (E_g = E^(0))", graph="none")
register_preset(
    "focol-sg", "focol", "ablation: simple co-occurrence graph, weights fixed to 1", graph="simple"
)
register_preset("focol-ncl", "focol", "ablation: no contrastive session learning", cl_weight=0.0)
register_preset("focol-nc", "focol", "ablation: CSRL without Corrupt", augment_corrupt=False)
register_preset("focol-nd", "focol", "ablation: CSRL without Dropout", augment_dropout=False)
register_preset("focol-ni", "focol", "ablation: CSRL without Insert", augment_insert=False)
register_preset("focol-nid", "focol", "ablation: CSRL without Identity", augment_identity=False)
