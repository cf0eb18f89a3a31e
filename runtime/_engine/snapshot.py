"""A snapshot of what runs in a system: for `live_graph`, `repertory top` and tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from actors.lowlevel import Parent

if TYPE_CHECKING:
    from runtime._engine.state import CellState

__all__ = ("ActorInfo", "describe")


class ActorInfo(msgspec.Struct, frozen=True):
    """One actor as it was when the snapshot was taken."""

    address: str
    name: str | None
    parent: str | None
    actor_type: str
    status: str
    restarts: int
    mailbox: int
    node: str
    details: dict[str, Any] = {}
    processed: int = 0  # messages handled since the actor was spawned (failed ones too)
    failures: int = 0  # times its handler or a hook raised


def describe(cell: CellState) -> ActorInfo:
    parent = cell.parent_cell
    actor = cell.actor
    return ActorInfo(
        address=cell.label,
        name=cell.name,
        parent=None if parent is None or parent.parent_cell is None else parent.label,
        actor_type=type(actor).__qualname__ if actor is not None else "?",
        status=cell.state.label,
        restarts=cell.restarts,
        mailbox=len(cell.mailbox) if cell.mailbox else 0,
        node=cell.host.node,
        details=actor.describe() if isinstance(actor, Parent) else {},
        processed=cell.processed,
        failures=cell.failures,
    )
