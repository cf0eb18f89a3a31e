"""`LocalRef`: the ref of an actor on this node; its `tell` is the hot path."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from actors import ActorRef
from actors.errors import ActorStoppedError, ActorUnavailableError, AskTimeoutError
from runtime._engine.envelope import Envelope
from runtime._engine.kernel import Expired

if TYPE_CHECKING:
    from runtime._engine.cell import Cell

__all__ = ("LocalRef",)

M = TypeVar("M", contravariant=True)
_get_ident = threading.get_ident


class LocalRef(ActorRef[M]):
    __slots__ = ("_cell",)

    def __init__(self, cell: Cell) -> None:
        self._cell = cell

    def tell(self, message: M, sender: ActorRef[Any] | None = None) -> None:
        # The hot path, kept flat on purpose: one attribute test decides between the
        # fast path (a running actor with an unbounded mailbox, on the loop's thread)
        # and `Cell.post`, which handles every other case.
        cell = self._cell
        item: Any = message if sender is None else Envelope(message, sender, None)
        if cell.fast and (not cell.system.threads or _get_ident() == cell.kernel.loop_thread):
            mailbox = cell.mailbox
            if mailbox is None:
                mailbox = cell.mailbox = deque()
            mailbox.append(item)
            if not cell.scheduled:
                cell.scheduled = True
                dispatcher = cell.dispatcher
                dispatcher.ready.append(cell)
                if not dispatcher.draining:
                    dispatcher.wake()
        else:
            cell.post(item)

    def tell_many(self, messages: Iterable[M]) -> None:
        tell = self.tell
        for message in messages:
            tell(message)

    async def send(self, message: M) -> None:
        await self._cell.post_waiting(message)

    async def ask(self, message: M, timeout: float | None = 5.0) -> Any:
        cell = self._cell
        kernel = cell.kernel
        slot = kernel.slot()
        if cell.fast and not cell.system.threads:
            # `tell`'s fast path, inlined: asks are as hot as tells.
            mailbox = cell.mailbox
            if mailbox is None:
                mailbox = cell.mailbox = deque()
            mailbox.append(Envelope(message, None, slot))
            if not cell.scheduled:
                cell.scheduled = True
                dispatcher = cell.dispatcher
                dispatcher.ready.append(cell)
                if not dispatcher.draining:
                    dispatcher.wake()
        else:
            cell.check_askable()
            cell.post(Envelope(message, None, slot))
        try:
            return await kernel.wait(slot, timeout)
        except Expired:
            cell.system._asks_timed_out += 1
            raise AskTimeoutError(cell.label, timeout or 0.0) from None

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
        return (cell.system.node, cell.uid)


def unavailable(cell: Cell) -> Exception:
    """The error for an ask to `cell` that cannot be answered now."""
    if cell.unavailable:
        return ActorUnavailableError(cell.label)
    return ActorStoppedError(cell.label)
