"""Dead letters: messages that reached no actor, counted and published."""

from __future__ import annotations

import logging
from collections import deque
from typing import TYPE_CHECKING, Any

from actors.messages import DeadLetter

if TYPE_CHECKING:
    from runtime._directory.registry import Topics

__all__ = ("DeadLetters",)

log = logging.getLogger("repertory.dead_letters")
TOPIC = "dead_letters"


class DeadLetters:
    """Counts undeliverable messages, keeps the latest, publishes each on ``dead_letters``.

    `count` is the total since the system started; `recent` holds the last `keep`.
    """

    def __init__(self, topics: Topics, keep: int = 100) -> None:
        self._topics = topics
        self.count = 0
        self.recent: deque[DeadLetter] = deque(maxlen=keep)
        self._publishing = False

    def add(self, message: Any, recipient: str, reason: str) -> None:
        self.count += 1
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

    def __len__(self) -> int:
        return self.count
