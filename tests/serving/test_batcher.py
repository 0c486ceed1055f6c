"""The micro-batcher: gathers concurrent requests, answers each exactly as an unbatched call would."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import torch

from sessionrec.models.base import Recommendations
from sessionrec.models.pop import Pop
from sessionrec.runs import Run
from sessionrec.serving.batcher import MicroBatcher


class RecordingPop(Pop):
    """POP that records each recommend call (batch size, thread, inference mode) and can fail."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[dict[str, Any]] = []
        self.fail = False

    def recommend(
        self,
        sessions: Sequence[Sequence[object]],
        k: int = 20,
        exclude_seen: bool = False,
        batch_size: int = 256,
    ) -> Recommendations:
        self.calls.append(
            {
                "n": len(sessions),
                "k": k,
                "thread": threading.get_ident(),
                "inference": torch.is_inference_mode_enabled(),
                "threads": torch.get_num_threads(),
            }
        )
        if self.fail:
            raise RuntimeError("model exploded")
        return super().recommend(sessions, k, exclude_seen, batch_size)


@pytest.fixture
def model(pop_run: Path) -> RecordingPop:
    return RecordingPop.load(Run(pop_run).model_dir)


async def _gather(batcher: MicroBatcher, requests: list[tuple[list[Any], int, bool]]) -> list[Any]:
    batcher.start()
    try:
        return await asyncio.gather(*(batcher.recommend(s, k, e) for s, k, e in requests))
    finally:
        await batcher.close()


def test_concurrent_requests_share_one_call_per_k_group(model: RecordingPop) -> None:
    requests = [([11], 2, False)] * 6 + [([12, 13], 3, True)] * 4
    results = asyncio.run(_gather(MicroBatcher(model, max_wait=0.05, max_batch=64), requests))
    # one batch of 10, split into its two (k, exclude_seen) groups
    assert sorted(call["n"] for call in model.calls) == [4, 6]
    assert all(call["inference"] for call in model.calls)
    assert all(call["thread"] != threading.get_ident() for call in model.calls)  # off the loop
    # each answer is what a direct call gives for that session alone
    for (session, k, exclude), result in zip(requests, results, strict=True):
        direct = Pop.recommend(model, [session], k=k, exclude_seen=exclude)
        assert result.items == direct.items[0] and result.scores == direct.scores[0]
    # hand-checked: POP's top 2 for [11]; without 12 and 13, 11 then the tied 14 and 15
    assert results[0].items == [11, 12]
    assert results[-1].items[0] == 11 and set(results[-1].items[1:]) == {14, 15}


def test_max_batch_caps_each_call(model: RecordingPop) -> None:
    requests = [([11], 1, False)] * 10
    asyncio.run(_gather(MicroBatcher(model, max_wait=0.05, max_batch=4), requests))
    assert [call["n"] for call in model.calls] == [4, 4, 2]


def test_zero_wait_still_answers_every_request(model: RecordingPop) -> None:
    requests = [([11 + i % 6], 1 + i % 3, bool(i % 2)) for i in range(25)]
    results = asyncio.run(_gather(MicroBatcher(model, max_wait=0.0, max_batch=8), requests))
    assert [len(r.items) for r in results] == [1 + i % 3 for i in range(25)]
    assert sum(call["n"] for call in model.calls) == 25


def test_a_failing_model_fails_its_batch_and_the_batcher_goes_on(model: RecordingPop) -> None:
    async def scenario() -> tuple[list[Any], Any]:
        batcher = MicroBatcher(model, max_wait=0.01)
        batcher.start()
        model.fail = True
        failed = await asyncio.gather(
            *(batcher.recommend([11], 1, False) for _ in range(3)), return_exceptions=True
        )
        model.fail = False
        recovered = await batcher.recommend([11], 1, False)
        await batcher.close()
        return failed, recovered

    failed, recovered = asyncio.run(scenario())
    assert all(isinstance(error, RuntimeError) and "exploded" in str(error) for error in failed)
    assert recovered.items == [11]


