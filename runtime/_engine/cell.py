"""`Cell`: one actor's engine-side state and the loop that feeds it messages.

A cell is the actor's `Context` too, so an idle actor costs one cell, one ref and the
user's instance: no task, and no mailbox until mail arrives. The dispatcher calls
`run(budget)`; it handles system messages first (they overtake user messages), then up
to `budget` user messages, and returns a coroutine when something must be awaited (an
async handler or hook), which the dispatcher awaits and then calls `run` again.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any

from actors import ActorRef, Cancel, Context, Reply
from actors.errors import MailboxFullError
from actors.messages import Terminated
from runtime._engine.envelope import Envelope
from runtime._engine.lifecycle import (
    CHILD_STARTED,
    NOTHING,
    RECREATE,
    RUNNING,
    START,
    STARTING,
    STOPPED,
    STOPPING,
    TEARDOWN,
    fail,
    handle_system,
    kill,
    request_stop,
    set_handler,
    stopped_error,
)
from runtime._engine.local_ref import LocalRef, unavailable

if TYPE_CHECKING:
    from actors import Actor
    from actors.mailbox import Mailbox
    from actors.routing import Routing
    from runtime._engine.timers import TimerHandle
    from runtime._system import ActorSystem

__all__ = ("Cell",)

log = logging.getLogger("repertory")


class Cell(Context):
    __slots__ = (
        "actor",
        "args",
        "behaviours",
        "child_cells",
        "current",
        "dispatcher",
        "factory",
        "failures",
        "fast",
        "handler",
        "handler_async",
        "held",
        "kernel",
        "kwargs",
        "label",
        "mailbox",
        "mailbox_spec",
        "mode",
        "name",
        "parent_cell",
        "processed",
        "ref",
        "restarts",
        "room_waiters",
        "scheduled",
        "scope",
        "shutdown_timeout",
        "stashed",
        "state",
        "stop_reason",
        "stop_requested",
        "supervised",
        "sysmail",
        "system",
        "timers",
        "uid",
        "unavailable",
        "watchers",
        "watching",
    )

    def __init__(
        self,
        system: ActorSystem,
        parent: Cell | None,
        factory: Callable[..., Actor[Any]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        name: str | None,
        mailbox: Mailbox | None,
        uid: int,
    ) -> None:
        self.system = system
        self.kernel = system.kernel
        self.dispatcher = system.dispatcher
        self.parent_cell = parent
        self.factory = factory
        self.args = args
        self.kwargs = kwargs
        self.name = name
        self.uid = uid
        self.label = f"{system.node}/{name if name is not None else f'${uid}'}"
        self.mailbox_spec = mailbox if mailbox is not None and mailbox.bounded else None
        self.ref: LocalRef[Any] = LocalRef(self)
        self.mailbox: deque[Any] | None = None
        self.sysmail: deque[tuple[Any, ...]] | None = None
        self.scheduled = False
        self.state = STARTING
        self.fast = self.mailbox_spec is None
        self.unavailable = False
        self.current: Any = NOTHING
        self.actor: Any = None
        self.handler: Callable[[Any], Any] = _not_started
        self.handler_async = False
        # Rarely used state starts as None and is allocated on first use, to keep an
        # idle actor small.
        self.behaviours: list[Callable[[Any], Any]] | None = None
        self.stashed: list[Any] | None = None
        # An ordered dict as an ordered set: O(1) removal, and the last child is at hand.
        self.child_cells: dict[Cell, None] | None = None
        self.watchers: set[Cell] | None = None
        self.watching: set[Cell] | None = None
        self.timers: set[Any] | None = None
        self.room_waiters: list[Any] | None = None
        self.stop_reason: BaseException | None = None
        self.shutdown_timeout: float | None = None
        self.scope: Any = None
        self.restarts = 0
        # Messages handled (a failed one too) and failures, for `top` and metrics.
        self.processed = 0
        self.failures = 0
        self.mode: str | None = None
        self.stop_requested = False
        # Set by supervisors: the parent hears when this cell has (re)started or torn down.
        self.supervised = False
        # Spawned with its START held back by its supervisor (see `_start_child`).
        self.held = False

    # -- delivery ---------------------------------------------------------------

    @property
    def alive(self) -> bool:
        return self.state < STOPPING

    def post(self, item: Any) -> None:
        """Deliver a mailbox item in any state: the path `tell` takes when not fast."""
        system = self.system
        if system.threads and system.on_foreign_thread():
            self.kernel.call_soon_threadsafe(self.post, item)
            return
        if self.state >= STOPPING or self.unavailable:
            self.reject(item, "stopped" if self.state >= STOPPING else "unavailable")
            return
        mailbox = self.mailbox
        if mailbox is None:
            mailbox = self.mailbox = deque()
        spec = self.mailbox_spec
        if spec is not None and len(mailbox) >= spec.capacity:  # type: ignore[operator]
            if spec.overflow == "reject":
                raise MailboxFullError(self.label, spec.capacity or 0)
            if spec.overflow == "drop_new":
                self.reject(item, "mailbox full (drop_new)")
                return
            self.reject(mailbox.popleft(), "mailbox full (drop_old)")
        mailbox.append(item)
        self.schedule()

    async def post_waiting(self, item: Any) -> None:
        """`post`, but wait for room in a full bounded mailbox instead of overflowing."""
        spec = self.mailbox_spec
        while (
            spec is not None
            and self.state < STOPPING
            and self.mailbox is not None
            and len(self.mailbox) >= spec.capacity  # type: ignore[operator]
        ):
            slot = self.kernel.slot()
            if self.room_waiters is None:
                self.room_waiters = []
            self.room_waiters.append(slot)
            await self.kernel.wait(slot, None)
        self.post(item)

    def post_system(self, message: tuple[Any, ...]) -> None:
        if self.state == STOPPED:
            return
        if self.sysmail is None:
            self.sysmail = deque()
        self.sysmail.append(message)
        self.schedule()

    def schedule(self) -> None:
        if not self.scheduled:
            self.scheduled = True
            self.dispatcher.schedule(self)

    def reject(self, item: Any, reason: str) -> None:
        """An item that will not be handled: fail its ask, or send it to dead letters."""
        if type(item) is Envelope:
            if item.reply is not None:
                if not item.reply.done():
                    spec = self.mailbox_spec
                    # An ask dropped by a full mailbox: say so, not that the actor stopped.
                    error = (
                        MailboxFullError(self.label, spec.capacity or 0)
                        if spec is not None and reason.startswith("mailbox full")
                        else unavailable(self)
                    )
                    item.reply.set_exception(error)
                return
            item = item.message
        self.system.dead_letter(item, self.label, reason)

    def check_askable(self) -> None:
        if self.state >= STOPPING or self.unavailable:
            raise unavailable(self)

    # -- the message loop -----------------------------------------------------------

    def run(self, budget: int) -> Coroutine[Any, Any, None] | None:
        """Handle system messages, then up to `budget` user messages.

        Returns a coroutine when a handler or hook must be awaited; the caller awaits it
        and calls `run` again. Otherwise the turn is over: the cell goes back on the
        ready queue if it has more to do, or becomes idle.
        """
        while True:
            if self.sysmail:
                pending = handle_system(self, self.sysmail.popleft())
                if pending is not None:
                    return pending
                continue
            mailbox = self.mailbox
            if self.state != RUNNING or not mailbox or budget <= 0:
                break
            if self.handler_async:
                return self._run_async(budget)
            budget = self._run_sync(mailbox, budget)
        self._end_turn()
        return None

    def _run_sync(self, mailbox: deque[Any], budget: int) -> int:
        # The hot loop for sync handlers. It stops early when a system message arrives
        # (stop, restart) or the handler changed (become), so those take effect next.
        handler = self.handler
        popleft = mailbox.popleft
        # Counted once per turn, not per message: `processed` grows by what the budget
        # shrank, so counting costs the hot loop nothing.
        given = budget
        while mailbox and budget > 0:
            item = popleft()
            budget -= 1
            self.current = item
            if type(item) is Envelope:
                try:
                    result = handler(item.message)
                except Exception as error:
                    self.processed += given - budget
                    fail(self, error, item)
                    return budget
                reply = item.reply
                if reply is not None and not reply.done():
                    reply.set_result(result)
            else:
                try:
                    handler(item)
                except Exception as error:
                    self.processed += given - budget
                    fail(self, error, None)
                    return budget
            if self.sysmail or self.handler is not handler:
                break
        self.processed += given - budget
        self.current = NOTHING
        return budget

    async def _run_async(self, budget: int) -> None:
        handler = self.handler
        mailbox = self.mailbox
        while (
            mailbox
            and budget > 0
            and not self.sysmail
            and self.state == RUNNING
            and self.handler is handler
        ):
            item = mailbox.popleft()
            budget -= 1
            self.processed += 1
            self.current = item
            envelope = type(item) is Envelope
            try:
                result = await handler(item.message if envelope else item)
            except Exception as error:
                fail(self, error, item if envelope else None)
                return
            except BaseException:
                # Cancelled (killed, or the system is closing): the asker must not wait
                # for its timeout.
                if envelope and item.reply is not None and not item.reply.done():
                    item.reply.set_exception(stopped_error(self))
                raise
            if envelope:
                reply = item.reply
                if reply is not None and not reply.done():
                    reply.set_result(result)
        self.current = NOTHING

    def _end_turn(self) -> None:
        if self.room_waiters:
            waiters, self.room_waiters = self.room_waiters, None
            for slot in waiters:
                if not slot.done():
                    slot.set_result(None)
        if self.state == STOPPED:
            return  # stays "scheduled" forever, so nothing queues it again
        if self.sysmail is not None and not self.sysmail:
            # An empty deque costs ~600 bytes: an idle actor keeps none (the START
            # message alone would otherwise leave one behind in every actor).
            self.sysmail = None
        if self.sysmail or (self.state == RUNNING and self.mailbox):
            self.dispatcher.schedule(self)
        else:
            self.scheduled = False

    # -- Context: what the actor calls on self.context -------------------------------------

    @property
    def parent(self) -> ActorRef[Any] | None:
        parent = self.parent_cell
        if parent is None or parent.parent_cell is None:
            return None  # the system's guardian is not an actor users see
        return parent.ref

    @property
    def children(self) -> Sequence[ActorRef[Any]]:
        return [child.ref for child in self.child_cells or () if child.alive]

    @property
    def sender(self) -> ActorRef[Any] | None:
        item = self.current
        if type(item) is Envelope:
            sender: ActorRef[Any] | None = item.sender
            return sender
        return None

    def spawn(
        self: Cell,
        factory: Any,
        *args: Any,
        name: str | None = None,
        mailbox: Mailbox | None = None,
        **kwargs: Any,
    ) -> Any:
        system: ActorSystem = self.system
        return system.spawn_child(self, factory, args, kwargs, name=name, mailbox=mailbox)

    def spawn_pool(
        self,
        factory: Any,
        *args: Any,
        size: int = 4,
        routing: Routing = "round_robin",
        key: Callable[[Any], Any] | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> Any:
        from actors.routing import Pool  # on first use, as `system.exchange` loads routing

        pool = Pool(factory, *args, size=size, routing=routing, key=key, **kwargs)
        return self.spawn(pool, name=name)

    def stop(self, ref: ActorRef[Any] | None = None) -> None:
        if ref is None:
            request_stop(self, None)
        else:
            self.system.stop(ref)

    def watch(self, ref: ActorRef[Any]) -> None:
        target = self.system.local_cell(ref)
        if target is None:
            self.system.watch_remote(self, ref)
            return
        if target.state == STOPPED:  # answer at once, as Erlang's monitor does
            self.ref.tell(Terminated(target.ref, target.stop_reason))
            return
        if target.watchers is None:
            target.watchers = set()
        target.watchers.add(self)
        if self.watching is None:
            self.watching = set()
        self.watching.add(target)

    def unwatch(self, ref: ActorRef[Any]) -> None:
        target = self.system.local_cell(ref)
        if target is None:
            self.system.unwatch_remote(self, ref)
        else:
            if target.watchers is not None:
                target.watchers.discard(self)
            if self.watching is not None:
                self.watching.discard(target)
        # A Terminated already queued must not arrive after unwatch returns. Filtered in
        # place: the message loop that called us holds this very deque.
        mailbox = self.mailbox
        if mailbox:
            kept = [
                item
                for item in mailbox
                if not (isinstance(item, Terminated) and item.ref == ref)
            ]
            if len(kept) != len(mailbox):
                mailbox.clear()
                mailbox.extend(kept)

    def send_after(
        self: Cell, delay: float, message: Any, to: ActorRef[Any] | None = None
    ) -> Cancel:
        target = to if to is not None else self.ref
        timers = self.timers
        if timers is None:
            timers = self.timers = set()
        handle: TimerHandle = self.system.timers.call_later(delay, target.tell, message)
        handle.owner = timers
        timers.add(handle)
        return handle

    def stash(self) -> None:
        item = self.current
        if item is NOTHING:
            raise RuntimeError(
                f"stash() in {self.label} was called outside a message handler; "
                "call it while handling the message to set aside"
            )
        if type(item) is Envelope and item.reply is not None:
            # The stashed copy keeps the answer slot; the running handler loses it,
            # so its return value does not answer the ask.
            copy = Envelope(item.message, item.sender, item.reply)
            item.reply = None
            item = copy
        if self.stashed is None:
            self.stashed = []
        self.stashed.append(item)

    def unstash_all(self) -> None:
        stashed, self.stashed = self.stashed, None
        if not stashed:
            return
        if self.mailbox is None:
            self.mailbox = deque()
        self.mailbox.extendleft(reversed(stashed))
        if self.state < STOPPING:
            self.schedule()

    def become(self, handler: Callable[[Any], Any]) -> None:
        if self.behaviours is None:
            self.behaviours = []
        self.behaviours.append(self.handler)
        set_handler(self, handler)

    def unbecome(self) -> None:
        if self.behaviours:
            set_handler(self, self.behaviours.pop())

    def reply_later(self) -> Reply:
        item = self.current
        slot = None
        if type(item) is Envelope:
            slot, item.reply = item.reply, None
        return Reply(slot, self.label)

    # -- the engine's interface for supervisors ------------------------------------------

    def _spawn_supervised(
        self,
        factory: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        name: str | None,
        mailbox: Mailbox | None,
        shutdown: float | None,
        before: ActorRef[Any] | None = None,
        start: bool = True,
    ) -> ActorRef[Any]:
        system: ActorSystem = self.system
        child = system.start_cell(
            self, factory, args, kwargs, name, mailbox, supervised=True, start=start
        )
        child.shutdown_timeout = shutdown
        sibling = None if before is None else self._child(before)
        if sibling is not None and self.child_cells:
            # Children stop last first: the new one goes just ahead of `before`.
            order = [cell for cell in self.child_cells if cell is not child]
            order.insert(order.index(sibling), child)
            self.child_cells = dict.fromkeys(order)
        return child.ref

    def _child(self, ref: ActorRef[Any]) -> Cell | None:
        child: Cell | None = self.system.local_cell(ref)
        if child is None or child.parent_cell is not self:
            return None
        return child

    def _start_child(self, ref: ActorRef[Any]) -> None:
        child = self._child(ref)
        if child is not None and child.held:
            child.held = False
            child.post_system((START,))

    def _report_started(self) -> None:
        parent = self.parent_cell
        if self.supervised and parent is not None and self.state < STOPPING:
            parent.post_system((CHILD_STARTED, self))

    def _teardown_child(self, ref: ActorRef[Any], reason: BaseException | None) -> None:
        child = self._child(ref)
        if child is not None:
            child.post_system((TEARDOWN, reason))

    def _recreate_child(self, ref: ActorRef[Any], reason: BaseException | None) -> None:
        child = self._child(ref)
        if child is not None:
            child.post_system((RECREATE, reason))

    def _stop_child(self, ref: ActorRef[Any], reason: BaseException | None) -> None:
        child = self._child(ref)
        if child is not None and not child.stop_requested:
            request_stop(child, reason)
            if child.shutdown_timeout is not None:
                self.system.timers.call_later(child.shutdown_timeout, kill, child)

    def _report_failure(self, ref: ActorRef[Any], error: BaseException, decision: str) -> None:
        child = self._child(ref)
        if child is not None:
            self.system._crashes.decided(child, error, decision, self.label)

    def _set_available(self, ref: ActorRef[Any], available: bool) -> None:
        child = self._child(ref)
        if child is None or child.unavailable is not available:
            return
        child.unavailable = not available
        if available:
            child.fast = child.state == RUNNING and child.mailbox_spec is None
            return
        child.fast = False
        # Whatever waited for the actor fails now instead of waiting out its restart.
        while child.mailbox:
            child.reject(child.mailbox.popleft(), "unavailable")

    def __repr__(self) -> str:
        return f"<Cell {self.label} state={self.state}>"


def _not_started(message: Any) -> Any:
    raise RuntimeError("actor handled a message before it started")
