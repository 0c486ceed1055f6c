"""FOCOL's fine-grained co-occurrence graph and FOGCN against hand counts and dense references."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from sessionrec.data.sessions import Sessions
from sessionrec.graphs.fog import FineGrainedGraph, fine_grained_graph
from sessionrec.nn.fogcn import FOGCN, BucketGraph, FOGCNLayer

# s0 = [1, 2, 3, 2], s1 = [2, 3], s2 = [4], s3 = [3, 3, 1]
SESSIONS = Sessions.from_lists([[1, 2, 3, 2], [2, 3], [4], [3, 3, 1]])
# bucket order for K = 2: +1, +2, >+2, -1, -2, <-2
LABELS = ["+1", "+2", ">+2", "-1", "-2", "<-2"]


def vector(**counts: int) -> list[float]:
    names = {"p1": "+1", "p2": "+2", "pfar": ">+2", "m1": "-1", "m2": "-2", "mfar": "<-2"}
    out = dict.fromkeys(LABELS, 0.0)
    for key, value in counts.items():
        out[names[key]] = float(value)
    return list(out.values())


def test_fog_edge_vectors_match_a_hand_count_of_order_and_distance() -> None:
    fog = fine_grained_graph(SESSIONS, n_items=4, max_distance=2)
    assert fog.labels() == LABELS and fog.n_buckets == 6
    # w_ij[+k]: j occurs k places after i; [-k]: k places before
    expected = {
        (1, 2): vector(p1=1, pfar=1),  # s0: 2 right after 1, and 2 three places after 1
        (2, 3): vector(p1=2, m1=1),  # s0 and s1: 3 right after 2; s0: 3 right before the last 2
        (2, 2): vector(p2=1, m2=1),  # s0: 2 at positions 1 and 3: a self-loop both ways
        (3, 3): vector(p1=1, m1=1),  # s3: 3, 3
        (3, 1): vector(p1=1, p2=1, m2=1),  # s3: 1 one and two after a 3; s0: 1 two before 3
        (1, 4): vector(),  # never in one session
        (4, 4): vector(),  # a session of one click has no pair
    }
    for (i, j), counts in expected.items():
        np.testing.assert_array_equal(fog.edge_vector(i, j), counts, err_msg=f"w_{i}{j}")
    # the reverse edge carries the reversed halves: w_ji[+k] = w_ij[-k]
    for i in range(5):
        for j in range(5):
            w, r = fog.edge_vector(i, j), fog.edge_vector(j, i)
            np.testing.assert_array_equal(w[:3], r[3:])
    assert fog.position_pairs() == 6 + 1 + 0 + 3  # C(4, 2) + C(2, 2) + 0 + C(3, 2)
    assert fog.item_pairs() == 5  # {1,2} {1,3} {2,2} {2,3} {3,3}


def test_uncapped_fog_keeps_every_distance_and_round_trips_its_stack() -> None:
    exact = fine_grained_graph(SESSIONS, n_items=4, max_distance=None)
    assert exact.max_distance == 3 and exact.beyond.nnz == 0  # longest session: 4 clicks
    np.testing.assert_array_equal(exact.edge_vector(1, 2), [1, 0, 1, 0, 0, 0, 0, 0])
    back = FineGrainedGraph.from_stack(exact.stack(), 4)
    for b in range(exact.n_buckets):
        assert (back.bucket(b) != exact.bucket(b)).nnz == 0
    capped = fine_grained_graph(SESSIONS, n_items=4, max_distance=2)
    # the cap only regroups: the total over buckets is the same graph
    assert (capped.total() != exact.total()).nnz == 0
    np.testing.assert_array_equal(capped.degrees().sum(1), capped.total().sum(1))
    with pytest.raises(ValueError, match="stacked FOG"):
        FineGrainedGraph.from_stack(sp.csr_array((7, 5), dtype=np.float32), 4)


# -- FOGCN against a dense edge-by-edge reference --------------------------------------------
def toy_graph() -> tuple[FineGrainedGraph, BucketGraph, torch.Tensor]:
    fog = fine_grained_graph(SESSIONS, n_items=4, max_distance=2)
    halves = [sp.csr_array(m[1:, 1:]) for m in fog.halves()]
    dense = torch.tensor(
        np.array([[fog.edge_vector(i, j) for j in range(1, 5)] for i in range(1, 5)])
    )  # [N, N, n_b]: w_ij
    return fog, BucketGraph(halves, with_edges=True), dense


def dense_code_layer(hidden: torch.Tensor, weight: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """h'_i = sum_j s_ij * h_j / sum_j s_ij with s_ij = w_ij . softmax(W) (the official code)."""
    scores = w @ torch.softmax(weight, dim=0)  # [N, N, d]
    total = scores.sum(1)
    out = (scores * hidden[None, :, :]).sum(1) / total.clamp(min=1e-30)
    return torch.where(total > 0, out, 0.0)


