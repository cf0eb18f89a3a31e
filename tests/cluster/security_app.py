"""The app of the security tests' node processes: the test app, plus message types
that misbehave when a peer makes the node build them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from actors import Actor
from tests.cluster.apps import app as test_app

__all__ = ("Big", "Exits", "Interrupts", "app")


@dataclass
class Exits:
    """Building one raises SystemExit, which passes every `except Exception`."""

    code: int

    def __post_init__(self) -> None:
        raise SystemExit(self.code)


@dataclass
class Interrupts:
    """Building one raises KeyboardInterrupt."""

    code: int

    def __post_init__(self) -> None:
        raise KeyboardInterrupt


class Big(Actor[int]):
    """Asked `n`, answers `n` bytes: over the frame limit, a reply that cannot travel."""

    def __init__(self) -> None:
        self.asked = 0

    def receive(self, message: int) -> Any:
        self.asked += 1
        if message < 0:
            return self.asked  # how many asks it has handled: it kept running
        return b"x" * message


def app(system: Any) -> None:
    test_app(system)
    system.spawn(Big, name="big")
