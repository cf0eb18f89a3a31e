"""The few primitives the engine needs from the event loop, per anyio backend.

The hot paths (parking a worker, waiting for an ask's answer) use each backend's own
cheapest primitive instead of anyio's portable ones: an asyncio future with a
`call_later` deadline, or trio's `wait_task_rescheduled`. Everything else in the engine
uses anyio. A *slot* is a one-shot result with `set_result`, `set_exception` and `done()`
(an `asyncio.Future` has exactly that shape; `_TrioSlot` copies it).
"""

from __future__ import annotations

import asyncio
import contextvars
import math
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ("Expired", "Kernel", "Slot", "current_kernel")


class Expired(Exception):
    """A wait passed its deadline (turned into the caller's own timeout error)."""


class Slot(Protocol):
    def done(self) -> bool: ...
    def set_result(self, value: Any, /) -> None: ...
    def set_exception(self, error: BaseException, /) -> None: ...


class Kernel:
    """Backend primitives; one instance per running `ActorSystem`."""

    name: str
    loop_thread: int

    def slot(self) -> Any:
        raise NotImplementedError

    async def wait(self, slot: Any, timeout: float | None) -> Any:
        """Wait for `slot`'s result; raise `Expired` after `timeout` seconds."""
        raise NotImplementedError

    async def wait_timer(self, slot: Any, timeout: float | None) -> Any:
        """`wait` for the timers' own task (which must not depend on the timers)."""
        return await self.wait(slot, timeout)

    async def checkpoint(self) -> None:
        raise NotImplementedError

    def call_soon_threadsafe(self, fn: Callable[..., object], *args: Any) -> None:
        raise NotImplementedError

    def attach_timers(self, timers: Any) -> None:
        """The system's timers, for backends whose loop has no `call_at` of its own."""

    @staticmethod
    def now() -> float:
        return time.monotonic()


class _AsyncioKernel(Kernel):
    name = "asyncio"

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.loop_thread = threading.get_ident()
        # A bound method: creating a slot is one C call on the hot path.
        self.slot = self.loop.create_future  # type: ignore[method-assign]
        # Deadlines grouped by the millisecond they fall in: one loop timer per bucket
        # instead of one TimerHandle per wait, which costs a heap push and a cancel on
        # every ask. A deadline fires at most 1 ms late.
        self._buckets: dict[int, set[asyncio.Future[Any]]] = {}
        self._callback_context = _backend_named_context()

    async def wait(self, slot: asyncio.Future[Any], timeout: float | None) -> Any:
        if timeout is None:
            return await slot
        key = math.ceil((self.loop.time() + timeout) * 1000.0)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = set()
            self.loop.call_at(key / 1000.0, self._expire, key)
        bucket.add(slot)
        try:
            return await slot
        finally:
            bucket.discard(slot)

    def _expire(self, key: int) -> None:
        for slot in self._buckets.pop(key, ()):
            if not slot.done():
                slot.set_exception(Expired())

    async def checkpoint(self) -> None:
        await asyncio.sleep(0)

    def call_soon_threadsafe(self, fn: Callable[..., object], *args: Any) -> None:
        # `fn` runs as a loop callback, outside any task, where anyio cannot tell the
        # backend; in this context it can, so `fn` may start a task (a tell from a
        # blocking actor's thread wakes a worker).
        self.loop.call_soon_threadsafe(fn, *args, context=self._callback_context)


def _backend_named_context() -> contextvars.Context:
    context = contextvars.copy_context()
    try:
        from sniffio import current_async_library_cvar
    except ImportError:  # without sniffio anyio asks asyncio, which works in callbacks
        return context
    context.run(current_async_library_cvar.set, "asyncio")
    return context


def current_kernel() -> Kernel:
    """The kernel for the backend this task runs on."""
    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            trio.lowlevel.current_task()
        except RuntimeError:
            pass
        else:
            from runtime._engine.kernel_trio import TrioKernel

            return TrioKernel()
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(
            "an ActorSystem must be entered inside a running event loop: "
            "use `async with ActorSystem(...)` under anyio.run() (asyncio or trio)"
        ) from None
    return _AsyncioKernel()
