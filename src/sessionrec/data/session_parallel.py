"""Session-parallel mini-batches (Hidasi et al., ICLR 2016, section 3.1.1, Figure 2).

The training sessions are taken in a fixed order (by time, or shuffled per epoch) and
laid side by side in ``B`` slots. Step t's batch holds, for every slot, the session's
current click as input and its next click as target, so row b of consecutive batches
walks through one session event by event, and a model carries row b's hidden state from
one step to the next. When a slot's session has no next click left, the next session in
the order takes the slot, and ``SessionStarts.starts`` marks that row in the following
batch: the model resets its state there. A session of n clicks yields n - 1 events
(sessions of one click none). The epoch ends at the first step where a slot cannot be
refilled because no session is left (the official code's rule), so at most ``B - 1``
sessions in progress at the end lose their last events.

The schedule is a loop over steps (one per batch, each vectorised over the slots), never
over sessions; ``n_session_parallel_batches`` runs it without building tensors.
Shapes per batch: items [B, 1], lengths [B] (all 1), targets [B], starts [B].
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from sessionrec.data.batching import Batch
from sessionrec.data.sessions import Sessions


@dataclass(frozen=True)
class SessionStarts:
    """``starts[b]``: row b's input is the first click of a session (reset its state)."""

    starts: torch.Tensor  # bool [B]

    def to(self, device: torch.device | str) -> SessionStarts:
        return SessionStarts(self.starts.to(device, non_blocking=True))


def session_order(sessions: Sessions, shuffle: bool, seed: int, epoch: int) -> np.ndarray:
    """Indices of the sessions with at least two clicks: by time (stable), or a seeded permutation."""
    usable = np.flatnonzero(sessions.lengths >= 2)
    if shuffle:
        return usable[np.random.default_rng([seed, epoch]).permutation(len(usable))]
    return usable[np.argsort(sessions.times[usable], kind="stable")]


def _schedule(
    offsets: np.ndarray, order: np.ndarray, batch_size: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(positions of the inputs in the click array, starts) per step; positions + 1 are the targets."""
    slots = min(batch_size, len(order))
    if slots == 0:
        return
    position = offsets[order[:slots]].astype(np.int64)
    end = offsets[order[:slots] + 1].astype(np.int64)  # exclusive
    starts = np.ones(slots, dtype=bool)
    taken = slots
    while True:
        yield position, starts
        position = position + 1
        done = np.flatnonzero(position + 1 >= end)
        starts = np.zeros(slots, dtype=bool)
        if len(done):
            if taken + len(done) > len(order):
                return  # a slot cannot be refilled: the epoch ends (official rule)
            incoming = order[taken : taken + len(done)]
            taken += len(done)
            position[done] = offsets[incoming]
            end[done] = offsets[incoming + 1]
            starts[done] = True


def session_parallel_batches(
    sessions: Sessions, order: np.ndarray, batch_size: int, start_batch: int = 0
) -> Iterator[Batch]:
    """The batches of one epoch over ``sessions`` taken in ``order``, from batch ``start_batch`` on."""
    items = sessions.items
    for step, (position, starts) in enumerate(_schedule(sessions.offsets, order, batch_size)):
        if step < start_batch:
            continue
        inputs = torch.from_numpy(items[position].astype(np.int64)).unsqueeze(1)
        targets = torch.from_numpy(items[position + 1].astype(np.int64))
        lengths = torch.ones(len(position), dtype=torch.int64)
        yield Batch(inputs, lengths, targets, extra=SessionStarts(torch.from_numpy(starts.copy())))


def n_session_parallel_batches(sessions: Sessions, order: np.ndarray, batch_size: int) -> int:
    return sum(1 for _ in _schedule(sessions.offsets, order, batch_size))
