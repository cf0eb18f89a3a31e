"""What a running supervisor keeps per child: its slot and its back-off timer message."""

from __future__ import annotations

from typing import Any

from actors import ActorRef
from supervisors._childspec import ChildSpec
from supervisors._window import RestartWindow

__all__ = ("Entry", "Restart")


class Entry:
    """One child slot of a running supervisor."""

    __slots__ = ("attempt", "degraded", "down_since", "finished", "ref", "restarts", "spec",
                 "started_at", "status", "timer", "window")

    def __init__(self, spec: ChildSpec, max_restarts: int, within: float) -> None:
        self.spec = spec
        self.ref: ActorRef[Any] | None = None
        self.status = "stopped"
        self.finished = False  # ended for good (temporary, transient that exited, removed)
        self.attempt = 0  # consecutive back-off steps
        self.restarts = 0
        self.started_at = 0.0
        self.degraded = False
        self.down_since = 0.0
        self.timer: Restart | None = None  # the back-off restart it waits for
        # A non-critical child's own budget: it never counts toward the supervisor's.
        self.window = None if spec.critical else RestartWindow(max_restarts, within)


class Restart:
    """The back-off timer's message to the supervisor itself."""

    __slots__ = ("entries", "reason")

    def __init__(self, entries: list[Entry], reason: BaseException | None) -> None:
        self.entries = entries
        self.reason = reason
