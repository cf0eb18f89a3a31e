"""Running an actor's hooks (`on_start`, `on_stop`, supervision hooks), and failing it.

A hook that returns an awaitable makes the cell's turn return a coroutine, which the
dispatcher awaits in the actor's own worker, so a slow hook holds only its actor.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from actors.lowlevel import crashed
from runtime._engine.crashes import message_type
from runtime._engine.state import NOTHING, ChildFailed, Phase

if TYPE_CHECKING:
    from runtime._engine.state import CellState

__all__ = ("Pending", "call_hook", "fail", "nothing")

log = logging.getLogger("repertory")

Pending = Coroutine[Any, Any, None] | None


def call_hook(
    cell: CellState,
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
        return _hook_failed(cell, error, then, failing)
    # Most hooks are sync and return None: no `isawaitable` (an ABC check) for those.
    if result is not None and inspect.isawaitable(result):
        return _await_hook(cell, result, then, failing)
    return then()


def _hook_failed(
    cell: CellState, error: Exception, then: Callable[[], Pending], failing: bool
) -> Pending:
    if failing:
        fail(cell, error, None)
        return None
    log.warning("actor %s: hook raised %r; going on", cell.label, error)
    return then()


async def _await_hook(
    cell: CellState, result: Awaitable[Any], then: Callable[[], Pending], failing: bool
) -> None:
    try:
        await result
    except Exception as error:
        pending = _hook_failed(cell, error, then, failing)
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


def nothing() -> Pending:
    return None


def fail(cell: CellState, error: Exception, item: Any) -> None:
    """The handler or a hook raised: answer the ask, suspend, and tell the parent."""
    if item is not None and item.reply is not None and not item.reply.done():
        item.reply.set_exception(crashed(cell.label, error))
    current, cell.current = cell.current, NOTHING
    cell.failures += 1
    # The crash report is logged once, by whoever decides (see runtime._engine.crashes).
    crashes = cell.host.crashes
    crashes.failed(cell, None if current is NOTHING else message_type(current))
    if cell.state >= Phase.STOPPING:
        crashes.decided(cell, error, "stop", None)  # it was stopping anyway
        return
    if cell.state < Phase.TEARING_DOWN:  # a restart under way goes on
        cell.state = Phase.SUSPENDED
    cell.fast = False
    parent = cell.parent_cell
    if parent is None:  # the guardian itself failed: nothing above it
        crashes.decided(cell, error, "stop", None)
        return
    parent.post_signal(ChildFailed(cell, error))
