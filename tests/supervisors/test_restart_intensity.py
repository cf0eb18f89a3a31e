"""Restart intensity: more than `max_restarts` restarts within `within` seconds make a
supervisor give up and fail upward; at the root that stops the system."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import supervisors._supervisor
from actors import ActorRef, Terminated
from actors.testkit import TestProbe
from runtime import ActorSystem
from supervisors import Child, RestartIntensityError, RestartWindow, Supervisor
from tests.supervisors._workers import Boom, Worker, expect_events

pytestmark = pytest.mark.anyio


class FakeClock:
    """Stands in for the supervisors' monotonic clock; `advance` moves it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(supervisors._supervisor, "_clock", fake)
    return fake


def whereis(system: ActorSystem, name: str) -> ActorRef[Any]:
    ref = system.registry.whereis(name)
    assert ref is not None, f"nothing registered as {name!r}"
    return ref


# -- the window itself, against a model ------------------------------------------------


def model(times: list[float], max_restarts: int, within: float) -> list[bool]:
    """For each restart: are there at most `max_restarts` restarts no older than
    `within` seconds, itself included?"""
    return [
        sum(1 for then in times[: index + 1] if now - then <= within) <= max_restarts
        for index, now in enumerate(times)
    ]


@given(
    gaps=st.lists(st.floats(min_value=0.0, max_value=3.0, allow_nan=False), max_size=40),
    max_restarts=st.integers(min_value=0, max_value=6),
    within=st.floats(min_value=0.001, max_value=5.0, allow_nan=False),
)
def test_restart_window_counts_like_the_model(
    gaps: list[float], max_restarts: int, within: float
) -> None:
    times: list[float] = []
    now = 0.0
    for gap in gaps:
        now += gap
        times.append(now)
    window = RestartWindow(max_restarts, within)
    assert [window.record(now) for now in times] == model(times, max_restarts, within)


def test_a_restart_exactly_within_seconds_old_still_counts() -> None:
    window = RestartWindow(max_restarts=1, within=5.0)
    assert window.record(10.0)
    assert not window.record(15.0)  # as OTP: dropped only when Now - Then > Period
    assert window.record(20.5)


# -- a running supervisor --------------------------------------------------------------


def nested(probe: TestProbe, max_restarts: int, within: float = 60.0) -> Supervisor:
    return Supervisor("outer", max_restarts=5, children=[
        Supervisor("inner", max_restarts=max_restarts, within=within, children=[
            Child(Worker, probe.ref, "w", name="w"),
        ]),
    ])


async def test_more_than_max_restarts_within_the_window_fails_the_supervisor_upward(
    actor_system: ActorSystem,
) -> None:
    probe = TestProbe(actor_system)
    actor_system.spawn(nested(probe, max_restarts=2))
    await expect_events(probe, ("start", "w"))
    inner, worker = whereis(actor_system, "inner"), whereis(actor_system, "w")
    for _ in range(2):  # within the budget: the inner supervisor restarts the worker
        worker.tell("crash")
        await expect_events(probe, ("stop", "w"), ("restart", "w"))
    probe.watch(worker)
    worker.tell("crash")  # the third: inner gives up, outer restarts inner
    await expect_events(probe, ("stop", "w"), Terminated(worker, None), ("start", "w"))
    # outer restarted inner in place (same ref); inner built a new worker.
    assert whereis(actor_system, "inner") == inner
    assert whereis(actor_system, "w") != worker
    assert await whereis(actor_system, "w").ask("ping", timeout=1.0) == ("pong", "w")


async def test_max_restarts_zero_gives_up_at_the_first_failure(
    actor_system: ActorSystem,
) -> None:
    probe = TestProbe(actor_system)
    actor_system.spawn(nested(probe, max_restarts=0))
    await expect_events(probe, ("start", "w"))
    whereis(actor_system, "w").tell("crash")
    await expect_events(probe, ("stop", "w"), ("start", "w"))


async def test_restarts_further_apart_than_the_window_never_add_up(
    actor_system: ActorSystem, clock: FakeClock
) -> None:
    probe = TestProbe(actor_system)
    actor_system.spawn(nested(probe, max_restarts=1, within=5.0))
    await expect_events(probe, ("start", "w"))
    worker = whereis(actor_system, "w")
    for _ in range(5):
        clock.advance(5.001)
        worker.tell("crash")
        await expect_events(probe, ("stop", "w"), ("restart", "w"))
    # Two within 5 s (the second exactly 5 s after the first) are over the budget.
    clock.advance(5.0)
    worker.tell("crash")
    await expect_events(probe, ("stop", "w"), ("start", "w"))
    assert whereis(actor_system, "w") != worker


async def test_escalation_goes_through_three_levels(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    top = actor_system.spawn(Supervisor("top", max_restarts=3, children=[
        Child(Worker, probe.ref, "sibling", name="sibling"),
        Supervisor("middle", max_restarts=0, children=[
            Supervisor("bottom", max_restarts=0, children=[
                Child(Worker, probe.ref, "w", name="w"),
            ]),
        ]),
    ]))
    await expect_events(probe, ("start", "sibling"), ("start", "w"))
    middle, bottom = whereis(actor_system, "middle"), whereis(actor_system, "bottom")
    sibling = whereis(actor_system, "sibling")
    sibling_instance = await sibling.ask("instance", timeout=1.0)
    probe.watch(bottom)
    whereis(actor_system, "w").tell("crash")
    # bottom gives up, then middle; top restarts middle, which builds a new bottom.
    await expect_events(probe, ("stop", "w"), Terminated(bottom, None), ("start", "w"))
    assert whereis(actor_system, "middle") == middle
    assert whereis(actor_system, "bottom") != bottom
    assert whereis(actor_system, "sibling") == sibling
    # top restarted only middle (one_for_one): its other child was not touched.
    assert await sibling.ask("instance", timeout=1.0) == sibling_instance
    assert top.is_alive
    await probe.expect_no_message(0.02)


async def test_the_root_giving_up_stops_the_system_with_the_reason(anyio_backend: str) -> None:
    async with ActorSystem("fragile", shutdown_timeout=5.0) as system:
        probe = TestProbe(system)
        root = system.spawn(Supervisor("root", max_restarts=1, within=60.0, children=[
            Supervisor("middle", max_restarts=0, children=[
                Child(Worker, probe.ref, "w", name="w"),
            ]),
            Child(Worker, probe.ref, "other", name="other"),
        ]))
        await expect_events(probe, ("start", "w"), ("start", "other"))
        whereis(system, "w").tell("crash")
        await expect_events(probe, ("stop", "w"), ("start", "w"))  # root restarts middle
        whereis(system, "w").tell("crash")
        failure = await system.wait_stopped()
        assert failure is system.failure
        assert isinstance(failure, RestartIntensityError)
        assert failure.supervisor == root.address
        with pytest.raises(RestartIntensityError, match=(
            r"supervisor fragile/root gave up: more than 1 restarts within 60 s "
            r"\(last: fragile/middle\)"
        )):
            raise failure
        assert isinstance(failure.__cause__, RestartIntensityError)  # middle's
        assert isinstance(failure.__cause__.__cause__, Boom)  # the worker's
        assert system.snapshot() == []
        # Every actor stopped, children before parents.
        assert [await probe.receive() for _ in range(2)] == [("stop", "other"), ("stop", "w")]
