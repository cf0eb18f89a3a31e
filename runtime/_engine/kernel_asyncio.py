"""The asyncio kernel: slots are loop futures, deadlines a loop timer per millisecond."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable
from functools import partial
from typing import Any

from runtime._engine.kernel import Deadlines, Kernel

__all__ = ("AsyncioKernel",)


class AsyncioKernel(Kernel):
    name = "asyncio"

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.get_running_loop()
        self.loop_thread = threading.get_ident()
        # The future's C constructor bound to the loop: creating a slot is one C call
        # on the hot path (`loop.create_future` is a Python method around the same).
        self.slot = partial(asyncio.Future, loop=self.loop)  # type: ignore[method-assign]
        self._deadlines = Deadlines(self.loop.time, self.loop.call_at)
        self._callback_context = _backend_named_context()

    async def wait(self, slot: asyncio.Future[Any], timeout: float | None) -> Any:
        if timeout is None:
            return await slot
        bucket = self._deadlines.bucket(timeout)
        bucket.add(slot)
        try:
            return await slot
        finally:
            bucket.discard(slot)

    async def answered(self, slot: asyncio.Future[Any], after_drain: bool) -> Any:
        # Retrieved before the yield: a caller cancelled there must not leave a failed
        # answer "never retrieved" (asyncio would log it when the future is collected).
        slot.exception()
        # One yield is enough after a drain too: the loop runs callbacks in order, and
        # the woken worker's was queued first.
        await asyncio.sleep(0)
        return slot.result()

    async def checkpoint(self) -> None:
        await asyncio.sleep(0)

    def call_soon_threadsafe(self, fn: Callable[..., object], *args: Any) -> None:
        # `fn` runs as a loop callback, outside any task, where anyio cannot tell the
        # backend; in this context it can, so `fn` may start a task (a tell from a
        # blocking actor's thread wakes a worker).
        self.loop.call_soon_threadsafe(fn, *args, context=self._callback_context)

    def in_loop_callback(self, fn: Callable[[Any], None]) -> Callable[[Any], None]:
        # The context `call_soon_threadsafe` gives its callbacks: a handler run from a
        # transport's callback (a remote ask, `turn.ask_now`) can use anyio there too.
        # A partial of the context's C `run`: no Python frame of its own per read.
        # (mypy's partial check cannot see that `run(fn, argument)` completes the call.)
        return partial(self._callback_context.run, fn)  # type: ignore[call-arg]


def _backend_named_context() -> contextvars.Context:
    context = contextvars.copy_context()
    try:
        from sniffio import current_async_library_cvar
    except ImportError:  # without sniffio anyio asks asyncio, which works in callbacks
        return context
    context.run(current_async_library_cvar.set, "asyncio")
    return context
