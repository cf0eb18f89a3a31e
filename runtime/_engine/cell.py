"""`Cell`: an actor's cell as the actor sees it, its `Context`, and its parent's controls.

The engine state and delivery are `CellState`'s (`runtime._engine.state`); this class
adds what an actor calls on `self.context` (the `actors.Context` API) and what a
`lowlevel.Parent` calls through `lowlevel.children(self.context)` (`ChildControl`).
Every call here runs on the actor's own turn.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from actors import ActorRef, Cancel, Reply
from actors.messages import Terminated
from runtime._engine.envelope import Envelope
from runtime._engine.lifecycle import (
    construct,
    request_stop,
    set_handler,
    stop_child,
)
from runtime._engine.local_ref import LocalRef
from runtime._engine.state import (
    NOTHING,
    START,
    CellState,
    ChildStarted,
    Phase,
    Recreate,
    Teardown,
)

if TYPE_CHECKING:
    from actors.lowlevel import System
    from actors.mailbox import Mailbox
    from actors.routing import Routing
    from runtime._engine.host import Host
    from runtime._engine.timers import TimerHandle

__all__ = ("Cell", "new_cell")


def new_cell(
    host: Host[CellState],
    parent: CellState | None,
    factory: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    name: str | None,
    mailbox: Mailbox | None,
    uid: int,
    *,
    supervised: bool = False,
    start: bool = True,
) -> Cell:
    """Build a cell and its actor under `parent`; queue its Start unless held back.

    Raises what the actor's constructor raises; nothing is left behind then.
    """
    cell = Cell(host, parent, factory, args, kwargs, name, mailbox, uid)
    cell.ref = LocalRef(cell)
    cell.supervised = supervised
    construct(cell)
    if parent is not None:
        if parent.child_cells is None:
            parent.child_cells = {}
        parent.child_cells[cell] = None
    if start:
        cell.start_due = True  # handled first by its first turn (see `CellState.start_due`)
        cell.dispatcher.schedule(cell)
    else:
        cell.held = True  # its parent starts it later (`start_child`)
    return cell


class Cell(CellState):
    __slots__ = ()

    # -- Context: what the actor calls on self.context -------------------------------

    @property
    def system(self) -> System:
        return self.host.system

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
        self,
        factory: Any,
        *args: Any,
        name: str | None = None,
        mailbox: Mailbox | None = None,
        **kwargs: Any,
    ) -> Any:
        return self.host.spawn_child(self, factory, args, kwargs, name=name, mailbox=mailbox)

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
            return
        target = self.host.local_cell(ref)
        if target is not None:
            request_stop(target, None)
        else:
            self.host.stop_remote(ref)

    def watch(self, ref: ActorRef[Any]) -> None:
        target = self.host.local_cell(ref)
        if target is None:
            self.host.watch_remote(self, ref)
            return
        if target.state == Phase.STOPPED:  # answer at once, as Erlang's monitor does
            self.ref.tell(Terminated(target.ref, target.stop_reason))
            return
        if target.watchers is None:
            target.watchers = set()
        target.watchers.add(self)
        if self.watching is None:
            self.watching = set()
        self.watching.add(target)

    def unwatch(self, ref: ActorRef[Any]) -> None:
        target = self.host.local_cell(ref)
        if target is None:
            self.host.unwatch_remote(self, ref)
        else:
            if target.watchers is not None:
                target.watchers.discard(self)
            if self.watching is not None:
                self.watching.discard(target)
        # A Terminated already queued must not arrive after unwatch returns. Filtered in
        # place: the message loop that called us holds this very deque.
        mailbox = self.mailbox
        if mailbox:
            kept = [m for m in mailbox if not (isinstance(m, Terminated) and m.ref == ref)]
            if len(kept) != len(mailbox):
                mailbox.clear()
                mailbox.extend(kept)

    def send_after(self, delay: float, message: Any, to: ActorRef[Any] | None = None) -> Cancel:
        target = to if to is not None else self.ref
        timers = self.timers
        if timers is None:
            timers = self.timers = set()
        handle: TimerHandle = self.host.timers.call_later(delay, target.tell, message)
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

    # -- lowlevel.ChildControl: what a Parent does to its children ----------------------

    def spawn_child(
        self,
        factory: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        name: str | None = None,
        mailbox: Mailbox | None = None,
        shutdown: float | None = None,
        before: ActorRef[Any] | None = None,
        start: bool = True,
        supervised: bool = True,
    ) -> ActorRef[Any]:
        child = self.host.start_cell(
            self, factory, args, kwargs, name, mailbox, supervised=supervised, start=start
        )
        child.shutdown_timeout = shutdown
        sibling = None if before is None else self._child(before)
        if sibling is not None and self.child_cells:
            # Children stop last first: the new one goes just ahead of `before`.
            order = [cell for cell in self.child_cells if cell is not child]
            order.insert(order.index(sibling), child)
            self.child_cells = dict.fromkeys(order)
        return child.ref

    def start_child(self, ref: ActorRef[Any]) -> None:
        child = self._child(ref)
        if child is not None and child.held:
            child.held = False
            child.post_signal(START)

    def report_started(self) -> None:
        parent = self.parent_cell
        if self.supervised and parent is not None and self.state < Phase.STOPPING:
            parent.post_signal(ChildStarted(self))

    def teardown_child(self, ref: ActorRef[Any], reason: BaseException | None) -> None:
        child = self._child(ref)
        if child is not None:
            child.post_signal(Teardown(reason))

    def recreate_child(self, ref: ActorRef[Any], reason: BaseException | None) -> None:
        child = self._child(ref)
        if child is not None:
            child.post_signal(Recreate(reason))

    def stop_child(self, ref: ActorRef[Any], reason: BaseException | None) -> None:
        child = self._child(ref)
        if child is not None:
            stop_child(self, child, reason)

    def report_failure(self, ref: ActorRef[Any], error: BaseException, decision: str) -> None:
        child = self._child(ref)
        if child is not None:
            self.host.crashes.decided(child, error, decision, self.label)

    def set_available(self, ref: ActorRef[Any], available: bool) -> None:
        child = self._child(ref)
        if child is None or child.unavailable is not available:
            return
        child.unavailable = not available
        child.set_fast()
        if not available:
            # Whatever waited for the actor fails now instead of waiting out its restart.
            while child.mailbox:
                child.reject(child.mailbox.popleft(), "unavailable")

    def _child(self, ref: ActorRef[Any]) -> CellState | None:
        child = self.host.local_cell(ref)
        if child is None or child.parent_cell is not self:
            return None
        return child
