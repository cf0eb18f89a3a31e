"""The trio kernel: slots on `wait_task_rescheduled`, deadlines in millisecond buckets.

Imported only when a system runs on trio, so asyncio users never import trio.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import outcome
import trio

from runtime._engine.kernel import Deadlines, Expired, Kernel

__all__ = ("TrioKernel", "TrioSlot")


class TrioSlot:
    """A one-shot result for trio, shaped like `asyncio.Future`'s setters."""

    __slots__ = ("_outcome", "_task")

    def __init__(self) -> None:
        self._outcome: Any = None
        self._task: Any = None

    def done(self) -> bool:
        return self._outcome is not None

    def set_result(self, value: Any) -> None:
        if self._outcome is None:
            self._resolve(outcome.Value(value))

    def set_exception(self, error: BaseException) -> None:
        if self._outcome is None:
            self._resolve(outcome.Error(error))

    def _resolve(self, result: Any) -> None:
        self._outcome = result
        task, self._task = self._task, None
        if task is not None:
            trio.lowlevel.reschedule(task, result)

    async def wait(self) -> Any:
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


class TrioKernel(Kernel):
    name = "trio"

    def __init__(self) -> None:
        super().__init__()
        self._token = trio.lowlevel.current_trio_token()
        self.loop_thread = threading.get_ident()
        self._timers: Any = None
        # As on asyncio: one timer per millisecond of deadlines, not a cancel scope per
        # wait (a scope per ask cost about a sixth of a local round trip).
        self._deadlines = Deadlines(self.now, self._call_at)

    def attach_timers(self, timers: Any) -> None:
        self._timers = timers

    def _call_at(self, when: float, fn: Callable[[int], None], key: int) -> None:
        self._timers.call_later(max(when - self.now(), 0.0), fn, key)

    def slot(self) -> TrioSlot:
        return TrioSlot()

    async def wait_timer(self, slot: TrioSlot, timeout: float | None) -> Any:
        """`wait` for the timers' own task, which cannot be woken by the timers."""
        if timeout is None:
            return await slot.wait()
        with trio.move_on_after(timeout):
            return await slot.wait()
        raise Expired()

    async def wait(self, slot: TrioSlot, timeout: float | None) -> Any:
        if timeout is None:
            return await slot.wait()
        if self._timers is None:  # before the system's timers run
            return await self.wait_timer(slot, timeout)
        bucket = self._deadlines.bucket(timeout)
        bucket.add(slot)
        try:
            return await slot.wait()
        finally:
            bucket.discard(slot)

    async def answered(self, slot: TrioSlot, after_drain: bool) -> Any:
        if after_drain:
            # trio runs a batch of ready tasks in a random order: a second checkpoint
            # makes sure the worker woken with this one has run first.
            await trio.lowlevel.checkpoint()
        return await slot.wait()  # a done slot checkpoints, then unwraps

    async def checkpoint(self) -> None:
        await trio.lowlevel.checkpoint()

    def call_soon_threadsafe(self, fn: Callable[..., object], *args: Any) -> None:
        self._token.run_sync_soon(fn, *args)
