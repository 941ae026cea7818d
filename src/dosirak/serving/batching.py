"""Adaptive batching: join concurrent requests along the batch axis, run once, split back.

One :class:`AdaptiveBatcher` per batchable api. Callers ``await batcher.submit(value)``;
a dispatcher task on the event loop gathers queued values and runs one batch at a time in
a worker thread (so the event loop keeps answering, e.g. ``/livez``).

How the wait adapts. While a batch runs, new requests queue, so under load the next batch
is as large as the load makes it, with no deliberate wait. When the model is idle, the
dispatcher waits for more requests only if the next one is expected sooner than the fixed
cost of a batch (the intercept of a running linear fit of batch duration against rows),
never longer than ``max_latency_ms`` after the oldest request arrived, and stops waiting
as soon as no request arrives within twice the usual gap between arrivals; a lone request
to an idle model is dispatched at once, by its own caller (no hop through the dispatcher
task). A batch never holds more than ``max_batch_size`` rows, except a single request that
is larger by itself, which runs alone.

A sync api runs on one dedicated model thread fed by a queue; it hands each result back
with a single ``call_soon_threadsafe`` (cheaper than an executor's future chain).

If a batch raises, each of its callers is retried alone so that only the callers whose
input fails receive the exception. A caller cancelled while queued is dropped from the
batch; one cancelled while its batch runs is simply not answered.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from dosirak.errors import ServiceUnavailableError, UnprocessableError

logger = logging.getLogger(__name__)

_MIN_GAP_WAIT = 0.0002

#: Called after each batch with (rows in the batch, each caller's queue wait in seconds).
BatchObserver = Callable[[int, list[float]], None]


@dataclass
class _Item:
    value: Any
    size: int
    future: asyncio.Future[Any]
    enqueued: float


class _CostModel:
    """Exponentially weighted least squares of batch duration against rows: d = a + b*n."""

    def __init__(self, decay: float = 0.95) -> None:
        self.decay = decay
        self.s1 = self.sn = self.sd = self.snn = self.snd = 0.0

    def observe(self, rows: int, duration: float) -> None:
        k = self.decay
        self.s1 = self.s1 * k + 1.0
        self.sn = self.sn * k + rows
        self.sd = self.sd * k + duration
        self.snn = self.snn * k + rows * rows
        self.snd = self.snd * k + rows * duration

    def fixed_cost(self) -> float:
        """Estimated cost of a batch regardless of its size (seconds, >= 0)."""
        if self.s1 == 0:
            return 0.0
        var = self.snn * self.s1 - self.sn * self.sn
        if var <= 1e-12:  # one batch size seen so far: take its mean as the fixed cost
            return self.sd / self.s1
        slope = (self.snd * self.s1 - self.sn * self.sd) / var
        return max(0.0, (self.sd - slope * self.sn) / self.s1)


class ModelThread:
    """One thread running blocking calls in order, each answered on its caller's event loop."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[tuple[asyncio.AbstractEventLoop, asyncio.Future[Any], Callable[..., Any],
                                            tuple[Any, ...]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def run(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """Queue ``fn(*args)``; the returned future (of the running loop) gets its result."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._jobs.put((loop, future, fn, args))
        return future

    def close(self) -> None:
        """Let the thread finish its queued calls, then end."""
        self._jobs.put(None)

    def _work(self) -> None:
        jobs = self._jobs
        while (job := jobs.get()) is not None:
            loop, future, fn, args = job
            try:
                result = fn(*args)
            except BaseException as exc:  # handed to the caller, like an executor does
                _post(loop, _settle_error, future, exc)
            else:
                _post(loop, _settle, future, result)


def _post(loop: asyncio.AbstractEventLoop, callback: Callable[..., None], *args: Any) -> None:
    with suppress(RuntimeError):  # the loop is closed: nobody waits for the answer
        loop.call_soon_threadsafe(callback, *args)


def _settle(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():
        future.set_result(result)


def _settle_error(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


class AdaptiveBatcher:
    """Gathers concurrent calls into batches for one batchable api.

    Args:
        fn: The api on one batch: a sync callable (run in a worker thread) or, with
            ``is_async``, a coroutine function (awaited on the loop).
        size_of: Rows of one value along the batch axis.
        concat: Join values along the batch axis.
        split: Split a batch result into pieces of the given row counts.
        max_batch_size: Most rows per batch.
        max_latency_ms: Longest a request waits for others to join it.
        is_async: ``fn`` is a coroutine function.
        observer: Called with (rows, queue waits) after each batch, for metrics.
        name: For logs.
    """

    def __init__(
        self,
        fn: Callable[[Any], Any],
        *,
        size_of: Callable[[Any], int],
        concat: Callable[[list[Any]], Any],
        split: Callable[[Any, list[int]], list[Any]],
        max_batch_size: int = 64,
        max_latency_ms: float = 10.0,
        is_async: bool = False,
        observer: BatchObserver | None = None,
        name: str = "api",
    ) -> None:
        self.fn = fn
        self.size_of = size_of
        self.concat = concat
        self.split = split
        self.max_batch_size = max_batch_size
        self.max_latency = max_latency_ms / 1000.0
        self.is_async = is_async
        self.observer = observer
        self.name = name
        self.cost = _CostModel()
        self._queue: deque[_Item] = deque()
        self._rows = 0
        self._arrival: asyncio.Future[None] | None = None
        self._gap = float("inf")  # EWMA of the time between submissions
        self._last_submit = 0.0
        self._task: asyncio.Task[None] | None = None
        self._thread: ModelThread | None = None
        self._busy = False  # a batch (or a lone request) is running
        self._closed = False

    # ------------------------------------------------------------------ callers
    async def submit(self, value: Any) -> Any:
        """Queue ``value`` for the next batch and return its share of the result."""
        if self._closed:
            raise ServiceUnavailableError("the service is shutting down; retry on another instance")
        loop = asyncio.get_running_loop()
        if self._task is None:
            self._task = loop.create_task(self._dispatch_forever())
        now = time.perf_counter()
        if self._last_submit:
            self._gap = 0.8 * self._gap + 0.2 * (now - self._last_submit) if self._gap != float("inf") else now - self._last_submit
        self._last_submit = now
        size = self.size_of(value)
        if not size:
            raise UnprocessableError("the request holds no rows; send at least one (this api runs rows in batches)")
        if not self._busy and not self._queue and self.idle_wait() == 0:
            return await self._run_alone(value, size, now)
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append(_Item(value, size, future, now))
        self._rows += size
        self._wake()
        return await future

    async def _run_alone(self, value: Any, size: int, enqueued: float) -> Any:
        """Run a lone request to an idle model from its caller's task (the common case at low load)."""
        self._busy = True
        started = time.perf_counter()
        try:
            return (await self._call([value], [size]))[0]
        finally:
            self._busy = False
            self.cost.observe(size, time.perf_counter() - started)
            if self.observer is not None:
                self.observer(size, [started - enqueued])
            if self._queue:  # others arrived meanwhile: the dispatcher takes them now
                self._wake()

    def _wake(self) -> None:
        arrival = self._arrival
        if arrival is not None and not arrival.done():
            arrival.set_result(None)

    async def close(self) -> None:
        """Stop the dispatcher; queued callers get ServiceUnavailableError."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
        while self._queue:
            item = self._queue.popleft()
            if not item.future.done():
                item.future.set_exception(ServiceUnavailableError("the service is shutting down"))
        if self._thread is not None:
            self._thread.close()

    # --------------------------------------------------------------- dispatcher
    async def _wait_arrival(self, timeout: float | None) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._arrival = future
        handle = loop.call_later(timeout, _resolve, future) if timeout is not None else None
        try:
            await future
        finally:
            self._arrival = None
            if handle is not None:
                handle.cancel()

    def idle_wait(self) -> float:
        """How long to wait for more requests when the model is idle (seconds)."""
        fixed = self.cost.fixed_cost()
        if self._gap >= fixed:
            return 0.0
        return min(self.max_latency, fixed)

    async def _dispatch_forever(self) -> None:
        while True:
            if not self._queue or self._busy:  # nothing to do, or a lone request holds the model
                await self._wait_arrival(None)
                continue
            wait = self.idle_wait()
            if wait > 0:
                deadline = self._queue[0].enqueued + wait
                while self._rows < self.max_batch_size:
                    remaining = deadline - time.perf_counter()
                    if remaining <= 0:
                        break
                    queued = len(self._queue)
                    # keep waiting only while requests keep coming (closed-loop clients stop)
                    await self._wait_arrival(min(remaining, max(2 * self._gap, _MIN_GAP_WAIT)))
                    if len(self._queue) == queued:
                        break
            batch = self._take()
            if batch:
                self._busy = True
                try:
                    await self._run(batch)
                finally:
                    self._busy = False

    def _take(self) -> list[_Item]:
        batch: list[_Item] = []
        rows = 0
        queue = self._queue
        while queue:
            item = queue[0]
            if item.future.done():  # cancelled while queued
                queue.popleft()
                self._rows -= item.size
                continue
            if batch and rows + item.size > self.max_batch_size:
                break
            queue.popleft()
            self._rows -= item.size
            batch.append(item)
            rows += item.size
            if rows >= self.max_batch_size:
                break
        return batch

    async def _run(self, batch: list[_Item]) -> None:
        started = time.perf_counter()
        sizes = [item.size for item in batch]
        rows = sum(sizes)
        try:
            results = await self._call([item.value for item in batch], sizes)
        except Exception as exc:
            if len(batch) == 1:
                _answer(batch[0].future, exc=exc)
            else:
                logger.debug("batch of %d callers to '%s' failed (%s); retrying each alone", len(batch), self.name, exc)
                for item in batch:
                    if item.future.done():
                        continue
                    try:
                        _answer(item.future, (await self._call([item.value], [item.size]))[0])
                    except Exception as single_exc:
                        _answer(item.future, exc=single_exc)
        else:
            for item, result in zip(batch, results, strict=True):
                _answer(item.future, result)
        finished = time.perf_counter()
        self.cost.observe(rows, finished - started)
        if self.observer is not None:
            self.observer(rows, [started - item.enqueued for item in batch])

    async def _call(self, values: list[Any], sizes: list[int]) -> list[Any]:
        if self.is_async:
            result = await self.fn(self.concat(values))
            return self.split(result, sizes)
        if self._thread is None:
            self._thread = ModelThread(f"dosirak-batch-{self.name}")
        pieces: list[Any] = await self._thread.run(self._call_sync, values, sizes)
        return pieces

    def _call_sync(self, values: list[Any], sizes: list[int]) -> list[Any]:
        return self.split(self.fn(self.concat(values)), sizes)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _answer(future: asyncio.Future[Any], result: Any = None, exc: BaseException | None = None) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)


__all__ = ["AdaptiveBatcher", "BatchObserver", "ModelThread"]
