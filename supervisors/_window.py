"""Restart intensity: how many restarts a supervisor allows within a time window."""

from __future__ import annotations

from collections import deque

__all__ = ("RestartWindow",)


class RestartWindow:
    """Counts restarts in a sliding window, as Erlang's supervisor does.

    `record(now)` notes a restart at time `now` and returns False when that makes more
    than `max_restarts` restarts within the last `within` seconds (counting those
    exactly `within` seconds old): the supervisor has then exceeded its intensity.
    Times must not go backwards.

    >>> window = RestartWindow(max_restarts=1, within=5.0)
    >>> window.record(0.0), window.record(1.0), window.record(7.0)
    (True, False, True)
    """

    __slots__ = ("_times", "max_restarts", "within")

    def __init__(self, max_restarts: int, within: float) -> None:
        self.max_restarts = max_restarts
        self.within = within
        self._times: deque[float] = deque()

    def record(self, now: float) -> bool:
        times = self._times
        times.append(now)
        # A restart exactly `within` seconds old still counts, as in OTP's supervisor
        # (it drops a restart only when `Now - Then > Period`).
        while now - times[0] > self.within:
            times.popleft()
        return len(times) <= self.max_restarts

    def __len__(self) -> int:
        return len(self._times)

    def reset(self) -> None:
        self._times.clear()