def test_cancelled_requests_are_not_scored(model: RecordingPop) -> None:
    async def scenario() -> None:
        batcher = MicroBatcher(model, max_wait=0.05)
        batcher.start()
        doomed = asyncio.ensure_future(batcher.recommend([11], 1, False))
        kept = asyncio.ensure_future(batcher.recommend([12], 1, False))
        await asyncio.sleep(0)  # both queued; the batcher is waiting for more
        doomed.cancel()
        assert (await kept).items == [11]
        await batcher.close()

    asyncio.run(scenario())
    assert [call["n"] for call in model.calls] == [1]


def test_close_fails_requests_still_queued(model: RecordingPop) -> None:
    async def scenario() -> BaseException | None:
        batcher = MicroBatcher(model, max_wait=0.05)
        batcher.start()
        pending = asyncio.ensure_future(batcher.recommend([11], 1, False))
        await asyncio.sleep(0)
        await batcher.close()
        return await asyncio.gather(pending, return_exceptions=True)

    outcome = asyncio.run(scenario())
    assert isinstance(outcome[0], (RuntimeError, asyncio.CancelledError))


def test_torch_threads_are_set_on_the_model_thread(model: RecordingPop) -> None:
    before = torch.get_num_threads()
    try:
        asyncio.run(_gather(MicroBatcher(model, torch_threads=1), [([11], 1, False)]))
        assert model.calls[0]["threads"] == 1
    finally:
        torch.set_num_threads(before)


def test_requests_that_waited_through_a_model_call_leave_at_once(model: RecordingPop) -> None:
    # A is scored after the 0.2 s window; B arrives while A's (slow) call runs, so by the
    # time the worker is free B has waited out its window: it must not wait another 0.2 s
    spans: list[tuple[float, float]] = []
    plain = model.recommend

    def slow(*args: Any, **kwargs: Any) -> Recommendations:
        begin = time.monotonic()
        time.sleep(0.3)
        result = plain(*args, **kwargs)
        spans.append((begin, time.monotonic()))
        return result

    model.recommend = slow  # type: ignore[method-assign]

    async def scenario() -> None:
        batcher = MicroBatcher(model, max_wait=0.2)
        batcher.start()
        first = asyncio.ensure_future(batcher.recommend([11], 1, False))
        await asyncio.sleep(0.25)  # A is in the model now
        await asyncio.gather(first, batcher.recommend([12], 1, False))
        await batcher.close()

    asyncio.run(scenario())
    (_, a_end), (b_begin, _) = spans
    assert b_begin - a_end < 0.1  # not the 0.2 s window again


class PoisonedPop(Pop):
    """POP whose recommend raises for any session holding the item 13 (a stand-in for a model bug)."""

    def recommend(
        self,
        sessions: Sequence[Sequence[object]],
        k: int = 20,
        exclude_seen: bool = False,
        batch_size: int = 256,
    ) -> Recommendations:
        if any(13 in session for session in sessions):
            raise ValueError("poisoned session")
        return super().recommend(sessions, k, exclude_seen, batch_size)


def test_one_failing_request_fails_only_itself(pop_run: Path) -> None:
    model = PoisonedPop.load(Run(pop_run).model_dir)
    requests = [([11], 2, False)] * 20 + [([13], 2, False)] + [([12], 2, False)] * 19
    batcher = MicroBatcher(model, max_wait=0.05, max_batch=64)

    async def scenario() -> list[Any]:
        batcher.start()
        try:
            return await asyncio.gather(
                *(batcher.recommend(s, k, e) for s, k, e in requests), return_exceptions=True
            )
        finally:
            await batcher.close()

    results = asyncio.run(scenario())
    failed = [i for i, r in enumerate(results) if isinstance(r, BaseException)]
    assert failed == [20] and "poisoned" in str(results[20])
    # the 39 others got exactly what an unbatched call gives (POP: 11 then 12, or 12 then 11 excluded)
    assert all(r.items == [11, 12] for i, r in enumerate(results) if i != 20)
