"""The phi-accrual failure detector (Hayashibara et al.), as Akka and Cassandra use it.

Each heartbeat's arrival feeds a window of inter-arrival times. `phi(now)` says how
unlikely it is, given that history, that the next heartbeat is still on its way:
phi = -log10(P(interval > elapsed)) under a normal distribution of intervals. A node is
suspected when phi passes `threshold` (8 means about one false suspicion in 10^8).
`acceptable_pause` widens the mean for GC pauses and busy loops; `min_std` keeps a very
regular link from becoming hair-triggered.
"""

from __future__ import annotations

import math
from collections import deque

__all__ = ("PhiAccrualDetector",)

_LN10 = math.log(10.0)


class PhiAccrualDetector:
    """Suspicion of one peer, from the arrival times of its heartbeats."""

    __slots__ = ("_intervals", "_last", "_sum", "_sum_sq", "acceptable_pause",
                 "first_interval", "min_std", "threshold")

    def __init__(
        self,
        *,
        threshold: float = 8.0,
        window: int = 100,
        min_std: float = 0.2,
        acceptable_pause: float = 1.0,
        first_interval: float = 0.5,
    ) -> None:
        if threshold <= 0 or window < 1 or min_std <= 0 or acceptable_pause < 0:
            raise ValueError(
                "phi detector needs threshold > 0, window >= 1, min_std > 0 and "
                f"acceptable_pause >= 0; got {threshold}, {window}, {min_std}, {acceptable_pause}"
            )
        self.threshold = threshold
        self.min_std = min_std
        self.acceptable_pause = acceptable_pause
        self.first_interval = first_interval
        self._intervals: deque[float] = deque(maxlen=window)
        self._sum = 0.0
        self._sum_sq = 0.0
        self._last: float | None = None

    def heartbeat(self, now: float) -> None:
        """A heartbeat (or any frame) arrived from the peer at `now`."""
        last = self._last
        self._last = now
        if last is None:
            # Seed the history so the first silence is judged against the expected rate.
            self._add(self.first_interval)
            return
        self._add(max(now - last, 0.0))

    def _add(self, interval: float) -> None:
        intervals = self._intervals
        if len(intervals) == intervals.maxlen:
            old = intervals[0]
            self._sum -= old
            self._sum_sq -= old * old
        intervals.append(interval)
        self._sum += interval
        self._sum_sq += interval * interval

    @property
    def last_heartbeat(self) -> float | None:
        """When the last heartbeat arrived (the kernel's clock), or None before any."""
        return self._last

    def phi(self, now: float) -> float:
        """How suspicious the silence since the last heartbeat is (0 = not at all)."""
        if self._last is None or not self._intervals:
            return 0.0
        count = len(self._intervals)
        mean = self._sum / count + self.acceptable_pause
        variance = max(self._sum_sq / count - (self._sum / count) ** 2, 0.0)
        std = max(math.sqrt(variance), self.min_std)
        elapsed = now - self._last
        # Akka's logistic approximation of the normal tail, P = 1 / (1 + exp(x)) with
        # x = y (1.5976 + 0.070566 y^2), so phi = log10(1 + exp(x)): a softplus,
        # computed so that it neither overflows nor underflows for any silence.
        y = (elapsed - mean) / std
        x = y * (1.5976 + 0.070566 * y * y)
        return (max(x, 0.0) + math.log1p(math.exp(-abs(x)))) / _LN10

    def available(self, now: float) -> bool:
        """False once phi passes the threshold: the peer is suspected down."""
        return self.phi(now) < self.threshold
