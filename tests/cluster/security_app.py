"""The app of the security tests' node processes: the test app, plus message types
that misbehave when a peer makes the node build them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.cluster.apps import app as test_app

__all__ = ("Exits", "Interrupts", "app")


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


def app(system: Any) -> None:
    test_app(system)
