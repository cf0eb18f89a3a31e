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
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup

from runtime._engine.kernel import Kernel

if TYPE_CHECKING:
    from runtime._engine.cell import Cell

__all__ = ("Dispatcher",)

log = logging.getLogger("repertory")

# Messages one actor may handle before the next ready actor gets its turn.
BATCH = 100
# Cells the drainer runs before it yields to the event loop (I/O, other tasks).
YIELD_EVERY = 128


class Dispatcher:
    __slots__ = ("_kernel", "_max_parked", "_parked", "_task_group", "draining", "ready")

    def __init__(self, kernel: Kernel, task_group: TaskGroup, max_parked: int = 4) -> None:
        self.ready: deque[Cell] = deque()
        self.draining = False
        self._kernel = kernel
        self._task_group = task_group
        self._parked: list[Any] = []
        self._max_parked = max_parked

    def schedule(self, cell: Cell) -> None:
        """Put `cell` (already marked scheduled) on the ready queue."""
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
        # microseconds, so it is done once. Killing an actor (`Cell.kill`) cancels the
        # scope of the worker that awaits its handler; the worker then carries the
        # actor's stop on in a fresh scope.
        busy: list[Cell | None] = [None]
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
                pending = cell.run(BATCH)
                busy[0] = cell if pending is not None else None

    async def _serve(
        self,
        scope: anyio.CancelScope,
        busy: list[Cell | None],
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
                        pending = cell.run(BATCH)
                    except Exception as error:  # an engine bug: contain it to one actor
                        _contain(cell, error)
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
        busy: list[Cell | None],
        cell: Cell,
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
            pending = cell.run(BATCH)
        busy[0] = None


def _contain(cell: Cell, error: Exception) -> None:
    """An error escaped the engine itself while running `cell`: log it loudly and stop
    that actor, so one bug cannot take every other actor of the system down."""
    from runtime._engine.lifecycle import terminate

    log.critical("repertory engine error in %s; stopping it: %r", cell.label, error,
                 exc_info=error)
    try:
        cell.stop_reason = error
        terminate(cell)
    except Exception:
        log.critical("could not stop %s cleanly", cell.label, exc_info=True)
