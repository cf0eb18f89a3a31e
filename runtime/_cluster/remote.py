"""Remote delivery: refs that cross nodes, tells and asks, remote spawn and watches.

The half of `runtime._cluster.cluster.Cluster` that carries messages over links that exist;
`Cluster` itself makes and keeps the links. Split so each file says one thing.
"""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING, Any

from actors import Actor, ActorRef
from actors.errors import ActorStoppedError, NodeDownError, SerializationError
from actors.messages import Terminated
from runtime._cluster.refs import (
    RemoteRef,
    error_from_wire,
    error_to_wire,
    parse_ref_text,
    ref_text,
    target_address,
)
from runtime._cluster.state import ClusterState
from runtime._engine.local_ref import LocalRef
from runtime._wire import framing as wire
from runtime._wire.codec import qualified_name

if TYPE_CHECKING:
    from runtime._cluster.link import Link
    from runtime._engine.cell import Cell

__all__ = ("ClusterRemote",)

log = logging.getLogger("repertory.cluster")


class ClusterRemote(ClusterState):
    """Messages to and from actors on linked nodes (`Cluster` adds the links)."""

    def is_linked(self, node: str) -> bool:
        raise NotImplementedError

    def learn_members(self, members: list[wire.Member]) -> None:
        raise NotImplementedError

    # -- refs across nodes -----------------------------------------------------------------

    def export(self, ref: ActorRef[Any]) -> tuple[str, int, str | None]:
        """(node, uid, name) for a ref leaving this node; remembers local cells."""
        ref = ref._unwrap()
        if isinstance(ref, RemoteRef):
            return (ref.node, ref.uid, ref.name)
        if isinstance(ref, LocalRef):
            cell = ref._cell
            self.exported[cell.uid] = cell
            return (self.node, cell.uid, cell.name)
        raise SerializationError(repr(ref), "only actor refs from spawn() can travel")

    def ref_for(self, node: str, uid: int, name: str | None) -> ActorRef[Any]:
        if node == self.node:
            cell = self.exported.get(uid)
            if cell is not None:
                return cell.ref
        return RemoteRef(self, node, uid, name)

    def ref_from_text(self, text: str) -> ActorRef[Any]:
        return self.ref_for(*parse_ref_text(text))

    def ref_to_text(self, ref: ActorRef[Any] | None) -> str | None:
        return None if ref is None else ref_text(*self.export(ref))

    def local_target(self, target: int | str) -> Cell | None:
        if isinstance(target, int):
            return self.exported.get(target)
        ref = self.system.registry.whereis(target)
        return self.system.local_cell(ref) if ref is not None else None

    # -- messaging -----------------------------------------------------------------------------

    def _link_for(self, ref: RemoteRef[Any]) -> Link | None:
        return self.links.get(ref.node)

    def tell(self, ref: RemoteRef[Any], message: Any, sender: ActorRef[Any] | None) -> None:
        # The hot path of remote tells, kept short: a linked node, no sender.
        link = self.links.get(ref._node)
        if link is not None and sender is None:
            payload = self.codec.encode(message)  # SerializationError reaches the sender
            if not link.tell(ref._uid, payload):
                self.system.dead_letter(message, ref.address, f"node {ref.node} is not linked")
            return
        if ref.node == self.node:
            cell = self.exported.get(ref.uid)
            if cell is not None:
                cell.ref.tell(message, sender)
            else:
                self.system.dead_letter(message, ref.address, "no such actor")
            return
        payload = self.codec.encode(message)
        frame = wire.Tell(ref.uid, payload, self.ref_to_text(sender))
        if link is None or not link.send(frame):
            self.system.dead_letter(message, ref.address, f"node {ref.node} is not linked")

    def tell_many(self, ref: RemoteRef[Any], messages: list[Any]) -> None:
        link = self.links.get(ref.node)
        if ref.node == self.node or link is None:
            for message in messages:
                self.tell(ref, message, None)
            return
        payloads = [self.codec.encode(message) for message in messages]
        if not link.send(wire.TellMany(ref.uid, payloads)):
            for message in messages:
                self.system.dead_letter(message, ref.address, f"node {ref.node} is not linked")

    async def send(self, ref: RemoteRef[Any], message: Any) -> None:
        link = self.links.get(ref.node)
        if link is None:
            self.tell(ref, message, None)
            return
        await link.writer.send(wire.Tell(ref.uid, self.codec.encode(message), None))

    async def ask(self, ref: RemoteRef[Any], message: Any, timeout: float | None) -> Any:
        return await self.call(ref.node, ref.uid, message, timeout)

    async def call(self, node: str, target: int | str, message: Any, timeout: float | None) -> Any:
        """Ask `target` on `node` and wait for the answer (raises `Expired` on timeout)."""
        if node == self.node:
            cell = self.local_target(target)
            if cell is None:
                raise ActorStoppedError(target_address(node, target), "or never existed")
            return await cell.ref.ask(message, timeout)
        link = self.links.get(node)
        if link is None:
            raise NodeDownError(node, "not linked to this node")
        payload = self.codec.encode(message)
        slot = self.kernel.slot()
        corr = link.new_ask(slot)
        if not link.send(wire.Ask(corr, target, payload, timeout)):
            link.pending.pop(corr, None)
            raise NodeDownError(node, "its link cannot take more frames")
        try:
            return await self.kernel.wait(slot, timeout)
        finally:
            link.pending.pop(corr, None)

    # -- remote spawn --------------------------------------------------------------------------

    def spawn_remote(
        self, node: str, factory: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
        name: str | None,
    ) -> ActorRef[Any]:
        link = self.links.get(node)
        if link is None:
            raise NodeDownError(node, "cannot spawn there: not linked to this node")
        cls_path, cls_pickle = self._factory_reference(factory)
        uid = secrets.randbits(62) | (1 << 62)  # out of reach of the peer's own counter
        frame = wire.Spawn(0, cls_path, self.codec.encode([list(args), kwargs]), name,
                           cls_pickle, uid)
        if not link.send(frame):
            raise NodeDownError(node, "its link cannot take more frames")
        return RemoteRef(self, node, uid, name)

    def _factory_reference(self, factory: Any) -> tuple[str, bytes | None]:
        if isinstance(factory, type) and factory.__module__ != "__main__":
            try:
                if self.codec.resolver.resolve(qualified_name(factory), "actor", _is_actor) is (
                    factory
                ):
                    return qualified_name(factory), None
            except SerializationError:
                pass  # a local class, say: by value, if pickle is allowed
        if not self.system.allow_pickle:
            raise SerializationError(
                repr(factory), "it is not importable by path and pickling is switched off"
            )
        import cloudpickle

        return "", cloudpickle.dumps(factory)

    def handle_spawn(self, link: Link, frame: wire.Spawn) -> None:
        try:
            factory = self._spawn_factory(frame)
            args, kwargs = self.codec.decode(frame.args)
            cell = self.system.spawn_for_peer(factory, tuple(args), kwargs, frame.name, frame.uid)
            self.exported[cell.uid] = cell
            link.send(wire.Spawned(frame.corr, ref_text(self.node, cell.uid, cell.name)))
        except Exception as error:
            log.warning("%s: spawn for %s failed: %r", self.node, link.peer, error)
            link.send(wire.Spawned(frame.corr, "", error_to_wire(error)))

    def _spawn_factory(self, frame: wire.Spawn) -> Any:
        if frame.cls_pickle is not None:
            if not self.system.allow_pickle:
                raise SerializationError("a pickled actor class", "pickling is switched off")
            import pickle

            return pickle.loads(frame.cls_pickle)
        # The codec's rule for type names: an Actor subclass of a module this node has
        # imported or lists in message_modules=, never one imported for the peer.
        return self.codec.resolver.resolve(frame.cls_path, "actor", _is_actor)

    def spawned(self, link: Link, frame: wire.Spawned) -> None:
        if frame.error is not None:
            error = error_from_wire(f"spawn on {link.peer}", frame.error)
            log.error("%s: remote spawn on %s failed: %s", self.node, link.peer, error)

    # -- frames the link does not handle itself ----------------------------------------------

    def handle_frame(self, link: Link, frame: wire.SessionFrame) -> None:
        if isinstance(frame, wire.TopicPublish):
            self.topic_published(frame)
        elif isinstance(frame, wire.Watch):
            self.watched(link, frame)
        elif isinstance(frame, wire.Unwatch):
            self.unwatched(link, frame)
        elif isinstance(frame, wire.Terminated):
            self.remote_terminated(link.peer, frame)
        elif isinstance(frame, wire.RegistryUpdate):
            self.registry_updated(link.peer, frame)
        elif isinstance(frame, wire.TopicInterest):
            self.topic_interest(link.peer, frame)
        elif isinstance(frame, wire.Members):
            self.learn_members(frame.members)
        elif isinstance(frame, wire.Spawn):
            self.handle_spawn(link, frame)
        elif isinstance(frame, wire.Spawned):
            self.spawned(link, frame)

    def broadcast(self, frame: wire.Frame) -> None:
        for link in list(self.links.values()):
            link.send(frame)

    def watch_remote(self, watcher: Cell, ref: ActorRef[Any]) -> None:
        ref = ref._unwrap()
        if not isinstance(ref, RemoteRef):
            raise ValueError(f"{ref!r} is neither local nor remote")
        link = self.links.get(ref.node)
        if link is None:
            watcher.ref.tell(Terminated(ref, NodeDownError(ref.node, "not linked")))
            return
        self.add_remote_watch(watcher, ref)
        link.send(wire.Watch(ref.uid, ref_text(self.node, watcher.uid, watcher.name)))


def _is_actor(cls: type) -> bool:
    return issubclass(cls, Actor)
