"""Restart types: permanent always comes back, transient only after a failure, temporary
never (not even as a sibling under one_for_all)."""

from __future__ import annotations

import pytest

from actors import Terminated
from actors.testkit import TestProbe
from runtime import ActorSystem
from supervisors import Child, Supervisor
from supervisors._spec import Restart
from tests.supervisors._workers import Worker, expect_events

pytestmark = pytest.mark.anyio


def tree(probe: TestProbe, restart: Restart) -> Supervisor:
    return Supervisor("root", max_restarts=10, children=[
        Child(Worker, probe.ref, "w", name="w", restart=restart),
        Child(Worker, probe.ref, "other", name="other"),
    ])


async def test_permanent_is_restarted_after_a_failure(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    actor_system.spawn(tree(probe, "permanent"))
    await expect_events(probe, ("start", "w"), ("start", "other"))
    worker = actor_system.registry.whereis("w")
    assert worker is not None
    worker.tell("crash")
    await expect_events(probe, ("stop", "w"), ("restart", "w"))
    assert await worker.ask("ping", timeout=1.0) == ("pong", "w")


async def test_permanent_is_restarted_after_a_normal_stop(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    actor_system.spawn(tree(probe, "permanent"))
    await expect_events(probe, ("start", "w"), ("start", "other"))
    worker = actor_system.registry.whereis("w")
    assert worker is not None
    probe.watch(worker)
    worker.tell("stop")
    # As in OTP, an actor that stopped is gone: its watchers hear of it, and the
    # supervisor starts a new one (on_start, not on_restart) under the same name.
    await expect_events(probe, ("stop", "w"), Terminated(worker, None), ("start", "w"))
    again = actor_system.registry.whereis("w")
    assert again is not None and again != worker
    assert await again.ask("ping", timeout=1.0) == ("pong", "w")


async def test_transient_is_restarted_after_a_failure(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    actor_system.spawn(tree(probe, "transient"))
    await expect_events(probe, ("start", "w"), ("start", "other"))
    worker = actor_system.registry.whereis("w")
    assert worker is not None
    worker.tell("crash")
    await expect_events(probe, ("stop", "w"), ("restart", "w"))
    assert await worker.ask("ping", timeout=1.0) == ("pong", "w")


async def test_transient_that_stops_normally_stays_stopped(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    root = actor_system.spawn(tree(probe, "transient"))
    await expect_events(probe, ("start", "w"), ("start", "other"))
    worker = actor_system.registry.whereis("w")
    assert worker is not None
    probe.watch(worker)
    worker.tell("stop")
    await expect_events(probe, ("stop", "w"), Terminated(worker, None))
    await probe.expect_no_message(0.05)
    assert actor_system.registry.whereis("w") is None
    assert root.is_alive


async def test_temporary_is_never_restarted(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    root = actor_system.spawn(tree(probe, "temporary"))
    await expect_events(probe, ("start", "w"), ("start", "other"))
    worker = actor_system.registry.whereis("w")
    assert worker is not None
    probe.watch(worker)
    worker.tell("crash")
    await expect_events(probe, ("stop", "w"))
    terminated = await probe.expect(Terminated)
    assert terminated.ref == worker and str(terminated.reason) == "w crashed"
    await probe.expect_no_message(0.05)
    assert actor_system.registry.whereis("w") is None
    assert root.is_alive


async def test_temporary_that_stops_normally_is_not_restarted(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    actor_system.spawn(tree(probe, "temporary"))
    await expect_events(probe, ("start", "w"), ("start", "other"))
    worker = actor_system.registry.whereis("w")
    assert worker is not None
    worker.tell("stop")
    await expect_events(probe, ("stop", "w"))
    await probe.expect_no_message(0.05)
    assert not worker.is_alive


async def test_temporary_sibling_is_stopped_not_restarted_under_one_for_all(
    actor_system: ActorSystem,
) -> None:
    probe = TestProbe(actor_system)
    actor_system.spawn(Supervisor("root", strategy="one_for_all", children=[
        Child(Worker, probe.ref, "a", name="a"),
        Child(Worker, probe.ref, "temp", name="temp", restart="temporary"),
        Child(Worker, probe.ref, "trans", name="trans", restart="transient"),
    ]))
    await expect_events(probe, ("start", "a"), ("start", "temp"), ("start", "trans"))
    temp = actor_system.registry.whereis("temp")
    assert temp is not None
    actor_system.registry.whereis("a").tell("crash")  # type: ignore[union-attr]
    # A transient sibling is restarted with the group (it did not exit by itself);
    # the temporary one is stopped for good.
    await expect_events(
        probe,
        ("stop", "a"), ("stop", "trans"), ("stop", "temp"),
        ("restart", "a"), ("restart", "trans"),
    )
    await probe.expect_no_message(0.05)
    assert not temp.is_alive
    assert actor_system.registry.whereis("temp") is None
