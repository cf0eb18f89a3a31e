"""Names and topics: the system's directory of actors.

Both forget an actor when it stops. Between linked nodes they span the cluster.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from actors import ActorRef
from actors.errors import NameTakenError

if TYPE_CHECKING:
    from runtime._directory.site import Site

__all__ = ("Registry", "Topics")


def check_name(name: object) -> str:
    if not isinstance(name, str) or not name or "/" in name or name.startswith("$"):
        raise ValueError(
            f"an actor name must be a non-empty str without '/' and not starting with '$'; "
            f"got {name!r}"
        )
    return name


class Registry:
    """Registered names of actors: `register`, `whereis`, `unregister`.

    A name maps to one live actor; it is dropped when that actor stops.
    """

    def __init__(self, site: Site) -> None:
        self._site = site
        self._refs: dict[str, ActorRef[Any]] = {}
        self._names: dict[ActorRef[Any], set[str]] = {}

    def register(self, name: str, ref: ActorRef[Any], scope: str = "local") -> None:
        """Name `ref`; raises `NameTakenError` if a live actor holds the name already.

        ``scope="cluster"`` makes the name visible on every linked node (needs a
        clustered system); a clash found when two parts of a cluster meet goes to the
        earlier claim, and the loser gets `NameLost`.
        """
        check_name(name)
        if scope == "cluster":
            self._site.require_cluster().register(name, ref)
            return
        if scope != "local":
            raise ValueError(f"register scope must be 'local' or 'cluster', got {scope!r}")
        holder = self._refs.get(name)
        if holder is not None:
            if holder == ref:
                return
            if holder.is_alive:
                raise NameTakenError(name, holder.address)
            self.unregister(name)
        if not ref.is_alive:
            return  # a dead actor's name would never be dropped
        self._refs[name] = ref
        self._names.setdefault(ref, set()).add(name)

    def whereis(self, name: str) -> ActorRef[Any] | None:
        """The live actor registered under `name`, or None."""
        ref = self._refs.get(name)
        cluster = self._site.cluster_directory
        if ref is None and cluster is not None:
            ref = cluster.whereis(name)
        if ref is not None and not ref.is_alive:
            return None
        return ref

    def unregister(self, name: str) -> None:
        cluster = self._site.cluster_directory
        if cluster is not None:
            cluster.unregister(name)
        ref = self._refs.pop(name, None)
        if ref is not None:
            names = self._names.get(ref)
            if names is not None:
                names.discard(name)
                if not names:
                    del self._names[ref]

    def names(self) -> dict[str, ActorRef[Any]]:
        """A snapshot of every registered name."""
        return {name: ref for name, ref in self._refs.items() if ref.is_alive}

    def forget(self, ref: ActorRef[Any]) -> None:
        if not self._names:
            return  # nothing named: no ref to hash (every actor's stop calls this)
        for name in self._names.pop(ref, ()):
            if self._refs.get(name) == ref:
                del self._refs[name]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.whereis(name) is not None


class Topics:
    """Publish-subscribe: `subscribe(topic, ref)`, `publish(topic, msg) -> int`.

    Every subscriber gets its own copy, in publish order; stopped subscribers drop out.
    """

    def __init__(self, site: Site) -> None:
        self._site = site
        # dicts as ordered sets: subscribers are told in the order they subscribed.
        self._subscribers: dict[str, dict[ActorRef[Any], None]] = {}
        self._topics: dict[ActorRef[Any], set[str]] = {}

    def subscribe(self, topic: str, ref: ActorRef[Any]) -> None:
        """Tell `ref` every message published on `topic`, here or on any linked node."""
        if not ref.is_alive:
            return
        subscribers = self._subscribers.setdefault(topic, {})
        first = not subscribers
        subscribers[ref] = None
        self._topics.setdefault(ref, set()).add(topic)
        cluster = self._site.cluster_directory
        if first and cluster is not None:
            cluster.local_topic_changed(topic, True)

    def unsubscribe(self, topic: str, ref: ActorRef[Any]) -> None:
        self._drop(topic, ref)
        topics = self._topics.get(ref)
        if topics is not None:
            topics.discard(topic)
            if not topics:
                del self._topics[ref]

    def publish(self, topic: str, message: Any) -> int:
        """Tell `message` to every subscriber of `topic`; returns how many were reached.

        Across a cluster, one frame goes to each node with subscribers (each such node
        counts once in the result, however many subscribers it has).
        """
        reached = self.publish_local(topic, message)
        cluster = self._site.cluster_directory
        if cluster is not None:
            reached += cluster.publish_remote(topic, message)
        return reached

    def publish_local(self, topic: str, message: Any) -> int:
        """Tell `message` to this node's subscribers of `topic` only."""
        subscribers = self._subscribers.get(topic)
        if not subscribers:
            return 0
        for ref in list(subscribers):
            ref.tell(message)
        return len(subscribers)

    def subscribers(self, topic: str) -> list[ActorRef[Any]]:
        return list(self._subscribers.get(topic, ()))

    def has_subscribers(self, topic: str) -> bool:
        return bool(self._subscribers.get(topic))

    def local_topics(self) -> list[str]:
        return list(self._subscribers)

    def forget(self, ref: ActorRef[Any]) -> None:
        if not self._topics:
            return  # no subscriptions: no ref to hash (every actor's stop calls this)
        for topic in self._topics.pop(ref, ()):
            self._drop(topic, ref)

    def _drop(self, topic: str, ref: ActorRef[Any]) -> None:
        subscribers = self._subscribers.get(topic)
        if subscribers is not None:
            subscribers.pop(ref, None)
            if not subscribers:
                del self._subscribers[topic]
                cluster = self._site.cluster_directory
                if cluster is not None:
                    cluster.local_topic_changed(topic, False)