def dense_paper_layer(hidden: torch.Tensor, weight: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Eq. 2-3: alpha_ij = exp(P w_ij) / sum over neighbours k of exp(P w_ik)."""
    logits = w @ weight  # [N, N, d]
    edge = (w.sum(2) > 0)[:, :, None]
    scores = torch.where(edge, torch.exp(logits), 0.0)
    alpha = scores / scores.sum(1, keepdim=True).clamp(min=1e-30)
    return (alpha * hidden[None, :, :]).sum(1)


@pytest.mark.parametrize("weighting", ["code", "paper"])
def test_sparse_fogcn_layer_equals_the_dense_reference_with_gradients(weighting: str) -> None:
    _, graph, w = toy_graph()
    torch.manual_seed(0)
    layer = FOGCNLayer(3, graph.n_buckets, weighting)
    with torch.no_grad():
        layer.weight.normal_(0, 0.5)
    hidden = torch.randn(4, 3, requires_grad=True)
    out = layer(hidden, graph)
    reference = (dense_code_layer if weighting == "code" else dense_paper_layer)(hidden, layer.weight, w)
    torch.testing.assert_close(out, reference)
    assert out[3].abs().sum() == 0  # item 4 has no edge: DGL's mean over no message
    upstream = torch.randn(4, 3)
    grads = torch.autograd.grad(out, (hidden, layer.weight), upstream)
    expected = torch.autograd.grad(reference, (hidden, layer.weight), upstream)
    for got, want in zip(grads, expected, strict=True):
        torch.testing.assert_close(got, want)


def test_per_distance_layer_equals_the_reference_formula_with_gradients() -> None:
    """One weight per bucket: the single sparse product equals the dense formula
    h'_i = sum_j (w_ij . p) h_j / sum_j (w_ij . p), gradients w.r.t. H and w included."""
    _, graph, w = toy_graph()
    torch.manual_seed(2)
    layer = FOGCNLayer(3, graph.n_buckets, importance="distance")
    assert layer.weight.shape == (graph.n_buckets,)
    with torch.no_grad():
        layer.weight.normal_(0, 1.0)
    hidden = torch.randn(4, 3, requires_grad=True)
    out = layer(hidden, graph)
    p = torch.softmax(layer.weight, dim=0)
    scores = w @ p  # [N, N]: w_ij . p, by hand
    by_hand = scores @ hidden / scores.sum(1, keepdim=True).clamp(min=1e-30)
    reference = dense_code_layer(hidden, layer.weight[:, None].expand(-1, 3), w)
    torch.testing.assert_close(out, reference)
    torch.testing.assert_close(out, by_hand)
    assert out[3].abs().sum() == 0  # item 4 has no edge
    upstream = torch.randn(4, 3)
    grads = torch.autograd.grad(out, (hidden, layer.weight), upstream)
    expected = torch.autograd.grad(reference, (hidden, layer.weight), upstream)
    for got, want in zip(grads, expected, strict=True):
        torch.testing.assert_close(got, want)
    assert grads[1].abs().sum() > 0  # the distance weights do receive a gradient
    # the per-feature layer with equal columns computes the same
    feature = FOGCNLayer(3, graph.n_buckets)
    with torch.no_grad():
        feature.weight.copy_(layer.weight[:, None].expand(-1, 3))
    torch.testing.assert_close(feature(hidden, graph), out)
    torch.testing.assert_close(layer.importance(), p[:, None].expand(-1, 3))


def test_pattern_product_and_count_mix_pass_gradcheck() -> None:
    from sessionrec.nn.fogcn import count_mix, pattern_product

    _, graph, _ = toy_graph()
    graph = graph.double()
    edges = graph.receivers.shape[0]
    values = torch.rand(edges, dtype=torch.float64, requires_grad=True)
    hidden = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)
    weights = torch.rand(graph.n_buckets, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v, h: pattern_product(v, h, graph), (values, hidden))
    assert torch.autograd.gradcheck(lambda p: count_mix(p, graph), (weights,))


