"""GCE-GNN: its global graph, session relations and global aggregation against hand computations."""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from sessionrec.data.batching import BatchSpec, batch_from_lists
from sessionrec.data.sessions import Sessions
from sessionrec.graphs.cooccurrence import cooccurrence_by_distance
from sessionrec.graphs.neighbours import top_neighbours
from sessionrec.models.registry import create
from sessionrec.nn.global_aggregation import GlobalAggregation, neighbourhood_levels
from sessionrec.nn.relation_attention import RelationAttention
from tests.conftest import tiny_split

FAST = {"embedding_dim": 16, "batch_size": 32, "epochs": 4, "lr": 0.01, "lr_step": 100, "dropout_global": 0.0}
CONTRACT = {
    "gcegnn": {"overrides": FAST, "pattern_metric": "HR@5", "pattern_threshold": 80.0},
    # Tmall's dropouts (0.6 in the hops, 0.5 on the local part) slow learning at this size
    "gcegnn-tmall": {
        "overrides": {**FAST, "epochs": 6},
        "pattern_metric": "HR@10",
        "pattern_threshold": 50.0,
    },
}


def test_global_graph_matches_a_hand_count() -> None:
    # sessions over items 1..6: [1 2 3 4 5] and [2 1 1]
    sessions = Sessions.from_lists([[1, 2, 3, 4, 5], [2, 1, 1]])
    counts = cooccurrence_by_distance(sessions, 6, 3).within().toarray()
    expected = np.zeros((7, 7))
    for s in ([1, 2, 3, 4, 5], [2, 1, 1]):
        for k in (1, 2, 3):
            for j in range(len(s) - k):
                expected[s[j], s[j + k]] += 1  # both directions, as build_graph.py appends them
                expected[s[j + k], s[j]] += 1
    np.testing.assert_array_equal(counts, expected)
    # by hand: 1-2 at distance 1 in the first session, 2-1 at 1 and 2-1 at 2 in the second
    assert counts[1, 2] == counts[2, 1] == 3
    assert counts[1, 1] == 2  # the repeated 1 at distance 1: a self-pair, counted both ways
    assert counts[1, 5] == 0  # distance 4: outside the window
    assert counts[1, 4] == 1  # distance 3: inside


def test_top_k_table_keeps_the_heaviest_and_fills_short_rows_from_their_neighbours() -> None:
    sessions = Sessions.from_lists([[1, 2, 3, 4, 5], [2, 1, 1]])
    counts = cooccurrence_by_distance(sessions, 6, 3).within()
    neighbours, weights = top_neighbours(counts, 2, seed=0)
    # item 1: 2 (3), 1 (2), 3 (1), 4 (1): top-2 = {2, 1}
    assert sorted(neighbours[1].tolist()) == [1, 2] and sorted(weights[1].tolist()) == [2.0, 3.0]
    # item 3: 1, 2, 4, 5 all weight 1 -> ties broken by the smaller index
    assert sorted(neighbours[3].tolist()) == [1, 2] and weights[3].tolist() == [1.0, 1.0]
    # item 6 never occurs, row 0 is padding: item 0 with weight 0
    assert neighbours[6].tolist() == [0, 0] and weights[6].tolist() == [0.0, 0.0]
    assert neighbours[0].tolist() == [0, 0]
    wide, wide_weights = top_neighbours(counts, 12, seed=0)
    # item 5 has 3 neighbours (2, 3, 4): its 12 slots are drawn from them, with their weights
    assert set(wide[5].tolist()) <= {2, 3, 4} and len(set(wide[5].tolist())) > 1
    dense = counts.toarray()
    np.testing.assert_array_equal(wide_weights[5], dense[5, wide[5]])
    again, _ = top_neighbours(counts, 12, seed=0)
    np.testing.assert_array_equal(again, wide)  # fixed by the seed


