"""LGSR: the skip-gram's loss and learning, the causal block, the variants, the config checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sessionrec.data.batching import BatchSpec, batch_from_lists
from sessionrec.errors import ConfigError
from sessionrec.models.lgsr import LGSR, LGSRModule
from sessionrec.models.registry import create
from sessionrec.nn.causal_attention import CausalSelfAttentionBlock, unpack
from sessionrec.nn.hard_readout import hard_sigmoid
from sessionrec.nn.lazy_adam import LazyAdam
from sessionrec.nn.skipgram import Negatives, SkipGram, expected_log_count, sample_negatives
from tests.conftest import synthetic_dataset, tiny_split

FAST = {
    "embedding_dim": 32,
    "batch_size": 32,
    "epochs": 6,
    "lr": 0.01,
    "walks_per_node": 4,
    "walk_length": 10,
    "negatives": 16,
    "skipgram_batch": 512,
}
CONTRACT = {
    # the attention runs on the packed real positions, so the GEMM shapes follow the batch's
    # total length: a session's float32 scores move by up to about 1e-6 between batches
    "lgsr": {"overrides": FAST, "pattern_metric": "HR@5", "pattern_threshold": 80.0, "score_atol": 1e-5},
    # x0.1 every tenth of an epoch: training freezes within the first epoch, as the paper's code
    "lgsr-official-lr": {"overrides": FAST, "pattern_metric": None},
}


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def hand_loss(
    emb: torch.Tensor,
    skipgram: SkipGram,
    walks: list[list[int]],
    rank: list[int],
    negatives: Negatives,
    left: int,
    right: int,
    correct: bool,
) -> float:
    """Mean over pairs of -log s(x, c) - sum over negatives n != c of log s(-x, n), by loops."""
    theta, bias = skipgram.theta.detach(), skipgram.bias.detach()[:, 0]
    n_ranks = skipgram.n_ranks

    def log_q(k: int) -> float:
        p = (math.log(k + 2) - math.log(k + 1)) / math.log(n_ranks + 1)
        return math.log(1 - (1 - p) ** negatives.tries)

    def logit(x: int, k: int) -> float:
        value = float(emb[x] @ theta[k])
        return value + float(bias[k]) - log_q(k) if correct else value

    total, pairs = 0.0, 0
    for walk in walks:
        real = [v for v in walk if v]
        for i, centre in enumerate(real):
            for j, context in enumerate(real):
                if j == i or not -left <= j - i <= right:
                    continue
                c = rank[centre]
                term = softplus(-logit(context, c))
                term += sum(softplus(logit(context, n)) for n in negatives.ranks.tolist() if n != c)
                total, pairs = total + term, pairs + 1
    return total / pairs


@pytest.mark.parametrize("kind", ["nce", "neg"])
def test_skipgram_loss_equals_a_hand_computation(kind: str) -> None:
    torch.manual_seed(0)
    n_ranks, dim = 6, 3
    skipgram = SkipGram(n_ranks, dim, kind, sparse=False)
    with torch.no_grad():
        skipgram.bias.normal_()
    emb = torch.randn(8, dim)
    rank = [-1, 2, 0, 5, 1, 4, 3, -1]  # items 1..6 -> ranks; item 7 is not in the graph
    walks = [[1, 2, 3, 2, 0], [4, 1, 0, 0, 0], [6, 5, 4, 3, 2]]
    ranks = torch.tensor([[rank[v] for v in w] for w in walks])
    # rank 0 (item 2) and 5 (item 3) are negatives: pairs with those labels are accidental hits
    chosen = torch.tensor([0, 5, 3])
    negatives = Negatives(chosen, expected_log_count(chosen, n_ranks, 7), 7)
    loss = skipgram(emb, torch.tensor(walks), ranks, negatives, 2, 1)
    expected = hand_loss(emb, skipgram, walks, rank, negatives, 2, 1, kind == "nce")
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-5)


def test_log_uniform_negatives_are_distinct_and_q_is_their_expected_count() -> None:
    rng = np.random.default_rng(3)
    sample = sample_negatives(rng, 1000, 50)
    assert len(set(sample.ranks.tolist())) == 50 and sample.tries >= 50
    p0 = math.log(2) / math.log(1001)  # P(rank 0) of the log-uniform distribution
    q0 = expected_log_count(torch.tensor([0]), 1000, sample.tries)
    assert float(q0.exp()) == pytest.approx(1 - (1 - p0) ** sample.tries, rel=1e-6)
    # small ranks are far more frequent: over many batches rank 0 is drawn far more than rank 900
    drawn = np.concatenate([sample_negatives(rng, 1000, 5).ranks.numpy() for _ in range(400)])
    assert (drawn == 0).sum() > 20 * max((drawn == 900).sum(), 1)
    everything = sample_negatives(rng, 10, 16)  # asking for more than there are: all, Q = 1
    assert sorted(everything.ranks.tolist()) == list(range(10)) and everything.log_q.abs().max() == 0


def test_a_skipgram_pass_moves_co_occurring_items_closer() -> None:
    # two disjoint cycles 1->2->3->4->1 and 5->6->7->8->5: walks never mix them
    cycle = [[1, 2, 3, 4, 1, 2], [3, 4, 1], [5, 6, 7, 8, 5, 6], [7, 8, 5]]
    split = tiny_split(cycle * 5, 8)
    model = create(
        "lgsr",
        embedding_dim=8,
        walks_per_node=20,
        walk_length=12,
        negatives=4,
        skipgram_batch=128,
        skipgram_passes=4,
        skipgram_stop_delta=0.0,
    )
    assert isinstance(model, LGSR)
    module = model.setup(split)
    assert isinstance(module, LGSRModule) and module.skipgram is not None

    def similarity() -> tuple[float, float]:
        e = torch.nn.functional.normalize(module.embedding.weight.detach()[1:], dim=1)
        cosine = e @ e.T
        same = torch.tensor([[(i < 4) == (j < 4) and i != j for j in range(8)] for i in range(8)])
        different = torch.tensor([[(i < 4) != (j < 4) for j in range(8)] for i in range(8)])
        return float(cosine[same].mean()), float(cosine[different].mean())

    before = similarity()
    figures = module.before_epoch(0, 0.05, 0)
    after = similarity()
    assert figures["skipgram_passes"] == 4
    assert after[0] > before[0] + 0.3  # items of one cycle share their contexts
    assert after[0] - after[1] > 0.5


def test_causal_block_lets_position_i_see_only_positions_up_to_i() -> None:
    torch.manual_seed(0)
    block = CausalSelfAttentionBlock(6, dropout=0.3).eval()
    x = torch.randn(2, 5, 6)
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    packed, weights = block(x[mask], mask, need_weights=True)
    out = unpack(packed, mask)
    assert weights is not None
    assert (weights.triu(1) == 0).all()  # query i puts no weight on keys j > i
    torch.testing.assert_close(weights[0].sum(1), torch.ones(5))
    assert (weights[1, 3:] == 0).all() and (weights[1, :3, 3:] == 0).all()  # padding: no weight, no row
    changed = x.clone()
    changed[:, 3] += 10.0  # a later position changes nothing before it
    again = unpack(block(changed[mask], mask)[0], mask)
    torch.testing.assert_close(again[:, :3], out[:, :3])
    assert not torch.allclose(again[0, 3], out[0, 3])
    assert float(weights[0, 0, 0]) == pytest.approx(1.0)  # the first item sees itself only
    # by hand, for session 1: softmax over keys <= i of q_i . k_j / sqrt(d), then the residual + LN
    q, k, v = block.query(x[1, :3]), block.key(x[1, :3]), block.value(x[1, :3])
    a = torch.softmax((q @ k.T / math.sqrt(6)).masked_fill(torch.ones(3, 3).triu(1).bool(), -math.inf), 1)
    torch.testing.assert_close(weights[1, :3, :3], a)
    hidden = block.norm_attention(a @ v + x[1, :3])
    ffn = block.ffn_out(torch.relu(block.ffn_in(hidden)))
    torch.testing.assert_close(out[1, :3], block.norm_ffn(ffn + hidden))


def test_hard_sigmoid_is_keras_piecewise_linear() -> None:
    assert hard_sigmoid(torch.tensor([-3.0, -1.0, 0.0, 1.0, 3.0])).tolist() == pytest.approx(
        [0.0, 0.3, 0.5, 0.7, 1.0]
    )


def test_positions_are_reversed_and_padding_width_changes_nothing() -> None:
    model = create("lgsr", embedding_dim=8, skipgram_passes=0)
    module = model.init_module(20).eval()
    spec = model.batch_spec
    alone = module(batch_from_lists([[3, 4, 3]], spec))
    padded = module(batch_from_lists([[3, 4, 3], list(range(1, 20))], spec))[:1]
    torch.testing.assert_close(alone, padded)
    # the last 19 items are kept: a session of 25 scores as its last 19
    long, tail = list(range(1, 20)) + [5] * 6, (list(range(1, 20)) + [5] * 6)[-19:]
    torch.testing.assert_close(module(batch_from_lists([long], spec)), module(batch_from_lists([tail], spec)))


def test_attention_maps_are_the_heat_maps_of_a_session() -> None:
    data = synthetic_dataset()
    model = create("lgsr", **{**FAST, "epochs": 1})
    assert isinstance(model, LGSR)
    model.fit(data.train)
    maps = model.attention_maps([[1, 2, 3, 4], [5, 6]])
    assert maps["self_attention"].shape == (2, 4, 4) and maps["aggregation"].shape == (2, 4)
    np.testing.assert_allclose(maps["self_attention"][0].sum(1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(maps["aggregation"].sum(1), 1.0, rtol=1e-5)
    assert (maps["aggregation"][1, 2:] == 0).all() and (np.triu(maps["self_attention"][0], 1) == 0).all()


def test_variants_build_what_they_say() -> None:
    split = tiny_split([[1, 2, 3, 4], [2, 3, 5], [4, 5, 1]], 6)
    c = create("lgsr-c", embedding_dim=8)
    assert c.setup(split).skipgram is None and c.prepared_ == {}  # no graph, no walks
    a = create("lgsr-a", embedding_dim=8, walks_per_node=2, walk_length=4)
    module = a.setup(split)
    assert module.encoder.readout is None and module.encoder.w3 is None and module.skipgram is not None
    h = create("lgsr-h", embedding_dim=8, walks_per_node=2, walk_length=4)
    assert h.batch_spec == BatchSpec(max_length=19, keep="last", graph=True)
    module = h.setup(split)
    assert module.srgnn is not None and module.embedding is module.srgnn.embedding
    scores = module(batch_from_lists([[1, 2], [3]], h.batch_spec))
    assert scores.shape == (2, 6)
    walks = h.prepared_["walks"]
    assert walks.shape == (2 * 5, 4) and walks.dtype == np.uint16  # 2 rounds x 5 items with edges


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"recommender": "srgnn", "readout": "last"}, "only apply to recommender='attention'"),
        ({"recommender": "srgnn", "dropout": 0.5}, "only apply to recommender='attention'"),
        ({"readout": "last", "readout_activation": "sigmoid"}, "readout_activation only applies"),
        ({"walk_length": 1}, "walk_length"),
        ({"negatives": 0}, "negatives"),
        ({"window_left": 0, "window_right": 0}, "window"),
        ({"skipgram_passes": -1}, "skipgram_passes"),
        ({"lr_step": 0}, "lr_step"),
    ],
)
def test_a_config_the_model_cannot_honour_is_rejected_at_construction(
    overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        create("lgsr", **overrides)


def test_lazy_adam_takes_sparse_adams_steps() -> None:
    torch.manual_seed(0)
    ours = torch.nn.Parameter(torch.randn(50, 4))
    reference = torch.nn.Parameter(ours.detach().clone())
    steppers = [(ours, LazyAdam([ours], lr=0.01)), (reference, torch.optim.SparseAdam([reference], lr=0.01))]
    for _ in range(20):
        rows, weights = torch.randint(0, 50, (30,)), torch.randn(30, 4)  # rows repeat: gradients add up
        for parameter, optimizer in steppers:
            parameter.grad = None
            (torch.nn.functional.embedding(rows, parameter, sparse=True) * weights).sum().backward()
            optimizer.step()
    torch.testing.assert_close(ours, reference)


def test_walks_per_batch_rounds_the_pair_budget_to_whole_walks() -> None:
    # a full walk of 50 with 8 before / 7 after holds 364 + 322 = 686 pairs: 8192 / 686 -> 12 walks
    assert create("lgsr").config.walks_per_batch == 12


def test_a_row_wise_skipgram_step_equals_the_sparse_step_on_the_whole_tables() -> None:
    # the training pass gathers the batch's rows, takes their dense gradients and updates
    # them with LazyAdam.step_rows: the same step as autograd on the full tables + step()
    torch.manual_seed(1)
    n_ranks, dim = 7, 4
    walks = torch.tensor([[1, 2, 3, 2, 0], [4, 1, 5, 6, 7]])
    rank = torch.tensor([-1, 2, 0, 5, 1, 4, 3, 6])
    chosen = torch.tensor([0, 5, 3])
    negatives = Negatives(chosen, expected_log_count(chosen, n_ranks, 9), 9)
    results = []
    for row_wise in (False, True):
        torch.manual_seed(2)
        emb = torch.nn.Parameter(torch.randn(8, dim))
        skipgram = SkipGram(n_ranks, dim, "nce", sparse=True)
        optimizer = LazyAdam([emb, *skipgram.parameters()], lr=0.05)
        for _ in range(3):
            if row_wise:
                rows = skipgram.rows(walks, rank[walks], negatives, 2, 1)
                leaves = [
                    emb.detach()[rows.items].requires_grad_(),
                    skipgram.theta.detach()[rows.ranks].requires_grad_(),
                    skipgram.bias.detach()[rows.ranks, 0].requires_grad_(),
                ]
                skipgram.rows_loss(*leaves, rows).backward()
                tables = (emb, skipgram.theta, skipgram.bias)
                grads = [g.grad.view(-1, *t.shape[1:]) for g, t in zip(leaves, tables, strict=True)]
                optimizer.step_rows(
                    list(zip(tables, (rows.items, rows.ranks, rows.ranks), grads, strict=True))
                )
            else:
                for p in (emb, *skipgram.parameters()):
                    p.grad = None
                skipgram(emb, walks, rank[walks], negatives, 2, 1).backward()
                optimizer.step()
        results.append(
            [emb.detach().clone(), skipgram.theta.detach().clone(), skipgram.bias.detach().clone()]
        )
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b)


def test_skipgram_passes_leave_the_mean_item_embedding_in_place_and_both_losses_unchanged() -> None:
    # The bug: with shared Zipfian negatives, the passes push every item embedding along one
    # common direction (on Diginetica 92% of the mean row norm after 4,000 batches); the
    # recommender's inputs then look alike and it stalls. "restore" moves that drift to the
    # skip-gram's bias, which leaves every skip-gram logit and every score softmax unchanged.
    cycle = [[1, 2, 3, 4, 1, 2], [3, 4, 1], [5, 6, 7, 8, 5, 6], [7, 8, 5]]
    split = tiny_split(cycle * 5, 8)
    settings = {
        "embedding_dim": 8,
        "walks_per_node": 20,
        "walk_length": 12,
        "negatives": 4,
        "skipgram_batch": 128,
        "skipgram_passes": 3,
        "skipgram_stop_delta": 0.0,
    }
    drifts = {}
    for mode in ("free", "restore"):
        model = create("lgsr", skipgram_mean=mode, **settings)
        module = model.setup(split)
        before = module.embedding.weight.detach()[1:].mean(0).clone()
        figures = module.before_epoch(0, 0.05, 0)
        after = module.embedding.weight.detach()[1:].mean(0)
        drifts[mode] = (figures["skipgram_mean_drift"], float((after - before).norm()))
    assert drifts["free"][0] == pytest.approx(drifts["free"][1], rel=1e-5) and drifts["free"][1] > 0.05
    assert drifts["restore"][0] > 0.05 and drifts["restore"][1] < 1e-6  # drifted, then put back

    # the shift is invisible to both losses: a skip-gram batch, and the score softmax of a
    # session vector (the recommender's inputs do change: that is the point)
    module = create("lgsr", **settings).setup(split)
    assert isinstance(module, LGSRModule) and module.skipgram is not None and module.ranks is not None
    walks = torch.tensor([[1, 2, 3, 4, 1], [5, 6, 7, 0, 0]])
    chosen = torch.tensor([0, 3])
    negatives = Negatives(chosen, expected_log_count(chosen, module.skipgram.n_ranks, 5), 5)
    session = torch.randn(2, 8)

    def losses() -> tuple[float, torch.Tensor]:
        assert module.skipgram is not None and module.ranks is not None
        table = module.embedding.weight.detach()
        sg = module.skipgram(table, walks, module.ranks[walks], negatives, 8, 7)
        return float(sg.detach()), torch.log_softmax(session @ table[1:].T, 1)

    sg_before, scores_before = losses()
    torch.manual_seed(0)
    module.restore_mean(torch.randn(8))
    sg_after, scores_after = losses()
    assert sg_after == pytest.approx(sg_before, rel=1e-5)
    torch.testing.assert_close(scores_after, scores_before)