@pytest.mark.parametrize(
    ("weighting", "importance"), [("code", "distance"), ("code", "feature"), ("paper", "feature")]
)
def test_reordered_graph_gives_the_same_embeddings_and_gradients(weighting: str, importance: str) -> None:
    fog = fine_grained_graph(SESSIONS, n_items=4, max_distance=2)
    halves = [sp.csr_array(m[1:, 1:]) for m in fog.halves()]
    per_feature = importance == "feature" and weighting == "code"
    plain, reordered = (
        BucketGraph(halves, with_edges=not per_feature, with_buckets=per_feature, reorder=r)
        for r in (False, True)
    )
    assert reordered.order is not None and sorted(reordered.order.tolist()) == [0, 1, 2, 3]
    torch.manual_seed(3)
    model = FOGCN(3, plain.n_buckets, layers=2, weighting=weighting, importance=importance)
    for layer in model.layers:
        with torch.no_grad():
            layer.weight.normal_(0, 0.5)
    embeddings = torch.randn(4, 3, requires_grad=True)
    outputs = [model(embeddings, graph) for graph in (plain, reordered)]
    torch.testing.assert_close(outputs[1], outputs[0])
    upstream = torch.randn(4, 3)
    parameters = (embeddings, *(layer.weight for layer in model.layers))
    for got, want in zip(
        torch.autograd.grad(outputs[1], parameters, upstream),
        torch.autograd.grad(outputs[0], parameters, upstream),
        strict=True,
    ):
        torch.testing.assert_close(got, want)


def test_bucket_mix_backward_passes_gradcheck() -> None:
    from sessionrec.nn.fogcn import bucket_mix

    _, graph, _ = toy_graph()
    graph = graph.double()
    hidden = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)
    weights = torch.rand(graph.n_buckets, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda h, p: bucket_mix(h, p, graph), (hidden, weights))


def test_fogcn_averages_the_layer_outputs_and_uniform_weights_ignore_distance() -> None:
    fog, graph, w = toy_graph()
    torch.manual_seed(1)
    model = FOGCN(3, graph.n_buckets, layers=2)
    embeddings = torch.randn(4, 3)
    first = dense_code_layer(embeddings, model.layers[0].weight, w)
    second = dense_code_layer(first, model.layers[1].weight, w)
    torch.testing.assert_close(model(embeddings, graph), (embeddings + first + second) / 3)
    # at the initial (equal) weights, a layer is the count-weighted mean over the total graph
    total = torch.tensor(fog.total().toarray()[1:, 1:], dtype=torch.float32)
    mean = total @ embeddings / total.sum(1, keepdim=True).clamp(min=1)
    torch.testing.assert_close(first, mean)
    importance = model.importance()
    assert importance.shape == (2, 6, 3)
    torch.testing.assert_close(importance.sum(1), torch.ones(2, 3))
