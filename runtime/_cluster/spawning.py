"""Remote spawn: start an actor on another node and get its ref at once.

The spawning node picks the new actor's id, so the ref works before the answer comes
back. The other node answers `Spawned` once the actor has run `on_start` (or with the
error that stopped it); if it could not start it, the ref behaves as a stopped actor's
and asks to it say why.
"""

from __future__ import annotations

import logging
import pickle
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from actors import Actor, ActorRef
from actors.errors import ActorCrashedError, ActorError, NodeDownError, SerializationError
from runtime._cluster.delivery import RemoteDelivery
from runtime._cluster.refs import RemoteRef, ref_text
from runtime._wire import framing as wire
from runtime._wire.codec import qualified_name

if TYPE_CHECKING:
    from runtime._cluster.link import Link

__all__ = ("RemoteSpawner",)

log = logging.getLogger("repertory.cluster")

# Remote spawns that failed, remembered per (node, uid) so that asks to their refs say
# why; the oldest are forgotten past this many.
MAX_SPAWN_FAILURES = 1024
Started = Callable[[BaseException | None], None]


class _SpawnSlot:
    """A remote spawn waiting for its `Spawned` answer (it comes once the actor has run
    `on_start`, or could not be started). It sits among the link's pending asks, so a
    link that closes fails it with `NodeDownError`."""

    __slots__ = ("_done", "delivery", "key", "then")

    def __init__(
        self, delivery: RemoteDelivery, key: tuple[str, int], then: Started | None
    ) -> None:
        self.delivery = delivery
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
            failures = self.delivery.spawn_failures
            if len(failures) >= MAX_SPAWN_FAILURES:
                del failures[next(iter(failures))]
            failures[self.key] = error
        if self.then is not None:
            self.then(error)
        elif not isinstance(error, NodeDownError):
            log.error("%s: remote spawn of %s/$%d failed: %s",
                      self.delivery.node, self.key[0], self.key[1], error)


class RemoteSpawner:
    """Spawn requests, both ways."""

    def __init__(self, delivery: RemoteDelivery, *, allow_pickle: bool) -> None:
        self.delivery = delivery
        self.allow_pickle = allow_pickle

    def spawn(
        self, node: str, factory: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
        name: str | None, then: Started | None,
    ) -> ActorRef[Any]:
        """Spawn on `node` and return its ref at once; `then(None)` runs once it has
        started there, `then(error)` if it could not (with no `then`, a failure is
        logged). Asks to the ref of a failed spawn fail saying why."""
        link = self.delivery.links.get(node)
        if link is None:
            raise NodeDownError(node, "cannot spawn there: not linked to this node")
        cls_path, cls_pickle = self._factory_reference(factory)
        uid = secrets.randbits(62) | (1 << 62)  # out of reach of the peer's own counter
        payload = self.delivery.codec.encode([list(args), kwargs])
        corr = link.new_ask(_SpawnSlot(self.delivery, (node, uid), then))
        if not link.send(wire.Spawn(corr, cls_path, payload, name, cls_pickle, uid)):
            link.pending.pop(corr, None)
            raise NodeDownError(node, "its link cannot take more frames")
        return RemoteRef(self.delivery, node, uid, name)

    def _factory_reference(self, factory: Any) -> tuple[str, bytes | None]:
        if isinstance(factory, type) and factory.__module__ != "__main__":
            resolver = self.delivery.codec.resolver
            try:
                if resolver.resolve(qualified_name(factory), "actor", _is_actor) is factory:
                    return qualified_name(factory), None
            except SerializationError:
                pass  # a local class, say: by value, if pickle is allowed
        if not self.allow_pickle:
            raise SerializationError(
                repr(factory), "it is not importable by path and pickling is switched off"
            )
        import cloudpickle

        return "", cloudpickle.dumps(factory)

    def on_spawn(self, link: Link, frame: wire.Spawn) -> None:
        """Start an actor a peer asked for; answer `Spawned` once it has run `on_start`
        (or with the error that stopped it: a constructor's or `on_start`'s comes as an
        `ActorCrashedError`)."""
        delivery = self.delivery
        corr = frame.corr
        address = f"{delivery.node}/{frame.name or f'${frame.uid}'}"

        def answer(error: BaseException | None) -> None:
            if error is None:
                link.send(wire.Spawned(corr, ref_text(delivery.node, cell.uid, cell.name)))
            else:
                link.send(wire.Spawned(corr, "", delivery.codec.error_to_wire(error)))

        try:
            if frame.uid and frame.uid in delivery.exported:
                raise ValueError(f"actor id {frame.uid} is taken on {delivery.node}")
            factory = self._spawn_factory(frame)
            args, kwargs = delivery.codec.decode(frame.args)
            cell = delivery.host.spawn_for_peer(
                factory, tuple(args), kwargs, frame.name, frame.uid, answer
            )
            delivery.exported[cell.uid] = cell
        except Exception as error:
            log.warning("%s: spawn for %s failed: %r", delivery.node, link.peer, error)
            if not isinstance(error, ActorError):
                error = ActorCrashedError.from_error(address, error, "starting")
            link.send(wire.Spawned(corr, "", delivery.codec.error_to_wire(error)))

    def _spawn_factory(self, frame: wire.Spawn) -> Any:
        if frame.cls_pickle is not None:
            if not self.allow_pickle:
                raise SerializationError("a pickled actor class", "pickling is switched off")
            return pickle.loads(frame.cls_pickle)
        # The codec's rule for type names: an Actor subclass of a module this node has
        # imported or lists in message_modules=, never one imported for the peer.
        return self.delivery.codec.resolver.resolve(frame.cls_path, "actor", _is_actor)

    def on_spawned(self, link: Link, frame: wire.Spawned) -> None:
        codec = self.delivery.codec
        slot = link.pending.pop(frame.corr, None)
        if not isinstance(slot, _SpawnSlot):
            if frame.error is not None:  # a spawn nobody waits for
                error = codec.error_from_wire(f"spawn on {link.peer}", frame.error)
                log.error("%s: remote spawn on %s failed: %s", self.delivery.node, link.peer, error)
            return
        if frame.error is None:
            slot.set_result(None)
        else:
            slot.set_exception(codec.error_from_wire(f"{slot.key[0]}/${slot.key[1]}", frame.error))


def _is_actor(cls: type) -> bool:
    return issubclass(cls, Actor)
