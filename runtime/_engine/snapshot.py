"""A snapshot of what runs in a system: for `live_graph`, `repertory top` and tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from runtime._engine.lifecycle import STATE_NAMES, SUSPENDED

if TYPE_CHECKING:
    from runtime._engine.cell import Cell

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


def describe(cell: Cell) -> ActorInfo:
    parent = cell.parent_cell
    actor = cell.actor
    status = STATE_NAMES[cell.state]
    if cell.state == SUSPENDED and cell.mode == "down":
        status = "restarting"
    describe_actor = getattr(actor, "_describe", None)
    return ActorInfo(
        address=cell.label,
        name=cell.name,
        parent=None if parent is None or parent.parent_cell is None else parent.label,
        actor_type=type(actor).__qualname__ if actor is not None else "?",
        status=status,
        restarts=cell.restarts,
        mailbox=len(cell.mailbox) if cell.mailbox else 0,
        node=cell.system.node,
        details=describe_actor() if describe_actor is not None else {},
        processed=cell.processed,
        failures=cell.failures,
    )
