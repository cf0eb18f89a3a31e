"""Timers: one scheduler task per system runs every delayed call.

A heap of deadlines; the task sleeps until the earliest and is woken early only when a
new timer would fire before it. Cancelled timers stay in the heap until they surface,
which is cheaper than removing them.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
from collections.abc import Callable
from typing import Any

from actors import Cancel
from runtime._engine.kernel import Expired, Kernel

__all__ = ("TimerHandle", "Timers")

log = logging.getLogger("repertory")


class TimerHandle(Cancel):
    """A scheduled call; `cancel()` it before it fires and it never runs."""

    __slots__ = ("_args", "_cancelled", "_fn", "deadline", "owner")

    def __init__(self, deadline: float, fn: Callable[..., object], args: tuple[Any, ...]) -> None:
        self.deadline = deadline
        self._fn: Callable[..., object] | None = fn
        self._args = args
        self._cancelled = False
        self.owner: set[Any] | None = None

    def cancel(self) -> None:
        self._cancelled = True
        self._fn = None
        # It stays in the heap until its deadline surfaces: it must not keep what it
        # would have been called with (a stopped actor's cell, say) alive until then.
        self._args = ()
        if self.owner is not None:
            self.owner.discard(self)
            self.owner = None

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def fire(self) -> None:
        fn, self._fn = self._fn, None
        if self.owner is not None:
            self.owner.discard(self)
            self.owner = None
        if fn is not None:
            fn(*self._args)


class Timers:
    __slots__ = ("_heap", "_kernel", "_seq", "_wakeup")

    def __init__(self, kernel: Kernel) -> None:
        self._kernel = kernel
        self._heap: list[tuple[float, int, TimerHandle]] = []
        self._seq = itertools.count()
        self._wakeup: Any = None

    def call_later(self, delay: float, fn: Callable[..., object], *args: Any) -> TimerHandle:
        """Call `fn(*args)` on the loop after `delay` seconds (at least one turn later)."""
        if delay < 0:
            raise ValueError(f"a timer's delay must be >= 0 seconds, got {delay!r}")
        handle = TimerHandle(self._kernel.now() + delay, fn, args)
        heap = self._heap
        heapq.heappush(heap, (handle.deadline, next(self._seq), handle))
        if heap[0][2] is handle and self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)
        return handle

    def __len__(self) -> int:
        return sum(1 for _, _, handle in self._heap if not handle.cancelled)

    async def run(self) -> None:
        """The scheduler task: fire due timers until cancelled."""
        heap = self._heap
        kernel = self._kernel
        while True:
            now = kernel.now()
            while heap and heap[0][0] <= now:
                handle = heapq.heappop(heap)[2]
                try:
                    handle.fire()
                except Exception:
                    log.exception("a timer's callback raised")
            self._wakeup = kernel.slot()
            timeout = heap[0][0] - now if heap else None
            with contextlib.suppress(Expired):
                await kernel.wait_timer(self._wakeup, timeout)
