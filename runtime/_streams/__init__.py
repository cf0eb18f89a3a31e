"""Streams: append-only logs with offsets, replay and consumer groups (`system.streams`).

The layer's whole contract with the system that hosts it is `StreamHost`
(`runtime._streams.host`); nothing here imports the system. Modules, bottom up:
`record` (the record format), `index`, `segment`, `recovery`, `retention` and `log`
(entries on disk or in memory), `delivery` and `groups` (who is told what), `stream`,
`remote` (consumers on other nodes) and `streams` (``system.streams``).
"""

from __future__ import annotations

from runtime._streams.delivery import Subscription as Subscription
from runtime._streams.host import StreamHost as StreamHost
from runtime._streams.remote import RemoteStream as RemoteStream
from runtime._streams.remote import RemoteSubscription as RemoteSubscription
from runtime._streams.stream import Stream as Stream
from runtime._streams.streams import Streams as Streams

__all__ = (
    "RemoteStream", "RemoteSubscription", "Stream", "StreamHost", "Streams", "Subscription",
)
