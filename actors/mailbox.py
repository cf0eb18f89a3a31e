"""Mailbox settings: how many messages an actor may hold and what happens past that.

Every actor's mailbox is a point-to-point FIFO queue. Unbounded is the default; bound it
when a slow consumer must push back on its producers instead of growing without limit.
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ("Mailbox", "Overflow")

Overflow = Literal["drop_new", "drop_old", "reject"]
_OVERFLOWS: tuple[str, ...] = get_args(Overflow)


class Mailbox:
    """How an actor's mailbox is bounded.

    Guarantees, whatever the settings: messages from one sender are handled in the order
    they were sent (a drop removes messages, it never reorders them), and system
    messages (stop, watch signals) overtake user messages. Past `capacity`:

    - ``"drop_new"``: the new message goes to dead letters;
    - ``"drop_old"``: the oldest waiting message goes to dead letters;
    - ``"reject"``: `tell` raises `MailboxFullError`.

    `await ref.send(msg)` waits for room in any bounded mailbox instead.

    >>> Mailbox(capacity=100, overflow="drop_old")
    Mailbox(capacity=100, overflow='drop_old')
    """

    __slots__ = ("capacity", "overflow")

    def __init__(self, capacity: int | None = None, overflow: Overflow = "reject") -> None:
        if capacity is not None and (not isinstance(capacity, int) or capacity < 1):
            raise ValueError(f"Mailbox capacity must be a positive int or None, got {capacity!r}")
        if overflow not in _OVERFLOWS:
            raise ValueError(
                f"Mailbox overflow must be one of {', '.join(map(repr, _OVERFLOWS))}; "
                f"got {overflow!r}"
            )
        self.capacity = capacity
        self.overflow: Overflow = overflow

    @property
    def bounded(self) -> bool:
        return self.capacity is not None

    def __repr__(self) -> str:
        return f"Mailbox(capacity={self.capacity!r}, overflow={self.overflow!r})"
