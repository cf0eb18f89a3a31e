"""Starting, stopping and restarting a cell; the system messages that drive them.

Stopping is a small state machine driven by system messages, so it never blocks a
worker: the cell stops its children one at a time, last started first, waiting for each
one's CHILD_TERMINATED; then it runs `on_stop(reason)` and terminates (dead-letters its
mail, fails pending asks, tells watchers and its parent). A restart runs the same child
shutdown, then builds a fresh instance and runs `on_restart(reason)` on it; the mailbox,
the ref and the registered name survive.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio

from actors import Actor
from actors._failure import crashed
from actors.errors import ActorStoppedError
from actors.messages import Terminated
from runtime._engine.crashes import message_type

if TYPE_CHECKING:
    from runtime._engine.cell import Cell

__all__ = (
    "begin_stop",
    "construct",
    "fail",
    "handle_system",
    "kill",
    "request_stop",
    "terminate",
)

log = logging.getLogger("repertory")

# Cell states, ordered: `state >= STOPPING` means the actor takes no more mail.
STARTING, RUNNING, SUSPENDED, STOPPING, STOPPED = range(5)
STATE_NAMES = ("starting", "running", "suspended", "stopping", "stopped")
# System message kinds (the first item of a system-message tuple).
(
    START,
    STOP,
    CHILD_FAILED,
    CHILD_TERMINATED,
    TEARDOWN,
    RECREATE,
    CHILD_STARTED,
    CHILD_TORN_DOWN,
) = range(8)

# `Cell.current` when no message is being handled (None is a valid message).
NOTHING: Any = object()

Pending = Coroutine[Any, Any, None] | None
_NO_HOOK = Actor.on_start


# -- spawning -----------------------------------------------------------------------


def construct(cell: Cell) -> Actor[Any]:
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
    set_handler(cell, actor.receive)
    return actor


def set_handler(cell: Cell, handler: Callable[[Any], Any]) -> None:
    is_async = _is_async(getattr(handler, "__func__", handler))
    if not is_async and getattr(cell.actor, "blocking", False):
        handler = _in_thread(cell, handler)
        is_async = True
    cell.handler = handler
    cell.handler_async = is_async


@functools.lru_cache(maxsize=4096)
def _is_async(function: Callable[..., Any]) -> bool:
    # Cached per function: inspect's check costs microseconds, a spawn's budget is ten.
    return inspect.iscoroutinefunction(function)


# -- system messages ------------------------------------------------------------------


def handle_system(cell: Cell, message: tuple[Any, ...]) -> Pending:
    kind = message[0]
    if kind == START:
        on_start = cell.actor.on_start
        if getattr(on_start, "__func__", None) is _NO_HOOK:
            return started(cell)  # most actors keep the default: skip the hook machinery
        return call_hook(cell, on_start, (), partial(started, cell), failing=True)
    if kind == STOP:
        return begin_stop(cell, message[1])
    if kind == CHILD_TERMINATED:
        return child_terminated(cell, message[1], message[2])
    if kind == CHILD_FAILED:
        return child_failed(cell, message[1], message[2])
    if kind == TEARDOWN:
        return begin_teardown(cell, message[1])
    if kind == RECREATE:
        return recreate(cell, message[1])
    if cell.mode is None:  # a stopping parent no longer supervises
        name = "_on_child_started" if kind == CHILD_STARTED else "_on_child_torn_down"
        hook = getattr(cell.actor, name, None)
        if hook is not None:
            return call_hook(cell, hook, (message[1].ref,), _nothing, failing=True)
    return None


def started(cell: Cell) -> Pending:
    """on_start (or on_restart) returned: take user messages."""
    if cell.state < STOPPING and cell.mode is None:
        cell.state = RUNNING
        cell.fast = cell.mailbox_spec is None and not cell.unavailable
        # A supervisor reports itself once its own children have started (OTP's
        # start_link returns then), through `Cell._report_started`.
        if (cell.supervised and cell.parent_cell is not None
                and not getattr(cell.actor, "_reports_started", False)):
            cell.parent_cell.post_system((CHILD_STARTED, cell))
    return None


def request_stop(cell: Cell, reason: BaseException | None) -> None:
    """Ask the cell to stop after its current message (idempotent)."""
    if not cell.stop_requested and cell.state < STOPPING:
        cell.stop_requested = True
        cell.post_system((STOP, reason))


def begin_stop(cell: Cell, reason: BaseException | None) -> Pending:
    if cell.state >= STOPPING:
        return None
    torn_down = cell.mode == "down"  # on_stop ran already, at teardown
    cell.state = STOPPING
    cell.fast = False
    cell.stop_reason = reason
    cell.mode = "stop"
    cancel_timers(cell)
    if torn_down:
        return terminate(cell)
    return stop_next_child(cell)


def begin_teardown(cell: Cell, reason: BaseException | None) -> Pending:
    """First half of a restart: stop the children and run on_stop; keep the mailbox."""
    if cell.state >= STOPPING or cell.mode is not None:
        return None
    cell.state = SUSPENDED
    cell.fast = False
    cell.stop_reason = reason
    cell.mode = "teardown"
    cancel_timers(cell)
    if cell.shutdown_timeout is not None:
        # `shutdown` bounds the stop half of a restart too, as in OTP.
        deadline = cell.system.timers.call_later(cell.shutdown_timeout, cut_short, cell)
        cell.timers = {deadline}
        deadline.owner = cell.timers
    return stop_next_child(cell)


def cut_short(cell: Cell) -> None:
    """A teardown passed its deadline: cancel the hook it awaits (its on_stop)."""
    if cell.mode == "teardown" and cell.scope is not None:
        cell.scope.cancel()


def stop_next_child(cell: Cell) -> Pending:
    children = cell.child_cells
    if children:
        # popitem() and put back, not next(reversed(...)): popitem trims the deleted
        # entries at the dict's end, so finding the last child stays O(1).
        child, _ = children.popitem()
        children[child] = None
        if not child.stop_requested:
            request_stop(child, None)
            if child.shutdown_timeout is not None:
                cell.system.timers.call_later(child.shutdown_timeout, kill, child)
        return None
    then = terminate if cell.mode == "stop" else torn_down
    if cell.held:  # never started: no on_stop without an on_start
        return then(cell)
    return call_hook(cell, cell.actor.on_stop, (cell.stop_reason,), partial(then, cell))


def torn_down(cell: Cell) -> Pending:
    cancel_timers(cell)
    cell.mode = "down"
    if cell.supervised and cell.parent_cell is not None:
        cell.parent_cell.post_system((CHILD_TORN_DOWN, cell))
    return None


def recreate(cell: Cell, reason: BaseException | None) -> Pending:
    """Second half of a restart: a fresh instance, then `on_restart(reason)`."""
    if cell.state >= STOPPING or cell.mode != "down":
        return None
    cell.mode = None
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
    return call_hook(cell, actor.on_restart, (reason,), partial(started, cell), failing=True)


def child_terminated(cell: Cell, child: Cell, reason: BaseException | None) -> Pending:
    if cell.child_cells is not None:
        cell.child_cells.pop(child, None)
    if cell.mode in ("stop", "teardown"):
        return stop_next_child(cell)
    hook = getattr(cell.actor, "_on_child_terminated", None)
    if hook is not None and cell.mode is None:
        return call_hook(cell, hook, (child.ref, reason), _nothing, failing=True)
    return None


def child_failed(cell: Cell, child: Cell, error: Exception) -> Pending:
    if child.state >= STOPPING:
        return None
    hook = getattr(cell.actor, "_on_child_failed", None)
    if hook is not None and cell.mode is None:
        return call_hook(cell, hook, (child.ref, error), _nothing, failing=True)
    # No supervisor: the failed child stops with the error as its reason.
    cell.system._crashes.decided(child, error, "stop", None)
    request_stop(child, error)
    return None


def terminate(cell: Cell) -> Pending:
    cell.state = STOPPED
    cell.fast = False
    cell.mode = None
    drain_to_dead_letters(cell)
    cell.system.forget(cell)
    notify_terminated(cell)
    return None


def kill(cell: Cell) -> None:
    """Stop now: cancel a handler or hook that is still running, here and below."""
    if cell.state == STOPPED:
        return
    for child in list(cell.child_cells or ()):
        kill(child)
    request_stop(cell, None)
    if cell.scope is not None:
        cell.scope.cancel()


def cancel_timers(cell: Cell) -> None:
    timers, cell.timers = cell.timers, None
    # A copy: cancelling a timer removes it from its owner, which is this very set.
    for timer in list(timers or ()):
        timer.cancel()


# -- hooks --------------------------------------------------------------------------


def call_hook(
    cell: Cell,
    hook: Callable[..., Any],
    args: tuple[Any, ...],
    then: Callable[[], Pending],
    *,
    failing: bool = False,
) -> Pending:
    """Run a sync or async hook, then `then`.

    With `failing=True` an exception fails the actor (on_start, on_restart,
    supervision hooks); otherwise it is logged and `then` still runs (on_stop).
    """
    try:
        result = hook(*args)
    except Exception as error:
        return hook_failed(cell, error, then, failing)
    if inspect.isawaitable(result):
        return await_hook(cell, result, then, failing)
    return then()


def hook_failed(
    cell: Cell, error: Exception, then: Callable[[], Pending], failing: bool
) -> Pending:
    if failing:
        fail(cell, error, None)
        return None
    log.warning("actor %s: hook raised %r; going on", cell.label, error)
    return then()


async def await_hook(
    cell: Cell, result: Awaitable[Any], then: Callable[[], Pending], failing: bool
) -> None:
    try:
        await result
    except Exception as error:
        pending = hook_failed(cell, error, then, failing)
    except BaseException:
        # Cancelled: killed past its shutdown deadline, or the system is closing. A stop
        # (or teardown) must still finish, so that the parent hears of it; `then` is
        # synchronous for on_stop (terminate, torn_down).
        if not failing:
            then()
        raise
    else:
        pending = then()
    if pending is not None:
        await pending


def fail(cell: Cell, error: Exception, item: Any) -> None:
    """The handler or a hook raised: answer the ask, suspend, and tell the parent."""
    if item is not None and item.reply is not None and not item.reply.done():
        item.reply.set_exception(crashed(cell.label, error))
    current, cell.current = cell.current, NOTHING
    cell.failures += 1
    # The crash report is logged once, by whoever decides (see runtime._engine.crashes).
    crashes = cell.system._crashes
    crashes.failed(cell, None if current is NOTHING else message_type(current))
    if cell.state >= STOPPING:
        crashes.decided(cell, error, "stop", None)  # it was stopping anyway
        return
    cell.state = SUSPENDED
    cell.fast = False
    parent = cell.parent_cell
    if parent is None:  # the guardian itself failed: nothing above it
        crashes.decided(cell, error, "stop", None)
        return
    parent.post_system((CHILD_FAILED, cell, error))


def notify_terminated(cell: Cell) -> None:
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
        cell.parent_cell.post_system((CHILD_TERMINATED, cell, reason))


def drain_to_dead_letters(cell: Cell) -> None:
    for queue in (cell.stashed, cell.mailbox):
        while queue:
            item = queue.pop(0) if isinstance(queue, list) else queue.popleft()
            cell.reject(item, "stopped")
    cell.stashed = None
    if cell.room_waiters:
        for slot in cell.room_waiters:
            if not slot.done():
                slot.set_exception(ActorStoppedError(cell.label))
        cell.room_waiters = None


def _nothing() -> Pending:
    return None


def _in_thread(cell: Cell, receive: Callable[[Any], Any]) -> Callable[[Any], Awaitable[Any]]:
    """Wrap a blocking actor's sync `receive` to run in a worker thread."""
    system = cell.system

    async def run_blocking(message: Any) -> Any:
        system.threads += 1
        try:
            return await anyio.to_thread.run_sync(receive, message, abandon_on_cancel=True)
        finally:
            system.threads -= 1

    return run_blocking


def stopped_error(cell: Cell) -> ActorStoppedError:
    return ActorStoppedError(cell.label, "while handling the message")
