"""The routings a pool knows, as a type: used by `Context.spawn_pool`'s signature."""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ("ROUTINGS", "Routing")

Routing = Literal["round_robin", "random", "broadcast", "consistent_hash", "smallest_mailbox"]
ROUTINGS: tuple[str, ...] = get_args(Routing)
