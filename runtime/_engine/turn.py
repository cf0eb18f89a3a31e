"""One turn of a cell: its system messages first, then up to a budget of mail.

The dispatcher calls `Cell.run(budget)` (this module's `run`). A turn handles system
messages first (they overtake user messages), then up to `budget` user messages, and
returns a coroutine when something must be awaited (an async handler or hook); the
dispatcher awaits it and calls `run` again.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Coroutine
from typing import Any

from actors.errors import ActorStoppedError
from runtime._engine.envelope import Envelope
from runtime._engine.hooks import fail
from runtime._engine.lifecycle import handle_signal, start
from runtime._engine.state import NOTHING, START, CellState, Phase

__all__ = ("HIGH_WATER", "ask_now", "run", "run_ask")

RUNNING, STOPPED = Phase.RUNNING, Phase.STOPPED
# An unbounded mailbox holding this many messages at the end of a turn logs a warning,
# once, and again only after it drained below half of it and passed it again.
HIGH_WATER = 100_000

log = logging.getLogger("repertory")


def run(cell: CellState, budget: int) -> Coroutine[Any, Any, None] | None:
    """Handle system messages, then up to `budget` user messages.

    Returns a coroutine when a handler or hook must be awaited; the caller awaits it
    and calls `run` again. Otherwise the turn is over: the cell goes back on the
    ready queue if it has more to do, or becomes idle.
    """
    if cell.start_due:  # a new cell's first turn: its Start, before any other signal
        cell.start_due = False
        pending = start(cell, START)
        if pending is not None:
            return pending
    while True:
        if cell.sysmail:
            pending = handle_signal(cell, cell.sysmail.popleft())
            if pending is not None:
                return pending
            continue
        mailbox = cell.mailbox
        if cell.state != RUNNING or not mailbox or budget <= 0:
            break
        if cell.handler_async:
            return _run_async(cell, budget)
        budget = _run_sync(cell, mailbox, budget)
    _end_turn(cell)
    return None


def run_ask(cell: CellState, envelope: Envelope) -> None:
    """Handle one ask on the asker's own task: exactly this message, then the turn
    ends as any turn does; what the handler queued (mail, a stop) goes to the
    dispatcher. The asker still yields once before it takes the answer
    (`Kernel.answered`), so a loop of asks cannot starve the event loop.

    Only for an idle actor (not scheduled: nothing queued, no worker on it) that is
    running, with a sync handler (`LocalRef.ask` tests this inline). Then no message,
    signal or other turn can come before this one: it is the turn the dispatcher
    would run next for this actor, without the two task switches through a worker.
    """
    mailbox = cell.mailbox
    if mailbox is None:
        mailbox = cell.mailbox = deque()
    cell.scheduled = True  # busy: tells from the handler queue up behind it
    mailbox.append(envelope)
    _run_sync(cell, mailbox, 1)
    _end_turn(cell)


def ask_now(cell: CellState, envelope: Envelope) -> bool:
    """Run `run_ask` for `envelope` where the caller is, if the actor can take it now.

    For an ask that arrives outside any turn: an `Ask` frame from another node, handled
    where its link reads it (in the transport's read callback on asyncio, outside any
    task; in the link's reader task otherwise). The test is `LocalRef.ask`'s inline one
    (keep the two alike): the actor is idle, running, with a sync handler, takes mail
    without checks (`fast`) and no blocking handler's thread may post to it. Then this
    is the turn the dispatcher would run next for it, as `run_ask` says. True: the turn
    ran (the reply slot has its answer, or `reply_later` or `stash` took it); False:
    nothing happened, deliver `envelope` as usual (`CellState.post`).
    """
    if (cell.fast and not cell.kernel.threads and not cell.handler_async
            and not cell.scheduled and cell.state == RUNNING and not cell.mailbox):
        run_ask(cell, envelope)
        return True
    return False


def _run_sync(cell: CellState, mailbox: deque[Any], budget: int) -> int:
    # The hot loop for sync handlers. It stops early when a system message arrives
    # (stop, restart) or the handler changed (become), so those take effect next.
    chosen = cell.handler  # None: the actor's own receive, bound here once per turn
    handler = cell.actor.receive if chosen is None else chosen
    popleft = mailbox.popleft
    # Counted once per turn, not per message: `processed` grows by what the budget
    # shrank, so counting costs the hot loop nothing.
    given = budget
    while mailbox and budget > 0:
        item = popleft()
        budget -= 1
        cell.current = item
        if type(item) is Envelope:
            reply = item.reply
            if reply is not None and reply.done():
                continue  # the asker has given up (its deadline passed): skip it
            try:
                result = handler(item.message)
            except Exception as error:
                cell.processed += given - budget
                fail(cell, error, item)
                return budget
            reply = item.reply
            if reply is not None and not reply.done():
                reply.set_result(result)
        else:
            try:
                handler(item)
            except Exception as error:
                cell.processed += given - budget
                fail(cell, error, None)
                return budget
        if cell.sysmail or cell.handler is not chosen:
            break
    cell.processed += given - budget
    cell.current = NOTHING
    return budget


async def _run_async(cell: CellState, budget: int) -> None:
    chosen = cell.handler
    handler = cell.actor.receive if chosen is None else chosen
    mailbox = cell.mailbox
    while (
        mailbox
        and budget > 0
        and not cell.sysmail
        and cell.state == RUNNING
        and cell.handler is chosen
    ):
        item = mailbox.popleft()
        budget -= 1
        cell.processed += 1
        cell.current = item
        envelope = type(item) is Envelope
        if envelope and item.reply is not None and item.reply.done():
            continue  # the asker has given up (its deadline passed): skip it
        try:
            result = await handler(item.message if envelope else item)
        except Exception as error:
            fail(cell, error, item if envelope else None)
            return
        except BaseException:
            # Cancelled (killed, or the system is closing): the asker must not wait
            # for its timeout.
            if envelope and item.reply is not None and not item.reply.done():
                item.reply.set_exception(
                    ActorStoppedError(cell.label, "while handling the message")
                )
            raise
        if envelope:
            reply = item.reply
            if reply is not None and not reply.done():
                reply.set_result(result)
    cell.current = NOTHING


def _end_turn(cell: CellState) -> None:
    if cell.room_waiters:
        waiters, cell.room_waiters = cell.room_waiters, None
        for slot in waiters:
            if not slot.done():
                slot.set_result(None)
    if cell.state == STOPPED:
        return  # stays "scheduled" forever, so nothing queues it again
    if cell.sysmail is not None and not cell.sysmail:
        # An empty deque costs ~600 bytes: an idle actor keeps none (the Start
        # message alone would otherwise leave one behind in every actor).
        cell.sysmail = None
    mailbox = cell.mailbox
    if cell.sysmail or (cell.state == RUNNING and mailbox):
        cell.dispatcher.schedule(cell)  # still scheduled: back on the ready queue
        # Checked here, once per turn that leaves mail behind, not on every tell.
        if mailbox is not None and cell.mailbox_spec is None:
            size = len(mailbox)
            if size >= HIGH_WATER:
                if not cell.high_water_warned:
                    _warn_high_water(cell, size)
            elif cell.high_water_warned and size < HIGH_WATER // 2:
                cell.high_water_warned = False
    else:
        cell.scheduled = False
        cell.high_water_warned = False


def _warn_high_water(cell: CellState, size: int) -> None:
    cell.high_water_warned = True
    log.warning(
        "actor %s has %d messages waiting in its unbounded mailbox (over %d): its "
        "senders outpace it and its memory grows without bound; give it a bounded "
        "mailbox, spawn(..., mailbox=Mailbox(capacity=...)), and let senders that must "
        "not lose messages use `await ref.send(msg)`, which waits for room",
        cell.label, size, HIGH_WATER,
    )
