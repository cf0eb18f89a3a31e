"""One authenticated connection to a peer node, and the frames that cross it.

A link runs two tasks in its own task group: the frame writer (batches frames into few
socket writes) and the reader (decodes frames and hands each to its handler; on
asyncio's plain TCP the transport's read callback does that instead, and the task
sees only the stream's end: see `runtime._cluster.link_reads`). Its
heartbeats and failure checks are not its own: the node's one timer for all links
(`runtime._cluster.links`) calls `keep_alive` once per heartbeat interval. It ends
when the peer closes, a frame breaks the protocol, the failure detector gives up on
the peer, or the node shuts down; then every ask waiting on it fails with
`NodeDownError` at once.

The link knows nothing of actors: what a frame means is its `LinkHandler`'s business.
`FRAME_HANDLERS` is the one table from frame type to handler method.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from functools import partial
from typing import Any, Protocol

import anyio
import anyio.abc
from anyio.abc import ByteStream

from actors.errors import NodeDownError, SerializationError
from runtime._cluster.link_reads import LinkReads
from runtime._cluster.phi import PhiAccrualDetector
from runtime._engine.kernel import Kernel
from runtime._wire import framing as wire
from runtime._wire.link_io import LinkWriter
from runtime._wire.records import SessionKeys

__all__ = ("FRAME_HANDLERS", "Link", "LinkHandler")

log = logging.getLogger("repertory.cluster")

# What a link's writer may hold unsent by default: past it `tell` dead-letters ("link
# to X is full") and `send` waits.
LINK_BUFFER = 32 * 1024 * 1024
# Seconds a retired link (another connection to the peer took over) stays open for the
# frames already on their way over it.
RETIRE_GRACE = 2.0


class LinkHandler(Protocol):
    """What a link does with the frames it reads (one method per frame type).

    Each method gets the link the frame came over. A method that raises costs that
    frame only (it is logged and dropped), never the link.
    """

    node: str

    @property
    def kernel(self) -> Kernel: ...

    def on_tell(self, link: Link, frame: wire.Tell) -> None: ...
    def on_tell_many(self, link: Link, frame: wire.TellMany) -> None: ...
    def on_send(self, link: Link, frame: wire.Send) -> None: ...
    def on_send_many(self, link: Link, frame: wire.SendMany) -> None: ...
    def on_credit(self, link: Link, frame: wire.Credit) -> None: ...
    def on_ask(self, link: Link, frame: wire.Ask) -> None: ...
    def on_reply(self, link: Link, frame: wire.Reply) -> None: ...
    def on_watch(self, link: Link, frame: wire.Watch) -> None: ...
    def on_unwatch(self, link: Link, frame: wire.Unwatch) -> None: ...
    def on_terminated(self, link: Link, frame: wire.Terminated) -> None: ...
    def on_spawn(self, link: Link, frame: wire.Spawn) -> None: ...
    def on_spawned(self, link: Link, frame: wire.Spawned) -> None: ...
    def on_registry_update(self, link: Link, frame: wire.RegistryUpdate) -> None: ...
    def on_topic_interest(self, link: Link, frame: wire.TopicInterest) -> None: ...
    def on_topic_publish(self, link: Link, frame: wire.TopicPublish) -> None: ...
    def on_members(self, link: Link, frame: wire.Members) -> None: ...
    def link_closed(self, link: Link, reason: str) -> None:
        """The link ended (after failing its pending asks); `reason` says why."""
        ...

    def unsent(self, link: Link, frames: list[wire.SessionFrame]) -> None:
        """The frames the link still held unsent when it ended (they never left)."""
        ...

    def reply_frame(self, corr: int, value: Any) -> wire.Reply:
        """The `Reply` to ask `corr` carrying `value` (or the error encoding it raised)."""
        ...

    def error_to_wire(self, error: BaseException) -> wire.RemoteError: ...


# The one dispatch table: frame type -> name of the `LinkHandler` method (or, for the
# two the link handles itself, of its own method).
FRAME_HANDLERS: dict[type[wire.SessionFrame], str] = {
    wire.Tell: "on_tell",
    wire.TellMany: "on_tell_many",
    wire.Send: "on_send",
    wire.SendMany: "on_send_many",
    wire.Credit: "on_credit",
    wire.Ask: "on_ask",
    wire.Reply: "on_reply",
    wire.Watch: "on_watch",
    wire.Unwatch: "on_unwatch",
    wire.Terminated: "on_terminated",
    wire.Spawn: "on_spawn",
    wire.Spawned: "on_spawned",
    wire.RegistryUpdate: "on_registry_update",
    wire.TopicInterest: "on_topic_interest",
    wire.TopicPublish: "on_topic_publish",
    wire.Members: "on_members",
    wire.Heartbeat: "_on_heartbeat",
    wire.Goodbye: "_on_goodbye",
}


class _PeerLeft(Exception):
    """Raised by the Goodbye handler to end the reader."""


class Link:
    """The connection to `peer`; `outgoing` says which side dialled."""

    def __init__(
        self,
        handler: LinkHandler,
        stream: ByteStream,
        peer: str,
        outgoing: bool,
        *,
        keys: SessionKeys,
        max_frame_size: int,
        detector: PhiAccrualDetector,
        buffer_size: int = LINK_BUFFER,
    ) -> None:
        self.handler = handler
        self.stream = stream
        self.peer = peer
        self.outgoing = outgoing
        self.detector = detector
        kernel = handler.kernel
        self.kernel = kernel
        # Every record either way is tagged with this connection's keys (see _wire.records).
        # On asyncio a plain TCP stream is read from its transport, and each read is
        # handled in the transport's callback (see `runtime._cluster.link_reads`).
        self.reads = LinkReads(stream, kernel, max_frame_size=max_frame_size,
                               opener=keys.opener())
        self.reader = self.reads.reader
        self.writer = LinkWriter(
            stream, max_frame_size=max_frame_size, high_water=buffer_size,
            backend=kernel.name, sealer=keys.sealer(),
        )
        # tell(target, payload): queue a sender-less tell of an encoded message; False
        # as for `send`. The writer's own method, bound: it is called once per message.
        self.tell: Callable[[int | str, bytes], bool] = self.writer.try_tell
        # tell_value(target, message): the same for a fixed-size value (an int, float,
        # bool or None), encoded with its batch; False for any other message too.
        self.tell_value: Callable[[int | str, object], bool] = self.writer.tell_value
        # Asks sent over this link and not answered yet: corr -> reply slot.
        self.pending: dict[int, Any] = {}
        # Flow control of `send` (see `runtime._cluster.credits`): what the sender may
        # still send per target, and what the receiver holds for mailboxes with no room.
        self.credits: dict[int | str, int] = {}
        self.credit_waiters: dict[int | str, anyio.Event] = {}
        self.held: dict[int | str, Any] = {}
        self.owed_credits: dict[int | str, int] = {}  # taken in, not yet granted back
        self.granting: set[int | str] = set()  # owed, waiting for room to be granted
        self._corr = itertools.count(1)
        self._scope: anyio.CancelScope | None = None
        self._flushing: anyio.CancelScope | None = None  # a goodbye waiting to be written
        self.closed_reason: str | None = None
        self.retired = False  # another connection to the same peer took over
        self._retiring: anyio.CancelScope | None = None  # its countdown to closing
        self._tasks: anyio.abc.TaskGroup | None = None
        self.peer_left = False  # the peer said Goodbye: it left, it did not fail
        self.since = kernel.now()  # when the connection was made (for link age)
        # Liveness (see keep_alive): the peer is heard from as of now, and the frame
        # counters as the last keep_alive (or heartbeat) saw them.
        detector.heartbeat(self.since)
        self.heartbeats_sent = 0
        self.heartbeats_received = 0
        self._queued_mark = 0
        self._received_mark = 0
        # Handler methods are bound to the handler, the link's own are plain functions:
        # either way an entry is called as entry(link, frame).
        self._dispatch: dict[type[wire.SessionFrame], Callable[[Link, Any], None]] = {
            kind: getattr(Link if name.startswith("_") else handler, name)
            for kind, name in FRAME_HANDLERS.items()
        }

    # -- running ------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the link until it closes; always ends by failing what waits on it.

        Never raises but for cancellation: a lost connection or a protocol error
        closes this link only, never the node that runs it.
        """
        try:
            async with anyio.create_task_group() as tasks:
                self._scope = tasks.cancel_scope
                self._tasks = tasks
                if self.retired:
                    tasks.start_soon(self._close_after, RETIRE_GRACE, self.closed_reason)
                tasks.start_soon(self._guarded, self.writer.run)
                await self._guarded(partial(self.reads.run, self))
                tasks.cancel_scope.cancel()
        finally:
            if self._flushing is not None:
                self._flushing.cancel()
            self._fail_pending()
            self.handler.unsent(self, self.writer.take_unsent())
            # Closing a connection that is already broken may fail in its own way.
            with anyio.CancelScope(shield=True), contextlib.suppress(
                anyio.BrokenResourceError, anyio.ClosedResourceError, OSError
            ):
                await self.stream.aclose()
            self.handler.link_closed(self, self.closed_reason or "connection closed")

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
            self.protocol_error(error)

    def protocol_error(self, error: wire.FrameError) -> None:
        """The peer broke the protocol (a bad record, an oversized frame): close."""
        log.warning("%s: closing link to %s: %s", self.handler.node, self.peer, error)
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

    def reinstate(self) -> None:
        """Take a retired link back into use (the connection that replaced it ended
        first): its countdown to closing is called off."""
        self.retired = False
        if self._retiring is not None:
            self._retiring.cancel()

    async def _close_after(self, delay: float, reason: str | None) -> None:
        with anyio.CancelScope() as self._retiring:
            await anyio.sleep(delay)
            self.closed_reason = None
            self.close(reason or "retired")
        self._retiring = None

    def close(self, reason: str) -> None:
        """End the link (idempotent); what waits on it fails with `NodeDownError`.

        No frame read after this is handled, as when the reader task is cancelled.
        """
        if self.closed_reason is None:
            self.closed_reason = reason
        self.reads.stop()
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

    def keep_alive(self, now: float) -> None:
        """One heartbeat interval passed (the node's timer calls this for every link).

        Traffic counts as liveness both ways: frames that arrived since the last call
        count as a heartbeat arriving `now` (a heartbeat itself is recorded when it
        arrives), and a heartbeat goes out only if nothing was queued to the peer since
        the last call. So a busy link carries no heartbeats, and the peer hears from an
        idle one at least every two intervals.
        """
        received = self.reader.frames_received
        if received != self._received_mark:
            self._received_mark = received
            self.detector.heartbeat(now)
        writer = self.writer
        if writer.frames_queued == self._queued_mark and not writer.pending:
            self.heartbeats_sent += 1
            self.send(wire.Heartbeat(self.heartbeats_sent, now))
        self._queued_mark = writer.frames_queued

    def _fail_pending(self) -> None:
        waiters, self.credit_waiters = self.credit_waiters, {}
        for event in waiters.values():
            event.set()  # senders waiting for credit see the link closed
        pending, self.pending = self.pending, {}
        error = NodeDownError(self.peer, self.closed_reason or "link closed")
        for slot in pending.values():
            if not slot.done():
                slot.set_exception(error)

    # -- sending --------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        """False once the link has begun to close."""
        return self.closed_reason is None

    def refusal(self) -> str:
        """Why `send` or `tell` returned False: the reason a dead letter gives."""
        if self.is_open:
            return f"link to {self.peer} is full"
        return f"node {self.peer} is not linked"

    def send(self, frame: wire.Frame) -> bool:
        """Queue `frame`; False when the link cannot take it (closed or full).

        Raises `SerializationError` for a frame over the frame limit (the codec stops
        oversized messages first; this is for frames whose other fields make them so).
        """
        try:
            self.writer.send_nowait(frame)
        except (anyio.WouldBlock, anyio.BrokenResourceError, anyio.ClosedResourceError):
            return False
        except wire.FrameError as error:
            raise SerializationError(f"a {type(frame).__name__} frame", str(error)) from None
        return True

    def start_soon(self, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run `work` in the link's task group (it ends with the link)."""
        assert self._tasks is not None, "the link is not running"
        self._tasks.start_soon(work)

    def new_ask(self, slot: Any) -> int:
        """Remember `slot` as waiting for an answer over this link; returns its corr."""
        corr = next(self._corr)
        self.pending[corr] = slot
        return corr

    def reply(self, corr: int, value: Any) -> None:
        """Answer ask `corr` that came over this link; an answer that cannot travel
        reaches the asker as the `SerializationError` that says why."""
        try:
            self.send(self.handler.reply_frame(corr, value))
        except SerializationError as error:
            self.reply_error(corr, error)

    def reply_error(self, corr: int, error: BaseException) -> None:
        """Fail ask `corr` that came over this link with `error`."""
        self.send(wire.Reply(corr, False, b"", self.handler.error_to_wire(error)))

    # -- receiving ------------------------------------------------------------------------

    def handle_frame(self, frame: wire.SessionFrame) -> bool:
        """Hand `frame` to its handler; False once the peer has said Goodbye."""
        # A frame this node cannot act on (a bad ref text, a name that does not
        # resolve, a bug) costs that frame only: not the link, not the node.
        # (A try block costs nothing in CPython 3.11 until it catches.)
        try:
            self._dispatch[type(frame)](self, frame)
        except _PeerLeft:
            return False
        except Exception as error:
            log.warning("%s: dropped a %s frame from %s: %r", self.handler.node,
                        type(frame).__name__, self.peer, error)
        return True

    def malformed(self, error: wire.FrameDecodeError) -> None:
        """A well-sized frame that does not decode: dropped (the link goes on)."""
        log.warning("%s: dropped a malformed frame from %s: %s",
                    self.handler.node, self.peer, error)

    def _on_heartbeat(self, frame: wire.Heartbeat) -> None:
        self.detector.heartbeat(self.kernel.now())
        self.heartbeats_received += 1
        self._received_mark = self.reader.frames_received  # keep_alive: already counted

    def _on_goodbye(self, frame: wire.Goodbye) -> None:
        self.peer_left = True
        self.closed_reason = f"the peer left ({frame.reason or 'goodbye'})"
        raise _PeerLeft

