"""TAGNN: the shared contract, and the fast target attention against the direct formulas."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from sessionrec.data.batching import Batch, BatchSpec, batch_from_lists
from sessionrec.data.pickles import import_pickles
from sessionrec.errors import ConfigError
from sessionrec.models.prepared import PREPARED_FILE, decode_prepared
from sessionrec.models.registry import create, load_model, load_run_model
from sessionrec.models.tagnn import TAGNNModule
from sessionrec.nn import target_attention
from sessionrec.nn.readout import phantom_softmax
from sessionrec.nn.target_attention import target_attention_scores
from sessionrec.runtime.workspace import Workspace
from sessionrec.workflow import train_and_evaluate
from tests.conftest import synthetic_dataset

FAST = {"embedding_dim": 16, "batch_size": 32, "epochs": 3, "lr": 0.02, "lr_step": 100}
FAST_SEED = 2020  # NeuralConfig's default seed: the validation split the workflow draws
SPEC = BatchSpec(graph=True)
# lengths 1..7 with repeated items (3 twice, 5 three times): counts and phantoms both matter
SESSIONS = [[3], [3, 4, 3], [1, 2, 5, 6, 7, 8, 9], [5, 5, 2, 5], [9, 8], [4, 6, 4, 6, 1]]


CONTRACT = {"tagnn": {"overrides": FAST, "pattern_metric": "HR@5", "pattern_threshold": 80.0}}


def test_auto_pad_length_is_the_longest_training_prefix_and_is_saved(tmp_path: Path) -> None:
    data = synthetic_dataset()
    model = create("tagnn", **{**FAST, "epochs": 1}).fit(data.train)
    longest = int(data.train.prefix_lengths.max())
    assert int(model.module_.pad_length) == longest  # type: ignore[attr-defined]
    model.save(tmp_path / "m")
    assert int(load_model(tmp_path / "m").module_.pad_length) == longest  # type: ignore[attr-defined]


def test_train_and_evaluate_pads_as_the_config_says(tmp_path: Path) -> None:
    """Through the workflow (``sessionrec train``): selection pads to the longest prefix of its own
    training part, the refit to the longest of every training session; pad_length=0 pads nothing."""
    data = synthetic_dataset()
    train_part, _ = data.validation_split(0.1, "last", FAST_SEED)
    config = {**FAST, "epochs": 1}
    result = train_and_evaluate(create("tagnn", **config), data, tmp_path / "auto", refit=True)
    refit = load_run_model(result.run.directory)
    assert int(refit.module_.pad_length) == int(data.train.prefix_lengths.max())  # type: ignore[attr-defined]
    selected, _ = decode_prepared(result.run.directory / PREPARED_FILE, data.n_items)
    assert int(selected["longest_prefix"]) == int(train_part.prefix_lengths.max())
    none = train_and_evaluate(create("tagnn", **config, pad_length=0), data, tmp_path / "zero")
    assert int(load_run_model(none.run.directory).module_.pad_length) == 0  # type: ignore[attr-defined]


def module(name: str = "tagnn", n_items: int = 12, pad_length: int = 9, **extra: object) -> TAGNNModule:
    model = create(name, embedding_dim=6, **extra)
    model.prepared_ = {"longest_prefix": np.array(pad_length)}  # as prepare() on a training split
    built = model.init_module(n_items)
    assert isinstance(built, TAGNNModule)
    return built.double().eval()


def double_batch(sessions: list[list[int]]) -> Batch:
    """A batch whose graph is in float64, for tight comparisons with float64 modules."""
    batch = batch_from_lists(sessions, SPEC)
    graph = batch.graph
    assert graph is not None
    double = dataclasses.replace(graph, adj_in=graph.adj_in.double(), adj_out=graph.adj_out.double())
    return dataclasses.replace(batch, graph=double)


def graph_states(net: TAGNNModule, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-position GNN states [B, L, d] and the padding node's state [d]."""
    graph = batch.graph
    assert graph is not None
    hidden = net.gnn(net.embedding(graph.nodes), graph.adj_in, graph.adj_out)
    states = hidden.gather(1, graph.alias.unsqueeze(2).expand(-1, -1, hidden.shape[2]))
    zero = torch.zeros(1, 1, 1, dtype=torch.double)
    pad_state = net.gnn(net.embedding.weight[:1].view(1, 1, -1), zero, zero).view(-1)
    return states, pad_state


