"""Starting, stopping and restarting a cell: the `Signal`s that move it between `Phase`s.

Stopping never blocks a worker: the cell stops its children one at a time, last started
first, waiting for each one's `ChildTerminated`; then it runs `on_stop(reason)` and
terminates (dead-letters its mail, fails pending asks, tells watchers and its parent).
A restart runs the same child shutdown (TEARING_DOWN, then DOWN), then builds a fresh
instance and runs `on_restart(reason)` on it; the mailbox, the ref and the name survive.
Hooks (`on_*`) are awaited through `runtime._engine.hooks`.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any

from actors import Actor
from actors.errors import ActorStoppedError
from actors.lowlevel import Parent
from actors.messages import Terminated
from runtime._engine.envelope import Envelope
from runtime._engine.hooks import Pending, call_hook, fail, nothing
from runtime._engine.state import (
    CellState,
    ChildFailed,
    ChildStarted,
    ChildTerminated,
    ChildTornDown,
    Phase,
    Recreate,
    Signal,
    Start,
    Stop,
    Teardown,
)
from runtime._engine.threads import in_thread

__all__ = (
    "abort",
    "construct",
    "handle_signal",
    "kill",
    "request_stop",
    "set_handler",
    "start",
    "stop_child",
    "terminate",
)

log = logging.getLogger("repertory")
_NO_HOOK = Actor.on_start
_NO_STOP_HOOK = Actor.on_stop


# -- building the actor -----------------------------------------------------------------


def construct(cell: CellState) -> Actor[Any]:
    """Build the actor from its factory, with `context` set before `__init__`."""
    factory = cell.factory
    if isinstance(factory, type):
        actor: Any = object.__new__(factory)
        actor.context = cell
        actor.__init__(*cell.args, **cell.kwargs)
    else:
        actor = factory(*cell.args, **cell.kwargs)
        if isinstance(actor, Actor):
            actor.context = cell
    if not isinstance(actor, Actor):
        raise TypeError(
            f"spawn() needs an Actor subclass or a factory returning an Actor; "
            f"{factory!r} gave {type(actor).__qualname__}"
        )
    cell.actor = actor
    cls: Any = type(actor)  # classes hash by identity; typeshed's type[Actor] says not
    receive_async, blocking = _receive_kind(cls)
    if blocking and not receive_async:
        set_handler(cell, None)  # wraps it to run in a thread
    else:
        cell.handler = None  # the actor's own receive (see `set_handler`)
        cell.handler_async = receive_async
    return actor


@functools.lru_cache(maxsize=4096)
def _receive_kind(cls: type[Actor[Any]]) -> tuple[bool, bool]:
    """Whether `cls.receive` is async, and whether `cls` is `blocking`: asked once per
    actor class, not per spawn (`receive` and `blocking` are the class's, as for any
    method and class variable)."""
    return _is_async(cls.receive), bool(getattr(cls, "blocking", False))


def set_handler(cell: CellState, handler: Callable[[Any], Any] | None) -> None:
    """Handle the next messages with `handler`; None: the actor's own `receive`.

    The own `receive` is kept as None and bound by each turn (`turn.run`): an idle
    actor then holds no bound method (64 bytes, and one more object for the cyclic GC
    to walk on every spawn).
    """
    bound = cell.actor.receive if handler is None else handler
    is_async = _is_async(getattr(bound, "__func__", bound))
    if not is_async and getattr(cell.actor, "blocking", False):
        handler = in_thread(cell, bound)
        is_async = True
    cell.handler = handler
    cell.handler_async = is_async


@functools.lru_cache(maxsize=4096)
def _is_async(function: Callable[..., Any]) -> bool:
    # Cached per function: inspect's check costs microseconds, a spawn's budget is ten.
    return inspect.iscoroutinefunction(function)


# -- system messages ------------------------------------------------------------------


def handle_signal(cell: CellState, signal: Signal) -> Pending:
    """Act on one system message; a coroutine when a hook must be awaited."""
    return _HANDLERS[type(signal)](cell, signal)


def start(cell: CellState, signal: Start) -> Pending:
    """Run on_start: a new cell's first turn calls this directly (`turn.run`)."""
    on_start = cell.actor.on_start
    if getattr(on_start, "__func__", None) is _NO_HOOK:
        return started(cell)  # most actors keep the default: skip the hook machinery
    return call_hook(cell, on_start, (), partial(started, cell), failing=True)


def _child_started(cell: CellState, signal: ChildStarted) -> Pending:
    actor = cell.actor
    if cell.state <= Phase.SUSPENDED and isinstance(actor, Parent):
        return call_hook(cell, actor.on_child_started, (signal.child.ref,), nothing, failing=True)
    return None


