"""Messages the runtime itself sends to actors and topics.

They are `msgspec.Struct`s like user messages, so they cross nodes the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from actors._ref import ActorRef

__all__ = ("DeadLetter", "Terminated")


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
