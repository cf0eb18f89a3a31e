"""Remote spawn: start an actor on another node and get its ref at once.

The spawning node picks the new actor's id, so the ref works before the answer comes
back; if the other node cannot start it, the error is logged on both nodes and the ref
behaves as a stopped actor's.
"""

from __future__ import annotations

import logging
import pickle
import secrets
from typing import TYPE_CHECKING, Any

from actors import Actor, ActorRef
from actors.errors import NodeDownError, SerializationError
from runtime._cluster.delivery import RemoteDelivery
from runtime._cluster.refs import RemoteRef, ref_text
from runtime._wire import framing as wire
from runtime._wire.codec import _resolve, qualified_name

if TYPE_CHECKING:
    from runtime._cluster.link import Link

__all__ = ("RemoteSpawner",)

log = logging.getLogger("repertory.cluster")


class RemoteSpawner:
    """Spawn requests, both ways."""

    def __init__(self, delivery: RemoteDelivery, *, allow_pickle: bool) -> None:
        self.delivery = delivery
        self.allow_pickle = allow_pickle

    def spawn(
        self, node: str, factory: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
        name: str | None,
    ) -> ActorRef[Any]:
        """Ask `node` to start ``factory(*args, **kwargs)``; its ref, at once."""
        link = self.delivery.links.get(node)
        if link is None:
            raise NodeDownError(node, "cannot spawn there: not linked to this node")
        cls_path, cls_pickle = self._factory_reference(factory)
        uid = secrets.randbits(62) | (1 << 62)  # out of reach of the peer's own counter
        codec = self.delivery.codec
        frame = wire.Spawn(0, cls_path, codec.encode([list(args), kwargs]), name, cls_pickle, uid)
        if not link.send(frame):
            raise NodeDownError(node, "its link cannot take more frames")
        return RemoteRef(self.delivery, node, uid, name)

    def _factory_reference(self, factory: Any) -> tuple[str, bytes | None]:
        if isinstance(factory, type) and factory.__module__ != "__main__":
            try:
                if _resolve(qualified_name(factory)) is factory:
                    return qualified_name(factory), None
            except (ImportError, AttributeError):
                pass
        if not self.allow_pickle:
            raise SerializationError(
                repr(factory), "it is not importable by path and pickling is switched off"
            )
        import cloudpickle

        return "", cloudpickle.dumps(factory)

    def on_spawn(self, link: Link, frame: wire.Spawn) -> None:
        delivery = self.delivery
        try:
            if frame.uid and frame.uid in delivery.exported:
                raise ValueError(f"actor id {frame.uid} is taken on {delivery.node}")
            factory = self._spawn_factory(frame)
            args, kwargs = delivery.codec.decode(frame.args)
            cell = delivery.host.spawn_for_peer(factory, tuple(args), kwargs, frame.name, frame.uid)
            delivery.exported[cell.uid] = cell
            link.send(wire.Spawned(frame.corr, ref_text(delivery.node, cell.uid, cell.name)))
        except Exception as error:
            log.warning("%s: spawn for %s failed: %r", delivery.node, link.peer, error)
            link.send(wire.Spawned(frame.corr, "", delivery.codec.error_to_wire(error)))

    def _spawn_factory(self, frame: wire.Spawn) -> Any:
        if frame.cls_pickle is not None:
            if not self.allow_pickle:
                raise SerializationError("a pickled actor class", "pickling is switched off")
            return pickle.loads(frame.cls_pickle)
        factory = _resolve(frame.cls_path)
        if not (isinstance(factory, type) and issubclass(factory, Actor)):
            raise SerializationError(frame.cls_path, "it is not an Actor class")
        return factory

    def on_spawned(self, link: Link, frame: wire.Spawned) -> None:
        if frame.error is not None:
            error = self.delivery.codec.error_from_wire(f"spawn on {link.peer}", frame.error)
            log.error("%s: remote spawn on %s failed: %s", self.delivery.node, link.peer, error)