def test_session_relations_on_a_hand_made_session() -> None:
    # 5 -> 3 -> 5 -> 7 -> 7: nodes sorted by item: 3 (u0), 5 (u1), 7 (u2)
    batch = batch_from_lists([[5, 3, 5, 7, 7]], BatchSpec(relations=True))
    assert batch.graph is not None and batch.graph.relations is not None
    assert batch.graph.nodes[0].tolist() == [3, 5, 7]
    # 3<->5 both ways: 4; 5 -> 7 only: row 5 col 7 = 3 (out), row 7 col 5 = 2 (in);
    # 7 -> 7 is a repeat: no edge, only the self-loop 1; 3 and 7 never adjacent: 0
    expected = [[1, 4, 0], [4, 1, 3], [0, 2, 1]]
    assert batch.graph.relations[0].tolist() == expected
    padded = batch_from_lists([[5, 3, 5, 7, 7], [9]], BatchSpec(relations=True))
    assert padded.graph is not None and padded.graph.relations is not None
    assert padded.graph.relations[1].tolist() == [[1, 0, 0], [0, 0, 0], [0, 0, 0]]  # padding nodes: none


def test_relation_attention_equals_the_equations() -> None:
    torch.manual_seed(0)
    layer = RelationAttention(3)
    hidden = torch.randn(1, 3, 3)
    relations = torch.tensor([[[1, 4, 0], [4, 1, 3], [0, 2, 1]]])
    out = layer(hidden, relations)
    h, a = hidden[0], layer.relation_vectors
    for i in range(3):
        js = [j for j in range(3) if relations[0, i, j] > 0]
        e = torch.stack([F.leaky_relu((a[relations[0, i, j] - 1] * h[i] * h[j]).sum(), 0.2) for j in js])
        expected = (torch.softmax(e, 0)[:, None] * h[js]).sum(0)
        torch.testing.assert_close(out[0, i], expected)


def _direct_global(
    agg: GlobalAggregation, emb: torch.Tensor, s: torch.Tensor, item: int, table, weights, hops: int
):
    """V_hops(item) for one session, by the recursion written out item by item."""
    if hops == 0:
        return emb[item]
    layer = agg.hops[hops - 1]
    own = _direct_global(agg, emb, s, item, table, weights, hops - 1)
    nbrs = [_direct_global(agg, emb, s, int(y), table, weights, hops - 1) for y in table[item]]
    logits = []
    for y_vec, w in zip(nbrs, weights[item], strict=True):
        pre = torch.cat([s * y_vec, w.view(1)]) @ layer.w_1
        logits.append((F.leaky_relu(pre, 0.2) @ layer.w_2).squeeze())
    pi = torch.softmax(torch.stack(logits), 0)
    h_n = sum(p * v for p, v in zip(pi, nbrs, strict=True))
    return torch.relu(torch.cat([own, h_n]) @ layer.w_3)


def test_global_aggregation_equals_a_direct_computation_on_a_toy_graph() -> None:
    torch.manual_seed(0)
    n_items, dim, k = 6, 4, 3
    table = torch.tensor([[0, 0, 0], [2, 3, 3], [1, 4, 5], [1, 1, 2], [2, 6, 6], [2, 2, 2], [4, 4, 4]])
    weights = torch.tensor([[0.0, 0, 0], [3, 1, 1], [3, 2, 1], [1, 1, 2], [2, 5, 5], [1, 1, 1], [5, 5, 5]])
    emb = torch.randn(n_items + 1, dim)
    agg = GlobalAggregation(dim, hops=2).eval()
    sessions = [[1, 2, 1], [4, 6]]
    batch = batch_from_lists(sessions, BatchSpec(graph=True))
    graph = batch.graph
    assert graph is not None
    mean = torch.stack([emb[torch.tensor(s)].mean(0) for s in sessions])
    hood = neighbourhood_levels(graph.nodes, graph.node_mask, table, weights, 2)
    out = agg(emb[hood.items], mean, hood, graph.node_mask)
    for b in range(len(sessions)):
        for u, item in enumerate(graph.nodes[b].tolist()):
            if not graph.node_mask[b, u]:
                assert out[b, u].abs().sum() == 0
                continue
            expected = _direct_global(agg, emb, mean[b], item, table, weights, 2)
            torch.testing.assert_close(out[b, u], expected)
    assert k == table.shape[1]


