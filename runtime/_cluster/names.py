"""Cluster-wide names and topic interest: what the directory spans across nodes.

`registry.register(name, ref, scope="cluster")` and `topics` call into `ClusterNames`.
Names spread by `RegistryUpdate` frames, topic interest by `TopicInterest` frames; a
publish sends one frame to each node with subscribers. Both forget a node when it goes
down.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from actors import ActorRef
from actors.errors import NameTakenError
from actors.messages import NameLost
from runtime._cluster.delivery import RemoteDelivery
from runtime._cluster.refs import parse_ref_text
from runtime._wire import framing as wire

if TYPE_CHECKING:
    from runtime._cluster.link import Link

__all__ = ("ClusterNames",)

log = logging.getLogger("repertory.cluster")

_Claim = tuple[ActorRef[Any], int, str]  # (ref, stamp, owning node)


class ClusterNames:
    """Cluster-wide names and the topics other nodes subscribe to."""

    def __init__(self, delivery: RemoteDelivery) -> None:
        self.delivery = delivery
        self.links = delivery.links
        self.names: dict[str, _Claim] = {}
        # Topics that have subscribers on other nodes: topic -> nodes.
        self.interest: dict[str, set[str]] = {}

    def broadcast(self, frame: wire.Frame) -> None:
        for link in list(self.links.values()):
            link.send(frame)

    # -- names -------------------------------------------------------------------------

    def register(self, name: str, ref: ActorRef[Any]) -> None:
        current = self.names.get(name)
        if current is not None and current[0] != ref and current[0].is_alive:
            raise NameTakenError(name, current[0].address)
        stamp = time.time_ns() // 1000
        self.names[name] = (ref, stamp, self.delivery.node)
        text = self.delivery.ref_to_text(ref)
        self.broadcast(wire.RegistryUpdate([wire.RegistryEntry(name, text, stamp)]))

    def unregister(self, name: str) -> None:
        entry = self.names.get(name)
        if entry is not None and entry[2] == self.delivery.node:
            del self.names[name]
            self.broadcast(wire.RegistryUpdate([wire.RegistryEntry(name, None)]))

    def whereis(self, name: str) -> ActorRef[Any] | None:
        entry = self.names.get(name)
        return None if entry is None else entry[0]

    def local_terminated(self, ref: ActorRef[Any]) -> None:
        """A local actor stopped: its cluster names leave every node."""
        for name in [name for name, entry in self.names.items() if entry[0] == ref]:
            del self.names[name]
            self.broadcast(wire.RegistryUpdate([wire.RegistryEntry(name, None)]))

    def snapshot(self) -> wire.RegistryUpdate:
        """This node's own names, for a peer that just linked."""
        node = self.delivery.node
        entries = [
            wire.RegistryEntry(name, self.delivery.ref_to_text(ref), stamp)
            for name, (ref, stamp, owner) in self.names.items()
            if owner == node
        ]
        return wire.RegistryUpdate(entries, full=True)

    def on_registry_update(self, link: Link, frame: wire.RegistryUpdate) -> None:
        peer = link.peer
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
            claim = (self.delivery.ref_for(*parse_ref_text(entry.actor)), entry.stamp, peer)
            if current is None or current[0] == claim[0]:
                self.names[entry.name] = claim
            else:
                self._settle(entry.name, current, claim)

    def _settle(self, name: str, current: _Claim, claim: _Claim) -> None:
        # Two claims meet (partitions healing): every node keeps the earlier one (then
        # the smaller node name), and the loser's own node tells the loser.
        winner, loser = sorted([current, claim], key=lambda c: (c[1], c[2]))
        self.names[name] = winner
        if loser[2] == self.delivery.node:
            log.warning("%s: name %r goes to %s", self.delivery.node, name, winner[0])
            loser[0].tell(NameLost(name, winner[0]))

    # -- topics ------------------------------------------------------------------------

    def local_topic_changed(self, topic: str, subscribed: bool) -> None:
        """A topic got its first local subscriber, or lost its last."""
        frame = wire.TopicInterest(subscribe=[topic]) if subscribed else wire.TopicInterest(
            unsubscribe=[topic]
        )
        self.broadcast(frame)

    def on_topic_interest(self, link: Link, frame: wire.TopicInterest) -> None:
        peer = link.peer
        if frame.full:
            self._forget_interest(peer)
        for topic in frame.subscribe:
            self.interest.setdefault(topic, set()).add(peer)
        for topic in frame.unsubscribe:
            nodes = self.interest.get(topic)
            if nodes is not None:
                nodes.discard(peer)
                if not nodes:
                    del self.interest[topic]

    def _forget_interest(self, peer: str) -> None:
        """Drop `peer` from every topic, and topics nobody wants any more: the table
        holds only what linked peers want, whatever a peer sent before it left."""
        interest = self.interest
        for topic in [topic for topic, nodes in interest.items() if peer in nodes]:
            nodes = interest[topic]
            nodes.discard(peer)
            if not nodes:
                del interest[topic]

    def publish_remote(self, topic: str, message: Any) -> int:
        """One frame per interested node, not per subscriber; returns the nodes reached."""
        nodes = self.interest.get(topic)
        if not nodes:
            return 0
        frame = wire.TopicPublish(topic, self.delivery.codec.encode(message))
        reached = 0
        for node in list(nodes):
            link = self.links.get(node)
            if link is not None and link.send(frame):
                reached += 1
        return reached

    def on_topic_publish(self, link: Link, frame: wire.TopicPublish) -> None:
        host = self.delivery.host
        try:
            message = self.delivery.codec.decode(frame.payload)
        except Exception as error:
            host.dead_letter(frame.payload, f"topic {frame.topic}", str(error))
            return
        host.publish_local(frame.topic, message)

    # -- links -------------------------------------------------------------------------

    def node_up(self, link: Link) -> None:
        """Tell a newly linked peer this node's names and topics."""
        link.send(self.snapshot())
        link.send(wire.TopicInterest(subscribe=self.delivery.host.local_topics(), full=True))

    def node_down(self, peer: str) -> None:
        for name in [name for name, entry in self.names.items() if entry[2] == peer]:
            del self.names[name]
        self._forget_interest(peer)
