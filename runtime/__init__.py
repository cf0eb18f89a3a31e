"""The engine that runs actors: `ActorSystem`, its registry and topics, and `run`."""

from __future__ import annotations

from runtime._registry import Registry as Registry
from runtime._registry import Topics as Topics
from runtime._run import run as run
from runtime._snapshot import ActorInfo as ActorInfo
from runtime._system import ActorSystem as ActorSystem

__all__ = ("ActorInfo", "ActorSystem", "Registry", "Topics", "run")