def official_forward(net: TAGNNModule, batch: Batch, pad_length: int) -> torch.Tensor:
    """A straight transcription of the official ``compute_scores``: prefixes padded to
    ``pad_length`` with the padding node's state, both softmaxes over the padded width,
    and the target vectors materialised as [B, N, d]."""
    states, pad_state = graph_states(net, batch)
    size, width = batch.items.shape
    mask = torch.zeros(size, pad_length, dtype=torch.double)
    mask[:, :width] = batch.mask.double()
    hidden = pad_state.expand(size, pad_length, -1).clone()
    hidden[:, :width][batch.mask] = states[batch.mask]
    ht = hidden[torch.arange(size), mask.sum(1).long() - 1]
    readout = net.readout
    assert readout is not None and net.linear_transform is not None and net.target is not None
    q1 = readout.linear_one(ht).view(size, 1, -1)
    alpha = torch.softmax(readout.linear_three(torch.sigmoid(q1 + readout.linear_two(hidden))), 1)
    a = torch.sum(alpha * hidden * mask.unsqueeze(2), 1)
    a = net.linear_transform(torch.cat([a, ht], 1))
    b = net.embedding.weight[1:]
    hidden = hidden * mask.unsqueeze(2)
    qt = net.target.linear_t(hidden)
    beta = torch.softmax(b @ qt.transpose(1, 2), -1)  # [B, N, S]
    target = beta @ hidden  # [B, N, d]
    return torch.sum((a.unsqueeze(1) + target) * b.unsqueeze(0), -1)


def paper_forward(net: TAGNNModule, batch: Batch) -> torch.Tensor:
    """Eq. 6-11 session by session, no softmax in Eq. 8, s_target materialised as [N, d]."""
    states, _ = graph_states(net, batch)
    items, rows = net.embedding.weight[1:], []
    assert net.w3 is not None and net.target is not None
    for b, length in enumerate(batch.lengths.tolist()):
        v = states[b, :length]
        s_local = v[-1]
        readout = net.readout
        assert readout is not None
        alpha = readout.linear_three(torch.sigmoid(readout.linear_one(s_local) + readout.linear_two(v)))
        s_global = (alpha * v).sum(0)  # Eq. 8-9
        beta = torch.softmax(items @ net.target.linear_t(v).T, dim=1)  # Eq. 6: [N, n]
        s_target = beta @ v  # Eq. 7: [N, d]
        rest = torch.cat([s_local, s_global]).expand(len(items), -1)
        s_t = net.w3(torch.cat([s_target, rest], dim=1))  # Eq. 10
        rows.append((s_t * items).sum(1))  # Eq. 11
    return torch.stack(rows)


@pytest.mark.parametrize("pad_length", [7, 9, 30])
def test_official_form_equals_the_official_forward(pad_length: int) -> None:
    net, batch = module(pad_length=pad_length), double_batch(SESSIONS)
    with torch.no_grad():
        torch.testing.assert_close(net(batch), official_forward(net, batch, pad_length))


def test_official_form_on_diginetica_prefixes(shared_data: Path) -> None:
    """The whole Diginetica catalogue (43,097 items) and its longest training prefix (69)."""
    data = import_pickles(shared_data / "diginetica")
    pad_length = int(data.train.prefix_lengths.max())
    net = module(n_items=data.n_items, pad_length=pad_length)
    longest = [data.test.prefix(i).tolist() for i in np.argsort(data.test.prefix_lengths)[-3:]]
    batch = double_batch([*longest, data.test.prefix(0).tolist()])
    with torch.no_grad():
        torch.testing.assert_close(net(batch), official_forward(net, batch, pad_length))


def test_paper_form_equals_equations_6_to_11() -> None:
    net, batch = module("tagnn-paper"), double_batch(SESSIONS)
    with torch.no_grad():
        torch.testing.assert_close(net(batch), paper_forward(net, batch))


def test_paper_form_ignores_padding_and_pad_length() -> None:
    batch = double_batch(SESSIONS)
    with torch.no_grad():
        a, b = module("tagnn-paper", pad_length=9)(batch), module("tagnn-paper", pad_length=40)(batch)
    torch.testing.assert_close(a, b)


def test_phantom_padding_changes_official_scores_and_pad_0_is_proper_masking() -> None:
    batch = double_batch(SESSIONS)
    with torch.no_grad():
        padded, none = module(pad_length=20)(batch), module(pad_length=0)(batch)
        masked = module(pad_length=0, readout_softmax="masked", target_softmax="masked")(batch)
    assert (padded - none).abs().max() > 1e-3  # phantom positions take softmax mass
    torch.testing.assert_close(none, masked)


def random_attention_inputs(dtype: torch.dtype = torch.double) -> tuple[torch.Tensor, ...]:
    torch.manual_seed(0)
    counts = torch.zeros(6, 4, dtype=dtype)
    for b, n in enumerate([1, 3, 2, 4, 1, 3]):  # real nodes first, some repeated
        counts[b, :n] = torch.tensor([1.0, 2.0, 1.0, 3.0][:n], dtype=dtype)
    pad = torch.tensor([0.0, 2.0, 0.0, 1.0, 3.0, 0.0], dtype=dtype)
    embedding, keys, values = (  # embedding row 0 is the padding item, never scored
        torch.randn(12, 5, dtype=dtype),
        torch.randn(6, 4, 5, dtype=dtype),
        torch.randn(6, 4, 5, dtype=dtype),
    )
    return embedding, keys, values, counts, pad


def direct_target_scores(
    embedding: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, counts: torch.Tensor, pad: torch.Tensor
) -> torch.Tensor:
    # sum over positions = sum over nodes weighted by counts; phantoms add exp(0) = 1 each
    items = embedding[1:]
    weights = torch.exp(torch.einsum("nd,bud->bnu", items, keys)) * counts.unsqueeze(1)
    values_t = torch.einsum("nd,bud->bnu", items, values)
    return (weights * values_t).sum(2) / (weights.sum(2) + pad.unsqueeze(1))


