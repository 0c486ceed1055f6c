r"""GRU4Rec's ranking losses over sampled candidates (Hidasi & Karatzoglou, "Recurrent
Neural Networks with Top-k Gains for Session-based Recommendations", CIKM 2018).

Every row b of a batch scores the same candidate list: the batch's own targets (the other
rows' targets are its mini-batch negatives) followed by the extra negatives shared by the
whole batch; ``positive[b]`` is the column of row b's target (b itself in GRU4Rec).
With r_b the scores [C] of row b, i its target column and J = the other columns:

* cross-entropy (section 3.2): :math:`-\log \mathrm{softmax}(r_b - \lambda_q \log q)_i`,
  where ``log_q`` [C] is the log-probability of drawing each candidate and
  :math:`\lambda_q` = ``logq`` the strength of the log-Q correction (0: none);
* BPR-max (section 3.3):
  :math:`-\log \sum_{j \in J} s_j \sigma(r_i - r_j) + \lambda \sum_{j \in J} s_j r_j^2`,
  :math:`s_j = e^{r_j} / \sum_{k \in J} e^{r_k}` (a softmax over the negatives only),
  :math:`\lambda` = ``bpreg``.

Both are averaged over the rows. A sampled negative may equal a row's target; only the
row's own target column is left out of its negatives.
Shapes: scores [B, C], positive [B] (int64 columns) -> scalar.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def sampled_cross_entropy(
    scores: torch.Tensor, positive: torch.Tensor, log_q: torch.Tensor | None = None, logq: float = 0.0
) -> torch.Tensor:
    if log_q is not None and logq != 0.0:
        scores = scores - logq * log_q.unsqueeze(0)
    return F.cross_entropy(scores, positive)


def bpr_max_loss(scores: torch.Tensor, positive: torch.Tensor, bpreg: float) -> torch.Tensor:
    rows = torch.arange(scores.shape[0], device=scores.device)
    target = scores[rows, positive]  # [B]
    own = torch.zeros_like(scores, dtype=torch.bool)
    own[rows, positive] = True
    weights = torch.softmax(scores.masked_fill(own, float("-inf")), dim=1)  # s_j, 0 on the target
    ranked = (weights * torch.sigmoid(target.unsqueeze(1) - scores)).sum(1)
    penalty = (weights * scores.square()).sum(1)
    return (-torch.log(ranked + 1e-24) + bpreg * penalty).mean()
