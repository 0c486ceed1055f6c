"""Training samples grouped by their next item: the index behind same-target positives (FOCOL's CSRL).

For a split over items 1..N, ``samples_by_target`` sorts the training samples by target
(stably, so within a target they keep their order) and returns CSR-style arrays:

- ``offsets`` [N + 2]: the samples with target y are rows ``offsets[y]:offsets[y + 1]``;
- ``starts`` [S]: where each row's prefix starts in ``items``; ``lengths`` [S]: its length;
- ``items``: the split's flat item array (prefix r = ``items[starts[r]:starts[r] + lengths[r]]``).

A positive for a sample with target y is a uniformly drawn row of y's range (the sample
itself among them); a row of another range has another next item.
"""

from __future__ import annotations

import numpy as np

from sessionrec.data.sessions import Split


def samples_by_target(split: Split) -> dict[str, np.ndarray]:
    targets = split.targets
    order = np.argsort(targets, kind="stable")
    counts = np.bincount(targets, minlength=split.n_items + 1)[: split.n_items + 1]
    offsets = np.zeros(split.n_items + 2, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    starts = split.sessions.offsets[split.sample_session[order]].astype(np.int64)
    return {
        "offsets": offsets,
        "starts": starts,
        "lengths": split.sample_cut[order].astype(np.int64),
        "items": split.sessions.items.astype(np.int32),
    }