def test_scores_do_not_depend_on_padding_or_batch_neighbours() -> None:
    model = create("gcegnn", embedding_dim=8)
    split = tiny_split([[1, 2, 3, 4], [2, 3, 5], [5, 1, 2]], 9)
    module = model.setup(split)
    module.eval()
    spec = model.batch_spec
    alone = module(batch_from_lists([[3, 4, 3]], spec))
    together = module(batch_from_lists([[3, 4, 3], [1, 2, 5, 6, 7, 8, 9]], spec))[:1]
    torch.testing.assert_close(alone, together)


def _reference_scores(module, batch) -> torch.Tensor:  # type: ignore[no-untyped-def]
    """GCE-GNN's forward as first written: three lookups of the table, per-slot products written
    out, ``@ w_2`` matrix-vector products (the reference for the faster formulation)."""
    graph, weight = batch.graph, module.embedding.weight
    hidden = weight[graph.nodes]
    local = module.local(hidden, graph.relations)
    mask = batch.mask.to(weight.dtype).unsqueeze(2)
    mean = (weight[batch.items] * mask).sum(1) / batch.lengths.unsqueeze(1).to(weight.dtype)
    hood = neighbourhood_levels(
        graph.nodes, graph.node_mask, module.neighbours, module.neighbour_weights.to(weight.dtype), 2
    )
    values, sessions = weight[hood.items], hood.sessions
    for hop, level in zip(module.global_.hops, hood.levels, strict=True):
        dim = values.shape[1]
        slots = (mean[sessions] * values)[level.neighbour_index] @ hop.w_1[:dim]
        slots = slots + level.weights.unsqueeze(2) * hop.w_1[dim]
        pi = torch.softmax((F.leaky_relu(slots, 0.2) @ hop.w_2).squeeze(2), dim=1)
        neighbours = (pi.unsqueeze(2) * values[level.neighbour_index]).sum(1)
        values = torch.relu(torch.cat([values[level.self_index], neighbours], dim=1) @ hop.w_3)
        sessions = sessions[level.self_index]
    global_ = torch.zeros_like(local)
    global_[graph.node_mask] = values
    nodes = local + global_
    states = nodes[torch.arange(batch.size)[:, None], graph.alias]
    readout, lengths = module.readout, batch.lengths
    state_mask = batch.mask.to(weight.dtype).unsqueeze(2)
    state_mean = (states * state_mask).sum(1) / lengths.unsqueeze(1).to(weight.dtype)
    reverse = (lengths.unsqueeze(1) - 1 - torch.arange(states.shape[1])).clamp(min=0)
    z = torch.tanh(torch.cat([readout.position.weight[reverse], states], dim=2) @ readout.w_1)
    gate = torch.sigmoid(readout.glu1(z) + readout.glu2(state_mean).unsqueeze(1))
    session = ((gate @ readout.w_2) * state_mask * states).sum(1)
    return session @ weight[1:].T


def test_forward_and_gradients_equal_the_reference_formulation() -> None:
    model = create("gcegnn", embedding_dim=6, dropout_gcn=0.0, dropout_global=0.0)
    split = tiny_split([[1, 2, 3, 4], [2, 3, 5], [5, 1, 2], [6, 7, 6, 8], [9, 3, 3]], 9)
    module = model.setup(split).double()
    module.train()
    # repeats, padding nodes, padded positions, and sessions sharing items
    batch = batch_from_lists([[3, 4, 3], [1, 2, 5, 6, 7, 8, 9], [9], [2, 2, 1]], model.batch_spec)
    fast = module(batch)
    grads = torch.autograd.grad(fast.sum() + fast.square().sum(), list(module.parameters()))
    slow = _reference_scores(module, batch)
    reference = torch.autograd.grad(slow.sum() + slow.square().sum(), list(module.parameters()))
    torch.testing.assert_close(fast, slow)
    for (name, _), got, want in zip(module.named_parameters(), grads, reference, strict=True):
        torch.testing.assert_close(got.to_dense(), want.to_dense(), msg=name)
