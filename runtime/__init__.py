"""The engine that runs actors: `ActorSystem`, its registry, topics and streams, and `run`."""

from __future__ import annotations

from runtime._directory.registry import Registry as Registry
from runtime._directory.registry import Topics as Topics
from runtime._engine.snapshot import ActorInfo as ActorInfo
from runtime._run import run as run
from runtime._streams import RemoteStream as RemoteStream
from runtime._streams import RemoteSubscription as RemoteSubscription
from runtime._streams import Stream as Stream
from runtime._streams import Streams as Streams
from runtime._streams import Subscription as Subscription
from runtime._system import ActorSystem as ActorSystem

__all__ = (
    "ActorInfo", "ActorSystem", "Registry", "RemoteStream", "RemoteSubscription", "Stream",
    "Streams", "Subscription", "Topics", "run",
)
