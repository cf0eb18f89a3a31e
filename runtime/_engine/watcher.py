"""`StopWatcher`: call a function when actors (usually on other nodes) stop.

A local actor's stop is seen by the system when its cell terminates; a remote one's
only by watching it. Layers that keep refs (exchange bindings, stream subscriptions)
hand each remote ref they keep to a `StopWatcher`; it spawns one small actor on first
use that watches every ref it is given and calls `on_stopped(ref)` once for each when
it stops or its node goes down (the `Terminated` a watch brings in both cases).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from actors import Actor, ActorRef
from actors.messages import Terminated

__all__ = ("StopWatcher",)


class StopWatcher:
    """Watches refs through one lazily spawned actor; see the module docstring.

    `spawn` starts the watching actor (``system.spawn``); `on_stopped` runs inside
    that actor, one call at a time, in the order the refs stopped.
    """

    def __init__(
        self,
        spawn: Callable[..., ActorRef[Any]],
        on_stopped: Callable[[ActorRef[Any]], None],
    ) -> None:
        self._spawn = spawn
        self._on_stopped = on_stopped
        self._actor: ActorRef[Any] | None = None

    def watch(self, ref: ActorRef[Any]) -> None:
        """Call `on_stopped(ref)` when `ref` stops (watching the same ref twice is one)."""
        if self._actor is None or not self._actor.is_alive:
            self._actor = self._spawn(_Watching, self._on_stopped)
        self._actor.tell(ref)


class _Watching(Actor[Any]):
    """Watches each ref it is told; calls `on_stopped` when one stops."""

    def __init__(self, on_stopped: Callable[[ActorRef[Any]], None]) -> None:
        self.on_stopped = on_stopped
        self.watched: set[ActorRef[Any]] = set()

    def receive(self, message: Any) -> None:
        if isinstance(message, Terminated):
            self.watched.discard(message.ref)
            self.on_stopped(message.ref)
        elif isinstance(message, ActorRef) and message not in self.watched:
            self.watched.add(message)
            self.context.watch(message)
