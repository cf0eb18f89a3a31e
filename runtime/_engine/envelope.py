"""What sits in a mailbox besides bare messages."""

from __future__ import annotations

from typing import Any

__all__ = ("Envelope",)


class Envelope:
    """A message with a sender or an answer slot.

    A plain `tell` without a sender puts the bare message in the mailbox: no envelope
    is allocated on that path, which is the common one. Users never see envelopes, so
    `type(item) is Envelope` tells the two apart.
    """

    __slots__ = ("message", "reply", "sender")

    def __init__(self, message: Any, sender: Any, reply: Any) -> None:
        self.message = message
        self.sender = sender
        self.reply = reply
