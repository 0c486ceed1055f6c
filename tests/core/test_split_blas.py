"""Scoring through split OpenBLAS equals torch's scoring, values and gradients, at any split."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest
import torch

from sessionrec.errors import ConfigError
from sessionrec.models.registry import create
from sessionrec.nn import target_attention
from sessionrec.nn.scoring import score_items
from sessionrec.nn.target_attention import target_attention_scores
from sessionrec.runtime.split_blas import SplitBlas, cpu_scoring, set_cpu_scoring
from sessionrec.training import TrainerOptions
from tests.conftest import synthetic_dataset
from tests.models.test_tagnn import random_attention_inputs


@pytest.fixture(autouse=True)
def _torch_scoring_afterwards() -> Iterator[None]:
    yield
    set_cpu_scoring("torch")


def _reference(
    session: torch.Tensor, weight: torch.Tensor, upstream: torch.Tensor
) -> tuple[torch.Tensor, ...]:
    """Scores and gradients of sum(scores * upstream) in float64 with the plain formula."""
    s = session.detach().double().requires_grad_()
    w = weight.detach().double().requires_grad_()
    scores = s @ w[1:].T
    (scores * upstream.double()).sum().backward()
    return scores.float(), s.grad.float(), w.grad.float()


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("items", [1, 2, 29])
def test_scores_and_gradients_equal_the_formula(threads: int, items: int) -> None:
    set_cpu_scoring("openblas", threads)
    torch.manual_seed(threads * 100 + items)
    session = torch.randn(7, 12, requires_grad=True)
    weight = torch.randn(items + 1, 12, requires_grad=True)
    upstream = torch.randn(7, items)
    scores = score_items(session, weight)
    (scores * upstream).sum().backward()
    expected = _reference(session, weight, upstream)
    torch.testing.assert_close(scores, expected[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(session.grad, expected[1], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(weight.grad, expected[2], rtol=1e-5, atol=1e-5)
    assert (weight.grad[0] == 0).all()  # padding row: never scored
    with torch.no_grad():
        torch.testing.assert_close(score_items(session, weight), expected[0], rtol=1e-5, atol=1e-5)


def test_views_and_one_sided_gradients() -> None:
    set_cpu_scoring("openblas", 2)
    torch.manual_seed(1)
    base = torch.randn(12, 5)
    session = base.t()  # a non-contiguous [5, 12] view
    weight = torch.randn(40, 12, requires_grad=True)
    upstream = torch.randn(5, 39)
    (score_items(session, weight) * upstream).sum().backward()  # only the table needs a gradient
    torch.testing.assert_close(weight.grad, _reference(session, weight, upstream)[2], rtol=1e-5, atol=1e-5)
    weight = weight.detach()
    session = session.clone().requires_grad_()  # only the sessions need one: torch's path
    (score_items(session, weight) * upstream).sum().backward()
    torch.testing.assert_close(session.grad, _reference(session, weight, upstream)[1], rtol=1e-5, atol=1e-5)


def test_float64_keeps_torch_exactness() -> None:
    set_cpu_scoring("openblas", 2)
    session = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(9, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda s, w: score_items(s, w), (session, weight))


def test_bad_settings_name_the_problem() -> None:
    with pytest.raises(ConfigError, match="unknown CPU scoring backend 'mkl'"):
        set_cpu_scoring("mkl")
    with pytest.raises(ConfigError, match="at least 1"):
        SplitBlas(0)
    assert cpu_scoring() == "torch"


def test_training_with_openblas_follows_torch_and_is_recorded() -> None:
    data = synthetic_dataset()
    train, valid = data.validation_split(0.2)
    config = {"embedding_dim": 16, "batch_size": 64, "epochs": 2, "lr": 0.01}
    histories = {}
    for backend in ("torch", "openblas"):
        model = create("srgnn", **config)
        histories[backend] = model.fit(
            train, valid, TrainerOptions(cpu_scoring=backend, threads=2)
        ).training_state_.history
    assert [r["cpu_scoring"] for r in histories["openblas"]] == ["openblas"] * 2
    assert cpu_scoring() == "openblas"  # process-wide, as set by the trainer
    for ours, theirs in zip(histories["openblas"], histories["torch"], strict=True):
        assert ours["loss"] == pytest.approx(theirs["loss"], rel=1e-3)  # same training, other rounding
        assert ours["valid_MRR@20"] == pytest.approx(theirs["valid_MRR@20"], abs=1.0)


@pytest.mark.parametrize(("memory_mb", "block"), [(512.0, 4096), (512.0, 4), (1e-4, 4)])
def test_target_attention_products_equal_torch(
    memory_mb: float, block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TAGNN's three [2P, N] products through split OpenBLAS: kept, blocked and recomputed."""
    monkeypatch.setattr(target_attention, "BLOCK", block)
    inputs = [t.float() for t in random_attention_inputs()]
    upstream = torch.randn(6, 11)
    results = {}
    for backend in ("torch", "openblas"):
        set_cpu_scoring(backend, 2)
        leaves = [t.clone().requires_grad_() for t in inputs[:3]]
        scores = target_attention_scores(*leaves, *inputs[3:], memory_mb=memory_mb)
        (scores * upstream).sum().backward()
        results[backend] = [scores.detach(), *(leaf.grad for leaf in leaves)]
    for ours, theirs in zip(results["openblas"], results["torch"], strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_scores_with_its_own_threads() -> None:
    set_cpu_scoring("openblas", 2)
    session, weight = torch.randn(3, 4), torch.randn(10, 4)
    for _ in range(5):  # the parent's pool threads exist, idle, when it forks
        score_items(session, weight)
    pid = os.fork()
    if pid == 0:  # child: a pool inherited without its threads would wait forever
        signal.alarm(20)
        ok = torch.allclose(score_items(session, weight), session @ weight[1:].T, atol=1e-5)
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
