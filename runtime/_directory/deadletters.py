"""Dead letters: messages that reached no actor, counted and published."""

from __future__ import annotations

import logging
from collections import deque
from typing import TYPE_CHECKING, Any

from actors.messages import DeadLetter

if TYPE_CHECKING:
    from runtime._directory.registry import Topics

__all__ = ("DeadLetters", "reason_kind")

log = logging.getLogger("repertory.dead_letters")
TOPIC = "dead_letters"


class DeadLetters:
    """Counts undeliverable messages, keeps the latest, publishes each on ``dead_letters``.

    `count` is the total since the system started; `recent` holds the last `keep`.
    """

    def __init__(self, topics: Topics, keep: int = 100) -> None:
        self._topics = topics
        self.count = 0
        # Counts by kind of reason (`reason_kind`): a few labels, whatever the text says.
        self.by_reason: dict[str, int] = {}
        self.recent: deque[DeadLetter] = deque(maxlen=keep)
        self._publishing = False

    def add(self, message: Any, recipient: str, reason: str) -> None:
        self.count += 1
        kind = reason_kind(reason)
        self.by_reason[kind] = self.by_reason.get(kind, 0) + 1
        letter = DeadLetter(message, recipient, reason)
        self.recent.append(letter)
        log.debug("dead letter to %s (%s): %r", recipient, reason, message)
        # Not re-entrant: a dead letter about a dead letter would loop forever.
        if self._publishing or not self._topics.has_subscribers(TOPIC):
            return
        self._publishing = True
        try:
            # This node's subscribers only: another node's dead letters are its own
            # business, and a letter may hold what cannot travel (a tell that failed
            # locally must not then fail to encode for a subscriber elsewhere).
            self._topics.publish_local(TOPIC, letter)
        finally:
            self._publishing = False

    def add_many(self, messages: list[Any], recipient: str, reason: str) -> None:
        """Dead-letter many messages at once (a stopping actor's full mailbox).

        Each is counted, as with `add`; but only the last `keep` are kept in `recent`
        and published on ``dead_letters``, and one log line says how many there were:
        millions of queued messages cost a shutdown milliseconds, not seconds.
        """
        if not messages:
            return
        count = len(messages)
        self.count += count
        kind = reason_kind(reason)
        self.by_reason[kind] = self.by_reason.get(kind, 0) + count
        keep = self.recent.maxlen or 0
        letters = [DeadLetter(message, recipient, reason) for message in messages[-keep:]]
        self.recent.extend(letters)
        log.info("%d dead letters to %s (%s)", count, recipient, reason)
        if self._publishing or not self._topics.has_subscribers(TOPIC):
            return
        self._publishing = True
        try:
            for letter in letters:
                self._topics.publish_local(TOPIC, letter)
        finally:
            self._publishing = False

    def __len__(self) -> int:
        return self.count


# Reasons are sentences that may name a node or an error; metrics label them by kind.
_KINDS = ("stopped", "unavailable", "mailbox full", "no such actor", "link full", "node down")


def reason_kind(reason: str) -> str:
    """A dead letter's reason as one of a few kinds: ``stopped``, ``unavailable``,
    ``mailbox full``, ``no such actor``, ``link full``, ``node down``, ``not linked``
    or ``other``."""
    for kind in _KINDS:
        if reason.startswith(kind):
            return kind
    if reason.endswith("is not linked"):
        return "not linked"
    if reason.startswith("link to") and reason.endswith("is full"):
        return "link full"
    return "other"
