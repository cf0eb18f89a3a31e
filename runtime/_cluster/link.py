"""One authenticated connection to a peer node, and the frames that cross it.

A link runs three tasks in its own task group: the frame writer (batches frames into
few socket writes), the reader (decodes frames and hands them to the node) and the
heartbeat sender. It ends when the peer closes, a frame breaks the protocol, the
failure detector gives up on the peer, or the node shuts down; then every ask waiting
on it fails with `NodeDownError` at once.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
from anyio.abc import ByteStream

from actors.errors import ActorStoppedError, SerializationError
from runtime._cluster.phi import PhiAccrualDetector
from runtime._cluster.refs import (
    RemoteReplySlot,
    error_from_wire,
    error_to_wire,
    node_down,
    target_address,
)
from runtime._engine.envelope import Envelope
from runtime._engine.kernel import Kernel
from runtime._wire import framing as wire
from runtime._wire.link_io import LinkWriter, TransportReceiver, asyncio_transport
from runtime._wire.records import SessionKeys

if TYPE_CHECKING:
    from runtime._cluster.cluster import Cluster

__all__ = ("Link",)

log = logging.getLogger("repertory.cluster")

# Tells are fire-and-forget: rather than block a sender, the writer may hold this many
# bytes before new tells go to dead letters.
TELL_HIGH_WATER = 64 * 1024 * 1024
# Seconds a retired link (another connection to the peer took over) stays open for the
# frames already on their way over it.
RETIRE_GRACE = 2.0


class Link:
    """The connection to `peer`; `outgoing` says which side dialled."""

    def __init__(
        self,
        cluster: Cluster,
        stream: ByteStream,
        peer: str,
        outgoing: bool,
        *,
        keys: SessionKeys,
        max_frame_size: int,
        detector: PhiAccrualDetector,
    ) -> None:
        self.cluster = cluster
        self.stream = stream
        self.peer = peer
        self.outgoing = outgoing
        self.detector = detector
        # On asyncio a plain TCP stream is read from its transport (see _link_io).
        receiving: anyio.abc.ByteReceiveStream = stream
        if cluster.kernel.name == "asyncio" and asyncio_transport(stream) is not None:
            receiving = TransportReceiver(stream)
        # Every record either way is tagged with this connection's keys (see _wire.records).
        self.reader = wire.FrameReader(
            receiving, max_frame_size=max_frame_size, opener=keys.opener()
        )
        self.writer = LinkWriter(
            stream, max_frame_size=max_frame_size, high_water=TELL_HIGH_WATER,
            backend=cluster.kernel.name, sealer=keys.sealer(),
        )
        self.pending: dict[int, Any] = {}
        self._corr = itertools.count(1)
        self._scope: anyio.CancelScope | None = None
        self._flushing: anyio.CancelScope | None = None  # a goodbye waiting to be written
        self.closed_reason: str | None = None
        self.retired = False  # another connection to the same peer took over
        self._tasks: anyio.abc.TaskGroup | None = None
        self.peer_left = False  # the peer said Goodbye: it left, it did not fail
        self.since = cluster.kernel.now()  # when the connection was made (for link age)
        self.codec = cluster.codec

    # -- running ------------------------------------------------------------------------

    async def run(self, heartbeat_interval: float) -> None:
        """Serve the link until it closes; always ends by failing what waits on it.

        Never raises but for cancellation: a lost connection or a protocol error
        closes this link only, never the node that runs it.
        """
        kernel = self.cluster.kernel
        self.detector.heartbeat(kernel.now())
        try:
            async with anyio.create_task_group() as tasks:
                self._scope = tasks.cancel_scope
                self._tasks = tasks
                if self.retired:
                    tasks.start_soon(self._close_after, RETIRE_GRACE, self.closed_reason)
                tasks.start_soon(self._guarded, self.writer.run)
                beat = partial(self._heartbeats, heartbeat_interval, kernel)
                tasks.start_soon(self._guarded, beat)
                await self._guarded(self._read)
                tasks.cancel_scope.cancel()
        finally:
            if self._flushing is not None:
                self._flushing.cancel()
            self._fail_pending()
            # Closing a connection that is already broken may fail in its own way.
            with anyio.CancelScope(shield=True), contextlib.suppress(
                anyio.BrokenResourceError, anyio.ClosedResourceError, OSError
            ):
                await self.stream.aclose()
            self.cluster.link_closed(self, self.closed_reason or "connection closed")

    async def _guarded(self, work: Callable[[], Awaitable[None]]) -> None:
        """Run one of the link's tasks; its connection errors close the link.

        Each task catches its own errors: raised out of the task group they would come
        wrapped in an ExceptionGroup and take the node's task group down with them.
        """
        try:
            await work()
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as error:
            cause = error.__cause__ or error
            self.close(f"connection lost: {type(cause).__name__}: {cause}".rstrip(": "))
        except wire.FrameError as error:
            log.warning("%s: closing link to %s: %s", self.cluster.node, self.peer, error)
            self.close(f"protocol error: {error}")

    def retire(self, reason: str) -> None:
        """Another connection to the peer took over: close this one after a grace.

        Senders of this node use the other link from now on; for `RETIRE_GRACE` seconds
        this one still reads (answers to asks sent over it) and still answers the asks
        that came over it, as the peer does on its side. Then it closes; asks still
        waiting on it fail with `NodeDownError`, and no `NodeDown` is sent: the peer is
        up, over the other link.
        """
        if self.retired:
            return
        self.retired = True
        if self._tasks is not None:
            self._tasks.start_soon(self._close_after, RETIRE_GRACE, reason)
        else:  # not running yet: `run` starts the countdown
            self.closed_reason = reason

    async def _close_after(self, delay: float, reason: str | None) -> None:
        await anyio.sleep(delay)
        self.closed_reason = None
        self.close(reason or "retired")

    def close(self, reason: str) -> None:
        """End the link (idempotent); what waits on it fails with `NodeDownError`."""
        if self.closed_reason is None:
            self.closed_reason = reason
        if self._scope is not None:
            self._scope.cancel()

    async def goodbye(self, reason: str) -> None:
        """Tell the peer this node is leaving, flush, and close."""
        # The flush waits for the writer task, which stops when the link ends (the peer
        # may leave at the same moment): `run` cancels this wait then.
        with anyio.move_on_after(1.0) as self._flushing, contextlib.suppress(
            anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.WouldBlock
        ):
            self.writer.send_nowait(wire.Goodbye(reason))
            await self.writer.flush()
        self._flushing = None
        self.close(reason)

    async def _heartbeats(self, interval: float, kernel: Kernel) -> None:
        for seq in itertools.count():
            self.send(wire.Heartbeat(seq, kernel.now()))
            await anyio.sleep(interval)

    def _fail_pending(self) -> None:
        pending, self.pending = self.pending, {}
        error = node_down(self.peer, self.closed_reason or "link closed")
        for slot in pending.values():
            if not slot.done():
                slot.set_exception(error)

    # -- sending --------------------------------------------------------------------------

    def send(self, frame: wire.Frame) -> bool:
        """Queue `frame`; False when the link cannot take it (closed or full)."""
        try:
            self.writer.send_nowait(frame)
        except (anyio.WouldBlock, anyio.BrokenResourceError, anyio.ClosedResourceError):
            return False
        return True

    def tell(self, target: int | str, payload: bytes) -> bool:
        """Queue a sender-less tell of an encoded message; False as for `send`."""
        try:
            self.writer.tell_nowait(target, payload)
        except (anyio.WouldBlock, anyio.BrokenResourceError, anyio.ClosedResourceError):
            return False
        return True

    def new_ask(self, slot: Any) -> int:
        corr = next(self._corr)
        self.pending[corr] = slot
        return corr

    def reply(self, corr: int, value: Any) -> None:
        try:
            payload = self.codec.encode(value)
        except SerializationError as error:
            self.reply_error(corr, error_to_wire(error))
            return
        self.send(wire.Reply(corr, True, payload))

    def reply_error(self, corr: int, error: wire.RemoteError) -> None:
        self.send(wire.Reply(corr, False, b"", error))

    # -- receiving ------------------------------------------------------------------------

    async def _read(self) -> None:
        reader = self.reader
        while True:
            try:
                frames = await reader.receive_batch()
            except anyio.EndOfStream:
                self.closed_reason = self.closed_reason or "the peer closed the connection"
                return
            except wire.FrameDecodeError as error:
                log.warning("%s: dropped a malformed frame from %s: %s",
                            self.cluster.node, self.peer, error)
                continue
            for frame in frames:
                # A frame this node cannot act on (a bad ref text, a name that does not
                # resolve, a bug) costs that frame only: not the link, not the node.
                # (A try block costs nothing in CPython 3.11 until it catches.)
                try:
                    if type(frame) is wire.Tell:
                        self._tell(frame.target, frame.payload, frame.sender)
                    elif not self._handle(frame):
                        return
                except Exception as error:
                    log.warning("%s: dropped a %s frame from %s: %r", self.cluster.node,
                                type(frame).__name__, self.peer, error)

    def _tell(self, target: int | str, payload: bytes, sender: str | None) -> None:
        cluster = self.cluster
        cell = cluster.local_target(target)
        try:
            message = self.codec.decode(payload)
        except SerializationError as error:
            label = target_address(cluster.node, target) if cell is None else cell.label
            cluster.system.dead_letter(payload, label, str(error))
            return
        if cell is None:
            cluster.system.dead_letter(
                message, target_address(cluster.node, target), "no such actor"
            )
            return
        if sender is None:
            cell.ref.tell(message)
        else:
            cell.ref.tell(message, cluster.ref_from_text(sender))

    def _handle(self, frame: wire.SessionFrame) -> bool:
        """Handle one frame other than Tell; False when the peer said goodbye."""
        cluster = self.cluster
        if isinstance(frame, wire.Heartbeat):
            self.detector.heartbeat(cluster.kernel.now())
        elif isinstance(frame, wire.Reply):
            self._reply(frame)
        elif isinstance(frame, wire.Ask):
            self._ask(frame)
        elif isinstance(frame, wire.TellMany):
            for payload in frame.payloads:
                self._tell(frame.target, payload, frame.sender)
        elif isinstance(frame, wire.Goodbye):
            self.peer_left = True
            self.closed_reason = f"the peer left ({frame.reason or 'goodbye'})"
            return False
        else:
            cluster.handle_frame(self, frame)
        return True

    def _reply(self, frame: wire.Reply) -> None:
        slot = self.pending.pop(frame.corr, None)
        if slot is None or slot.done():
            return  # the asker gave up (timeout or cancellation)
        if not frame.ok:
            assert frame.error is not None
            slot.set_exception(error_from_wire(f"an actor on {self.peer}", frame.error))
            return
        try:
            slot.set_result(self.codec.decode(frame.payload))
        except SerializationError as error:
            slot.set_exception(error)

    def _ask(self, frame: wire.Ask) -> None:
        cluster = self.cluster
        slot = RemoteReplySlot(self, frame.corr)
        if isinstance(frame.target, str) and frame.target.startswith("$"):
            cluster.system_ask(frame.target, frame.payload, slot)
            return
        cell = cluster.local_target(frame.target)
        if cell is None or not cell.alive:
            address = target_address(cluster.node, frame.target)
            slot.set_exception(ActorStoppedError(address, "or never existed"))
            return
        try:
            message = self.codec.decode(frame.payload)
        except SerializationError as error:
            cluster.system.dead_letter(frame.payload, cell.label, str(error))
            slot.set_exception(error)
            return
        sender = cluster.ref_from_text(frame.sender) if frame.sender else None
        if cell.unavailable:
            cell.reject(Envelope(message, sender, slot), "unavailable")
            return
        cell.post(Envelope(message, sender, slot))
