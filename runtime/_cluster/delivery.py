"""Remote delivery: tells, asks and sends to actors on linked nodes, and their arrival.

`RemoteDelivery` owns what crosses a link for one actor: the refs that left this node
(`exported`), outgoing tells and asks, and incoming `Tell`, `TellMany`, `Ask` and
`Reply` frames. Links are made and kept by `runtime._cluster.links`; watches and remote
spawn live beside this module, flow-controlled sends in `runtime._cluster.credits`,
the node's own services (``$lookup``...) in `runtime._cluster.services`; the hot path
of plain tells is in `RemoteRef.tell`. Guarantees are those of "Delivery between nodes" in
DESIGN.md: order per sender and receiver, tell at most once, every ask answered,
failed or timed out by its deadline.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

from actors import ActorRef
from actors.errors import (
    ActorStoppedError,
    MailboxFullError,
    NodeDownError,
    SerializationError,
)
from actors.lowlevel import unwrap
from runtime._cluster import credits
from runtime._cluster.credits import receive_sends
from runtime._cluster.drops import DropSummary
from runtime._cluster.host import ClusterHost, LocalActor
from runtime._cluster.refs import (
    RemoteRef,
    RemoteReplySlot,
    parse_ref_text,
    ref_text,
    target_address,
)
from runtime._cluster.services import answer_system_ask
from runtime._engine.envelope import Envelope
from runtime._engine.kernel import Expired, Kernel, check_ask_timeout, timed_out
from runtime._engine.local_ref import post_ask
from runtime._wire import framing as wire
from runtime._wire.codec import Codec

if TYPE_CHECKING:
    from runtime._cluster.link import Link

__all__ = ("RemoteDelivery",)

# A timeout of these types in range is valid without `check_ask_timeout`'s call.
_NUMBERS = (float, int)
_INF = math.inf

log = logging.getLogger("repertory.cluster")


class RemoteDelivery:
    """Messages to and from actors on linked nodes."""

    node: str  # this node's name, set when the cluster starts
    kernel: Kernel

    def __init__(
        self,
        host: ClusterHost,
        links: dict[str, Link],
        *,
        allow_pickle: bool,
        message_modules: tuple[str, ...] = (),
        max_frame_size: int = wire.DEFAULT_MAX_FRAME_SIZE,
    ) -> None:
        self.host = host
        self.links = links  # the link table, kept by `Links`
        # Local actors whose refs left this node, by uid: frames name actors by uid.
        self.exported: dict[int, LocalActor] = {}
        # A message too large for a frame fails in `encode`, as SerializationError at
        # the sender (or as the error an asker gets), before anything is queued.
        self.codec = Codec(
            allow_pickle=allow_pickle, ref_encoder=self.export, ref_decoder=self.ref_for,
            message_modules=message_modules, max_size=wire.payload_limit(max_frame_size),
        )
        self.plain = self.codec.plain  # for `RemoteRef.tell`'s hot path
        self.payload_limit = self.codec.payload_limit
        # Remote spawns that failed: (node, uid) -> the error (see `spawning.py`).
        self.spawn_failures: dict[tuple[str, int], BaseException] = {}
        self.unsent_dead_lettered = 0  # tells a link still held when it went down
        self.asks_skipped = 0  # asks from peers not handled: their asker had given up
        self.replies_too_late = 0  # answers found after the asker's deadline: not sent
        self.drops: DropSummary | None = None  # made when the kernel is known (`drop_log`)

    # -- refs across nodes -----------------------------------------------------------------

    def export(self, ref: ActorRef[Any]) -> tuple[str, int, str | None]:
        """(node, uid, name) for a ref leaving this node; remembers local cells."""
        ref = unwrap(ref)
        if isinstance(ref, RemoteRef):
            return (ref.node, ref.uid, ref.name)
        cell = self.host.local_cell(ref)
        if cell is not None:
            self.exported[cell.uid] = cell
            return (self.node, cell.uid, cell.name)
        raise SerializationError(repr(ref), "only actor refs from spawn() can travel")

    def ref_for(self, node: str, uid: int, name: str | None) -> ActorRef[Any]:
        """The ref for actor `uid` on `node`: the local one when it is this node's."""
        if node == self.node:
            cell = self.exported.get(uid)
            if cell is not None:
                return cell.ref
        return RemoteRef(self, node, uid, name)

    def ref_from_text(self, text: str) -> ActorRef[Any]:
        return self.ref_for(*parse_ref_text(text))

    def ref_to_text(self, ref: ActorRef[Any] | None) -> str | None:
        return None if ref is None else ref_text(*self.export(ref))

    def local_target(self, target: int | str) -> LocalActor | None:
        """The local cell a frame addresses by uid or registered name, if any."""
        if isinstance(target, int):
            return self.exported.get(target)
        ref = self.host.whereis(target)
        return self.host.local_cell(ref) if ref is not None else None

    def is_linked(self, node: str) -> bool:
        return node == self.node or node in self.links

    # -- sending ---------------------------------------------------------------------------

    def tell(self, ref: RemoteRef[Any], message: Any, sender: ActorRef[Any] | None) -> None:
        # The hot path of remote tells, kept short: a linked node, no sender.
        link = self.links.get(ref._node)
        if link is not None and sender is None:
            payload = self.codec.encode(message)  # SerializationError reaches the sender
            if not link.tell(ref._uid, payload):
                self.host.dead_letter(message, ref.address, link.refusal())
            return
        if ref.node == self.node:
            cell = self.exported.get(ref.uid)
            if cell is not None:
                cell.ref.tell(message, sender)
            else:
                self.host.dead_letter(message, ref.address, "no such actor")
            return
        payload = self.codec.encode(message)
        frame = wire.Tell(ref.uid, payload, self.ref_to_text(sender))
        if link is None:
            self.host.dead_letter(message, ref.address, f"node {ref.node} is not linked")
        elif not link.send(frame):
            self.host.dead_letter(message, ref.address, link.refusal())

    def tell_many(self, ref: RemoteRef[Any], messages: list[Any]) -> None:
        link = self.links.get(ref.node)
        if ref.node == self.node or link is None:
            for message in messages:
                self.tell(ref, message, None)
            return
        payloads = [self.codec.encode(message) for message in messages]
        if not link.send(wire.TellMany.of(ref.uid, payloads)):
            reason = link.refusal()
            for message in messages:
                self.host.dead_letter(message, ref.address, reason)

    async def send(self, ref: RemoteRef[Any], message: Any) -> None:
        """Queue `message` for `ref`, waiting while the link to its node is full, and
        while the actor's bounded mailbox there has no room (`credits.send`)."""
        await credits.send(self, ref, message)

    async def call(
        self, node: str, target: int | str, message: Any, timeout: float | None,
        ref: RemoteRef[Any] | None = None,
    ) -> Any:
        """Ask `target` on `node` and wait for the answer; `AskTimeoutError` naming the
        actor (`ref`'s address, by default ``node/target``) past `timeout`.

        The `Ask` frame carries `timeout`: the peer skips the request if it comes to it
        after this node has given up. For an ask of `ref` whose remote spawn failed,
        the `ActorStoppedError` says so.
        """
        # The hot path of remote asks: one coroutine frame here and the kernel's wait
        # (measured: the frames of `RemoteRef.ask`, `RemoteDelivery.ask` and
        # `wait_answer` around this one were a tenth of the asking side's calls); the
        # address is built only for an error.
        if timeout is not None and not (type(timeout) in _NUMBERS and 0 <= timeout < _INF):
            check_ask_timeout(timeout, self._address(node, target, ref))
        if node == self.node:
            cell = self.local_target(target)
            if cell is None:
                raise ActorStoppedError(target_address(node, target), "or never existed")
            return await cell.ref.ask(message, timeout)
        link = self.links.get(node)
        if link is None:
            raise NodeDownError(node, "not linked to this node")
        payload = self.codec.encode(message)
        slot = self.kernel.slot()
        corr = link.new_ask(slot)
        sent = False
        try:
            sent = link.send(wire.Ask(corr, target, payload, timeout))
        finally:
            if not sent:  # nothing stays pending for an ask that never left
                link.pending.pop(corr, None)
        if not sent:
            raise NodeDownError(node, "its link cannot take more frames")
        try:
            return await self.kernel.wait(slot, timeout)
        except Expired:
            raise timed_out(self.kernel, self._address(node, target, ref), timeout) from None
        except ActorStoppedError:
            # An actor whose spawn failed never existed there: say why, not just that.
            if ref is None or (failure := self.spawn_failures.get((node, ref.uid))) is None:
                raise
            raise ActorStoppedError(
                ref.address, f"and never started: its spawn failed with {failure!r}"
            ) from failure
        finally:
            link.pending.pop(corr, None)

    @staticmethod
    def _address(node: str, target: int | str, ref: RemoteRef[Any] | None) -> str:
        return ref.address if ref is not None else target_address(node, target)

    def stop_remote(self, ref: RemoteRef[Any]) -> None:
        """Ask `ref`'s node to stop it (nothing to do when that node is not linked)."""
        link = self.links.get(ref.node)
        if link is not None:
            link.send(wire.Ask(0, "$stop", self.codec.encode(ref.uid)))

    # -- arriving --------------------------------------------------------------------------

    def on_send(self, link: Link, frame: wire.Send) -> None:
        receive_sends(self, link, frame.target, (frame.payload,))

    def on_send_many(self, link: Link, frame: wire.SendMany) -> None:
        receive_sends(self, link, frame.target, frame.payloads)

    def encode(self, message: Any) -> bytes:
        return self.codec.encode(message)

    def decode(self, payload: bytes) -> Any:
        return self.codec.decode(payload)

    def dead_letter(self, message: Any, recipient: str, reason: str) -> None:
        self.host.dead_letter(message, recipient, reason)

    def on_tell(self, link: Link, frame: wire.Tell) -> None:
        self.deliver(frame.target, frame.payload, frame.sender)

    def on_tell_many(self, link: Link, frame: wire.TellMany) -> None:
        target, sender = frame.target, frame.sender
        cell = self.local_target(target)
        if cell is None or sender is not None or cell.mailbox_spec is not None:
            deliver = self.deliver
            for payload in frame.payloads():
                deliver(target, payload, sender)
            return
        # The hot case (sender-less tells to an unbounded mailbox, the bulk of remote
        # traffic): the target is looked up once per frame, not once per message (no
        # handler runs while this loops, so it cannot stop in between), and the
        # messages are decoded in one call and told in one `tell_many` (for a local
        # ref: one extend of the mailbox) without `deliver`'s checks.
        label = cell.label
        cell.ref.tell_many(self.codec.decode_batch(
            frame, lambda payload, error: self.host.dead_letter(payload, label, str(error)),
        ))

    def deliver(self, target: int | str, payload: bytes, sender: str | None) -> None:
        """Decode one told message and post it to its local actor (or dead letters)."""
        cell = self.local_target(target)
        try:
            message = self.codec.decode(payload)
        except SerializationError as error:
            label = target_address(self.node, target) if cell is None else cell.label
            self.host.dead_letter(payload, label, str(error))
            return
        if cell is None:
            self.host.dead_letter(message, target_address(self.node, target), "no such actor")
            return
        spec = cell.mailbox_spec
        if spec is not None and spec.overflow != "reject":
            mailbox = cell.mailbox
            if mailbox is not None and len(mailbox) >= (spec.capacity or 0):
                # The cell drops one (a dead letter there): counted for the summary line.
                self.drop_log().count(cell.label, spec.overflow)
        try:
            if sender is None:
                cell.ref.tell(message)
            else:
                cell.ref.tell(message, self.ref_from_text(sender))
        except MailboxFullError:
            # overflow="reject" raises to a local sender; a remote one cannot hear it:
            # a dead letter here, and the rest of its batch is still delivered.
            self.host.dead_letter(message, cell.label, "mailbox full (reject)")
            self.drop_log().count(cell.label, "reject")

    def drop_log(self) -> DropSummary:
        """The summary log of remote tells dropped by full mailboxes here."""
        if self.drops is None:
            self.drops = DropSummary(self.kernel.now)
        return self.drops

    def on_reply(self, link: Link, frame: wire.Reply) -> None:
        slot = link.pending.pop(frame.corr, None)
        if slot is None or slot.done():
            return  # the asker gave up (timeout or cancellation)
        if not frame.ok:
            assert frame.error is not None
            slot.set_exception(self.codec.error_from_wire(f"an actor on {link.peer}", frame.error))
            return
        try:
            slot.set_result(self.codec.decode(frame.payload))
        except SerializationError as error:
            slot.set_exception(error)

    def on_ask(self, link: Link, frame: wire.Ask) -> None:
        now = self.kernel.now
        deadline = None if frame.timeout is None else now() + frame.timeout
        slot = RemoteReplySlot(link, frame.corr, deadline, now, self._expired)
        if isinstance(frame.target, str) and frame.target.startswith("$"):
            answer_system_ask(self, frame.target, frame.payload, slot)
            return
        cell = self.local_target(frame.target)
        if cell is None or not cell.alive:
            address = target_address(self.node, frame.target)
            slot.set_exception(ActorStoppedError(address, "or never existed"))
            return
        try:
            message = self.codec.decode(frame.payload)
        except SerializationError as error:
            self.host.dead_letter(frame.payload, cell.label, str(error))
            slot.set_exception(error)
            return
        sender = self.ref_from_text(frame.sender) if frame.sender else None
        if cell.unavailable:
            cell.reject(Envelope(message, sender, slot), "unavailable")
            return
        try:
            post_ask(cell.ref, Envelope(message, sender, slot))  # may answer it here and now
        except MailboxFullError as error:
            slot.set_exception(error)  # at once: the asker need not wait out its timeout

    def stats(self) -> dict[str, int]:
        """This node's counters of remote delivery (see `Cluster.stats`)."""
        return {
            "asks_skipped": self.asks_skipped,
            "replies_too_late": self.replies_too_late,
            "unsent_dead_lettered": self.unsent_dead_lettered,
            "mailbox_full_dropped": 0 if self.drops is None else self.drops.total,
        }

    def unsent(self, link: Link, frames: list[wire.SessionFrame]) -> None:
        """Dead-letter the tells and sends a link still held when it went down ("node
        down")."""
        for frame in frames:
            if type(frame) is wire.Tell or type(frame) is wire.Send:
                payloads = [frame.payload]
            elif type(frame) is wire.TellMany:
                payloads = frame.payloads()
            elif type(frame) is wire.SendMany:
                payloads = frame.payloads
            else:
                continue  # asks were failed with NodeDownError; the rest is protocol
            recipient = target_address(link.peer, frame.target)
            for payload in payloads:
                try:
                    message = self.codec.decode(payload)
                except SerializationError:
                    message = payload
                self.unsent_dead_lettered += 1
                self.host.dead_letter(message, recipient, "node down")

    def _expired(self, skipped: bool) -> None:
        if skipped:
            self.asks_skipped += 1
        else:
            self.replies_too_late += 1

    def reply_frame(self, corr: int, value: Any) -> wire.Reply:
        try:
            return wire.Reply(corr, True, self.codec.encode(value))
        except SerializationError as error:
            return wire.Reply(corr, False, b"", self.codec.error_to_wire(error))

    def error_to_wire(self, error: BaseException) -> wire.RemoteError:
        return self.codec.error_to_wire(error)
