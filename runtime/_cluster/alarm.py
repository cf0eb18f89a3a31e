"""`Alarm`: a task's sleep until its next deadline, which other code may bring forward.

For the cluster's housekeeping tasks (heartbeats and failure checks, dialling), which
should wake only when something is due, not on a tick: the task computes its next
deadline, sleeps until it, and whoever makes something due sooner calls `due(at)`.
"""

from __future__ import annotations

import math
from typing import Any

from runtime._engine.kernel import Expired, Kernel

__all__ = ("Alarm",)


class Alarm:
    """One task's wake-up time (the kernel's clock)."""

    __slots__ = ("_kernel", "_slot", "deadline")

    def __init__(self, kernel: Kernel) -> None:
        self._kernel = kernel
        self._slot: Any = None
        # What the task sleeps until; -inf while it is awake (it looks at everything
        # before it sleeps again, so nothing needs to wake it then).
        self.deadline = -math.inf

    async def sleep_until(self, deadline: float) -> None:
        """Sleep until `deadline` (forever for infinity), or until `due` wakes it."""
        kernel = self._kernel
        self._slot = slot = kernel.slot()
        self.deadline = deadline
        timeout = None if deadline == math.inf else max(deadline - kernel.now(), 0.0)
        try:
            await kernel.wait(slot, timeout)
        except Expired:
            pass
        finally:
            self._slot = None
            self.deadline = -math.inf

    def due(self, at: float) -> None:
        """Something is due at `at`: wake the task now if it sleeps until later."""
        slot = self._slot
        if at < self.deadline and slot is not None and not slot.done():
            slot.set_result(None)
