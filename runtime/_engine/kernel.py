"""The few primitives the engine needs from the event loop, and what both backends share.

The hot paths (parking a worker, waiting for an ask's answer) use each backend's own
cheapest primitive instead of anyio's portable ones: an asyncio future, or trio's
`wait_task_rescheduled` (`runtime._engine.kernel_asyncio`, `runtime._engine.kernel_trio`;
`runtime._engine.backends.current_kernel` picks one). Everything else in the engine uses
anyio. A *slot* is a one-shot result with `set_result`, `set_exception` and `done()` (an
`asyncio.Future` has exactly that shape; `TrioSlot` copies it).
"""

from __future__ import annotations

import heapq
import math
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from actors.errors import AskTimeoutError

__all__ = ("Deadlines", "Expired", "Kernel", "Slot", "timed_out")


class Expired(Exception):
    """A wait passed its deadline (turned into the caller's own timeout error)."""


class Slot(Protocol):
    def done(self) -> bool: ...
    def set_result(self, value: Any, /) -> None: ...
    def set_exception(self, error: BaseException, /) -> None: ...


class Deadlines:
    """Deadlines grouped by the millisecond they fall in, and one timer for them all.

    One bucket per millisecond instead of a timer per wait, which would cost a heap push
    and a cancel (or a cancel scope) on every ask. And one timer at a time, armed for
    the earliest bucket that still holds a wait, rather than one per bucket: asks are
    mostly answered long before their deadline, so most buckets are empty when their
    millisecond comes, and a timer each left thousands in the loop's heap during an
    ask loop. When the timer fires it fails every slot still in the buckets that are
    due with `Expired`, drops the buckets emptied meanwhile, and arms itself for the
    next one that holds a wait. A deadline still fires at most 1 ms late (later only
    by the loop's own lag, as any timer).
    """

    __slots__ = ("_armed", "_buckets", "_call_at", "_keys", "_now")

    def __init__(
        self, now: Callable[[], float], call_at: Callable[[float, Callable[[int], None], int], Any]
    ) -> None:
        self._now = now
        self._call_at = call_at  # call_at(when, callback, key): run callback(key) at `when`
        self._buckets: dict[int, set[Any]] = {}
        self._keys: list[int] = []  # a heap of the buckets' keys (milliseconds)
        self._armed = math.inf  # the key the timer is armed for

    def bucket(self, timeout: float) -> set[Any]:
        """The set to put a slot in (and discard it from) for a wait of `timeout` s."""
        key = math.ceil((self._now() + timeout) * 1000.0)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = set()
            heapq.heappush(self._keys, key)
            if key < self._armed:  # earlier than the timer: arm it for this one too
                self._arm(key)
        return bucket

    def _arm(self, key: int) -> None:
        self._armed = key
        self._call_at(key / 1000.0, self._expire, key)

    def _expire(self, key: int) -> None:
        if key != self._armed:
            return  # a timer an earlier bucket superseded: that one's timer took over
        self._armed = math.inf
        keys, buckets = self._keys, self._buckets
        due = max(key, self._now() * 1000.0)
        while keys and keys[0] <= due:
            for slot in buckets.pop(heapq.heappop(keys)):
                if not slot.done():
                    slot.set_exception(Expired())
        while keys:  # buckets whose waits all ended meanwhile need no timer
            if buckets[keys[0]]:
                self._arm(keys[0])
                return
            del buckets[heapq.heappop(keys)]


class Kernel:
    """Backend primitives; one instance per running `ActorSystem`.

    `threads` counts blocking handlers running in worker threads now: while it is
    non-zero, a `tell` checks which thread it is on (`on_foreign_thread`).
    """

    name: str
    loop_thread: int

    def __init__(self) -> None:
        # Instance attributes, not class ones: `threads` is read on every tell.
        self.threads = 0
        # Asks that ran out of time (local and remote), for metrics.
        self.asks_timed_out = 0

    def slot(self) -> Any:
        raise NotImplementedError

    async def wait(self, slot: Any, timeout: float | None) -> Any:
        """Wait for `slot`'s result; raise `Expired` after `timeout` seconds."""
        raise NotImplementedError

    async def answered(self, slot: Any, after_drain: bool) -> Any:
        """The result of a slot that is already done, after yielding to the loop (an ask
        answered at once must still let other tasks run). With `after_drain` (a
        dispatcher worker was woken), only once that worker has had its turn: a turn
        run by a worker lets that worker drain what the turn made ready before the
        asker resumes, and an ask run on the asker's task must not show otherwise."""
        raise NotImplementedError

    async def wait_timer(self, slot: Any, timeout: float | None) -> Any:
        """`wait` for the timers' own task (which must not depend on the timers)."""
        return await self.wait(slot, timeout)

    async def checkpoint(self) -> None:
        raise NotImplementedError

    def call_soon_threadsafe(self, fn: Callable[..., object], *args: Any) -> None:
        raise NotImplementedError

    def in_loop_callback(self, fn: Callable[[Any], None]) -> Callable[[Any], None]:
        """`fn`, made fit to be called by the event loop outside any task (a transport's
        callback): there, anyio (through sniffio) could not tell the backend. Trio
        runs no such callbacks, so this base returns `fn` itself."""
        return fn

    def attach_timers(self, timers: Any) -> None:
        """The system's timers, for backends whose loop has no `call_at` of its own."""

    def on_foreign_thread(self) -> bool:
        """Whether the caller runs outside the event loop's thread."""
        return threading.get_ident() != self.loop_thread

    # The monotonic clock itself, not a method around it: `kernel.now()` is then one C
    # call (a remote ask's reply slot reads it up to three times per ask).
    now = staticmethod(time.monotonic)


def check_ask_timeout(timeout: float | None, target: str) -> None:
    """Refuse an ask's `timeout` that is not a finite number of seconds >= 0 or None,
    before anything is sent: local and remote asks call this first (one rule)."""
    if timeout is None:
        return
    kind = type(timeout)
    if (kind is float or kind is int) and 0 <= timeout < math.inf:
        return  # the common case, without isinstance on a union (this is the hot path)
    if (
        isinstance(timeout, bool) or not isinstance(timeout, int | float)
        or not 0 <= timeout < math.inf
    ):
        raise ValueError(
            f"ask to {target}: timeout must be a finite number of seconds >= 0, or None"
            f" for no deadline; got {timeout!r}"
        )


def timed_out(kernel: Kernel, target: str, timeout: float | None) -> AskTimeoutError:
    """The one place where a deadline that passed becomes the asker's error (counted)."""
    kernel.asks_timed_out += 1
    return AskTimeoutError(target, timeout or 0.0)
