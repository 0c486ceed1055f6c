"""The fused item-scoring op equals the plain formula, values and gradients."""

from __future__ import annotations

import torch

from sessionrec.nn import scoring
from sessionrec.nn.scoring import lookup_items, score_items


def test_scores_and_gradients_match_autograd_of_the_plain_formula() -> None:
    torch.manual_seed(0)
    session = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(9, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda s, w: score_items(s, w), (session, weight))
    upstream = torch.randn(4, 8, dtype=torch.float64)
    (score_items(session, weight) * upstream).sum().backward()
    fused = session.grad.clone(), weight.grad.clone()
    session.grad = weight.grad = None
    ((session @ weight[1:].T) * upstream).sum().backward()
    torch.testing.assert_close(fused[0], session.grad)
    torch.testing.assert_close(fused[1], weight.grad)
    assert (fused[1][0] == 0).all()  # padding row: never scored, zero gradient


def test_bf16_is_close_and_returns_float32() -> None:
    torch.manual_seed(0)
    session = torch.randn(5, 16, requires_grad=True)
    weight = torch.randn(30, 16, requires_grad=True)
    scores = score_items(session, weight, bf16=True)
    assert scores.dtype == torch.float32
    torch.testing.assert_close(scores, session @ weight[1:].T, atol=0.1, rtol=0.05)
    scores.sum().backward()
    assert weight.grad.dtype == torch.float32
    torch.testing.assert_close(weight.grad[1:], session.detach().sum(0).expand(29, 16), atol=0.1, rtol=0.05)


def test_cached_item_columns_follow_the_weights() -> None:
    from sessionrec.nn.scoring import CachedItemColumns

    class Scorer(CachedItemColumns):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = torch.nn.Embedding(50, 8)

        def forward(self, session: torch.Tensor) -> torch.Tensor:
            weight = self.embedding.weight
            return score_items(session, weight, columns=self.item_columns(weight, len(session)))

    torch.manual_seed(0)
    scorer, session = Scorer().eval(), torch.randn(3, 8)
    with torch.inference_mode():
        first = scorer(session)
        assert scorer._item_columns is not None  # cached in eval mode without gradients
    torch.testing.assert_close(first, session @ scorer.embedding.weight[1:].detach().t())
    # an optimiser step in train mode: the cache is dropped, the next scores see new weights
    scorer.train()
    assert scorer._item_columns is None and scorer.item_columns(scorer.embedding.weight, 1) is None
    optimizer = torch.optim.Adam(scorer.parameters(), lr=0.5, fused=True)
    scorer(session).sum().backward()
    optimizer.step()  # fused Adam does not bump tensor versions
    scorer.eval()
    with torch.inference_mode():
        torch.testing.assert_close(scorer(session), session @ scorer.embedding.weight[1:].detach().t())
        scorer(session)
    state = {k: torch.zeros_like(v) for k, v in scorer.state_dict().items()}
    scorer.load_state_dict(state)  # replaced weights: cache dropped
    with torch.inference_mode():
        assert torch.equal(scorer(session), torch.zeros(3, 49))


def test_lookup_gradient_is_added_in_place_into_the_scoring_gradient() -> None:
    """Lookups then scoring of one table: the gradient is the dense formula's, and the
    buffer the scoring backward wrote becomes ``.grad`` (the sparse rows added into it,
    no copy of the table), also when an earlier lookup had no scoring after it."""
    torch.manual_seed(0)
    weight = torch.randn(12, 4, dtype=torch.float64, requires_grad=True)
    nodes, more = torch.tensor([[3, 5, 5], [1, 11, 0]]), torch.tensor([2, 5])
    targets = torch.tensor([4, 0])
    written: list[int] = []
    backward = scoring._ItemScores.backward

    def recording(ctx, grad):  # type: ignore[no-untyped-def]
        grads = backward(ctx, grad)
        written.append(grads[1].data_ptr())
        return grads

    def loss(table_score, table_lookup) -> torch.Tensor:  # type: ignore[no-untyped-def]
        session = table_lookup(weight, nodes).sum(1) * table_lookup(weight, more)
        return torch.nn.functional.cross_entropy(table_score(session, weight), targets)

    loss(lambda s, w: s @ w[1:].T, lambda w, i: w[i]).backward()
    expected, weight.grad = weight.grad, None
    scoring._ItemScores.backward = staticmethod(recording)
    try:
        lookup_items(weight, nodes)  # a lookup no scoring follows: leaves an older alias
        for _ in range(2):
            loss(score_items, lookup_items).backward()
            assert weight.grad.data_ptr() == written[-1]  # the scoring's buffer, not a copy
            torch.testing.assert_close(weight.grad, expected, rtol=1e-12, atol=1e-12)
            weight.grad = None
    finally:
        scoring._ItemScores.backward = backward
    assert not any(ref() is weight for ref, _ in scoring._DEFERRED.values())  # the scoring took it
