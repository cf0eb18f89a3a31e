"""Streams across nodes: the coordinator actor a node's streams answer through, and
`RemoteStream`, the handle a consumer on another node subscribes and commits with.

Built from ordinary actors, refs and asks, so it needs nothing of the cluster but
what every actor has: a consumer's node asks the stream's node's coordinator (the
actor registered as ``repertory.streams`` there) to subscribe its consumer; entries
reach the consumer as plain remote tells; its commits travel back as tells to the
coordinator, in order after its subscribe (one sender, one receiver). The stream's
node watches each remote subscriber, so a consumer that stops, or whose node goes
down, hands its uncommitted entries back to its group.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from actors import Actor, ActorCrashedError, ActorRef, Terminated
from runtime._streams.delivery import Subscription
from runtime._streams.stream import Stream

__all__ = ("COORDINATOR", "RemoteStream", "RemoteSubscription", "StreamCoordinator", "Watcher")

COORDINATOR = "repertory.streams"
log = logging.getLogger("repertory.streams")
_ERRORS: dict[str, type[Exception]] = {
    "ValueError": ValueError, "TypeError": TypeError, "LookupError": LookupError,
    "RuntimeError": RuntimeError, "KeyError": KeyError,
}


class StreamsView(Protocol):
    """What the coordinator and the watcher need of `Streams`."""

    def stream(self, name: str) -> Stream: ...
    def subscription(self, stream: str, ref: ActorRef[Any], group: str | None) -> Subscription:
        ...
    def forget(self, ref: ActorRef[Any]) -> None: ...


class StreamCoordinator(Actor[Any]):
    """Does for consumers on other nodes what they would do here with a `Stream`.

    Asks are answered with the result, or fail with the error the call raised (the
    coordinator itself never crashes on a bad request); tells (commit, redeliver) that
    fail are logged here, as nobody waits for them.
    """

    def __init__(self, streams: StreamsView) -> None:
        self.streams = streams

    def receive(self, message: Any) -> None:
        reply = self.context.reply_later()
        try:
            result = self._do(message)
        except Exception as error:
            if reply.done:  # told, not asked (or the asker gave up): only the log is left
                log.error("a remote consumer's %r on this node's streams failed: %s",
                          message, error)
            else:
                reply.fail(error)
            return
        reply.send(result)

    def _do(self, message: Any) -> Any:
        streams = self.streams
        match message:
            case ("subscribe", str(name), ActorRef() as ref, group, start, window, timeout):
                streams.stream(name).subscribe(
                    ref, group, start, max_in_flight=window, ack_timeout=timeout
                )
                return None
            case ("commit", str(name), ActorRef() as ref, group, int(offset)):
                streams.subscription(name, ref, group).commit(offset)
            case ("seek", str(name), ActorRef() as ref, group, int(offset)):
                streams.subscription(name, ref, group).seek(offset)
            case ("redeliver", str(name), ActorRef() as ref, group):
                streams.subscription(name, ref, group).redeliver()
            case ("cancel", str(name), ActorRef() as ref, group):
                streams.subscription(name, ref, group).cancel()
            case ("committed", str(name), str(group)):
                return streams.stream(name).committed(group)
            case ("length", str(name)):
                return len(streams.stream(name))
            case ("append", str(name), payload):
                return streams.stream(name).append(payload)
            case _:
                raise ValueError(f"the stream coordinator does not understand {message!r}")
        return None


class Watcher(Actor[Any]):
    """Watches remote subscribers; ends their subscriptions when they stop (or their
    node goes down: a watch of a remote ref then gets `Terminated` too)."""

    def __init__(self, streams: StreamsView) -> None:
        self.streams = streams
        self.watched: set[ActorRef[Any]] = set()

    def receive(self, message: Any) -> None:
        if isinstance(message, Terminated):
            self.watched.discard(message.ref)
            self.streams.forget(message.ref)
        elif isinstance(message, ActorRef) and message not in self.watched:
            self.watched.add(message)
            self.context.watch(message)


class RemoteStream:
    """A stream of another node, as a consumer there sees it: from
    ``await system.streams.remote(name, node)``.

    Subscribing asks the stream's node; entries then come to the subscriber as
    ``StreamEntry`` tells, as from a local stream, and `RemoteSubscription.commit`
    tells the commit back. Errors of a call that waits (`subscribe`, `seek`,
    `committed`, `append`) come back as the error the stream raised there.
    """

    def __init__(self, name: str, node: str, coordinator: ActorRef[Any]) -> None:
        self.name = name
        self.node = node
        self.coordinator = coordinator

    async def subscribe(
        self,
        ref: ActorRef[Any],
        group: str | None = None,
        start: str | int = "latest",
        *,
        max_in_flight: int | None = None,
        ack_timeout: float | None = None,
        timeout: float = 5.0,
    ) -> RemoteSubscription:
        """`Stream.subscribe` on the stream's node; returns once it is in place."""
        await self._ask(
            ("subscribe", self.name, ref, group, start, max_in_flight, ack_timeout), timeout
        )
        return RemoteSubscription(self, ref, group)

    async def committed(self, group: str, *, timeout: float = 5.0) -> int | None:
        """`Stream.committed(group)` on the stream's node."""
        found: int | None = await self._ask(("committed", self.name, group), timeout)
        return found

    async def length(self, *, timeout: float = 5.0) -> int:
        """`len(stream)` on the stream's node: the offset the next append gets."""
        found: int = await self._ask(("length", self.name), timeout)
        return found

    async def append(self, message: Any, *, timeout: float = 5.0) -> int:
        """`Stream.append(message)` on the stream's node; returns the offset."""
        found: int = await self._ask(("append", self.name, message), timeout)
        return found

    async def _ask(self, request: tuple[Any, ...], timeout: float) -> Any:
        try:
            return await self.coordinator.ask(request, timeout=timeout)
        except ActorCrashedError as error:
            kind = _ERRORS.get(error.error_type)
            if kind is None:
                raise
            raise kind(f"{error.error_text} (on {self.node})") from error

    def __repr__(self) -> str:
        return f"<RemoteStream {self.name} on {self.node}>"


