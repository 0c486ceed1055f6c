"""Padding, truncation and the SR-GNN session graph on hand-made sessions."""

from __future__ import annotations

import itertools

import numpy as np
import torch

from sessionrec.data.batching import BatchSpec, batch_from_lists, make_batch, session_graph
from sessionrec.data.sessions import Sessions, Split, prefix_samples
from sessionrec.data.vocab import ItemVocab


def test_prefix_samples_longest_first() -> None:
    sessions = Sessions.from_lists([[5, 6, 7], [8, 9]])
    sample_session, cut = prefix_samples(sessions)
    assert sample_session.tolist() == [0, 0, 1]
    assert cut.tolist() == [2, 1, 1]
    split = Split.augmented(sessions, ItemVocab.identity(9))
    assert split.targets.tolist() == [7, 6, 9]


def test_paper_example_graph() -> None:
    # SR-GNN Fig. 1: v1 -> v2 -> v3 -> v2 -> v4; the outgoing row of v2 is 1/2 v3 + 1/2 v4
    items = torch.tensor([[1, 2, 3, 2, 4]])
    graph = session_graph(items, torch.tensor([5]))
    nodes = graph.nodes[0].tolist()
    assert nodes == [1, 2, 3, 4]
    v = {item: i for i, item in enumerate(nodes)}
    out = graph.adj_out[0]
    assert out[v[2], v[3]] == 0.5 and out[v[2], v[4]] == 0.5
    # incoming row of v2 averages its predecessors v1 and v3
    assert graph.adj_in[0][v[2], v[1]] == 0.5 and graph.adj_in[0][v[2], v[3]] == 0.5
    assert graph.adj_in[0][v[1]].sum() == 0  # no predecessor: the row stays zero
    assert graph.alias[0].tolist() == [v[1], v[2], v[3], v[2], v[4]]


def test_repeated_transitions_are_binary() -> None:
    graph = session_graph(torch.tensor([[1, 2, 1, 2, 3]]), torch.tensor([5]))
    # 1->2 occurs twice, 1 also has no other successor: the weight stays 1, not 2
    assert graph.adj_out[0][0, 1] == 1.0
    # 2's successors are 1 and 3: 1/2 each
    assert graph.adj_out[0][1].tolist() == [0.5, 0.0, 0.5]


def test_padding_to_batch_maximum_and_truncation() -> None:
    sessions = Sessions.from_lists([[1, 2, 3, 4, 5, 6], [7, 8, 9]])
    split = Split.augmented(sessions, ItemVocab.identity(9))
    batch = make_batch(split, np.array([4, 6]), BatchSpec())  # prefixes [1] and [7]
    assert batch.items.shape == (2, 1)
    batch = make_batch(split, np.array([0, 5]), BatchSpec(max_length=3, keep="last"))
    assert batch.items.tolist() == [[3, 4, 5], [7, 8, 0]]
    assert batch.targets.tolist() == [6, 9]
    first = make_batch(split, np.array([0]), BatchSpec(max_length=3, keep="first"))
    assert first.items.tolist() == [[1, 2, 3]]


def test_graph_matches_direct_construction_on_random_sessions() -> None:
    rng = np.random.default_rng(3)
    prefixes = [rng.integers(1, 6, size=rng.integers(1, 8)).tolist() for _ in range(50)]
    batch = batch_from_lists(prefixes, BatchSpec(graph=True))
    for row, seq in enumerate(prefixes):
        node = np.unique(seq)
        adjacency = np.zeros((len(node), len(node)))
        for a, b in itertools.pairwise(seq):
            adjacency[np.searchsorted(node, a), np.searchsorted(node, b)] = 1
        out = adjacency / np.maximum(adjacency.sum(1, keepdims=True), 1)
        inc = adjacency.T / np.maximum(adjacency.T.sum(1, keepdims=True), 1)
        n = len(node)
        assert batch.graph.nodes[row, :n].tolist() == node.tolist()
        np.testing.assert_allclose(batch.graph.adj_out[row, :n, :n].numpy(), out)
        np.testing.assert_allclose(batch.graph.adj_in[row, :n, :n].numpy(), inc)
        assert batch.graph.node_mask[row].sum() == n
