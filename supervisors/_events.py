"""What supervisors publish and raise."""

from __future__ import annotations

import msgspec

from actors.errors import ActorError

__all__ = ("DEGRADED", "RECOVERED", "Degraded", "Recovered", "RestartIntensityError")

DEGRADED = "supervisors.degraded"
RECOVERED = "supervisors.recovered"


class Degraded(msgspec.Struct, frozen=True):
    """A non-critical child went down; published on the topic ``supervisors.degraded``."""

    supervisor: str
    child: str
    reason: str
    restarts: int


class Recovered(msgspec.Struct, frozen=True):
    """A non-critical child is serving again; published on ``supervisors.recovered``."""

    supervisor: str
    child: str
    downtime: float


class RestartIntensityError(ActorError):
    """A supervisor restarted its children too often and gave up; `__cause__` is the
    last child's error."""

    def __init__(self, supervisor: str, max_restarts: int, within: float, child: str) -> None:
        super().__init__(supervisor, max_restarts, within, child)
        self.supervisor = supervisor
        self.max_restarts = max_restarts
        self.within = within
        self.child = child

    def __str__(self) -> str:
        return (
            f"supervisor {self.supervisor} gave up: more than {self.max_restarts} restarts "
            f"within {self.within:g} s (last: {self.child}); fix the failing child, or raise "
            "max_restarts/within, or mark it critical=False if the tree can run without it"
        )