class RemoteSubscription:
    """A consumer's handle on its subscription to a stream of another node."""

    def __init__(self, stream: RemoteStream, ref: ActorRef[Any], group: str | None) -> None:
        self.stream = stream
        self.ref = ref
        self.group = group

    def commit(self, offset: int) -> None:
        """Mark entries through `offset` done, as `Subscription.commit`. Returns at once
        (a tell); a commit lost on the way means those entries come again, never that
        one is skipped. An invalid commit is logged on the stream's node."""
        if isinstance(offset, bool) or not isinstance(offset, int):
            raise TypeError(f"commit takes an int offset, got {type(offset).__qualname__}")
        self.stream.coordinator.tell(("commit", self.stream.name, self.ref, self.group, offset))

    def redeliver(self) -> None:
        """Tell again what was told and not committed (returns at once)."""
        self.stream.coordinator.tell(("redeliver", self.stream.name, self.ref, self.group))

    async def seek(self, offset: int, *, timeout: float = 5.0) -> None:
        """`Subscription.seek(offset)` on the stream's node."""
        await self.stream._ask(("seek", self.stream.name, self.ref, self.group, offset), timeout)

    async def cancel(self, *, timeout: float = 5.0) -> None:
        """End the subscription; a member's uncommitted entries go to the others."""
        await self.stream._ask(("cancel", self.stream.name, self.ref, self.group), timeout)

    def __repr__(self) -> str:
        group = f" group={self.group}" if self.group is not None else ""
        where = f"{self.stream.name}@{self.stream.node}"
        return f"<RemoteSubscription {where} {self.ref.address}{group}>"
