"""The shared item-table gradient equals autograd's own sum, for every model that uses it."""

from __future__ import annotations

import pytest
import torch

import sessionrec.models.srgnn as srgnn_module
import sessionrec.models.sriem as sriem_module
import sessionrec.models.tagnn as tagnn_module
from sessionrec.data.batching import batch_from_lists
from sessionrec.models.registry import create
from sessionrec.nn.item_gradient import ItemGradient
from sessionrec.nn.scoring import lookup_items, score_items

SESSIONS = [[3], [3, 4, 3], [1, 2, 5, 6, 7, 8, 9], [5, 5, 2, 5], [9, 8], [4, 6, 4, 6, 1]]
MODULES = {"srgnn": srgnn_module, "sriem": sriem_module, "tagnn": tagnn_module}


def _gradients(name: str, overrides: dict[str, object], passes: int = 1) -> dict[str, torch.Tensor]:
    model = create(name, embedding_dim=6, **overrides)
    if name.startswith("tagnn"):
        model._train_pad_length = 9  # type: ignore[attr-defined]
    torch.manual_seed(0)
    module = model.init_module(12).double().train()
    batch = batch_from_lists(SESSIONS, model.batch_spec)
    if batch.graph is not None:
        graph = batch.graph
        batch = type(batch)(
            batch.items,
            batch.lengths,
            batch.targets,
            type(graph)(
                graph.nodes, graph.alias, graph.adj_in.double(), graph.adj_out.double(), graph.node_mask
            ),
        )
    upstream = torch.randn(len(SESSIONS), 12, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    loss = (module(batch) * upstream).sum()
    for index in range(passes):
        loss.backward(retain_graph=index < passes - 1)
    return {key: param.grad.clone() for key, param in module.named_parameters() if param.grad is not None}


@pytest.mark.parametrize(
    ("name", "overrides"),
    [
        ("srgnn", {}),
        ("sriem", {}),
        ("tagnn", {}),  # official form: padded readout reads row 0 through a lookup
        ("tagnn", {"combine": "concat", "readout_softmax": "masked", "target_softmax": "masked"}),
        ("tagnn-avg", {}),
    ],
)
def test_model_gradients_equal_autograds_sum(
    name: str, overrides: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = _gradients(name, overrides)
    twice = _gradients(name, overrides, passes=2)  # retain_graph: a second pass starts afresh
    module = MODULES[name.split("-")[0]]
    monkeypatch.setattr(module, "ItemGradient", lambda: None)  # every op hands autograd its own gradient
    plain = _gradients(name, overrides)
    assert shared.keys() == plain.keys() and "embedding.weight" in shared
    for key in plain:
        torch.testing.assert_close(shared[key], plain[key], msg=key)
        torch.testing.assert_close(twice[key], 2 * plain[key], msg=key)


def test_first_contributor_hands_the_buffer_the_rest_add_in_place() -> None:
    table = torch.zeros(5, 2, requires_grad=True)
    grads = ItemGradient()
    looked_up = lookup_items(table, torch.tensor([[1, 1, 4]]), grads)  # joins: contributor 1
    scores = score_items(torch.ones(1, 2), table, grads=grads)  # contributor 2
    (looked_up.sum() + 10 * scores.sum()).backward()
    expected = torch.tensor([[0.0, 0], [12, 12], [10, 10], [10, 10], [11, 11]])
    torch.testing.assert_close(table.grad, expected)
    # without gradients nothing joins, so nothing waits for a contribution
    with torch.no_grad():
        idle = ItemGradient()
        lookup_items(table, torch.tensor([1]), idle)
        score_items(torch.ones(1, 2), table, grads=idle)
    assert idle._contributors == 0
