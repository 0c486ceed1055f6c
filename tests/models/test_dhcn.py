"""DHCN: the hypergraph operator against the dense formula, the line graph, and scores that do
not depend on which other sessions share a batch (the leak of DHCN's first release)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sessionrec.data.batching import BatchSpec, batch_from_lists, line_graph, make_batch
from sessionrec.graphs.hypergraph import hypergraph_operator, prefix_hyperedges
from sessionrec.models.registry import create
from sessionrec.nn.line_conv import ssl_loss
from tests.conftest import synthetic_dataset, tiny_split

FAST = {"embedding_dim": 16, "batch_size": 32, "epochs": 4, "lr": 0.01}
CONTRACT = {
    "dhcn": {"overrides": FAST, "pattern_metric": "HR@5", "pattern_threshold": 80.0},
    # without position embeddings the session vector ignores click order: no next-item rule
    "dhcn-tmall": {"overrides": FAST, "pattern_metric": None},
}


def test_hyperedges_are_the_training_prefixes() -> None:
    split = tiny_split([[1, 2, 3], [4, 2]], 5)
    assert prefix_hyperedges(split).to_lists() == [[1, 2], [1], [4]]


def test_hypergraph_operator_equals_the_dense_formula() -> None:
    split = tiny_split([[1, 2, 2, 3], [2, 4, 1], [5, 5]], 6)
    edges = prefix_hyperedges(split).to_lists()  # [1 2 2], [1 2], [1], [2 4], [2], [5]
    h = np.zeros((7, len(edges)))
    for e, edge in enumerate(edges):
        h[list(set(edge)), e] = 1.0  # binary, distinct items
    d_inv = np.diag([1 / x if x else 0 for x in h.sum(1)])
    b_inv = np.diag(1 / h.sum(0))
    dense = d_inv @ h @ b_inv @ h.T
    operator, degrees = hypergraph_operator(prefix_hyperedges(split), 6)
    np.testing.assert_allclose(operator.toarray(), dense, rtol=1e-6)
    np.testing.assert_array_equal(degrees, h.sum(1))
    # by hand: item 4 is only in [2 4] (size 2): row 4 = 1/2 on 2 and 4
    np.testing.assert_allclose(operator.toarray()[4], [0, 0, 0.5, 0, 0.5, 0, 0])
    rows = operator.toarray().sum(1)
    np.testing.assert_allclose(rows[[1, 2, 4, 5]], 1.0, rtol=1e-6)  # row-stochastic where items occur
    assert rows[0] == rows[3] == rows[6] == 0  # padding, never in a prefix, absent
    dropped, _ = hypergraph_operator(prefix_hyperedges(split), 6, min_weight=0.3)
    np.testing.assert_allclose(dropped.toarray(), np.where(dense >= 0.3, dense, 0), rtol=1e-6)


def test_line_graph_is_row_normalised_jaccard_plus_identity() -> None:
    items = batch_from_lists([[1, 2, 2], [2, 3], [4]], BatchSpec()).items
    jaccard = np.array([[1, 1 / 3, 0], [1 / 3, 1, 0], [0, 0, 1]])
    expected = jaccard / jaccard.sum(1, keepdims=True)
    np.testing.assert_allclose(line_graph(items).numpy(), expected, rtol=1e-6)


def test_ssl_loss_is_the_summed_binary_terms() -> None:
    hyper, line = torch.eye(2), torch.eye(2)
    torch.manual_seed(0)
    loss = ssl_loss(hyper, line)
    # positives: sigma(1) each; any row/column shuffle of I is a permutation matrix, so the
    # negative scores are 0 or 1: the loss lies between these two bounds
    pos = -2 * torch.log(torch.sigmoid(torch.tensor(1.0)))
    low, high = (
        pos - 2 * torch.log(torch.tensor(0.5)),
        pos - 2 * torch.log(1 - torch.sigmoid(torch.tensor(1.0))),
    )
    assert low - 1e-5 <= loss <= high + 1e-5


def _ranks_by_batching(**flags: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    data = synthetic_dataset()
    model = create("dhcn", **FAST, **flags).fit(data.train)
    order = np.arange(len(data.test))  # unshuffled: a session's prefixes follow each other
    together = model.evaluate(data.test, batch_size=100).ranks
    alone = model.evaluate(data.test, batch_size=1).ranks
    shuffled = np.random.default_rng(3).permutation(order)
    reordered = np.empty_like(together)
    reordered[shuffled] = model.evaluate(data.test.select(shuffled), batch_size=37).ranks
    return together, alone, reordered


def test_default_scores_are_independent_of_batch_size_and_order() -> None:
    together, alone, reordered = _ranks_by_batching()
    np.testing.assert_array_equal(together, alone)
    np.testing.assert_array_equal(together, reordered)
    model = create("dhcn", **FAST).fit(synthetic_dataset().train)
    test = synthetic_dataset().test
    batch = make_batch(test, np.arange(40), model.batch_spec)
    scores = model.score(batch)
    for i in (0, 17, 39):
        torch.testing.assert_close(
            scores[i : i + 1], model.score(make_batch(test, np.array([i]), model.batch_spec))
        )


def test_the_flagged_first_release_behaviour_leaks_through_the_batch() -> None:
    together, alone, _ = _ranks_by_batching(batch_hyperedges=True)
    assert not np.array_equal(together, alone)  # the score depends on the batch's other sessions


@pytest.mark.parametrize("reorder", [True, False])
def test_hypergraph_channel_equals_dense_powers_in_values_and_gradients(reorder: bool) -> None:
    split = tiny_split([[1, 2, 2, 3], [2, 4, 1], [5, 5], [3, 1, 6], [6, 4]], 6)
    model = create("dhcn", embedding_dim=5, locality_order=reorder)
    module = model.setup(split)
    assert module.reordered == reorder  # the locality order is not the identity here
    assert module.operator.col_indices().dtype == torch.int32  # no index conversion per product
    dense = torch.from_numpy(model.prepared_["operator"].toarray()).float()
    x = module.embedding.weight
    g = torch.randn(7, 5, generator=torch.Generator().manual_seed(0))
    items = module.item_vectors(batch_from_lists([[1, 2]], model.batch_spec))
    (grad,) = torch.autograd.grad(items, x, g)
    powers = [torch.linalg.matrix_power(dense, k) for k in range(4)]
    torch.testing.assert_close(items, sum(p @ x for p in powers).detach() / 4)
    torch.testing.assert_close(grad, sum(p.T @ g for p in powers) / 4)


def test_the_product_ignores_the_uninitialised_buffer_it_writes() -> None:
    # sparse_product writes A x into torch.empty memory with beta = 0: garbage there, NaN
    # included, must not reach the result
    dense = torch.tensor([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    operator = dense.to_sparse_csr()
    x = torch.randn(3, 4)
    out = torch.full((3, 4), float("nan"))
    torch.testing.assert_close(torch.addmm(out, operator, x, beta=0.0, out=out), dense @ x)
