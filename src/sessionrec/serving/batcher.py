"""Micro-batching: concurrent requests share one model call.

Scoring a batch of B sessions costs little more than scoring one (one matrix
product against the item embeddings, one top-k), so requests that arrive together
are gathered for up to ``max_wait`` seconds (counted from the oldest one's arrival)
or ``max_batch`` requests, and scored in
one :meth:`Recommender.recommend` call per ``(k, exclude_seen)`` group (grouping by
the exact ``k`` keeps every answer identical to the one an unbatched call gives).

Model calls run on one dedicated worker thread, so the event loop keeps accepting
and parsing requests while the model works, and the model is never called from two
threads at once. Each call runs under ``torch.inference_mode``.

A request can fail only itself: when a group's call raises, each of its requests is
retried alone, so the error reaches only the requests that cause it (the others get
the answer a batched call would have given them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import torch

from sessionrec.data.vocab import ExternalId
from sessionrec.models.base import Recommender

log = logging.getLogger("sessionrec.serving")


@dataclass(frozen=True)
class Result:
    """One session's answer, as :class:`Recommendations` holds it per row."""

    items: list[ExternalId]
    scores: list[float]
    unknown_items: list[object]
    fallback: bool


@dataclass(frozen=True)
class _Job:
    session: Sequence[object]
    k: int
    exclude_seen: bool
    future: asyncio.Future[Result]
    arrived: float  # loop time when queued


class MicroBatcher:
    """Start with :meth:`start` inside the running loop; :meth:`close` fails pending requests."""

    def __init__(
        self,
        model: Recommender,
        max_wait: float = 0.002,
        max_batch: int = 64,
        metrics: Any = None,
        torch_threads: int | None = None,
        approximate: bool = False,
    ):
        self.model = model
        self.approximate = approximate
        self.max_wait = max_wait
        self.max_batch = max_batch
        self.metrics = metrics
        # torch's intra-op thread count is per thread: set it where the model runs
        initializer = (lambda: torch.set_num_threads(torch_threads)) if torch_threads else None
        self._executor = ThreadPoolExecutor(1, "sessionrec-model", initializer=initializer)
        self._queue: asyncio.Queue[_Job] | None = None
        self._full: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._queue = asyncio.Queue()
        self._full = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="sessionrec-batcher")

    async def recommend(self, session: Sequence[object], k: int, exclude_seen: bool) -> Result:
        """Queue one session and wait for its answer."""
        if self._queue is None or self._full is None:
            raise RuntimeError("MicroBatcher.start() was not called")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Result] = loop.create_future()
        self._queue.put_nowait(_Job(session, k, exclude_seen, future, loop.time()))
        if self._queue.qsize() >= self.max_batch:
            self._full.set()
        return await future

    async def _run(self) -> None:
        assert self._queue is not None and self._full is not None
        loop = asyncio.get_running_loop()
        while True:
            jobs = [await self._queue.get()]
            # the window runs from the oldest request's arrival: under load it has already
            # waited through the previous model call, and the batch leaves at once
            remaining = jobs[0].arrived + self.max_wait - loop.time()
            if remaining > 0 and self._queue.qsize() + 1 < self.max_batch:
                # until the window closes or the batch fills, whichever comes first
                # (a timer setting the event is cheaper than wait_for's extra task)
                self._full.clear()
                timer = loop.call_later(remaining, self._full.set)
                await self._full.wait()
                timer.cancel()
            while len(jobs) < self.max_batch and not self._queue.empty():
                jobs.append(self._queue.get_nowait())
            jobs = [job for job in jobs if not job.future.done()]  # drop cancelled requests
            if not jobs:
                continue
            if self.metrics is not None:
                self.metrics.batch_size.observe(len(jobs))
            try:
                answers = await loop.run_in_executor(self._executor, self._score, jobs)
            except Exception as exc:  # the worker itself failed (shut down): every request learns it
                answers = [exc] * len(jobs)
            for job, answer in zip(jobs, answers, strict=True):
                if job.future.done():
                    continue
                if isinstance(answer, Result):
                    job.future.set_result(answer)
                else:
                    job.future.set_exception(answer)

    def _score(self, jobs: list[_Job]) -> list[Result | Exception]:
        """Worker thread: one ``recommend`` call per (k, exclude_seen) group, each job alone if it fails."""
        groups: dict[tuple[int, bool], list[int]] = defaultdict(list)
        for index, job in enumerate(jobs):
            groups[(job.k, job.exclude_seen)].append(index)
        answers: list[Result | Exception] = [RuntimeError("not scored")] * len(jobs)
        with torch.inference_mode():
            for (k, exclude_seen), indices in groups.items():
                try:
                    answers_of_group = self._recommend([jobs[i].session for i in indices], k, exclude_seen)
                except Exception:
                    log.warning("a batch of %d failed; scoring its requests one by one", len(indices))
                    answers_of_group = [self._alone(jobs[i].session, k, exclude_seen) for i in indices]
                for i, answer in zip(indices, answers_of_group, strict=True):
                    answers[i] = answer
        return answers

    def _recommend(self, sessions: list[Sequence[object]], k: int, exclude_seen: bool) -> list[Result]:
        if self.approximate:
            recs = self.model.recommend(sessions, k=k, exclude_seen=exclude_seen, approximate=True)
        else:  # the plain call: any Recommender.recommend, also one that knows no index
            recs = self.model.recommend(sessions, k=k, exclude_seen=exclude_seen)
        return [
            Result(recs.items[row], recs.scores[row], recs.unknown_items[row], recs.fallback[row])
            for row in range(len(sessions))
        ]

    def _alone(self, session: Sequence[object], k: int, exclude_seen: bool) -> Result | Exception:
        try:
            return self._recommend([session], k, exclude_seen)[0]
        except Exception as exc:  # only this request fails (a 500, logged by the error handler)
            return exc

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._queue is not None:
            while not self._queue.empty():
                job = self._queue.get_nowait()
                if not job.future.done():
                    job.future.set_exception(RuntimeError("the service is shutting down"))
        self._executor.shutdown(wait=False, cancel_futures=True)
