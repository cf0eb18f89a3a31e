"""The loose-coupling rule: a failing non-critical child degrades, it never takes its
supervisor or its critical siblings down."""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest

from actors import ActorRef, ActorUnavailableError, DeadLetter
from actors.testkit import TestProbe
from runtime import ActorSystem
from supervisors import (
    DEGRADED,
    RECOVERED,
    Backoff,
    Child,
    Degraded,
    Recovered,
    Supervisor,
    degraded,
    recovered,
)
from tests.supervisors._workers import LATE, Worker, expect_events, record_backoffs

pytestmark = pytest.mark.anyio


def shop(probe: TestProbe, backoff: Backoff | None) -> Supervisor:
    # A budget of one restart: a critical child failing twice would stop the shop.
    return Supervisor("shop", max_restarts=1, within=60.0, children=[
        Child(Worker, probe.ref, "orders", name="orders"),
        Child(Worker, probe.ref, "points", name="points", critical=False, backoff=backoff),
    ])


def whereis(system: ActorSystem, name: str) -> ActorRef[Any]:
    ref = system.registry.whereis(name)
    assert ref is not None
    return ref


async def test_failing_past_its_budget_never_stops_the_supervisor_or_the_critical_sibling(
    actor_system: ActorSystem,
) -> None:
    probe = TestProbe(actor_system)
    root = actor_system.spawn(shop(probe, Backoff(initial=0.02, maximum=0.02, jitter=0.0)))
    await expect_events(probe, ("start", "orders"), ("start", "points"))
    orders, points = whereis(actor_system, "orders"), whereis(actor_system, "points")
    orders_instance = await orders.ask("instance", timeout=1.0)
    for _ in range(6):  # six failures in a row: far past the shop's budget and its own
        points.tell("crash")
        await expect_events(probe, ("stop", "points"))
        # While points is down, orders answers at once.
        assert await orders.ask("ping", timeout=1.0) == ("pong", "orders")
        await expect_events(probe, ("restart", "points"))
    assert root.is_alive
    assert await orders.ask("instance", timeout=1.0) == orders_instance  # never restarted
    assert await points.ask("ping", timeout=1.0) == ("pong", "points")


async def test_the_critical_sibling_keeps_answering_asks_throughout(
    actor_system: ActorSystem,
) -> None:
    probe = TestProbe(actor_system)
    actor_system.spawn(shop(probe, Backoff(initial=0.001, maximum=0.002, jitter=0.0)))
    await expect_events(probe, ("start", "orders"), ("start", "points"))
    orders, points = whereis(actor_system, "orders"), whereis(actor_system, "points")
    answered = 0
    done = anyio.Event()

    async def keep_asking() -> None:
        nonlocal answered
        # Bounded, so that the asks do not crowd out the restarts they run beside.
        while not done.is_set() and answered < 3000:
            assert await orders.ask("ping", timeout=1.0) == ("pong", "orders")
            answered += 1

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(keep_asking)
        for _ in range(4):
            points.tell("crash")
            await expect_events(probe, ("stop", "points"), ("restart", "points"))
        done.set()
    assert answered > 0


async def test_while_down_asks_fail_at_once_and_tells_go_to_dead_letters(
    actor_system: ActorSystem,
) -> None:
    probe = TestProbe(actor_system)
    events = TestProbe(actor_system)
    letters = TestProbe(actor_system)
    actor_system.topics.subscribe(DEGRADED, events.ref)
    actor_system.topics.subscribe(RECOVERED, events.ref)
    actor_system.topics.subscribe("dead_letters", letters.ref)
    # Long enough that even a loaded machine asks within it (the asks below need a
    # few turns; the test then waits the rest of it out).
    actor_system.spawn(shop(probe, Backoff(initial=1.0, maximum=1.0, jitter=0.0)))
    await expect_events(probe, ("start", "orders"), ("start", "points"))
    points = whereis(actor_system, "points")

    async def ask_behind_the_crash() -> None:
        # Queued behind the crash: it fails when points goes down, it does not wait.
        with pytest.raises(ActorUnavailableError, match=r"actor test/points is unavailable"):
            await points.ask("ping", timeout=5.0)

    async with anyio.create_task_group() as tasks:
        points.tell("crash")
        tasks.start_soon(ask_behind_the_crash)
        await events.expect(Degraded)
    await expect_events(probe, ("stop", "points"))
    with pytest.raises(ActorUnavailableError, match=r"retry later or degrade without it"):
        await points.ask("ping", timeout=5.0)
    # At once, not after the back-off: points has not restarted, nor recovered.
    assert len(probe) == 0 and len(events) == 0
    points.tell(("note", "lost"))
    assert await letters.expect(DeadLetter) == DeadLetter(
        ("note", "lost"), points.address, "unavailable"
    )
    await events.expect(Recovered)
    assert await points.ask("ping", timeout=1.0) == ("pong", "points")
    assert await points.ask("state", timeout=1.0) == []  # the lost note never arrived


