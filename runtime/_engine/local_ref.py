"""`LocalRef`: the ref of an actor on this node; its `tell` is the hot path."""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from actors import ActorRef
from actors.lowlevel import unwrap
from runtime._engine.envelope import Envelope
from runtime._engine.kernel import Expired, Kernel, check_ask_timeout, timed_out
from runtime._engine.state import Phase
from runtime._engine.turn import ask_now, run_ask

if TYPE_CHECKING:
    from runtime._engine.state import CellState

__all__ = ("LocalRef", "cell_of", "post_ask")

M = TypeVar("M", contravariant=True)
_get_ident = threading.get_ident
RUNNING = Phase.RUNNING
_NUMBERS = (float, int)
_INF = math.inf


class LocalRef(ActorRef[M]):
    __slots__ = ("_cell",)

    def __init__(self, cell: CellState) -> None:
        self._cell = cell

    def tell(self, message: M, sender: ActorRef[Any] | None = None) -> None:
        # The hot path, kept flat on purpose: one attribute test decides between the
        # fast case of `CellState.post` (a cell taking mail without checks, on the
        # loop's thread), inlined here, and `post` itself for every other case. Making
        # the cell ready goes through `Dispatcher.schedule`, which owns that invariant.
        # `_tell_picked` repeats this body: change both.
        cell = self._cell
        item: Any = message if sender is None else Envelope(message, sender, None)
        if cell.fast and (not cell.kernel.threads or _get_ident() == cell.kernel.loop_thread):
            mailbox = cell.mailbox
            if mailbox is None:
                mailbox = cell.mailbox = deque()
            mailbox.append(item)
            if not cell.scheduled:
                cell.dispatcher.schedule(cell)
        else:
            cell.post(item)

    @staticmethod
    def _tell_picked(
        pick: Callable[[], ActorRef[Any]],
    ) -> Callable[[Any, ActorRef[Any] | None], None]:
        """`tell` to the LocalRef `pick()` returns (`actors.lowlevel.tell_picked`, which
        uses this only when every ref `pick` may return is a LocalRef): `tell`'s body
        with the pick in place of `self`, so that a pool's tell is one Python frame, as
        a plain tell is, instead of a frame calling a tell (measured: that second frame
        left a round_robin pool at 0.85x the same tells sent directly; this, 0.99x)."""

        def tell(message: Any, sender: ActorRef[Any] | None = None) -> None:
            cell = pick()._cell  # type: ignore[attr-defined]  # a LocalRef (see above)
            item: Any = message if sender is None else Envelope(message, sender, None)
            if cell.fast and (not cell.kernel.threads or _get_ident() == cell.kernel.loop_thread):
                mailbox = cell.mailbox
                if mailbox is None:
                    mailbox = cell.mailbox = deque()
                mailbox.append(item)
                if not cell.scheduled:
                    cell.dispatcher.schedule(cell)
            else:
                cell.post(item)

        return tell

    def tell_many(self, messages: Iterable[M]) -> None:
        # `tell`'s fast case for a batch: one extend of the mailbox and at most one
        # `schedule` (a remote `TellMany` arrives here whole). Every other case: a tell
        # each, in order.
        cell = self._cell
        if cell.fast and (not cell.kernel.threads or _get_ident() == cell.kernel.loop_thread):
            mailbox = cell.mailbox
            if mailbox is None:
                mailbox = cell.mailbox = deque()
            mailbox.extend(messages)
            if mailbox and not cell.scheduled:
                cell.dispatcher.schedule(cell)
            return
        tell = self.tell
        for message in messages:
            tell(message)

    async def send(self, message: M) -> None:
        await self._cell.post_waiting(message)

    async def ask(self, message: M, timeout: float | None = 5.0) -> Any:
        cell = self._cell
        # Before anything is posted; a plain float or int in range passes without the
        # call, which would build the actor's label (`CellState.label`) for nothing.
        if timeout is not None and not (type(timeout) in _NUMBERS and 0 <= timeout < _INF):
            check_ask_timeout(timeout, cell.label)
        kernel = cell.kernel
        slot = kernel.slot()
        if cell.fast and not kernel.threads:
            # When `turn.run_ask` may run (`turn.ask_now`'s test, inlined: a call costs an
            # async ask ~1%): an idle actor with a sync handler runs its turn here, not in
            # a dispatcher worker, which saves two task switches (see `turn.run_ask`).
            if (not cell.handler_async and not cell.scheduled and cell.state == RUNNING
                    and not cell.mailbox):
                started = kernel.now()
                run_ask(cell, Envelope(message, None, slot))
                if slot.done():
                    # What the turn left to the dispatcher (its own stop, a parent's
                    # decision on its failure, mail to others) runs before the asker
                    # resumes, as when a worker runs the turn (`Kernel.answered`).
                    return await kernel.answered(slot, cell.dispatcher.draining)
                if timeout is not None:  # reply_later or stash took the slot
                    timeout = max(timeout - (kernel.now() - started), 0.0)
                return await self._wait(kernel, slot, timeout)
            # `tell`'s inlined fast case again: asks are as hot as tells (an ask is
            # always on the loop's thread, so only the thread count is tested).
            mailbox = cell.mailbox
            if mailbox is None:
                mailbox = cell.mailbox = deque()
            mailbox.append(Envelope(message, None, slot))
            if not cell.scheduled:
                cell.dispatcher.schedule(cell)
        else:
            cell.check_askable()
            cell.post(Envelope(message, None, slot))
        try:  # an ask's wait: the kernel's, with `timed_out` for the error
            return await kernel.wait(slot, timeout)
        except Expired:
            raise timed_out(kernel, cell.label, timeout) from None

    async def _wait(self, kernel: Kernel, slot: Any, timeout: float | None) -> Any:
        try:
            return await kernel.wait(slot, timeout)
        except Expired:
            raise timed_out(kernel, self._cell.label, timeout) from None

    @property
    def name(self) -> str | None:
        return self._cell.name

    @property
    def address(self) -> str:
        return self._cell.label

    @property
    def is_alive(self) -> bool:
        return self._cell.alive

    @property
    def mailbox_size(self) -> int:
        """Messages waiting now (a hint for routing: it changes as you read it)."""
        mailbox = self._cell.mailbox
        return len(mailbox) if mailbox else 0

    def _identity(self) -> tuple[str, int]:
        cell = self._cell
        return (cell.host.node, cell.uid)


def cell_of(ref: ActorRef[Any]) -> CellState | None:
    """The cell behind `ref` if it is a local ref (under any wrapping), else None."""
    ref = unwrap(ref)
    return ref._cell if type(ref) is LocalRef else None  # LocalRef's own module


def post_ask(ref: ActorRef[Any], envelope: Envelope) -> None:
    """Deliver an ask that arrives outside any turn (from another node) to the local
    actor `ref`: an idle actor with a sync handler answers it at once, before this
    returns (`turn.ask_now`); otherwise it is posted as any mail (`CellState.post`,
    which raises `MailboxFullError` for a full "reject" mailbox)."""
    assert type(ref) is LocalRef, f"not a local actor's ref: {ref!r}"
    cell = ref._cell
    if not ask_now(cell, envelope):
        cell.post(envelope)