def _child_torn_down(cell: CellState, signal: ChildTornDown) -> Pending:
    actor = cell.actor
    if cell.state <= Phase.SUSPENDED and isinstance(actor, Parent):
        hook = actor.on_child_torn_down
        return call_hook(cell, hook, (signal.child.ref,), nothing, failing=True)
    return None


def started(cell: CellState) -> Pending:
    """on_start (or on_restart) returned: take user messages."""
    if cell.state <= Phase.SUSPENDED:
        cell.state = Phase.RUNNING
        cell.set_fast()
        # A supervisor reports itself once its own children have started (OTP's
        # start_link returns then), through `ChildControl.report_started`.
        actor = cell.actor
        if (cell.supervised and cell.parent_cell is not None
                and not (isinstance(actor, Parent) and actor.reports_started)):
            cell.parent_cell.post_signal(ChildStarted(cell))
    return None


# -- stopping -------------------------------------------------------------------------


def request_stop(cell: CellState, reason: BaseException | None) -> None:
    """Ask the cell to stop after its current message (idempotent)."""
    if not cell.stop_requested and cell.state < Phase.STOPPING:
        cell.stop_requested = True
        cell.post_signal(Stop(reason))


def stop_child(parent: CellState, child: CellState, reason: BaseException | None) -> None:
    """Stop `child` (of `parent`) with `reason`, cancelled past its `shutdown` bound."""
    if not child.stop_requested:
        request_stop(child, reason)
        if child.shutdown_timeout is not None:
            child.stop_deadline = parent.host.timers.call_later(
                child.shutdown_timeout, kill, child
            )


def _stop(cell: CellState, signal: Stop) -> Pending:
    if cell.state >= Phase.STOPPING:
        return None
    torn_down = cell.state == Phase.DOWN  # on_stop ran already, at teardown
    cell.state = Phase.STOPPING
    cell.fast = False
    cell.stop_reason = signal.reason
    cancel_timers(cell)
    if torn_down:
        return terminate(cell)
    return stop_next_child(cell)


def stop_next_child(cell: CellState) -> Pending:
    children = cell.child_cells
    if children:
        # popitem() and put back, not next(reversed(...)): popitem trims the deleted
        # entries at the dict's end, so finding the last child stays O(1).
        child, _ = children.popitem()
        children[child] = None
        stop_child(cell, child, None)
        return None
    then = terminate if cell.state == Phase.STOPPING else torn_down
    if cell.held:  # never started: no on_stop without an on_start
        return then(cell)
    on_stop = cell.actor.on_stop
    if getattr(on_stop, "__func__", None) is _NO_STOP_HOOK:
        return then(cell)  # the default does nothing: skip the hook machinery
    return call_hook(cell, on_stop, (cell.stop_reason,), partial(then, cell))


def terminate(cell: CellState) -> Pending:
    cell.state = Phase.STOPPED
    cell.fast = False
    deadline = cell.stop_deadline
    if deadline is not None:  # stopped in time: the kill timer has nothing to do
        cell.stop_deadline = None
        deadline.cancel()
    drain_to_dead_letters(cell)
    cell.host.forget(cell)
    notify_terminated(cell)
    return None


def abort(cell: CellState, error: Exception) -> None:
    """An engine error escaped this cell's turn: terminate it with `error`."""
    cell.stop_reason = error
    terminate(cell)


def kill(cell: CellState) -> None:
    """Stop now: cancel a handler or hook that is still running, here and below."""
    if cell.state == Phase.STOPPED:
        return
    for child in list(cell.child_cells or ()):
        kill(child)
    request_stop(cell, None)
    if cell.scope is not None:
        cell.scope.cancel()


def cancel_timers(cell: CellState) -> None:
    timers, cell.timers = cell.timers, None
    # A copy: cancelling a timer removes it from its owner, which is this very set.
    for timer in list(timers or ()):
        timer.cancel()


def notify_terminated(cell: CellState) -> None:
    """Tell watchers and the parent that this actor has stopped."""
    reason = cell.stop_reason
    if cell.watchers:
        message = Terminated(cell.ref, reason)
        for watcher in cell.watchers:
            if watcher.watching is not None:
                watcher.watching.discard(cell)
            watcher.ref.tell(message)
        cell.watchers = None
    if cell.watching:
        for watched in cell.watching:
            if watched.watchers is not None:
                watched.watchers.discard(cell)
        cell.watching = None
    if cell.parent_cell is not None:
        cell.parent_cell.post_signal(ChildTerminated(cell, reason))


# More queued than this at stop, and the queue is dead-lettered in bulk: one log line,
# only the last few kept and published, so a stop with millions queued takes milliseconds.
BULK_DEAD_LETTERS = 1000


