"""Remote delivery: refs that cross nodes, tells and asks, remote spawn and watches.

The half of `runtime._cluster.cluster.Cluster` that carries messages over links that exist;
`Cluster` itself makes and keeps the links. Split so each file says one thing.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from actors import Actor, ActorRef
from actors.errors import (
    ActorCrashedError,
    ActorError,
    ActorStoppedError,
    NodeDownError,
    SerializationError,
)
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
from runtime._engine.kernel import wait_answer
from runtime._engine.local_ref import LocalRef
from runtime._wire import framing as wire
from runtime._wire.codec import qualified_name

if TYPE_CHECKING:
    from runtime._cluster.link import Link
    from runtime._engine.state import CellState

__all__ = ("ClusterRemote",)

log = logging.getLogger("repertory.cluster")

# Remote spawns that failed, remembered per (node, uid) so that asks to their refs say
# why; the oldest are forgotten past this many.
MAX_SPAWN_FAILURES = 1024
Started = Callable[[BaseException | None], None]


class _SpawnSlot:
    """A remote spawn waiting for its `Spawned` answer (it comes once the actor has run
    `on_start`, or could not be started). It sits among the link's pending asks, so a
    link that closes fails it with `NodeDownError`."""

    __slots__ = ("_done", "cluster", "key", "then")

    def __init__(self, cluster: ClusterRemote, key: tuple[str, int], then: Started | None) -> None:
        self.cluster = cluster
        self.key = key
        self.then = then
        self._done = False

    def done(self) -> bool:
        return self._done

    def set_result(self, value: Any) -> None:
        self._done = True
        if self.then is not None:
            self.then(None)

    def set_exception(self, error: BaseException) -> None:
        self._done = True
        if not isinstance(error, NodeDownError):  # the actor may still exist there
            failures = self.cluster.spawn_failures
            if len(failures) >= MAX_SPAWN_FAILURES:
                del failures[next(iter(failures))]
            failures[self.key] = error
        if self.then is not None:
            self.then(error)
        elif not isinstance(error, NodeDownError):
            log.error("%s: remote spawn of %s/$%d failed: %s",
                      self.cluster.node, self.key[0], self.key[1], error)


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

    def local_target(self, target: int | str) -> CellState | None:
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
        try:
            return await self.call(ref.node, ref.uid, message, timeout, ref.address)
        except ActorStoppedError:
            # An actor whose spawn failed never existed there: say why, not just that.
            failure = self.spawn_failures.get((ref.node, ref.uid))
            if failure is None:
                raise
            raise ActorStoppedError(
                ref.address, f"and never started: its spawn failed with {failure!r}"
            ) from failure

    async def call(
        self, node: str, target: int | str, message: Any, timeout: float | None,
        address: str | None = None,
    ) -> Any:
        """Ask `target` on `node` and wait for the answer; `AskTimeoutError` naming
        `address` (by default ``node/target``) past `timeout`."""
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
            return await wait_answer(
                self.kernel, slot, timeout, address or target_address(node, target)
            )
        finally:
            link.pending.pop(corr, None)

    # -- remote spawn --------------------------------------------------------------------------

    def spawn_remote(
        self, node: str, factory: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
        name: str | None, then: Started | None,
    ) -> ActorRef[Any]:
        """Spawn on `node` and return its ref at once; `then(None)` runs once it has
        started there, `then(error)` if it could not (with no `then`, a failure is
        logged). Asks to the ref of a failed spawn fail saying why."""
        link = self.links.get(node)
        if link is None:
            raise NodeDownError(node, "cannot spawn there: not linked to this node")
        cls_path, cls_pickle = self._factory_reference(factory)
        uid = secrets.randbits(62) | (1 << 62)  # out of reach of the peer's own counter
        payload = self.codec.encode([list(args), kwargs])
        corr = link.new_ask(_SpawnSlot(self, (node, uid), then))
        if not link.send(wire.Spawn(corr, cls_path, payload, name, cls_pickle, uid)):
            link.pending.pop(corr, None)
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
        """Start an actor a peer asked for; answer `Spawned` once it has run `on_start`
        (or with the error that stopped it: a constructor's or `on_start`'s comes as an
        `ActorCrashedError`)."""
        corr = frame.corr

        def answer(error: BaseException | None) -> None:
            if error is None:
                link.send(wire.Spawned(corr, ref_text(self.node, cell.uid, cell.name)))
            else:
                link.send(wire.Spawned(corr, "", error_to_wire(error)))

        try:
            factory = self._spawn_factory(frame)
            args, kwargs = self.codec.decode(frame.args)
            cell = self.system.spawn_for_peer(
                factory, tuple(args), kwargs, frame.name, frame.uid, answer
            )
            self.exported[cell.uid] = cell
        except Exception as error:
            log.warning("%s: spawn for %s failed: %r", self.node, link.peer, error)
            if not isinstance(error, ActorError):
                address = f"{self.node}/{frame.name or f'${frame.uid}'}"
                error = ActorCrashedError.from_error(address, error, "starting")
            link.send(wire.Spawned(corr, "", error_to_wire(error)))

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
        slot = link.pending.pop(frame.corr, None)
        if not isinstance(slot, _SpawnSlot):
            if frame.error is not None:  # a spawn nobody waits for
                error = error_from_wire(f"spawn on {link.peer}", frame.error)
                log.error("%s: remote spawn on %s failed: %s", self.node, link.peer, error)
            return
        if frame.error is None:
            slot.set_result(None)
        else:
            slot.set_exception(error_from_wire(f"{slot.key[0]}/${slot.key[1]}", frame.error))

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

    def watch_remote(self, watcher: CellState, ref: ActorRef[Any]) -> None:
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
