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
from collections.abc import Iterable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

import anyio

from actors import ActorRef
from runtime._cluster.refs import RemoteRef, target_address
from runtime._wire import framing as wire

if TYPE_CHECKING:
    from runtime._cluster.host import LocalActor
    from runtime._cluster.link import Link

__all__ = ("GRANT_AT", "WINDOW", "receive_sends", "send", "wait_for_credit")

WINDOW = 256  # both nodes must agree (it is part of PROTOCOL_VERSION 3)
GRANT_AT = WINDOW // 2  # owed credits are granted in one frame once this many


class Sender(Protocol):
    """What a flow-controlled `send` needs: the remote delivery of this node."""

    node: str

    @property
    def links(self) -> Mapping[str, Link]: ...

    def encode(self, message: Any) -> bytes: ...
    def tell(self, ref: RemoteRef[Any], message: Any, sender: ActorRef[Any] | None) -> None: ...
    def dead_letter(self, message: Any, recipient: str, reason: str) -> None: ...


async def send(delivery: Sender, ref: RemoteRef[Any], message: Any) -> None:
    """Queue `message` for `ref`, waiting while the link to its node is full.

    Waits while the link is full, and while the actor's (bounded) mailbox on its node
    has no room: that node takes it in when room frees up, and drops nothing on this
    path. Never hangs on a dead node: a link that closes while this waits, or a node
    that is not linked, dead-letters the message. The sends of one loop turn to one
    target leave as one `SendMany` frame (`LinkWriter.send_batched`).
    """
    link = delivery.links.get(ref.node)
    if link is None or ref.node == delivery.node:
        delivery.tell(ref, message, None)
        return
    payload = delivery.encode(message)  # SerializationError reaches the sender
    # A credit per message the target's node has not yet taken into its mailbox: this
    # waits while that mailbox is full.
    if not await wait_for_credit(link, ref.uid):
        delivery.dead_letter(message, ref.address, "node down")
        return
    try:
        await link.writer.send_batched(ref.uid, payload)  # a Send, or in a SendMany
    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
        delivery.dead_letter(message, ref.address, "node down")


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
    `GRANT_AT` are.

    A grant the link cannot take now (its buffer is full) is not lost: the credits stay
    owed, and a task of the link's grants them as soon as the buffer has room (a lost
    grant would shrink the sender's window for good, and with it gone, stall it).
    """
    owed = link.owed_credits.get(target, 0) + count
    link.owed_credits[target] = owed
    if owed < GRANT_AT or target in link.granting:
        return  # not yet due, or the task below will grant it with the rest
    if link.send(wire.Credit(target, owed)):
        link.owed_credits[target] = 0
    elif link.is_open:
        link.granting.add(target)
        link.start_soon(partial(_grant_when_room, link, target))


async def _grant_when_room(link: Link, target: int | str) -> None:
    """Grant what is owed for `target` once the link's buffer takes the frame; what is
    owed is read when the frame is queued, so no credit is granted twice."""
    try:
        while link.is_open:
            await link.writer.flush()  # everything queued is written: there is room
            owed = link.owed_credits.get(target, 0)
            if link.send(wire.Credit(target, owed)):
                link.owed_credits[target] = 0
                return
    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
        return  # the link is going down: its sender's credits go with it
    finally:
        link.granting.discard(target)


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
