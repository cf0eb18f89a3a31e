"""Shutdown: children stop last started first, each within its `shutdown=` deadline."""

from __future__ import annotations

import time

import pytest

from actors import Terminated
from actors.testkit import TestProbe
from runtime import ActorSystem
from supervisors import Child, Supervisor
from tests.supervisors._workers import HangingStop, Worker, expect_events

pytestmark = pytest.mark.anyio


async def test_children_stop_in_reverse_start_order(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    root = actor_system.spawn(Supervisor("root", children=[
        Child(Worker, probe.ref, "a", name="a"),
        Supervisor("inner", children=[
            Child(Worker, probe.ref, "b1", name="b1"),
            Child(Worker, probe.ref, "b2", name="b2"),
        ]),
        Child(Worker, probe.ref, "c", name="c"),
    ]))
    await expect_events(probe, ("start", "a"), ("start", "b1"), ("start", "b2"), ("start", "c"))
    probe.watch(root)
    actor_system.stop(root)
    await expect_events(
        probe, ("stop", "c"), ("stop", "b2"), ("stop", "b1"), ("stop", "a"),
        Terminated(root, None),
    )


async def test_a_replaced_child_keeps_its_place_in_the_stop_order(
    actor_system: ActorSystem,
) -> None:
    probe = TestProbe(actor_system)
    root = actor_system.spawn(Supervisor("root", children=[
        Child(Worker, probe.ref, name, name=name) for name in "abc"
    ]))
    await expect_events(probe, ("start", "a"), ("start", "b"), ("start", "c"))
    actor_system.registry.whereis("a").tell("stop")  # type: ignore[union-attr]
    await expect_events(probe, ("stop", "a"), ("start", "a"))  # a new actor for a
    actor_system.stop(root)
    await expect_events(probe, ("stop", "c"), ("stop", "b"), ("stop", "a"))


async def test_a_hanging_on_stop_is_cancelled_after_its_shutdown_and_the_rest_stop(
    actor_system: ActorSystem,
) -> None:
    probe = TestProbe(actor_system)
    root = actor_system.spawn(Supervisor("root", children=[
        Child(Worker, probe.ref, "a", name="a"),
        Child(HangingStop, probe.ref, "hang", name="hang", shutdown=0.1),
        Child(Worker, probe.ref, "c", name="c"),
    ]))
    await expect_events(probe, ("start", "a"), ("start", "hang"), ("start", "c"))
    hang = actor_system.registry.whereis("hang")
    assert hang is not None
    probe.watch(hang)
    probe.watch(root)
    began = time.monotonic()
    actor_system.stop(root)
    await expect_events(probe, ("stop", "c"), ("stopping", "hang"), Terminated(hang, None))
    waited = time.monotonic() - began
    await expect_events(probe, ("stop", "a"), Terminated(root, None))
    assert 0.09 <= waited < 2.5  # cut short at 0.1 s, not at the system's 5 s


async def test_children_that_stop_in_time_leave_no_kill_timer_behind(
    actor_system: ActorSystem,
) -> None:
    probe = TestProbe(actor_system)
    timers = actor_system._host.timers
    idle = len(timers)
    root = actor_system.spawn(Supervisor("root", children=[
        Child(Worker, probe.ref, f"w{i}", name=f"w{i}", shutdown=30.0) for i in range(200)
    ]))
    await expect_events(probe, *[("start", f"w{i}") for i in range(200)])
    probe.watch(root)
    actor_system.stop(root)
    await expect_events(probe, *[("stop", f"w{i}") for i in reversed(range(200))],
                        Terminated(root, None))
    # Each stop armed a kill for 30 s later; each child stopped in time, so none is
    # left to fire (and none keeps its stopped child's cell alive until then).
    assert len(timers) == idle


async def test_a_restart_does_not_wait_past_a_hanging_on_stop_either(
    actor_system: ActorSystem,
) -> None:
    probe = TestProbe(actor_system)
    actor_system.spawn(Supervisor("root", children=[
        Child(HangingStop, probe.ref, "hang", name="hang", shutdown=0.05),
    ]))
    await expect_events(probe, ("start", "hang"))
    hang = actor_system.registry.whereis("hang")
    assert hang is not None
    began = time.monotonic()
    hang.tell("crash")
    await expect_events(probe, ("stopping", "hang"), ("restart", "hang"))
    assert 0.045 <= time.monotonic() - began < 2.5  # at 0.05 s, not the system's 5 s
    # The teardown was cut short, not turned into a stop: the same actor serves again.
    assert await hang.ask("ping", timeout=1.0) == ("pong", "hang")


async def test_the_system_exits_with_a_hanging_child_and_leaves_nothing_running(
    anyio_backend: str,
) -> None:
    began = time.monotonic()
    async with ActorSystem("hang", shutdown_timeout=5.0) as system:
        probe = TestProbe(system)
        system.spawn(Supervisor("root", children=[
            Child(Worker, probe.ref, "a", name="a"),
            Child(HangingStop, probe.ref, "hang", name="hang", shutdown=0.1),
        ]))
        await expect_events(probe, ("start", "a"), ("start", "hang"))
    # Well under the system's own 5 s deadline: the child's shutdown= cut it short.
    assert time.monotonic() - began < 2.5
    assert system.snapshot() == []
    await expect_events(probe, ("stopping", "hang"), ("stop", "a"))


async def test_a_tree_that_cannot_be_built_raises_and_stops_what_it_built(
    actor_system: ActorSystem,
) -> None:
    probe = TestProbe(actor_system)
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'colour'"):
        actor_system.spawn(Supervisor("root", children=[
            Child(Worker, probe.ref, "a", name="a"),
            Child(Worker, probe.ref, "b", name="b", colour="red"),
        ]))
    # a was built first; it stops without ever starting (no on_start, so no on_stop).
    built = actor_system.registry.names().get("a")
    assert built is not None
    await probe.expect_terminated(built)
    await probe.expect_no_message(0.02)
    assert actor_system.registry.whereis("a") is None
    assert actor_system.registry.whereis("root") is None
    assert [info.name for info in actor_system.snapshot()] == [None]  # the probe alone
