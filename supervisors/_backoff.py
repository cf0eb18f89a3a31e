"""Back-off between restarts."""

from __future__ import annotations

import random

__all__ = ("Backoff",)


class Backoff:
    """Exponential back-off with jitter for restarts of one child.

    The n-th consecutive restart (n = 0, 1, ...) waits
    ``min(maximum, initial * factor**n)``, scaled by a random factor in
    ``[1 - jitter, 1 + jitter]`` and never above `maximum`. A child that has run for
    `reset_after` seconds (default: `maximum`) since its last restart counts from 0
    again.

    >>> Backoff(initial=0.1, maximum=10.0).delay(3, jitter=False)
    0.8
    """

    __slots__ = ("factor", "initial", "jitter", "maximum", "reset_after")

    def __init__(
        self,
        initial: float = 0.1,
        maximum: float = 10.0,
        factor: float = 2.0,
        jitter: float = 0.2,
        reset_after: float | None = None,
    ) -> None:
        if initial <= 0 or maximum < initial:
            raise ValueError(
                f"Backoff needs 0 < initial <= maximum; got initial={initial!r}, "
                f"maximum={maximum!r}"
            )
        if factor < 1:
            raise ValueError(f"Backoff factor must be >= 1, got {factor!r}")
        if not 0 <= jitter < 1:
            raise ValueError(f"Backoff jitter must be in [0, 1), got {jitter!r}")
        if reset_after is not None and reset_after <= 0:
            raise ValueError(f"Backoff reset_after must be > 0 seconds, got {reset_after!r}")
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.jitter = jitter
        self.reset_after = maximum if reset_after is None else reset_after

    def delay(self, attempt: int, *, jitter: bool = True) -> float:
        """Seconds to wait before restart number `attempt` (counted from 0)."""
        base = min(self.maximum, self.initial * self.factor ** min(attempt, 64))
        if jitter and self.jitter:
            base *= random.uniform(1 - self.jitter, 1 + self.jitter)
        return min(base, self.maximum)

    def __repr__(self) -> str:
        return (
            f"Backoff(initial={self.initial!r}, maximum={self.maximum!r}, "
            f"factor={self.factor!r}, jitter={self.jitter!r}, reset_after={self.reset_after!r})"
        )


# Back-off for a non-critical child past its restart budget when it names none.
DEFAULT_DEGRADED_BACKOFF = Backoff(initial=0.1, maximum=10.0)
