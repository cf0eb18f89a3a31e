"""Waiting for actors: until one has started (`system.start`), until one has stopped
(`await system.stop(ref)`).

Both sit beside the engine rather than in it. A start is learned the way a supervisor
learns it: the cell is marked supervised, so the root guardian hears CHILD_STARTED
(for a supervisor or a pool, once every child has started) or CHILD_FAILED. A local
stop is learned when the system forgets the cell; a remote one through a watch.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Generator, Hashable
from typing import Any, Protocol

import anyio

from actors import Actor, ActorRef, Terminated
from actors.errors import ActorCrashedError, ActorStoppedError

__all__ = ("Outcome", "StartWaiters", "StopWatcher", "Stopping")

Reason = BaseException | None


class Cell(Hashable, Protocol):
    """What a start waits on: the engine's cell, as far as this module needs it."""

    supervised: bool  # whether the parent hears CHILD_STARTED / CHILD_FAILED

    @property
    def label(self) -> str: ...


class Outcome:
    """A one-shot result that one or more tasks wait for: a value or an error."""

    __slots__ = ("_done", "error", "value")

    def __init__(self) -> None:
        self._done = anyio.Event()
        self.value: Any = None
        self.error: BaseException | None = None

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def set(self, value: Any = None, error: BaseException | None = None) -> None:
        if not self._done.is_set():
            self.value, self.error = value, error
            self._done.set()

    async def settled(self) -> None:
        """Wait until it is set, value or error."""
        await self._done.wait()

    async def wait(self) -> Any:
        """Wait until it is set; return the value or raise the error."""
        await self._done.wait()
        if self.error is not None:
            raise self.error
        return self.value


class Stopping:
    """What `system.stop(ref)` returns: the stop is already requested; ``await`` it to
    wait until the actor has stopped, and get the reason it stopped with (None for a
    normal stop).

    Not a coroutine: dropping it without ``await`` is fine and warns about nothing.
    Awaiting it twice waits twice for the same stop. Cancelling the wait leaves the stop
    under way.
    """

    __slots__ = ("_ref", "_wait")

    def __init__(self, ref: ActorRef[Any], wait: Callable[[], Coroutine[Any, Any, Reason]]) -> None:
        self._ref = ref
        self._wait = wait

    def __await__(self) -> Generator[Any, None, Reason]:
        # The coroutine exists only once awaited: nothing is left unawaited otherwise.
        return self._wait().__await__()

    def __repr__(self) -> str:
        return f"<Stopping {self._ref.address}>"


class StopWatcher(Actor[Terminated]):
    """Watches a remote actor being stopped; its `Terminated` settles the outcome."""

    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome

    def receive(self, message: Terminated) -> None:
        self.outcome.set(message.reason)
        self.context.stop()

    def on_stop(self, reason: BaseException | None) -> None:
        self.outcome.set(error=ActorStoppedError(
            self.context.ref.address, "(this system stopped before the remote actor did)"
        ))


class StartWaiters:
    """The cells `system.start` (or a peer's remote start) waits for, with what to call
    when each has started (None) or could not (the error)."""

    __slots__ = ("_waiting",)

    def __init__(self) -> None:
        self._waiting: dict[Cell, Callable[[BaseException | None], None]] = {}

    def add(self, cell: Cell, then: Callable[[BaseException | None], None]) -> None:
        # Safe only before the cell has run: `spawn` returned and nothing was awaited.
        cell.supervised = True  # its parent, the guardian, hears CHILD_STARTED/FAILED
        self._waiting[cell] = then

    def discard(self, cell: Cell) -> None:
        self._waiting.pop(cell, None)

    def started(self, cell: Cell) -> None:
        then = self._waiting.pop(cell, None)
        if then is not None:
            then(None)

    def failed(self, cell: Cell, error: BaseException) -> bool:
        """`cell` failed; True if a start was waiting for it (it then hears why)."""
        then = self._waiting.pop(cell, None)
        if then is None:
            return False
        then(ActorCrashedError.from_error(cell.label, error, "starting"))
        return True

    def gone(self, cell: Cell) -> None:
        """`cell` terminated: a start still waiting for it learns that it stopped."""
        if self._waiting:
            then = self._waiting.pop(cell, None)
            if then is not None:
                then(ActorStoppedError(cell.label, "before it had started"))
