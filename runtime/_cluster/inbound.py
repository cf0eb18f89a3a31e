"""Where each frame a link reads goes: the cluster's `LinkHandler`.

One method per frame type, each handing the frame to the part of the cluster that owns
it (delivery, watches, spawn, names, membership). Read with `FRAME_HANDLERS` in
`runtime._cluster.link`: together they are the whole inbound side of the protocol.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from runtime._cluster.credits import on_credit
from runtime._cluster.delivery import RemoteDelivery
from runtime._cluster.membership import Membership
from runtime._cluster.names import ClusterNames
from runtime._cluster.spawning import RemoteSpawner
from runtime._cluster.watches import RemoteWatches
from runtime._engine.kernel import Kernel
from runtime._wire import framing as wire

if TYPE_CHECKING:
    from runtime._cluster.link import Link

__all__ = ("Inbound",)


class Inbound:
    """The cluster's `LinkHandler`: frames in, to the part that owns them."""

    node: str

    def __init__(
        self,
        delivery: RemoteDelivery,
        watches: RemoteWatches,
        spawner: RemoteSpawner,
        names: ClusterNames,
        membership: Membership,
        closed: Callable[[Link, str], None],
    ) -> None:
        self.delivery = delivery
        self.watches = watches
        self.spawner = spawner
        self.names = names
        self.membership = membership
        self._closed = closed
        # The hot frames go straight to their owner's method (no call in between).
        self.on_tell = delivery.on_tell
        self.on_tell_many = delivery.on_tell_many
        self.on_ask = delivery.on_ask
        self.on_reply = delivery.on_reply
        self.on_send = delivery.on_send
        self.on_send_many = delivery.on_send_many
        self.on_credit = on_credit
        self.unsent = delivery.unsent
        self.reply_frame = delivery.reply_frame  # every answer to a remote ask
        self.error_to_wire = delivery.error_to_wire

    @property
    def kernel(self) -> Kernel:
        return self.delivery.kernel

    def on_watch(self, link: Link, frame: wire.Watch) -> None:
        self.watches.on_watch(link, frame)

    def on_unwatch(self, link: Link, frame: wire.Unwatch) -> None:
        self.watches.on_unwatch(link, frame)

    def on_terminated(self, link: Link, frame: wire.Terminated) -> None:
        self.watches.on_terminated(link, frame)

    def on_spawn(self, link: Link, frame: wire.Spawn) -> None:
        self.spawner.on_spawn(link, frame)

    def on_spawned(self, link: Link, frame: wire.Spawned) -> None:
        self.spawner.on_spawned(link, frame)

    def on_registry_update(self, link: Link, frame: wire.RegistryUpdate) -> None:
        self.names.on_registry_update(link, frame)

    def on_topic_interest(self, link: Link, frame: wire.TopicInterest) -> None:
        self.names.on_topic_interest(link, frame)

    def on_topic_publish(self, link: Link, frame: wire.TopicPublish) -> None:
        self.names.on_topic_publish(link, frame)

    def on_members(self, link: Link, frame: wire.Members) -> None:
        self.membership.on_members(link, frame)

    def link_closed(self, link: Link, reason: str) -> None:
        self._closed(link, reason)
