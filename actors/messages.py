"""Messages the runtime itself sends to actors and topics.

They are `msgspec.Struct`s like user messages, so they cross nodes the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from actors._ref import ActorRef

__all__ = ("DeadLetter", "NameLost", "NodeDown", "NodeUp", "StreamEntry", "Terminated")


class Terminated(msgspec.Struct, frozen=True):
    """A watched actor stopped.

    `reason` is None when it stopped normally (asked to stop, or its system shut down)
    and the exception when it failed. Delivered after every message that the stopped
    actor sent to the watcher before it stopped.
    """

    ref: ActorRef[Any]
    reason: BaseException | None = None


class DeadLetter(msgspec.Struct, frozen=True):
    """A message that reached no actor: published on the topic ``dead_letters``."""

    message: Any
    recipient: str
    reason: str


class NodeUp(msgspec.Struct, frozen=True):
    """A node joined the cluster (or came back); sent to `cluster.subscribe`rs."""

    node: str


class NodeDown(msgspec.Struct, frozen=True):
    """A node left, its link closed, or the failure detector gave up on it."""

    node: str
    reason: str = ""


class NameLost(msgspec.Struct, frozen=True):
    """Sent to an actor whose cluster-wide name went to another actor when two parts of
    the cluster met with the same name registered on both (the earlier claim wins)."""

    name: str
    winner: ActorRef[Any]


class StreamEntry(msgspec.Struct, frozen=True):
    """One entry of a stream, told to its subscribers (see `system.streams`).

    `offset` numbers it within the stream `stream`, from 0 in append order; commit it
    on the subscription once handled. The same entry may arrive again (a group member
    left before committing it, a seek, a restart): handle it idempotently.
    """

    stream: str
    offset: int
    message: Any
