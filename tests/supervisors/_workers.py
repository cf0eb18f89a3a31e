"""Actors the supervision scenarios share: each reports its hooks to a probe, in order."""

from __future__ import annotations

import itertools
from typing import Any

import anyio
import pytest

from actors import Actor, ActorRef
from actors.testkit import TestProbe
from supervisors import Backoff

# Every instance built gets the next number, so a test can tell a fresh instance from an
# old one by asking for it.
_instances = itertools.count(1)


class Boom(Exception):
    """The failure the scenarios inject."""


class Worker(Actor[Any]):
    """Reports ``("start" | "restart" | "stop", name)`` to `probe` and answers asks.

    Messages: ``"ping"`` answers ``("pong", name)``; ``"instance"`` answers this
    instance's number; ``"crash"`` raises `Boom`; ``"stop"`` stops the actor normally;
    ``("note", x)`` reports ``("got", name, x)``; ``"state"`` answers what `state` holds.
    """

    def __init__(self, probe: ActorRef[Any], name: str, fail_start: bool = False) -> None:
        self.probe = probe
        self.name = name
        self.fail_start = fail_start
        self.instance = next(_instances)
        self.state: list[Any] = []

    def on_start(self) -> None:
        if self.fail_start:
            raise Boom(f"{self.name} cannot start")
        self.probe.tell(("start", self.name))

    def on_restart(self, reason: BaseException) -> None:
        self.probe.tell(("restart", self.name))

    def on_stop(self, reason: BaseException | None) -> None:
        self.probe.tell(("stop", self.name))

    def receive(self, message: Any) -> Any:
        match message:
            case "ping":
                return ("pong", self.name)
            case "instance":
                return self.instance
            case "crash":
                raise Boom(f"{self.name} crashed")
            case "stop":
                self.context.stop()
            case ("note", value):
                self.state.append(value)
                self.probe.tell(("got", self.name, value))
            case "state":
                return list(self.state)
        return None


class FlakyRestart(Worker):
    """A worker whose `on_restart` fails while `failures` (shared by its instances) is
    not empty, taking one from it each time."""

    def __init__(self, probe: ActorRef[Any], name: str, failures: list[int]) -> None:
        super().__init__(probe, name)
        self.failures = failures

    def on_restart(self, reason: BaseException) -> None:
        if self.failures:
            self.failures.pop()
            self.probe.tell(("restart failed", self.name))
            raise Boom(f"{self.name} cannot restart")
        super().on_restart(reason)


class HangingStop(Worker):
    """A worker whose `on_stop` never returns (until it is cancelled)."""

    async def on_stop(self, reason: BaseException | None) -> None:  # type: ignore[override]
        self.probe.tell(("stopping", self.name))
        await anyio.sleep_forever()


async def expect_events(probe: TestProbe, *events: Any) -> None:
    """Take the next messages from `probe` and assert they are `events`, in order."""
    got = []
    for _ in events:
        try:
            got.append(await probe.receive())
        except AssertionError:
            got.append("<nothing>")
            break
    assert got == list(events), f"expected {list(events)},\n     got {got}"


# Timers fire on the event loop: late by a scheduling delay, never early. A test of a
# back-off checks the delay the supervisor computed (`record_backoffs`) exactly, that
# the restart came no sooner, and that it came no later than this: room for a machine
# loaded by other work (a timer and three messages' hops late), still far short of the
# next step of any back-off schedule the tests use.
LATE = 1.0


def record_backoffs(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The back-off delays supervisors compute from now on, in order: what they set
    their restart timers to (`Backoff.delay`, the one place a delay is computed)."""
    delays: list[float] = []
    compute = Backoff.delay

    def delay(self: Backoff, attempt: int, *, jitter: bool = True) -> float:
        value = compute(self, attempt, jitter=jitter)
        delays.append(value)
        return value

    monkeypatch.setattr(Backoff, "delay", delay)
    return delays
