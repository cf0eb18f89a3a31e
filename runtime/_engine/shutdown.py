"""Stopping a whole tree within a deadline: what leaving `async with ActorSystem` does.

The root is asked to stop; it stops its children last started first, each the same
way, and each runs `on_stop`. Past `timeout` seconds whatever still runs is cancelled
(`kill`); one more second, and what is left is terminated where it stands.
"""

from __future__ import annotations

import logging
from collections import deque

import anyio

from runtime._engine.lifecycle import kill, request_stop, terminate
from runtime._engine.state import CellState, Phase

__all__ = ("stop_tree", "walk")

log = logging.getLogger("repertory")


async def stop_tree(root: CellState, done: anyio.Event, timeout: float) -> None:
    """Stop `root` and everything under it; `done` is set once `root` has terminated."""
    request_stop(root, None)
    with anyio.move_on_after(timeout):
        await done.wait()
        return
    running = [cell.label for cell in walk(root)[1:] if cell.state != Phase.STOPPED]
    log.warning(
        "system %s: actors still running %.3g s after shutdown began; cancelling %s",
        root.host.node, timeout, ", ".join(running[:10]),
    )
    kill(root)
    with anyio.move_on_after(1.0):
        await done.wait()
    if not done.is_set():
        for cell in walk(root):
            if cell.state != Phase.STOPPED:
                terminate(cell)


def walk(root: CellState | None) -> list[CellState]:
    """`root` and every cell under it, parents before children."""
    cells: list[CellState] = []
    todo: deque[CellState | None] = deque([root])
    while todo:
        cell = todo.popleft()
        if cell is not None:
            cells.append(cell)
            todo.extend(cell.child_cells or ())
    return cells
