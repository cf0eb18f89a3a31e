"""What the node processes of the cross-node stream tests run: a consumer that
subscribes to a stream of another node through its own node, and commits there."""

from __future__ import annotations

from typing import Any

from actors import Actor, ActorRef, StreamEntry
from runtime import RemoteSubscription


class RemoteConsumer(Actor[Any]):
    """Joins `group` on `stream` of `node` in on_start; reports each entry it gets to
    `report` as ``(its address, offset, message)`` and, if `commits`, commits it."""

    def __init__(
        self, node: str, stream: str, group: str, report: ActorRef[Any], commits: bool,
        ack_timeout: float | None = None,
    ) -> None:
        self.node, self.stream, self.group = node, stream, group
        self.report, self.commits, self.ack_timeout = report, commits, ack_timeout
        self.subscription: RemoteSubscription | None = None

    async def on_start(self) -> None:
        remote = await self.context.system.streams.remote(self.stream, self.node)
        self.subscription = await remote.subscribe(
            self.context.ref, self.group, start="earliest", ack_timeout=self.ack_timeout
        )

    def receive(self, message: Any) -> Any:
        if message == "ready?":
            return "ready"
        assert isinstance(message, StreamEntry) and self.subscription is not None
        self.report.tell((self.context.ref.address, message.offset, message.message))
        if self.commits:
            self.subscription.commit(message.offset)
        return None


def app(system: Any) -> None:
    """Nothing to start: the tests spawn `RemoteConsumer`s here from the test node."""
    return None
