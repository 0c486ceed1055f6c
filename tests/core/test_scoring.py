"""The fused item-scoring op equals the plain formula, values and gradients."""

from __future__ import annotations

import torch

from sessionrec.nn.scoring import score_items


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
