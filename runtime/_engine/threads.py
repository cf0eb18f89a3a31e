"""Blocking actors: a sync `receive` run in a daemon thread.

Not anyio's worker threads: the interpreter joins those at exit, so one handler that
never returns would keep the process alive after the system has closed. Here each call
runs in a daemon thread (idle ones are reused, and end after `IDLE` seconds); its
result is handed back to the event loop's thread with `Kernel.call_soon_threadsafe`.
When the waiting turn is cancelled (the actor is killed past its deadline, or the
system closes), the thread is abandoned, with a warning naming the actor: it cannot be
stopped, but it cannot hold the process either.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import queue
import threading
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runtime._engine.kernel import Kernel
    from runtime._engine.state import CellState

__all__ = ("in_thread", "release_idle_threads")

log = logging.getLogger("repertory")

IDLE = 2.0  # seconds an idle worker thread waits for another call before it ends


def in_thread(cell: CellState, receive: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Wrap a blocking actor's sync `receive` to run in a daemon thread per message."""
    kernel = cell.kernel

    def work(call: _Call, context: contextvars.Context, message: Any) -> Callable[[], None]:
        try:
            call.value = context.run(receive, message)
        except BaseException as error:  # handed to the loop, which raises it there
            call.failed, call.value = True, error
        return partial(_hand_back, kernel, call)

    async def run_blocking(message: Any) -> Any:
        call = _Call(kernel)
        # Counted until the thread hands its result back, even when abandoned: while
        # it runs, a tell must check which thread it is on.
        kernel.threads += 1
        _workers.run(partial(work, call, contextvars.copy_context(), message))
        try:
            return await kernel.wait(call.slot, None)
        except BaseException:
            if not call.settled:  # cancelled while the handler runs on
                log.warning(
                    "abandoned blocking actor %s still running its handler: its thread "
                    "cannot be cancelled; the process will not wait for it", cell.label,
                )
            raise

    return run_blocking


def _hand_back(kernel: Kernel, call: _Call) -> None:
    """Give a call's outcome to the loop's thread (`_Call.settle` runs there)."""
    # The loop may have closed: then the system is gone, and so is the waiter.
    with contextlib.suppress(Exception):
        kernel.call_soon_threadsafe(call.settle)


class _Call:
    """One message's trip to a thread and back; `settle` runs on the loop's thread."""

    __slots__ = ("failed", "kernel", "settled", "slot", "value")

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.slot = kernel.slot()
        self.failed = False
        self.settled = False
        self.value: Any = None

    def settle(self) -> None:
        self.settled = True
        self.kernel.threads -= 1
        slot = self.slot
        if slot.done():
            return  # the turn was cancelled meanwhile: nobody waits
        if self.failed:
            slot.set_exception(self.value)
        else:
            slot.set_result(self.value)


class _Workers:
    """Daemon threads that run one call at a time; idle ones wait `IDLE` s for more.

    A call that never returns keeps its thread for good: that thread is never idle
    again, so nothing else waits behind it, and being a daemon it cannot hold the
    process at exit.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[queue.SimpleQueue[Callable[[], Callable[[], None]]]] = []

    def run(self, job: Callable[[], Callable[[], None]]) -> None:
        """Run `job` in an idle thread (or a new one); what it returns is called once
        the thread counts as idle again (it hands the result back)."""
        with self._lock:
            inbox = self._idle.pop() if self._idle else None
        if inbox is None:
            inbox = queue.SimpleQueue()
            threading.Thread(target=self._serve, args=(inbox,), daemon=True,
                             name="repertory blocking actor").start()
        inbox.put(job)

    def release_idle(self) -> None:
        """End every idle thread now (a system is closing: no thread outlives it)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for inbox in idle:
            inbox.put(_release)

    def _serve(self, inbox: queue.SimpleQueue[Callable[[], Callable[[], None]]]) -> None:
        while True:
            try:
                job = inbox.get(timeout=IDLE)
            except queue.Empty:
                with self._lock:
                    if inbox in self._idle:  # else a job is on its way: take it
                        self._idle.remove(inbox)
                        return
                continue
            if job is _release:
                return
            hand_back = job()
            # Idle before the result is handed back: the system may close as soon as
            # the loop has it, and `release_idle` must find this thread then, not
            # leave it waiting out `IDLE` after the system is gone.
            with self._lock:
                self._idle.append(inbox)
            hand_back()


def _release() -> Callable[[], None]:
    """The job that tells an idle worker thread to end (`_Workers.release_idle`)."""
    return _nothing  # never called: `_serve` ends when it takes this job


def _nothing() -> None:
    """Nothing to hand back."""


_workers = _Workers()


def release_idle_threads() -> None:
    """End the idle worker threads of blocking actors; busy ones end when their call does.

    Called when a system closes, so that no idle thread outlives it."""
    _workers.release_idle()
