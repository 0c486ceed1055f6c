r"""Item importance in a session and the long-term preference it yields (SR-IEM, Pan et al. 2020).

Three interchangeable modules map item embeddings ``E`` [B, L, d] (``mask`` [B, L],
last item ``x_t`` [B, d]) to the long-term preference :math:`z_l` [B, d]:

- :class:`ImportanceExtraction`, SR-IEM's IEM (Eq. 1-6);
- :class:`StampAttention`, STAMP's attention (Liu et al. 2018), the SR-STAMP variant;
- :class:`SelfAttentionPooling`, a self-attention layer then average pooling, SR-SAT.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def masked_softmax(logits: torch.Tensor, mask: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Softmax over the positions where ``mask`` holds; exactly 0 elsewhere."""
    return torch.softmax(logits.masked_fill(~mask, float("-inf")), dim=dim)


def masked_mean(embeddings: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the real positions: [B, L, d], [B, L] -> [B, d] (STAMP's m_s)."""
    real = mask.unsqueeze(2).to(embeddings.dtype)
    return (embeddings * real).sum(1) / real.sum(1).clamp(min=1.0)


class ImportanceExtraction(nn.Module):
    r"""SR-IEM's importance extraction module.

    .. math::
        Q = f(E W_q),\ K = f(E W_k)\ (W \in \mathbb{R}^{d \times l}),\qquad
        C = \sigma(Q K^\top / \sqrt{d})\ \text{or}\ \sigma(Q K^\top) / \sqrt{d}

        \alpha_i = \frac{1}{t'} \sum_{j \ne i,\ j \le t} C_{ij},\qquad
        \beta = \mathrm{softmax}(\alpha),\qquad z_l = \textstyle\sum_i \beta_i e_i

    Paper (Eq. 1-6): f = sigmoid, l = 100, the 1/sqrt(d) outside the sigmoid, t' = t.
    Official code: f = identity, l = d, the scaling inside the sigmoid, t' = t - 1
    (1 when t = 1). The diagonal (an item with itself) and padded keys are masked
    out; padded positions get importance 0.
    """

    def __init__(
        self, dim: int, attention_dim: int, qk_sigmoid: bool, scale_inside: bool, divisor: str
    ) -> None:
        super().__init__()
        if divisor not in ("t", "t-1"):
            raise ValueError(f"divisor must be 't' or 't-1', got {divisor!r}")
        self.dim, self.qk_sigmoid, self.scale_inside, self.divisor = dim, qk_sigmoid, scale_inside, divisor
        self.query = nn.Linear(dim, attention_dim, bias=False)
        self.key = nn.Linear(dim, attention_dim, bias=False)

    def affinity(self, embeddings: torch.Tensor) -> torch.Tensor:
        """The affinity matrix C [B, L, L] (Eq. 3), before any masking."""
        query, key = self.query(embeddings), self.key(embeddings)
        if self.qk_sigmoid:
            query, key = torch.sigmoid(query), torch.sigmoid(key)
        products = query @ key.transpose(1, 2)
        scale = math.sqrt(self.dim)
        return torch.sigmoid(products / scale) if self.scale_inside else torch.sigmoid(products) / scale

    def importance(self, embeddings: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Importance scores alpha [B, L] (Eq. 4): mean affinity to the session's other items."""
        length = mask.shape[1]
        others = mask.unsqueeze(1) & ~torch.eye(length, dtype=torch.bool, device=mask.device)
        total = (self.affinity(embeddings) * others).sum(2)
        t = mask.sum(1, keepdim=True).to(total.dtype)
        return total / (t if self.divisor == "t" else (t - 1).clamp(min=1.0))

    def weights(self, embeddings: torch.Tensor, mask: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
        """beta [B, L] (Eq. 5), zero on padding."""
        return masked_softmax(self.importance(embeddings, mask), mask)

    def forward(self, embeddings: torch.Tensor, mask: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
        beta = self.weights(embeddings, mask, last)
        return torch.bmm(beta.unsqueeze(1), embeddings).squeeze(1)


class StampAttention(nn.Module):
    r"""STAMP's attention with the mixture of the items and the last item as query.

    .. math::
        \alpha_i = w_0^\top \sigma(W_1 e_i + W_2 x_t + W_3 m_s + b_a),\quad
        m_s = \tfrac{1}{t}\textstyle\sum_i e_i,\qquad z_l = \sum_i \alpha_i e_i

    No normalisation of alpha, as in STAMP (its paper and code); padded positions get 0.
    ``bias=False`` drops b_a, as STAMP's official code does (its paper has it).
    """

    def __init__(self, dim: int, bias: bool = True) -> None:
        super().__init__()
        self.w1 = nn.Linear(dim, dim, bias=False)
        self.w2 = nn.Linear(dim, dim, bias=False)
        self.w3 = nn.Linear(dim, dim, bias=False)
        self.b_a = nn.Parameter(torch.zeros(dim)) if bias else None
        self.w0 = nn.Linear(dim, 1, bias=False)

    def weights(self, embeddings: torch.Tensor, mask: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
        context = self.w2(last) + self.w3(masked_mean(embeddings, mask))
        if self.b_a is not None:
            context = context + self.b_a
        alpha = self.w0(torch.sigmoid(self.w1(embeddings) + context.unsqueeze(1))).squeeze(2)
        return alpha * mask

    def forward(self, embeddings: torch.Tensor, mask: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
        alpha = self.weights(embeddings, mask, last)
        return torch.bmm(alpha.unsqueeze(1), embeddings).squeeze(1)


class SelfAttentionPooling(nn.Module):
    r"""One scaled dot-product self-attention layer (single head), then mean pooling.

    .. math::
        A = \mathrm{softmax}\big((E W_Q)(E W_K)^\top / \sqrt{d}\big),\qquad
        z_l = \tfrac{1}{t} \textstyle\sum_{i \le t} (A\, E W_V)_i

    Padded keys are masked out of the softmax and padded rows out of the mean.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.query = nn.Linear(dim, dim, bias=False)
        self.key = nn.Linear(dim, dim, bias=False)
        self.value = nn.Linear(dim, dim, bias=False)

    def forward(self, embeddings: torch.Tensor, mask: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
        logits = (
            self.query(embeddings) @ self.key(embeddings).transpose(1, 2) / math.sqrt(embeddings.shape[2])
        )
        attended = masked_softmax(logits, mask.unsqueeze(1)) @ self.value(embeddings)
        real = mask.unsqueeze(2).to(embeddings.dtype)
        return (attended * real).sum(1) / real.sum(1).clamp(min=1.0)
