"""Watches across nodes: local actors watching remote ones, and the reverse.

A local watcher of a remote actor gets `Terminated(ref, reason)` when that actor stops
(its node sends a `Terminated` frame) or when its node goes down
(`reason=NodeDownError`). A remote watcher of a local actor is told by frame when the
actor stops. Every table here drops a node's entries when it goes down.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from actors import ActorRef
from actors.errors import NodeDownError
from actors.lowlevel import unwrap
from actors.messages import Terminated
from runtime._cluster.delivery import RemoteDelivery
from runtime._cluster.host import LocalActor
from runtime._cluster.refs import RemoteRef, ref_text
from runtime._wire import framing as wire

if TYPE_CHECKING:
    from runtime._cluster.link import Link

__all__ = ("RemoteWatches",)

_Key = tuple[str, int]  # (node, uid) of a remote actor


class RemoteWatches:
    """Who watches whom across links."""

    def __init__(self, delivery: RemoteDelivery) -> None:
        self.delivery = delivery
        self.links = delivery.links
        # Local cells watching remote actors, and the reverse, to clean up either way.
        self.remote_watchers: dict[_Key, set[LocalActor]] = {}
        self.watching_remote: dict[LocalActor, set[_Key]] = {}
        # Remote watchers of local actors: uid -> {(node, watcher ref text)}.
        self.watched_by: dict[int, set[tuple[str, str]]] = {}

    # -- local watchers of remote actors -------------------------------------------------

    def watch(self, watcher: LocalActor, ref: ActorRef[Any]) -> None:
        """`watcher` watches the remote actor `ref` (Terminated at once if not linked)."""
        ref = unwrap(ref)
        if not isinstance(ref, RemoteRef):
            raise ValueError(f"{ref!r} is neither local nor remote")
        link = self.links.get(ref.node)
        if link is None:
            watcher.ref.tell(Terminated(ref, NodeDownError(ref.node, "not linked")))
            return
        key = (ref.node, ref.uid)
        self.remote_watchers.setdefault(key, set()).add(watcher)
        self.watching_remote.setdefault(watcher, set()).add(key)
        link.send(wire.Watch(ref.uid, ref_text(self.delivery.node, watcher.uid, watcher.name)))

    def unwatch(self, watcher: LocalActor, ref: ActorRef[Any]) -> None:
        ref = unwrap(ref)
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
            text = ref_text(self.delivery.node, watcher.uid, watcher.name)
            link.send(wire.Unwatch(ref.uid, text))

    def on_terminated(self, link: Link, frame: wire.Terminated) -> None:
        if not isinstance(frame.target, int):
            return
        peer = link.peer
        reason = (
            None if frame.error is None
            else self.delivery.codec.error_from_wire(f"{peer}/${frame.target}", frame.error)
        )
        self._tell_watchers((peer, frame.target), reason)

    def _tell_watchers(self, key: _Key, reason: BaseException | None) -> None:
        ref = self.delivery.ref_for(key[0], key[1], None)
        for watcher in self.remote_watchers.pop(key, ()):
            keys = self.watching_remote.get(watcher)
            if keys is not None:
                keys.discard(key)
            watcher.ref.tell(Terminated(ref, reason))

    # -- remote watchers of local actors ---------------------------------------------------

    def on_watch(self, link: Link, frame: wire.Watch) -> None:
        cell = self.delivery.exported.get(frame.target) if isinstance(frame.target, int) else None
        if cell is None or not cell.alive:
            reason = "stopped" if cell is None else "stopping"
            link.send(wire.Terminated(frame.target, reason))
            return
        self.watched_by.setdefault(cell.uid, set()).add((link.peer, frame.watcher))

    def on_unwatch(self, link: Link, frame: wire.Unwatch) -> None:
        if isinstance(frame.target, int):
            watchers = self.watched_by.get(frame.target)
            if watchers is not None:
                watchers.discard((link.peer, frame.watcher))
                if not watchers:
                    del self.watched_by[frame.target]

    def local_terminated(self, cell: LocalActor) -> None:
        """A local actor stopped: tell its remote watchers, drop what it watched."""
        remote = self.watched_by.pop(cell.uid, None)
        if remote:
            reason = cell.stop_reason
            error = None if reason is None else self.delivery.codec.error_to_wire(reason)
            frame = wire.Terminated(cell.uid, "normal" if reason is None else "failed", error)
            for node in {node for node, _ in remote}:
                link = self.links.get(node)
                if link is not None:
                    link.send(frame)
        for key in self.watching_remote.pop(cell, ()):
            watchers = self.remote_watchers.get(key)
            if watchers is not None:
                watchers.discard(cell)

    def node_down(self, peer: str, reason: str) -> None:
        """`peer` went down: its actors' watchers get Terminated; its watches end."""
        error = NodeDownError(peer, reason)
        for key in [key for key in self.remote_watchers if key[0] == peer]:
            self._tell_watchers(key, error)
        # Its watches of local actors go, and entries left empty with them: the table
        # holds only what linked peers watch.
        for uid, watchers in list(self.watched_by.items()):
            watchers.difference_update({entry for entry in watchers if entry[0] == peer})
            if not watchers:
                del self.watched_by[uid]
