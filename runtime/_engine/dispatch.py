"""The dispatcher: a small pool of worker tasks that run actors that have mail.

An idle actor is data, not a task. `tell` appends to the actor's mailbox and, when the
actor was idle, puts its cell on the `ready` queue. Exactly one worker at a time, the
*drainer*, takes cells from `ready` and runs each for a bounded number of messages (for
fairness). Sync handlers run inline in the drainer. When a handler must be awaited (an
async `receive`, an async hook, a blocking actor's thread), the drainer hands its role to
a parked worker (or starts one) and awaits it; so a slow async handler holds only its
own actor. Workers past `max_parked` exit instead of parking. All workers live in the
system's task group.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, Generic, Protocol, TypeVar

import anyio
from anyio.abc import TaskGroup

from runtime._engine.kernel import Kernel

__all__ = ("Dispatcher", "Runnable")

log = logging.getLogger("repertory")

# Messages one actor may handle before the next ready actor gets its turn.
BATCH = 100
# Cells the drainer runs before it yields to the event loop (I/O, other tasks).
YIELD_EVERY = 128


class Runnable(Protocol):
    """What the dispatcher knows of a cell; what a turn *is* comes in as functions."""

    scheduled: bool
    scope: Any

    @property
    def label(self) -> str: ...


C = TypeVar("C", bound=Runnable)
Pending = Coroutine[Any, Any, None] | None


class Dispatcher(Generic[C]):
    __slots__ = ("_abort", "_kernel", "_max_parked", "_parked", "_run", "_task_group",
                 "draining", "ready")

    def __init__(
        self,
        kernel: Kernel,
        task_group: TaskGroup,
        run: Callable[[C, int], Pending],
        abort: Callable[[C, Exception], None],
        max_parked: int = 4,
    ) -> None:
        """`run(cell, budget)` is a cell's turn (a coroutine to await when a handler
        must be); `abort(cell, error)` stops a cell whose turn raised (an engine bug)."""
        self.ready: deque[C] = deque()
        self._run = run
        self._abort = abort
        self.draining = False
        self._kernel = kernel
        self._task_group = task_group
        self._parked: list[Any] = []
        self._max_parked = max_parked

    def schedule(self, cell: C) -> None:
        """Put `cell` on the ready queue: every path that makes a cell ready ends here.

        It owns the invariant "a cell is on the ready queue at most once, and is marked
        `scheduled` from then until its turn ends idle". Callers test `scheduled` first
        (inline, it is the hot path of `tell`), except a turn that ends with more to do,
        which puts its still-scheduled cell back.
        """
        cell.scheduled = True
        self.ready.append(cell)
        if not self.draining:
            self.wake()

    def wake(self) -> None:
        """Make sure a worker is draining the ready queue."""
        self.draining = True
        parked = self._parked
        while parked:
            slot = parked.pop()
            if not slot.done():
                slot.set_result(None)
                return
        self._task_group.start_soon(self._worker, name="repertory-worker")

    async def _worker(self) -> None:
        # One cancel scope per worker, not per handler: entering an anyio scope costs
        # microseconds, so it is done once. Killing an actor (`lifecycle.kill`) cancels the
        # scope of the worker that awaits its handler; the worker then carries the
        # actor's stop on in a fresh scope.
        busy: list[C | None] = [None]
        pending: Coroutine[Any, Any, None] | None = None
        drainer = True  # `wake` started this worker as the drainer
        while True:
            with anyio.CancelScope() as scope:
                await self._serve(scope, busy, pending, drainer)
                return
            cell, busy[0] = busy[0], None
            pending = None
            drainer = False
            if cell is not None:
                cell.scope = None
                pending = self._run(cell, BATCH)
                busy[0] = cell if pending is not None else None

    async def _serve(
        self,
        scope: anyio.CancelScope,
        busy: list[C | None],
        pending: Coroutine[Any, Any, None] | None,
        drainer: bool,
    ) -> None:
        ready = self.ready
        kernel = self._kernel
        if pending is not None:
            cell = busy[0]
            assert cell is not None
            await self._await_handler(scope, busy, cell, pending)
        if not drainer:
            drainer = self._claim()
        while True:
            if drainer:
                turns = 0
                while ready:
                    cell = ready.popleft()
                    try:
                        pending = self._run(cell, BATCH)
                    except Exception as error:  # an engine bug: contain it to one actor
                        self._contain(cell, error)
                        pending = None
                    if pending is not None:
                        await self._await_handler(scope, busy, cell, pending)
                        if not self._claim():
                            break  # another worker drains now: park (or exit)
                    turns += 1
                    if turns >= YIELD_EVERY:
                        turns = 0
                        await kernel.checkpoint()
                else:
                    self.draining = False
            if len(self._parked) >= self._max_parked:
                return
            slot = kernel.slot()
            self._parked.append(slot)
            await slot
            drainer = True  # `wake` made this worker the drainer

    def _claim(self) -> bool:
        """Become the drainer if no worker is; True if this worker now is."""
        if self.draining:
            return False
        self.draining = True
        return True

    async def _await_handler(
        self,
        scope: anyio.CancelScope,
        busy: list[C | None],
        cell: C,
        pending: Coroutine[Any, Any, None] | None,
    ) -> None:
        # Hand the drainer role on before awaiting, so other actors keep running.
        self.draining = False
        if self.ready:
            self.wake()
        busy[0] = cell
        while pending is not None:
            cell.scope = scope
            await pending
            cell.scope = None
            pending = self._run(cell, BATCH)
        busy[0] = None

    def _contain(self, cell: C, error: Exception) -> None:
        """An error escaped the engine itself while running `cell`: log it loudly and stop
        that actor, so one bug cannot take every other actor of the system down."""
        log.critical("repertory engine error in %s; stopping it: %r", cell.label, error,
                     exc_info=error)
        try:
            self._abort(cell, error)
        except Exception:
            log.critical("could not stop %s cleanly", cell.label, exc_info=True)
