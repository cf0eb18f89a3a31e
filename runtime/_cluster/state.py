"""What the cluster keeps about other nodes: watches, names, topic interest.

Split from `runtime._cluster.cluster` (links and membership) so each file says one thing.
Every table here drops a node's entries when it goes down.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from actors import ActorRef
from actors.errors import NameTakenError, NodeDownError
from actors.messages import NameLost, NodeUp, Terminated
from runtime._cluster.refs import RemoteRef, error_from_wire, error_to_wire, ref_text
from runtime._engine.kernel import Kernel
from runtime._wire import framing as wire

if TYPE_CHECKING:
    from runtime._cluster.link import Link
    from runtime._engine.state import CellState
    from runtime._system import ActorSystem
    from runtime._wire.codec import Codec

__all__ = ("ClusterState",)

log = logging.getLogger("repertory.cluster")


class ClusterState:
    node: str
    kernel: Kernel
    codec: Codec
    links: dict[str, Link]

    def __init__(self, system: ActorSystem) -> None:
        self.system = system
        # Local actors whose refs left this node, by uid: frames name actors by uid.
        self.exported: dict[int, CellState] = {}
        # Local cells watching remote actors, and the reverse, to clean up either way.
        self.remote_watchers: dict[tuple[str, int], set[CellState]] = {}
        self.watching_remote: dict[CellState, set[tuple[str, int]]] = {}
        # Remote watchers of local actors: uid -> {(node, watcher ref text)}.
        self.watched_by: dict[int, set[tuple[str, str]]] = {}
        # Cluster-wide names: name -> (ref, stamp, owning node).
        self.names: dict[str, tuple[ActorRef[Any], int, str]] = {}
        # Topics that have subscribers on other nodes: topic -> nodes.
        self.interest: dict[str, set[str]] = {}
        self.subscribers: dict[ActorRef[Any], None] = {}
        # Remote spawns that failed: (node, uid) -> the error (see `remote.py`).
        self.spawn_failures: dict[tuple[str, int], BaseException] = {}

    @property
    def members(self) -> frozenset[str]:
        raise NotImplementedError

    def broadcast(self, frame: wire.Frame) -> None:
        raise NotImplementedError

    def ref_for(self, node: str, uid: int, name: str | None) -> ActorRef[Any]:
        raise NotImplementedError

    def ref_to_text(self, ref: ActorRef[Any] | None) -> str | None:
        raise NotImplementedError

    # -- membership events -------------------------------------------------------------

    def subscribe(self, ref: ActorRef[Any]) -> None:
        """Send `ref` NodeUp / NodeDown as members come and go (NodeUp for each now)."""
        self.subscribers[ref] = None
        for node in sorted(self.members):
            ref.tell(NodeUp(node))

    def unsubscribe(self, ref: ActorRef[Any]) -> None:
        self.subscribers.pop(ref, None)

    def notify(self, message: Any) -> None:
        for ref in list(self.subscribers):
            if ref.is_alive:
                ref.tell(message)
            else:
                self.subscribers.pop(ref, None)

    def node_down(self, peer: str, reason: str) -> None:
        """Forget what `peer` held and tell whoever watched its actors."""
        error = NodeDownError(peer, reason)
        for key in [key for key in self.remote_watchers if key[0] == peer]:
            for watcher in self.remote_watchers.pop(key):
                keys = self.watching_remote.get(watcher)
                if keys is not None:
                    keys.discard(key)
                watcher.ref.tell(Terminated(self.ref_for(peer, key[1], None), error))
        for name in [name for name, entry in self.names.items() if entry[2] == peer]:
            del self.names[name]
        for nodes in self.interest.values():
            nodes.discard(peer)
        for watchers in self.watched_by.values():
            watchers.difference_update({entry for entry in watchers if entry[0] == peer})
        exchanges = self.system._exchanges  # None until the first exchange
        if exchanges is not None:
            exchanges.forget_node(peer)  # now, before any publish could route there

    # -- watches across nodes ------------------------------------------------------------

    def add_remote_watch(self, watcher: CellState, ref: RemoteRef[Any]) -> None:
        key = (ref.node, ref.uid)
        self.remote_watchers.setdefault(key, set()).add(watcher)
        self.watching_remote.setdefault(watcher, set()).add(key)

    def unwatch_remote(self, watcher: CellState, ref: ActorRef[Any]) -> None:
        ref = ref._unwrap()
        if not isinstance(ref, RemoteRef):
            return
        key = (ref.node, ref.uid)
        watchers = self.remote_watchers.get(key)
        if watchers is not None:
            watchers.discard(watcher)
            if not watchers:
                del self.remote_watchers[key]
        self.watching_remote.get(watcher, set()).discard(key)
        link = self.links.get(ref.node)
        if link is not None:
            link.send(wire.Unwatch(ref.uid, ref_text(self.node, watcher.uid, watcher.name)))

    def watched(self, link: Link, frame: wire.Watch) -> None:
        cell = self.exported.get(frame.target) if isinstance(frame.target, int) else None
        if cell is None or not cell.alive:
            reason = "stopped" if cell is None else "stopping"
            link.send(wire.Terminated(frame.target, reason))
            return
        self.watched_by.setdefault(cell.uid, set()).add((link.peer, frame.watcher))

    def unwatched(self, link: Link, frame: wire.Unwatch) -> None:
        if isinstance(frame.target, int):
            self.watched_by.get(frame.target, set()).discard((link.peer, frame.watcher))

    def remote_terminated(self, peer: str, frame: wire.Terminated) -> None:
        if not isinstance(frame.target, int):
            return
        key = (peer, frame.target)
        reason = None if frame.error is None else error_from_wire(f"{peer}/${key[1]}", frame.error)
        for watcher in self.remote_watchers.pop(key, ()):
            keys = self.watching_remote.get(watcher)
            if keys is not None:
                keys.discard(key)
            watcher.ref.tell(Terminated(self.ref_for(peer, frame.target, None), reason))

    def local_terminated(self, cell: CellState) -> None:
        """A local actor stopped: drop its names, tell remote watchers, drop its watches.

        Names go first: frames on a link keep their order, so a watcher that hears of
        the death finds the name already gone.
        """
        for name in [name for name, entry in self.names.items() if entry[0] == cell.ref]:
            del self.names[name]
            self.broadcast(wire.RegistryUpdate([wire.RegistryEntry(name, None)]))
        self.exported.pop(cell.uid, None)
        remote = self.watched_by.pop(cell.uid, None)
        if remote:
            reason = cell.stop_reason
            error = None if reason is None else error_to_wire(reason)
            frame = wire.Terminated(cell.uid, "normal" if reason is None else "failed", error)
            for node in {node for node, _ in remote}:
                link = self.links.get(node)
                if link is not None:
                    link.send(frame)
        for key in self.watching_remote.pop(cell, ()):
            watchers = self.remote_watchers.get(key)
            if watchers is not None:
                watchers.discard(cell)

    # -- cluster-wide names -----------------------------------------------------------------

    def register(self, name: str, ref: ActorRef[Any]) -> None:
        current = self.names.get(name)
        if current is not None and current[0] != ref and current[0].is_alive:
            raise NameTakenError(name, current[0].address)
        stamp = time.time_ns() // 1000
        self.names[name] = (ref, stamp, self.node)
        text = self.ref_to_text(ref)
        self.broadcast(wire.RegistryUpdate([wire.RegistryEntry(name, text, stamp)]))

    def unregister(self, name: str) -> None:
        entry = self.names.get(name)
        if entry is not None and entry[2] == self.node:
            del self.names[name]
            self.broadcast(wire.RegistryUpdate([wire.RegistryEntry(name, None)]))

    def whereis(self, name: str) -> ActorRef[Any] | None:
        entry = self.names.get(name)
        return None if entry is None else entry[0]

    def registry_snapshot(self) -> wire.RegistryUpdate:
        entries = [
            wire.RegistryEntry(name, self.ref_to_text(ref), stamp)
            for name, (ref, stamp, owner) in self.names.items()
            if owner == self.node
        ]
        return wire.RegistryUpdate(entries, full=True)

    def registry_updated(self, peer: str, frame: wire.RegistryUpdate) -> None:
        if frame.full:
            listed = {entry.name for entry in frame.entries}
            for name in [n for n, e in self.names.items() if e[2] == peer and n not in listed]:
                del self.names[name]
        for entry in frame.entries:
            current = self.names.get(entry.name)
            if entry.actor is None:
                if current is not None and current[2] == peer:
                    del self.names[entry.name]
                continue
            from runtime._cluster.refs import parse_ref_text

            claim = (self.ref_for(*parse_ref_text(entry.actor)), entry.stamp, peer)
            if current is None or current[0] == claim[0]:
                self.names[entry.name] = claim
                continue
            # Two claims meet (partitions healing): every node keeps the earlier one
            # (then the smaller node name), and the loser's own node tells the loser.
            winner, loser = sorted([current, claim], key=lambda c: (c[1], c[2]))
            self.names[entry.name] = winner
            if loser[2] == self.node:
                log.warning("%s: name %r goes to %s", self.node, entry.name, winner[0])
                loser[0].tell(NameLost(entry.name, winner[0]))

    # -- topics across nodes ------------------------------------------------------------------

    def local_topics(self) -> list[str]:
        return self.system.topics.local_topics()

    def local_topic_changed(self, topic: str, subscribed: bool) -> None:
        frame = wire.TopicInterest(subscribe=[topic]) if subscribed else wire.TopicInterest(
            unsubscribe=[topic]
        )
        self.broadcast(frame)

    def topic_interest(self, peer: str, frame: wire.TopicInterest) -> None:
        if frame.full:
            for nodes in self.interest.values():
                nodes.discard(peer)
        for topic in frame.subscribe:
            self.interest.setdefault(topic, set()).add(peer)
        for topic in frame.unsubscribe:
            self.interest.get(topic, set()).discard(peer)

    def publish_remote(self, topic: str, message: Any) -> int:
        """One frame per interested node, not per subscriber; returns the nodes reached."""
        nodes = self.interest.get(topic)
        if not nodes:
            return 0
        frame = wire.TopicPublish(topic, self.codec.encode(message))
        reached = 0
        for node in list(nodes):
            link = self.links.get(node)
            if link is not None and link.send(frame):
                reached += 1
        return reached

    def topic_published(self, frame: wire.TopicPublish) -> None:
        try:
            message = self.codec.decode(frame.payload)
        except Exception as error:
            self.system.dead_letter(frame.payload, f"topic {frame.topic}", str(error))
            return
        self.system.topics.publish_local(frame.topic, message)

    # -- what other nodes may ask of this one ---------------------------------------------------

    def system_ask(self, target: str, payload: bytes, slot: Any) -> None:
        try:
            argument = self.codec.decode(payload)
            if target == "$lookup":
                slot.set_result(self.system.registry.whereis(argument))
            elif target == "$snapshot":
                slot.set_result(self.system.snapshot())
            elif target == "$members":
                from runtime._cluster.members import describe_members

                slot.set_result(describe_members(self))
            elif target == "$stop":
                cell = self.exported.get(argument)
                if cell is not None:
                    self.system.stop(cell.ref)
                slot.set_result(cell is not None)
            elif target == "$ping":
                slot.set_result(self.node)
            else:
                raise ValueError(f"no system service {target!r} on {self.node}")
        except Exception as error:
            slot.set_exception(error)