@pytest.mark.parametrize(
    ("memory_mb", "block"),
    # one block kept; blocks of 4, 4 and 3 items kept; 11 one-item blocks (the budget) recomputed
    [(512.0, 4096), (512.0, 4), (1e-4, 4)],
)
def test_target_scores_and_gradients_match_the_direct_formula(
    memory_mb: float, block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(target_attention, "BLOCK", block)
    inputs = [t.requires_grad_() if i < 3 else t for i, t in enumerate(random_attention_inputs())]
    fast = target_attention_scores(*inputs, memory_mb=memory_mb)
    torch.testing.assert_close(fast, direct_target_scores(*inputs))
    # the custom backward against finite differences (fast mode: random directions)
    scores = lambda e, k, v: target_attention_scores(e, k, v, *inputs[3:], memory_mb=memory_mb)  # noqa: E731
    assert torch.autograd.gradcheck(scores, inputs[:3], fast_mode=True)
    fast.sum().backward()
    assert inputs[0].grad is not None and not inputs[0].grad[0].any()  # the padding row gets 0


def test_reused_work_buffers_give_the_same_gradients_and_refuse_stale_backwards() -> None:
    inputs = random_attention_inputs()
    workspace = Workspace()

    def grads(space: Workspace | None) -> list[torch.Tensor]:
        leaves = [t.clone().requires_grad_() for t in inputs[:3]]
        target_attention_scores(*leaves, *inputs[3:], workspace=space).sin().sum().backward()
        return [leaf.grad for leaf in leaves]  # type: ignore[misc]

    for _ in range(2):  # the second step reuses the first step's buffers
        for a, b in zip(grads(workspace), grads(None), strict=True):
            torch.testing.assert_close(a, b)
    first = target_attention_scores(
        *[t.clone().requires_grad_() for t in inputs[:3]], *inputs[3:], workspace=workspace
    )
    target_attention_scores(*inputs, workspace=workspace)  # overwrites the buffer `first` saved
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        first.sum().backward()


def test_large_logits_neither_overflow_nor_lose_the_phantoms() -> None:
    embedding, keys, values, counts, pad = random_attention_inputs()
    embedding, keys = embedding * 40, keys * 40  # logits in the thousands: exp overflows
    scores = target_attention_scores(embedding, keys, values, counts, pad)
    # reference: one softmax over [log c + logits, log p (the phantoms, logit 0)], values [D, 0]
    logits = torch.einsum("nd,bud->bnu", embedding[1:], keys) + counts.log().unsqueeze(1)
    phantom = pad.log().view(-1, 1, 1).expand(-1, logits.shape[1], 1)
    beta = torch.softmax(torch.cat([logits, phantom], dim=2), dim=2)[..., :-1]
    torch.testing.assert_close(scores, (beta * torch.einsum("nd,bud->bnu", embedding[1:], values)).sum(2))
    # the readout's phantoms: none of them (count 0) with a huge logit must not give 0 * inf
    weights = phantom_softmax(
        torch.tensor([[1.0, 2.0]]), torch.tensor([[True, True]]), *torch.tensor([[0.0], [900.0]])
    )
    torch.testing.assert_close(weights, torch.softmax(torch.tensor([[1.0, 2.0]]), dim=1))


def test_ablations_score_the_documented_session_vectors() -> None:
    batch = double_batch(SESSIONS)
    for name in ("tagnn-l", "tagnn-avg"):
        net = module(name)
        states, _ = graph_states(net, batch)
        mask = batch.mask.unsqueeze(2).double()
        last = states[torch.arange(len(SESSIONS)), batch.lengths - 1]
        session = last if name == "tagnn-l" else (states * mask).sum(1) / mask.sum(1)
        with torch.no_grad():
            torch.testing.assert_close(net(batch), F.linear(session, net.embedding.weight[1:]))
    assert module("tagnn-l").target is None and module("tagnn-att").linear_transform is None
    assert module("tagnn-l").readout is None and module("tagnn-avg").readout is None
    assert module("tagnn-l+att").linear_transform is not None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"target": False, "local": False, "global_pool": "none"}, "empty session representation"),
        (
            {"pad_length": 50, "readout_softmax": "none", "target_softmax": "masked"},
            "pad_length only applies",
        ),
        ({"pad_length": -2}, "pad_length must be"),
        ({"steps": 0}, "steps"),
    ],
)
def test_impossible_configurations_are_rejected(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        create("tagnn", **overrides)


def test_variants_are_presets_with_the_paper_defaults() -> None:
    config = create("tagnn").config
    assert (config.embedding_dim, config.batch_size, config.lr_step_at, config.steps) == (
        100,
        100,
        "start",
        1,
    )
    assert create("tagnn-att").config.target is False  # the ablations drop target attention
    assert [create(n).config.local for n in ("tagnn-l", "tagnn-avg", "tagnn-att")] == [True, False, False]
