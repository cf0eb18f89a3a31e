"""One log line per interval for remote tells that full bounded mailboxes here drop.

A remote `tell` to a full bounded mailbox applies the mailbox's overflow policy on this
node: the dropped messages are dead letters here (counted and published, logged at
DEBUG each). So that an operator sees it without a line per message, `DropSummary`
logs one WARNING when the first such drop happens and then at most one per
`INTERVAL` seconds, naming each actor and how many messages it dropped since the last
line. Drops after the last line are in the next one, which comes with the next drop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

__all__ = ("INTERVAL", "DropSummary")

INTERVAL = 10.0  # seconds between summary lines

log = logging.getLogger("repertory.cluster")


class DropSummary:
    """Counts drops of remote tells by full mailboxes, per actor; logs them in summary."""

    def __init__(self, now: Callable[[], float], interval: float = INTERVAL) -> None:
        self._now = now
        self._interval = interval
        self._counts: dict[str, int] = {}
        self._next = float("-inf")  # the first drop is logged at once
        self.total = 0  # drops counted since the node started

    def count(self, label: str, how: str) -> None:
        """One message from another node dropped by `label`'s full mailbox (`how`)."""
        key = f"{label} ({how})"
        self._counts[key] = self._counts.get(key, 0) + 1
        self.total += 1
        now = self._now()
        if now >= self._next:
            self._next = now + self._interval
            self._log()

    def _log(self) -> None:
        counts, self._counts = self._counts, {}
        listed = ", ".join(f"{n} by {key}" for key, n in counts.items())
        log.warning(
            "full bounded mailboxes dropped %d message(s) told from other nodes: %s; "
            "they are dead letters on this node (next summary in at most %g s); senders "
            "that must not lose messages should use `await ref.send(msg)`, which waits "
            "for room", sum(counts.values()), listed, self._interval,
        )
