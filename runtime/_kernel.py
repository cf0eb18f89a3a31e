"""The few primitives the engine needs from the event loop, per anyio backend.

The hot paths (parking a worker, waiting for an ask's answer) use each backend's own
cheapest primitive instead of anyio's portable ones: an asyncio future with a
`call_later` deadline, or trio's `wait_task_rescheduled`. Everything else in the engine
uses anyio. A *slot* is a one-shot result with `set_result`, `set_exception` and `done()`
(an `asyncio.Future` has exactly that shape; `_TrioSlot` copies it).
"""

from __future__ import annotations

import asyncio
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

    async def checkpoint(self) -> None:
        raise NotImplementedError

    def call_soon_threadsafe(self, fn: Callable[..., object], *args: Any) -> None:
        raise NotImplementedError

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
        self.loop.call_soon_threadsafe(fn, *args)


class _TrioKernel(Kernel):
    name = "trio"

    def __init__(self) -> None:
        import trio

        self._trio = trio
        self._token = trio.lowlevel.current_trio_token()
        self.loop_thread = threading.get_ident()

    def slot(self) -> _TrioSlot:
        return _TrioSlot()

    async def wait(self, slot: _TrioSlot, timeout: float | None) -> Any:
        if timeout is None:
            return await slot.wait()
        with self._trio.move_on_after(timeout):
            return await slot.wait()
        raise Expired()

    async def checkpoint(self) -> None:
        await self._trio.lowlevel.checkpoint()

    def call_soon_threadsafe(self, fn: Callable[..., object], *args: Any) -> None:
        self._token.run_sync_soon(fn, *args)


class _TrioSlot:
    """A one-shot result for trio, shaped like `asyncio.Future`'s setters."""

    __slots__ = ("_outcome", "_task")

    def __init__(self) -> None:
        self._outcome: Any = None
        self._task: Any = None

    def done(self) -> bool:
        return self._outcome is not None

    def set_result(self, value: Any) -> None:
        if self._outcome is None:
            import outcome

            self._resolve(outcome.Value(value))

    def set_exception(self, error: BaseException) -> None:
        if self._outcome is None:
            import outcome

            self._resolve(outcome.Error(error))

    def _resolve(self, result: Any) -> None:
        self._outcome = result
        task, self._task = self._task, None
        if task is not None:
            import trio

            trio.lowlevel.reschedule(task, result)

    async def wait(self) -> Any:
        import trio

        if self._outcome is not None:
            await trio.lowlevel.checkpoint()
            return self._outcome.unwrap()
        self._task = trio.lowlevel.current_task()

        def abort(_: Any) -> Any:
            self._task = None
            return trio.lowlevel.Abort.SUCCEEDED

        return await trio.lowlevel.wait_task_rescheduled(abort)

    def __await__(self) -> Any:
        # `await slot` works on both backends, as it does on an asyncio future.
        return self.wait().__await__()


def current_kernel() -> Kernel:
    """The kernel for the backend this task runs on."""
    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            trio.lowlevel.current_task()
        except RuntimeError:
            pass
        else:
            return _TrioKernel()
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(
            "an ActorSystem must be entered inside a running event loop: "
            "use `async with ActorSystem(...)` under anyio.run() (asyncio or trio)"
        ) from None
    return _AsyncioKernel()