def drain_to_dead_letters(cell: CellState) -> None:
    """The stopped cell's stash and mailbox, not handled: asks fail, the rest are dead
    letters (reason "stopped")."""
    for queue in (cell.stashed, cell.mailbox):
        if queue and len(queue) > BULK_DEAD_LETTERS:
            _drain_in_bulk(cell, queue)
        while queue:
            item = queue.pop(0) if isinstance(queue, list) else queue.popleft()
            cell.reject(item, "stopped")
    cell.stashed = None
    if cell.room_waiters:
        for slot in cell.room_waiters:
            if not slot.done():
                slot.set_exception(ActorStoppedError(cell.label))
        cell.room_waiters = None


def _drain_in_bulk(cell: CellState, queue: list[Any] | deque[Any]) -> None:
    items = list(queue)
    queue.clear()
    letters: list[Any] = []
    append = letters.append
    for item in items:
        if type(item) is Envelope:
            if item.reply is not None:
                cell.reject(item, "stopped")  # an ask: its caller hears at once
                continue
            item = item.message
        append(item)
    cell.host.dead_letters_many(letters, cell.label, "stopped")


# -- restarting -----------------------------------------------------------------------


def _teardown(cell: CellState, signal: Teardown) -> Pending:
    """First half of a restart: stop the children and run on_stop; keep the mailbox."""
    if cell.state >= Phase.TEARING_DOWN:
        return None
    cell.state = Phase.TEARING_DOWN
    cell.fast = False
    cell.stop_reason = signal.reason
    cancel_timers(cell)
    pending = stop_next_child(cell)
    if cell.state == Phase.TEARING_DOWN and cell.shutdown_timeout is not None:
        # `shutdown` bounds the stop half of a restart too, as in OTP. Armed only when
        # the teardown waits (for children, or an async on_stop): an actor without
        # either is down already, and a timer per restart would only be cancelled.
        deadline = cell.host.timers.call_later(cell.shutdown_timeout, cut_short, cell)
        cell.timers = {deadline}
        deadline.owner = cell.timers
    return pending


def cut_short(cell: CellState) -> None:
    """A teardown passed its deadline: cancel the hook it awaits (its on_stop)."""
    if cell.state == Phase.TEARING_DOWN and cell.scope is not None:
        cell.scope.cancel()


def torn_down(cell: CellState) -> Pending:
    cancel_timers(cell)
    cell.state = Phase.DOWN
    if cell.supervised and cell.parent_cell is not None:
        cell.parent_cell.post_signal(ChildTornDown(cell))
    return None


def _recreate(cell: CellState, signal: Recreate) -> Pending:
    """Second half of a restart: a fresh instance, then `on_restart(reason)`."""
    if cell.state != Phase.DOWN:
        return None
    cell.state = Phase.STARTING
    cell.stop_requested = False
    cell.behaviours = None
    if cell.stashed:
        cell.unstash_all()
    try:
        actor = construct(cell)
    except Exception as error:
        fail(cell, error, None)
        return None
    cell.restarts += 1
    return call_hook(
        cell, actor.on_restart, (signal.reason,), partial(started, cell), failing=True
    )


# -- children's reports ----------------------------------------------------------------


def _child_terminated(cell: CellState, signal: ChildTerminated) -> Pending:
    if cell.child_cells is not None:
        cell.child_cells.pop(signal.child, None)
    if cell.state in (Phase.STOPPING, Phase.TEARING_DOWN):
        return stop_next_child(cell)
    actor = cell.actor
    if cell.state <= Phase.SUSPENDED and isinstance(actor, Parent):
        hook = actor.on_child_terminated
        return call_hook(cell, hook, (signal.child.ref, signal.reason), nothing, failing=True)
    return None


def _child_failed(cell: CellState, signal: ChildFailed) -> Pending:
    child = signal.child
    if child.state >= Phase.STOPPING:
        return None
    actor = cell.actor
    if cell.state <= Phase.SUSPENDED and isinstance(actor, Parent):
        hook = actor.on_child_failed
        return call_hook(cell, hook, (child.ref, signal.error), nothing, failing=True)
    # No supervisor (or one that is going away): the child stops with the error as reason.
    cell.host.crashes.decided(child, signal.error, "stop", None)
    request_stop(child, signal.error)
    return None


_HANDLERS: dict[type[Signal], Callable[[CellState, Any], Pending]] = {
    Start: start,
    Stop: _stop,
    ChildTerminated: _child_terminated,
    ChildFailed: _child_failed,
    Teardown: _teardown,
    Recreate: _recreate,
    ChildStarted: _child_started,
    ChildTornDown: _child_torn_down,
}
