"""The node's own services, which other nodes ask by name: ``$lookup``, ``$snapshot``,
``$members``, ``$stop``, ``$stats``, ``$ping``.

An `Ask` frame whose target starts with ``$`` comes here instead of to an actor
(`RemoteDelivery.on_ask`); the answer, or the error, goes to the ask's reply slot.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from runtime._cluster.host import ClusterHost, LocalActor
from runtime._cluster.members import LinkedNode, describe_members

__all__ = ("answer_system_ask",)


class ServiceHost(LinkedNode, Protocol):
    """What the services read of this node: its remote delivery."""

    @property
    def host(self) -> ClusterHost: ...
    @property
    def exported(self) -> Mapping[int, LocalActor]: ...

    def decode(self, payload: bytes) -> Any: ...
    def stats(self) -> dict[str, int]: ...


def answer_system_ask(node: ServiceHost, target: str, payload: bytes, slot: Any) -> None:
    """Answer service `target` with the argument in `payload`; an unknown service or
    a failure (an argument that does not decode) fails the slot, saying why."""
    try:
        argument = node.decode(payload)
        if target == "$lookup":
            slot.set_result(node.host.whereis(argument))
        elif target == "$snapshot":
            slot.set_result(node.host.snapshot())
        elif target == "$stop":
            cell = node.exported.get(argument)
            if cell is not None:
                node.host.stop(cell.ref)
            slot.set_result(cell is not None)
        elif target == "$members":
            slot.set_result(describe_members(node))
        elif target == "$stats":
            slot.set_result(node.stats())
        elif target == "$ping":
            slot.set_result(node.node)
        else:
            raise ValueError(f"no system service {target!r} on {node.node}")
    except Exception as error:
        slot.set_exception(error)
