"""The phi-accrual failure detector (Hayashibara et al.), as Akka and Cassandra use it.

Each heartbeat's arrival feeds a window of inter-arrival times. `phi(now)` says how
unlikely it is, given that history, that the next heartbeat is still on its way:
phi = -log10(P(interval > elapsed)) under a normal distribution of intervals. A node is
suspected when phi passes `threshold` (8 means about one false suspicion in 10^8).
`acceptable_pause` widens the mean for GC pauses and busy loops; `min_std` keeps a very
regular link from becoming hair-triggered.

Phi only grows with the silence, so `suspected_at()` can say when it will pass the
threshold if nothing more arrives: a node checks its links at those moments (and on
its heartbeat ticks), never by polling phi.
"""

from __future__ import annotations

import math
from collections import deque

__all__ = ("PhiAccrualDetector",)

_LN10 = math.log(10.0)
# Akka's logistic approximation of the normal tail (see `phi`): x = y (_A + _B y^2).
_A = 1.5976
_B = 0.070566


def _threshold_y(threshold: float) -> float:
    """The y (standard deviations past the mean) at which phi equals `threshold`.

    phi = log10(1 + e^x) is `threshold` at x = ln(10^threshold - 1), written so that it
    cannot overflow; y (_A + _B y^2) = x is a cubic with one real root (it grows
    monotonically), which Cardano's formula gives exactly.
    """
    x = threshold * _LN10 + math.log1p(-(10.0 ** -threshold))
    p, q = _A / _B, x / _B  # y^3 + p y - q = 0
    root = math.sqrt(q * q / 4 + p**3 / 27)
    return math.cbrt(q / 2 + root) + math.cbrt(q / 2 - root)


class PhiAccrualDetector:
    """Suspicion of one peer, from the arrival times of its heartbeats."""

    __slots__ = ("_intervals", "_last", "_sum", "_sum_sq", "_suspected_at", "_y_threshold",
                 "acceptable_pause", "first_interval", "min_std", "threshold")

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
        self._y_threshold = _threshold_y(threshold)
        self._suspected_at: float | None = None  # computed when first asked for

    def heartbeat(self, now: float) -> None:
        """A heartbeat (or any frame) arrived from the peer at `now`."""
        last = self._last
        self._last = now
        self._suspected_at = None
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

    def _mean_std(self) -> tuple[float, float]:
        count = len(self._intervals)
        mean = self._sum / count
        variance = max(self._sum_sq / count - mean * mean, 0.0)
        return mean + self.acceptable_pause, max(math.sqrt(variance), self.min_std)

    def phi(self, now: float) -> float:
        """How suspicious the silence since the last heartbeat is (0 = not at all)."""
        if self._last is None or not self._intervals:
            return 0.0
        mean, std = self._mean_std()
        elapsed = now - self._last
        # Akka's logistic approximation of the normal tail, P = 1 / (1 + exp(x)) with
        # x = y (1.5976 + 0.070566 y^2), so phi = log10(1 + exp(x)): a softplus,
        # computed so that it neither overflows nor underflows for any silence.
        y = (elapsed - mean) / std
        x = y * (_A + _B * y * y)
        return (max(x, 0.0) + math.log1p(math.exp(-abs(x)))) / _LN10

    def suspected_at(self) -> float:
        """When phi reaches the threshold if no heartbeat arrives before (the kernel's
        clock; infinity before the first heartbeat). It moves only when one arrives."""
        at = self._suspected_at
        if at is None:
            if self._last is None:
                return math.inf
            mean, std = self._mean_std()
            at = self._suspected_at = self._last + mean + self._y_threshold * std
        return at

    def available(self, now: float) -> bool:
        """False once phi reaches the threshold (at `suspected_at()`): the peer is
        suspected down."""
        return now < self.suspected_at()