async def test_degraded_and_recovered_are_published_on_the_system_topics(
    actor_system: ActorSystem,
) -> None:
    assert (degraded, recovered) == ("supervisors.degraded", "supervisors.recovered")
    probe = TestProbe(actor_system)
    events = TestProbe(actor_system)
    actor_system.topics.subscribe(degraded, events.ref)
    actor_system.topics.subscribe(recovered, events.ref)
    root = actor_system.spawn(shop(probe, Backoff(initial=0.05, maximum=0.05, jitter=0.0)))
    await expect_events(probe, ("start", "orders"), ("start", "points"))
    points = whereis(actor_system, "points")
    points.tell("crash")
    down = await events.expect(Degraded)
    assert (down.supervisor, down.child, down.restarts) == (root.address, points.address, 0)
    assert "points crashed" in down.reason
    up = await events.expect(Recovered)
    assert (up.supervisor, up.child) == (root.address, points.address)
    assert 0.05 <= up.downtime < 1.0
    points.tell("crash")
    assert (await events.expect(Degraded)).restarts == 1
    await events.expect(Recovered)
    # The critical sibling's restarts publish nothing.
    await expect_events(probe, *[("stop", "points"), ("restart", "points")] * 2)
    whereis(actor_system, "orders").tell("crash")
    await expect_events(probe, ("stop", "orders"), ("restart", "orders"))
    await events.expect_no_message(0.05)


async def test_past_its_budget_a_child_without_backoff_retries_on_the_default_one(
    actor_system: ActorSystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    scheduled = record_backoffs(monkeypatch)
    probe = TestProbe(actor_system)
    actor_system.spawn(shop(probe, None))
    await expect_events(probe, ("start", "orders"), ("start", "points"))
    points = whereis(actor_system, "points")
    points.tell("crash")  # within its own budget of one: restarted at once
    await expect_events(probe, ("stop", "points"), ("restart", "points"))
    assert scheduled == []  # no back-off: no timer between the stop and the restart
    began = time.monotonic()
    points.tell("crash")  # past it: the default back-off starts at 0.1 s (jitter 0.2)
    await expect_events(probe, ("stop", "points"), ("restart", "points"))
    waited = time.monotonic() - began
    [delay] = scheduled
    assert 0.08 <= delay <= 0.12
    assert delay <= waited < delay + LATE


async def test_a_non_critical_subtree_that_gives_up_degrades_without_escalating(
    actor_system: ActorSystem,
) -> None:
    probe = TestProbe(actor_system)
    events = TestProbe(actor_system)
    actor_system.topics.subscribe(DEGRADED, events.ref)
    root = actor_system.spawn(Supervisor("shop", max_restarts=0, children=[
        Child(Worker, probe.ref, "orders", name="orders"),
        Supervisor("loyalty", max_restarts=0, critical=False,
                   backoff=Backoff(initial=0.01, maximum=0.01, jitter=0.0), children=[
                       Child(Worker, probe.ref, "points", name="points"),
                   ]),
    ]))
    await expect_events(probe, ("start", "orders"), ("start", "points"))
    loyalty = whereis(actor_system, "loyalty")
    for _ in range(3):  # loyalty gives up each time; shop (budget 0) never does
        whereis(actor_system, "points").tell("crash")
        await expect_events(probe, ("stop", "points"), ("start", "points"))
    assert (await events.expect(Degraded)).child == loyalty.address
    assert root.is_alive and whereis(actor_system, "loyalty") == loyalty
    assert await whereis(actor_system, "orders").ask("ping", timeout=1.0) == ("pong", "orders")
