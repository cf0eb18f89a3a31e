"""Credit-based flow control for `await ref.send(msg)` to actors on other nodes.

Per (link, target) the sender may have `WINDOW` sends that the receiver has not yet
taken into the target's mailbox. The receiver takes a `Send` into the mailbox at once
when there is room (or the mailbox is unbounded), otherwise holds it, in order, until
room frees up. Credits go back in batches: the receiver owes one per `Send` taken
(or dead-lettered as undeliverable) and grants them in one `Credit` frame once
`GRANT_AT` (half the window) are owed. So a remote `send` waits while the remote
mailbox is full, nothing on this path is dropped, what a receiver holds is at most
`WINDOW` messages per sending node and target, and the cost of flow control is one
small frame per `GRANT_AT` sends (or per frame: the sends of one loop turn to one
target travel as one `SendMany`, and its credits are owed at once).

`WINDOW` is what one round trip carries: a sender that has used its window waits for a
grant, so a link moves at most `WINDOW` sends per target per round trip; it is also
what a receiver may hold per sending node and target while that mailbox is full.

Why batching cannot stall a sender: it waits only when it has `WINDOW` sends the
receiver has not granted back; those are in flight, held, or taken and owed, and all
of them are taken in time, so the owed count passes `GRANT_AT` (`GRANT_AT` <= `WINDOW`)
and a grant is sent.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

import anyio

from runtime._cluster.refs import target_address
from runtime._wire import framing as wire

if TYPE_CHECKING:
    from runtime._cluster.host import LocalActor
    from runtime._cluster.link import Link

__all__ = ("GRANT_AT", "WINDOW", "receive_sends", "wait_for_credit")

WINDOW = 256  # both nodes must agree (it is part of PROTOCOL_VERSION 3)
GRANT_AT = WINDOW // 2  # owed credits are granted in one frame once this many


class Receiver(Protocol):
    """What taking a `Send` in needs: the remote delivery of this node."""

    node: str

    def local_target(self, target: int | str) -> LocalActor | None: ...
    def decode(self, payload: bytes) -> Any: ...
    def dead_letter(self, message: Any, recipient: str, reason: str) -> None: ...


async def wait_for_credit(link: Link, target: int | str) -> bool:
    """Take one credit for `target` on `link`, waiting for one; False if the link closed."""
    credits = link.credits
    while credits.get(target, WINDOW) <= 0:
        if not link.is_open:
            return False
        event = link.credit_waiters.get(target)
        if event is None:
            event = link.credit_waiters[target] = anyio.Event()
        await event.wait()
    if not link.is_open:
        return False
    credits[target] = credits.get(target, WINDOW) - 1
    return True


def on_credit(link: Link, frame: wire.Credit) -> None:
    link.credits[frame.target] = link.credits.get(frame.target, WINDOW) + frame.count
    event = link.credit_waiters.pop(frame.target, None)
    if event is not None:
        event.set()


def receive_sends(
    delivery: Receiver, link: Link, target: int | str, payloads: Iterable[bytes]
) -> None:
    """Take the sends of one `Send` or `SendMany` frame in order: each into the
    mailbox now if there is room and none is held before it, else held (in order)."""
    cell = delivery.local_target(target)
    taken = 0  # taken in, or dead-lettered as undeliverable: a credit owed for each
    for payload in payloads:
        try:
            message = delivery.decode(payload)
        except Exception as error:
            delivery.dead_letter(payload, target_address(delivery.node, target), str(error))
            taken += 1
            continue
        if cell is None:
            delivery.dead_letter(message, target_address(delivery.node, target), "no such actor")
            taken += 1
            continue
        held = link.held.get(target)
        if held is None and _has_room(cell):
            cell.post(message)
            taken += 1
            continue
        if held is None:
            held = link.held[target] = deque()
            link.start_soon(partial(_deliver_held, link, target, cell, held))
        held.append(message)
    if taken:
        grant(link, target, taken)


def grant(link: Link, target: int | str, count: int = 1) -> None:
    """Owe the sender `count` more credits for `target`; send what is owed once
    `GRANT_AT` are."""
    owed = link.owed_credits.get(target, 0) + count
    if owed >= GRANT_AT:
        link.owed_credits[target] = 0
        link.send(wire.Credit(target, owed))
    else:
        link.owed_credits[target] = owed


def _has_room(cell: LocalActor) -> bool:
    spec, mailbox = cell.mailbox_spec, cell.mailbox
    return spec is None or spec.capacity is None or mailbox is None or len(mailbox) < spec.capacity


async def _deliver_held(link: Link, target: int | str, cell: LocalActor, held: deque[Any]) -> None:
    try:
        while held:
            await cell.post_waiting(held[0])  # waits for room; never drops
            held.popleft()
            grant(link, target)
    finally:
        link.held.pop(target, None)
