"""Decoding request bodies without stalling a worker's event loop, within a memory budget.

A body of up to :data:`INLINE_BODY_BYTES` is decoded on the event loop, where it takes
microseconds to a millisecond: the fast path, untouched by anything below. So is a body
whose codec says it may be compressed (an image) once its header shows that it decodes
to at most :data:`INLINE_DECODED_BYTES`.

Any other body is a large decode. Its decoded size is read first, without decoding
(the codec's ``decoded_size``: an image's or a ``.npy`` header, an estimate for JSON; a
codec without one counts as its body's size). Over the service's ``max_decoded_mb`` it is
a 413. Otherwise the size is reserved in the worker's :class:`MemoryBudget`
(``decode_budget_mb``), waiting in turn for room if need be, up to ``wait_s``, then a 503
with ``Retry-After``; the body is decoded in one of :data:`DECODE_THREADS` threads; and the
reservation is held until the request is answered, since the decoded value lives that
long. A decode that outlives its request (a timeout) gives its reservation back when its
thread finishes.

A decoding thread still holds the interpreter lock while it runs C code; the codecs keep
each such call short (images decode with the lock released, large JSON arrays are read in
pieces), but a JSON document of a JSON-typed api (``dict``, a pydantic model) is parsed in
one call, holding the interpreter 30-60 ms per MB.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from typing import Any

from dosirak.errors import PayloadTooLargeError, ServiceUnavailableError
from dosirak.serving.codecs.base import Codec, RawHeaders

logger = logging.getLogger(__name__)

#: Bodies up to this size are decoded on the event loop (unless their codec is compressed).
INLINE_BODY_BYTES = 256 << 10
#: A compressed body (an image) whose decoded size is at most this is decoded on the event loop.
INLINE_DECODED_BYTES = 4 << 20
#: Threads decoding large bodies, per worker.
DECODE_THREADS = 1
#: Seconds a large body may wait for room in the budget before it is answered 503.
DECODE_WAIT_S = 2.0
#: The ``Retry-After`` of that 503, in seconds.
RETRY_AFTER_S = 1

_MB = 1024 * 1024


def _yield_the_cpu() -> None:
    """Lower this decoding thread's CPU priority, so the event loop's thread gets a core first."""
    with suppress(OSError, AttributeError):  # not Linux, or not allowed: decode at the same priority
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


class MemoryBudget:
    """Bytes of decoded input a worker may hold at once; callers wait in turn for room.

    Requests are granted in the order they asked, so a large one is not starved by small
    ones slipping past it. A size larger than the whole budget is granted once nothing else
    is held. Not thread-safe: use it from the event loop.

    Args:
        capacity: Bytes that may be held at once.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.in_use = 0
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    async def acquire(self, size: int, wait_s: float) -> None:
        """Hold ``size`` bytes; wait up to ``wait_s`` for room, then raise a 503 with ``Retry-After``."""
        if not self._waiters and self._fits(size):
            self.in_use += size
            return
        entry = (size, asyncio.get_running_loop().create_future())
        self._waiters.append(entry)
        try:
            async with asyncio.timeout(wait_s):
                await entry[1]
        except TimeoutError:
            self._give_up(entry)
            raise ServiceUnavailableError(
                f"this worker is decoding other large requests ({self.in_use // _MB} MB of its "
                f"{self.capacity // _MB} MB decode budget, decode_budget_mb); retry in a moment",
                retry_after_s=RETRY_AFTER_S,
            ) from None
        except BaseException:
            self._give_up(entry)
            raise

    def release(self, size: int) -> None:
        """Give back ``size`` bytes held by :meth:`acquire`, and let waiters in."""
        self.in_use -= size
        self._wake()

    def _fits(self, size: int) -> bool:
        return self.in_use + size <= self.capacity or self.in_use == 0

    def _wake(self) -> None:
        waiters = self._waiters
        while waiters:
            size, future = waiters[0]
            if future.done():  # given up
                waiters.popleft()
                continue
            if not self._fits(size):
                return
            waiters.popleft()
            self.in_use += size
            future.set_result(None)

    def _give_up(self, entry: tuple[int, asyncio.Future[None]]) -> None:
        size, future = entry
        if future.done() and not future.cancelled():  # granted just as the wait ended
            self.release(size)
            return
        future.cancel()
        with suppress(ValueError):
            self._waiters.remove(entry)
        self._wake()


class LargeBodyDecoder:
    """Decodes the bodies the fast path leaves out: sized first, within the budget, in threads.

    Args:
        max_decoded_bytes: Largest decoded value of one request (413 above it).
        budget_bytes: Decoded values of large bodies this worker may hold at once.
        wait_s: Longest a body waits for room in the budget (503 after it).
        threads: Decoding threads.
    """

    def __init__(self, *, max_decoded_bytes: int, budget_bytes: int, wait_s: float = DECODE_WAIT_S,
                 threads: int = DECODE_THREADS) -> None:
        self.max_decoded_bytes = max_decoded_bytes
        self.budget = MemoryBudget(budget_bytes)
        self.wait_s = wait_s
        self._threads = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="dosirak-decode",
                                           initializer=_yield_the_cpu)

    async def decode(self, codec: Codec, body: bytes, content_type: str, headers: RawHeaders) -> tuple[Any, int]:
        """The decoded value and the bytes reserved for it; :meth:`release` them once the request is answered."""
        loop = asyncio.get_running_loop()
        sizer = getattr(codec, "decoded_size", None)
        large = len(body) > INLINE_BODY_BYTES
        if sizer is None:
            size = len(body)
        elif large:
            size = await loop.run_in_executor(self._threads, sizer, body, content_type, headers)
        else:
            size = sizer(body, content_type, headers)
        if not large and size <= INLINE_DECODED_BYTES:
            return codec.decode(body, content_type, headers), 0
        if size > self.max_decoded_bytes:
            raise PayloadTooLargeError(
                f"the body decodes to {size // _MB} MB, more than the {self.max_decoded_bytes // _MB} MB "
                "this service decodes for one request (max_decoded_mb); send it in smaller parts"
            )
        await self.budget.acquire(size, self.wait_s)
        work = self._threads.submit(codec.decode, body, content_type, headers)
        try:
            return await asyncio.wrap_future(work), size
        except BaseException:
            # a failed decode gives its bytes back now; one that outlives its request (a
            # timeout) when its thread is done with them
            work.add_done_callback(lambda _: self._release_from_thread(loop, size))
            raise

    def release(self, size: int) -> None:
        """Give back what :meth:`decode` reserved (0 for a body decoded inline)."""
        if size:
            self.budget.release(size)

    def _release_from_thread(self, loop: asyncio.AbstractEventLoop, size: int) -> None:
        with suppress(RuntimeError):  # the loop is closed: the worker is stopping anyway
            loop.call_soon_threadsafe(self.release, size)

    def shutdown(self) -> None:
        """Stop the decoding threads (decodes under way finish)."""
        self._threads.shutdown(wait=False)


__all__ = [
    "DECODE_THREADS",
    "DECODE_WAIT_S",
    "INLINE_BODY_BYTES",
    "INLINE_DECODED_BYTES",
    "LargeBodyDecoder",
    "MemoryBudget",
    "RETRY_AFTER_S",
]
