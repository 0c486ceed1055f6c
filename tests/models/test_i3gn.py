"""I3GN: neighbour retrieval against brute force, the inter-session graph against a hand-drawn
one, the layers against their equations, the two learning-rate schedules, the variants."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from sessionrec.data.batching import BatchSpec, batch_from_lists, make_batch
from sessionrec.data.inter_graph import inter_session_graph
from sessionrec.data.sessions import Sessions
from sessionrec.graphs.neighbour_sessions import SessionIndex, prefix_sets, retrieve, training_neighbours
from sessionrec.models.i3gn import I3GN, I3GNModule
from sessionrec.models.registry import create
from sessionrec.nn.fusion import FusionGate
from sessionrec.nn.gat import GATLayer
from sessionrec.nn.mean_aggregation import MeanAggregationConv
from sessionrec.training import Trainer, TrainerOptions, optimizer_groups
from tests.conftest import tiny_split

FAST = {
    "embedding_dim": 16,
    "heads": 2,
    "batch_size": 32,
    "epochs": 5,
    "lr": 0.01,
    "lr_step": 100,
    "inter_lr_step": 100,
    "k": 20,
}
CONTRACT = {
    "i3gn": {"overrides": FAST, "pattern_metric": "HR@5", "pattern_threshold": 80.0},
    # undirected graph only: k + 1 and k - 1 look alike to it (54.7 here; chance is 16.7)
    "i3gn-inter": {"overrides": FAST, "pattern_metric": "HR@5", "pattern_threshold": 40.0},
}


# -- retrieval ----------------------------------------------------------------------------
def brute_force(
    pool: list[list[int]],
    prefix: list[int],
    k: int,
    m: int,
    threshold: float,
    exclude: int = -1,
    before: int | None = None,
) -> list[tuple[int, float]]:
    """Neighbours (column, similarity) of one prefix, by the definition, one session at a time."""
    mine = set(prefix)
    candidates = [
        j for j, s in enumerate(pool) if mine & set(s) and j != exclude and (before is None or j < before)
    ]
    recent = sorted(candidates, reverse=True)[:m] if m else candidates
    sims = [(j, len(mine & set(pool[j])) / math.sqrt(len(mine) * len(set(pool[j])))) for j in recent]
    kept = [(j, s) for j, s in sims if s >= threshold]
    return sorted(kept, key=lambda js: (-js[1], -js[0]))[:k]


def as_lists(matrix: sp.csr_matrix) -> list[list[tuple[int, float]]]:
    out = []
    for row in range(matrix.shape[0]):
        lo, hi = matrix.indptr[row], matrix.indptr[row + 1]
        pairs = zip(matrix.indices[lo:hi].tolist(), matrix.data[lo:hi].tolist(), strict=True)
        out.append(sorted(pairs, key=lambda js: (-js[1], -js[0])))
    return out


def random_pool(seed: int, n_sessions: int = 120, n_items: int = 15) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    return [rng.integers(1, n_items + 1, size=int(rng.integers(1, 7))).tolist() for _ in range(n_sessions)]


@pytest.mark.parametrize(("k", "m", "threshold"), [(5, 30, 0.5), (3, 0, 0.3), (50, 10, 0.0), (2, 1000, 0.7)])
def test_retrieval_matches_brute_force(k: int, m: int, threshold: float) -> None:
    pool = random_pool(0)
    index = SessionIndex.build(Sessions.from_lists(pool), 15)
    queries = random_pool(1, n_sessions=40)
    items = np.zeros((40, 6), dtype=np.int64)
    for row, query in enumerate(queries):
        items[row, : len(query)] = query
    got = as_lists(
        retrieve(
            index,
            prefix_sets(Sessions.from_lists(queries), np.arange(40), np.array([len(q) for q in queries]), 15),
            k,
            m,
            threshold,
        )
    )
    for query, row in zip(queries, got, strict=True):
        expected = brute_force(pool, query, k, m, threshold)
        assert [j for j, _ in row] == [j for j, _ in expected]
        np.testing.assert_allclose([s for _, s in row], [s for _, s in expected], rtol=1e-6)
        assert len(row) <= k and all(s >= threshold for _, s in row)


@pytest.mark.parametrize("past_only", [True, False])
def test_training_prefixes_never_retrieve_their_own_session(past_only: bool) -> None:
    pool = random_pool(2)
    sessions = Sessions.from_lists(pool)
    index = SessionIndex.build(sessions, 15)
    own = np.repeat(np.arange(len(pool)), [max(len(s) - 1, 0) for s in pool])
    cut = np.concatenate([np.arange(len(s) - 1, 0, -1) for s in pool if len(s) > 1])
    got = as_lists(training_neighbours(index, own, cut, 4, 25, 0.4, past_only, chunk=7))
    for session, length, row in zip(own, cut, got, strict=True):
        prefix = pool[session][:length]
        expected = brute_force(
            pool, prefix, 4, 25, 0.4, exclude=session, before=session if past_only else None
        )
        assert [j for j, _ in row] == [j for j, _ in expected]
        assert session not in [j for j, _ in row]
        if past_only:
            assert all(j < session for j, _ in row)


def test_m_keeps_only_the_most_recent_candidates() -> None:
    # six sessions all equal to the prefix: m = 2 keeps the two latest, k and the threshold allowing
    pool = [[1, 2]] * 6
    index = SessionIndex.build(Sessions.from_lists(pool), 3)
    got = retrieve(index, prefix_sets(Sessions.from_lists([[1, 2]]), np.array([0]), np.array([2]), 3), 10, 2)
    assert sorted(got.indices.tolist()) == [4, 5]
    # the own session does not take a place among the m: excluded first, then the 2 latest others
    own = retrieve(
        index,
        prefix_sets(Sessions.from_lists([[1, 2]]), np.array([0]), np.array([2]), 3),
        10,
        2,
        exclude=np.array([5]),
    )
    assert sorted(own.indices.tolist()) == [3, 4]


def test_model_neighbours_exclude_own_and_test_sessions() -> None:
    train = tiny_split([[1, 2, 3], [2, 3, 4], [1, 2], [3, 4, 5], [1, 2, 3]], 6, times=[0, 1, 2, 3, 4])
    test = tiny_split([[1, 2, 3], [1, 2, 3]], 6, times=[5, 6])
    model = I3GN(k=10, embedding_dim=8, heads=1)
    model.prepare_fit(train)
    pool = model._pool().sessions
    assert pool.to_lists() == train.sessions.to_lists()  # times already ascending
    batch = make_batch(train, np.arange(len(train)), model.batch_spec)
    neighbours = model.neighbours(batch, _source(train))
    for row, session in enumerate(train.sample_session):
        columns = neighbours.indices[neighbours.indptr[row] : neighbours.indptr[row + 1]]
        assert all(c < session for c in columns)  # older sessions only; never its own
    # the last session's prefix [1, 2] finds [1, 2, 3] (cos 0.82) and [1, 2] (1), not itself;
    # [2, 3, 4] shares one item (cos 0.41 < 0.5)
    last = int(np.flatnonzero((train.sample_session == 4) & (train.sample_cut == 2))[0])
    columns = neighbours.indices[neighbours.indptr[last] : neighbours.indptr[last + 1]]
    assert sorted(columns.tolist()) == [0, 2]
    # a test prefix retrieves from the training pool only: the identical test session is not there
    test_batch = make_batch(test, np.arange(len(test)), model.batch_spec)
    retrieved = model.neighbours(test_batch, _source(test))
    assert retrieved.shape[1] == len(train.sessions)
    assert sorted(retrieved[0].indices.tolist()) == [0, 2, 4]


def _source(split: Any) -> Any:
    from sessionrec.data.batching import BatchSource

    return BatchSource(split, np.arange(len(split)))


# -- inter-session graph ------------------------------------------------------------------
def test_inter_session_graph_matches_the_hand_drawn_one() -> None:
    # prefix 0: 1 -> 2 -> 1, neighbours [2, 3, 4] and [5, 1]; prefix 1: [4], no neighbour
    pool = Sessions.from_lists([[7, 7], [2, 3, 4], [5, 1]])
    items = np.array([[1, 2, 1], [4, 0, 0]])
    neighbours = sp.csr_matrix((np.ones(2), ([0, 0], [1, 2])), shape=(2, 3))
    graph = inter_session_graph(items, np.array([3, 1]), neighbours, pool)
    # nodes per sample sorted by item: sample 0 = {1, 2, 3, 4, 5} (nodes 0-4), sample 1 = {4} (node 5)
    assert graph.nodes.tolist() == [1, 2, 3, 4, 5, 4]
    assert graph.node_batch.tolist() == [0, 0, 0, 0, 0, 1]
    drawn = {(1, 2), (2, 3), (3, 4), (5, 1)}  # undirected, the repeated 1-2 drawn once
    expected = sorted({(u - 1, v - 1) for a, b in drawn for u, v in ((a, b), (b, a))})
    assert sorted(map(tuple, graph.edge_index.t().tolist())) == expected
    assert graph.alias.tolist() == [[0, 1, 0], [5, 0, 0]]


# -- layers -------------------------------------------------------------------------------
def test_pyg_gat_layer_follows_eq_7_to_10() -> None:
    from torch_geometric.nn import GATConv

    torch.manual_seed(0)
    conv = GATConv(3, 2, heads=2, concat=False, negative_slope=0.2)
    x = torch.randn(3, 3)
    edges = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])  # path 0 - 1 - 2
    neighbourhood = {0: [0, 1], 1: [1, 0, 2], 2: [2, 1]}  # N_i includes i
    w = conv.lin.weight.view(2, 2, 3)  # [head, out, in]
    heads = []
    for k in range(2):
        wx = x @ w[k].T
        a_src, a_dst = conv.att_src[0, k], conv.att_dst[0, k]
        out = []
        for i in range(3):
            e = torch.stack(
                [torch.nn.functional.leaky_relu(a_dst @ wx[i] + a_src @ wx[j], 0.2) for j in neighbourhood[i]]
            )
            alpha = torch.softmax(e, 0)
            out.append(sum(alpha[n] * wx[j] for n, j in enumerate(neighbourhood[i])))
        heads.append(torch.stack(out))
    expected = (heads[0] + heads[1]) / 2 + conv.bias  # the output layer averages the heads
    torch.testing.assert_close(conv(x, edges), expected)


def test_mean_aggregation_uses_fixed_weights() -> None:
    torch.manual_seed(0)
    layer = MeanAggregationConv(3, 2, heads=2, concat=True)
    torch.nn.init.normal_(layer.bias)
    x = torch.randn(3, 3)
    # path 0 - 1 - 2 as a block of every node: edges (source, target position) and self-loops
    edges = torch.tensor([[0, 1, 1, 2, 0, 1, 2], [1, 0, 2, 1, 0, 1, 2]])
    wx = (x @ layer.lin.weight.T).view(3, 2, 2)
    expected = torch.stack([(wx[0] + wx[1]) / 2, (wx[0] + wx[1] + wx[2]) / 3, (wx[1] + wx[2]) / 2])
    torch.testing.assert_close(layer(x, edges, torch.arange(3)), expected.flatten(1) + layer.bias)


@pytest.mark.parametrize("concat", [True, False])
def test_block_gat_layer_equals_pyg_gatconv(concat: bool) -> None:
    from torch_geometric.nn import GATConv

    torch.manual_seed(0)
    conv = GATConv(5, 3, heads=4, concat=concat, negative_slope=0.2)
    torch.nn.init.normal_(conv.bias)
    layer = GATLayer(5, 3, heads=4, concat=concat)
    with torch.no_grad():
        layer.weight.copy_(conv.lin.weight.view(4, 3, 5))
        layer.att_src.copy_(conv.att_src[0])
        layer.att_dst.copy_(conv.att_dst[0])
        layer.bias.copy_(conv.bias)
    x = torch.randn(6, 5)
    edges = torch.tensor([[0, 1, 1, 2, 2, 3, 4, 5], [1, 0, 2, 1, 3, 2, 5, 4]])
    full = conv(x, edges)
    # a block of targets {1, 2, 4}: every edge into them, then their self-loops
    targets = torch.tensor([1, 2, 4])
    into = torch.isin(edges[1], targets)
    position = torch.full((6,), -1).index_copy(0, targets, torch.arange(3))
    block = torch.stack(
        [torch.cat([edges[0, into], targets]), position[torch.cat([edges[1, into], targets])]]
    )
    torch.testing.assert_close(layer(x, block, targets), full[targets])


def test_block_backend_equals_pyg_backend_end_to_end() -> None:
    train = tiny_split([[1, 2, 3, 4], [2, 3, 5], [1, 2], [3, 4, 5, 6], [6, 1, 2], [2, 6]], 6)
    scores = {}
    reference: dict[str, torch.Tensor] = {}
    for backend in ("pyg", "blocks"):
        model = create("i3gn", embedding_dim=4, heads=3, k=5, gat_backend=backend, layers=3)
        model.prepare_fit(train)
        module = model.init_module(6)  # type: ignore[attr-defined]
        if backend == "pyg":
            reference = module.state_dict()
        else:
            mapped = {}
            for name, value in reference.items():
                name = name.replace(".lin.weight", ".weight")
                if name.endswith(".weight") and ".layers." in name:
                    value = value.view(3, 4, -1)
                elif name.endswith((".att_src", ".att_dst")):
                    value = value[0]
                mapped[name] = value
            module.load_state_dict(mapped)
        module.eval()
        scores[backend] = module(batch_from_lists([[1, 2], [3], [6, 2, 6]], model.batch_spec))
    torch.testing.assert_close(scores["blocks"], scores["pyg"])


def test_blocks_hold_only_the_nodes_within_reach() -> None:
    # prefix [1] with neighbour 1-2-3-4: with 2 layers node 4 (3 hops away) is never a target
    pool = Sessions.from_lists([[1, 2, 3, 4]])
    neighbours = sp.csr_matrix((np.ones(1), ([0], [0])), shape=(1, 1))
    graph = inter_session_graph(np.array([[1]]), np.array([1]), neighbours, pool, layers=2)
    (first, first_targets), (second, second_targets) = graph.blocks
    assert first_targets.tolist() == [0, 1] and second_targets.tolist() == [0]
    assert sorted(map(tuple, first.t().tolist())) == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 1)]
    assert sorted(map(tuple, second.t().tolist())) == [(0, 0), (1, 0)]
    assert graph.output_alias is not None and graph.output_alias.tolist() == [[0]]


def test_fusion_gate() -> None:
    torch.manual_seed(0)
    gate = FusionGate(4)
    a, b = torch.randn(2, 4), torch.randn(2, 4)
    f = torch.sigmoid(a @ gate.linear_a.weight.T + b @ gate.linear_b.weight.T + gate.linear_b.bias)
    torch.testing.assert_close(gate(a, b), f * a + (1 - f) * b)


def test_module_stacks_layers_as_the_paper() -> None:
    pyg = I3GNModule(10, create("i3gn", embedding_dim=4).config)  # type: ignore[arg-type]
    blocks = I3GNModule(10, create("i3gn", embedding_dim=4, gat_backend="blocks").config)  # type: ignore[arg-type]
    assert pyg.inter is not None and blocks.inter is not None
    first, second = pyg.inter.layers
    assert (first.in_channels, first.out_channels, first.heads, first.concat) == (4, 4, 8, True)
    assert (second.in_channels, second.out_channels, second.heads, second.concat) == (32, 4, 8, False)
    first, second = blocks.inter.layers
    assert (first.in_dim, first.out_dim, first.heads, first.concat) == (4, 4, 8, True)
    assert (second.in_dim, second.out_dim, second.heads, second.concat) == (32, 4, 8, False)
    four = I3GNModule(10, create("i3gn", embedding_dim=4, layers=4, heads=3).config)  # type: ignore[arg-type]
    assert four.inter is not None and [layer.concat for layer in four.inter.layers] == [True] * 3 + [False]


# -- variants -----------------------------------------------------------------------------
def test_intra_variant_is_srgnn() -> None:
    srgnn = create("srgnn", embedding_dim=8)
    intra = create("i3gn-intra", embedding_dim=8)
    reference = srgnn.init_module(20)  # type: ignore[attr-defined]
    module = intra.init_module(20)  # type: ignore[attr-defined]
    module.load_state_dict(reference.state_dict())  # same parameters, same names
    batch = batch_from_lists([[3, 4, 3], [5, 6, 7, 5]], BatchSpec(graph=True))
    torch.testing.assert_close(module(batch), reference(batch))


def test_avg_variant_is_the_mean_of_the_graph_nodes() -> None:
    model = create("i3gn-avg", inter=True, intra=False, embedding_dim=4, k=5)
    train = tiny_split([[1, 2, 3], [2, 5], [4, 6]], 6)
    model.prepare_fit(train)
    module = model.init_module(6)  # type: ignore[attr-defined]
    batch = batch_from_lists([[2], [4, 4]], model.batch_spec)
    # [2] finds [2, 5] (cos 0.71) and [1, 2, 3] (0.58): nodes {1, 2, 3, 5}; [4, 4] finds [4, 6]
    table = module.embedding.weight
    expected = torch.stack([table[[1, 2, 3, 5]].mean(0), table[[4, 6]].mean(0)])
    torch.testing.assert_close(module.session_vector(batch), expected)


# -- the two schedules --------------------------------------------------------------------
def test_two_schedules_step_at_their_own_epochs(monkeypatch: pytest.MonkeyPatch) -> None:
    train = tiny_split([[1, 2, 3], [2, 3, 4], [3, 4, 5], [4, 5, 1]], 5)
    model = create("i3gn", embedding_dim=4, heads=1, epochs=11, k=3, batch_size=4, lr=1.0)
    model.prepare_fit(train)
    seen: list[list[tuple[float, int | None]]] = []
    original = Trainer._train_epoch

    def record(self: Trainer, module: Any, optimizer: Any, *args: Any) -> dict[str, Any]:
        seen.append([(group["lr"], group["lr_step"]) for group in optimizer.param_groups])
        return original(self, module, optimizer, *args)

    monkeypatch.setattr(Trainer, "_train_epoch", record)
    Trainer(model, TrainerOptions(max_batches=1, checkpoint_minutes=None)).fit(train)  # type: ignore[arg-type]
    rest = [epoch[0][0] for epoch in seen]
    inter = [epoch[1][0] for epoch in seen]
    assert [epoch[1][1] for epoch in seen] == [5] * 11
    # x0.1 after epochs 3, 6, 9 for the rest; after epochs 5, 10 for the inter-session module
    assert rest == pytest.approx([1.0] * 3 + [0.1] * 3 + [0.01] * 3 + [0.001] * 2)
    assert inter == pytest.approx([1.0] * 5 + [0.1] * 5 + [0.01])
    module = model.module_
    groups = optimizer_groups(module)
    assert {id(p) for p in groups[1]["params"]} == {id(p) for p in module.inter.parameters()}
    assert len(groups[0]["params"]) + len(groups[1]["params"]) == len(list(module.parameters()))


def test_a_group_missing_a_parameter_is_rejected() -> None:
    module = create("i3gn", embedding_dim=4).init_module(5)  # type: ignore[attr-defined]
    module.parameter_groups = lambda: []
    with pytest.raises(ValueError, match="every parameter once"):
        optimizer_groups(module)


def test_k_zero_builds_the_prefix_graph_alone() -> None:
    model = create("i3gn", k=0, embedding_dim=4)
    model.prepare_fit(tiny_split([[1, 2, 3], [1, 2]], 4))
    batch = batch_from_lists([[1, 2, 1]], model.batch_spec)
    assert batch.extra.nodes.tolist() == [1, 2]
    assert sorted(map(tuple, batch.extra.edge_index.t().tolist())) == [(0, 1), (1, 0)]
    assert "train_neighbours" not in model.prepared_


def test_every_variant_is_registered() -> None:
    names = ["i3gn-inter", "i3gn-intra", "i3gn-avg", "i3gn-alpha", "i3gn-beta", "i3gn-alpha-beta"]
    for name in names:
        assert create(name).preset == name
    for a, b in itertools.combinations(names, 2):
        assert create(a).config != create(b).config
