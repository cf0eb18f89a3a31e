"""`Site`: what the registry, topics and exchanges need of the system around them.

The directory imports nothing above it; the system's host satisfies `Site`, and the
cluster (when the system is a node) satisfies `ClusterDirectory`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from actors import ActorRef

__all__ = ("ClusterDirectory", "Site")


class ClusterDirectory(Protocol):
    """The cluster's side of names and topics: what spans the linked nodes."""

    def register(self, name: str, ref: ActorRef[Any]) -> None: ...
    def whereis(self, name: str) -> ActorRef[Any] | None: ...
    def unregister(self, name: str) -> None: ...

    def local_topic_changed(self, topic: str, subscribed: bool) -> None:
        """This node gained its first (or lost its last) subscriber of `topic`."""
        ...

    def publish_remote(self, topic: str, message: Any) -> int:
        """Send `message` to every other node with subscribers; how many nodes."""
        ...


class Site(Protocol):
    """The system, as its directory sees it."""

    @property
    def cluster_directory(self) -> ClusterDirectory | None:
        """The cluster's names and topics; None when the system is not a node."""
        ...

    def require_cluster(self) -> ClusterDirectory:
        """The cluster, or `RuntimeError` saying the system is not a node."""
        ...

    def dead_letter(self, message: Any, recipient: str, reason: str) -> None: ...

    def is_local(self, ref: ActorRef[Any]) -> bool:
        """Whether `ref` is an actor of this system (its bindings drop by themselves)."""
        ...

    def spawn_top(self, factory: Any, *args: Any) -> ActorRef[Any]:
        """Start a top-level actor of the system (a watcher the directory needs)."""
        ...
