"""State survives only where it should: a restart builds a fresh instance, while the
ref, the registered name and the mail already queued survive it."""

from __future__ import annotations

from typing import Any

import pytest

from actors import Actor, ActorRef
from actors.testkit import TestProbe
from runtime import ActorSystem
from supervisors import Child, Supervisor
from tests.supervisors._workers import Boom, Worker, expect_events

pytestmark = pytest.mark.anyio


class Remembering(Worker):
    """Reports which instance ran on_restart, and with which reason."""

    def on_restart(self, reason: BaseException) -> None:
        self.probe.tell(("restart", self.instance, reason))


class StartsOnly(Actor[Any]):
    """Defines on_start only: the default on_restart runs it again."""

    def __init__(self, probe: ActorRef[Any]) -> None:
        self.probe = probe

    def on_start(self) -> None:
        self.probe.tell("on_start")

    def receive(self, message: Any) -> None:
        raise Boom("always")


async def start(system: ActorSystem, probe: TestProbe, factory: Any = Worker) -> ActorRef[Any]:
    system.spawn(Supervisor("root", children=[Child(factory, probe.ref, "w", name="w")]))
    await expect_events(probe, ("start", "w"))
    ref = system.registry.whereis("w")
    assert ref is not None
    return ref


async def test_a_restarted_actor_is_a_fresh_instance(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    worker = await start(actor_system, probe)
    worker.tell(("note", "kept in memory"))
    await expect_events(probe, ("got", "w", "kept in memory"))
    before = await worker.ask("instance", timeout=1.0)
    worker.tell("crash")
    await expect_events(probe, ("stop", "w"), ("restart", "w"))
    assert await worker.ask("instance", timeout=1.0) != before
    assert await worker.ask("state", timeout=1.0) == []  # built from its spec again


async def test_the_ref_and_the_registered_name_stay_valid(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    worker = await start(actor_system, probe)
    watcher = TestProbe(actor_system)
    watcher.watch(worker)
    worker.tell("crash")
    await expect_events(probe, ("stop", "w"), ("restart", "w"))
    assert worker.is_alive
    assert actor_system.registry.whereis("w") == worker
    assert await worker.ask("ping", timeout=1.0) == ("pong", "w")
    await watcher.expect_no_message(0.02)  # no Terminated: it never stopped


async def test_messages_queued_before_the_restart_are_kept(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    worker = await start(actor_system, probe)
    worker.tell("crash")
    worker.tell_many([("note", 1), ("note", 2)])
    answer = await worker.ask("state", timeout=1.0)  # queued behind them
    await expect_events(
        probe, ("stop", "w"), ("restart", "w"), ("got", "w", 1), ("got", "w", 2)
    )
    assert answer == [1, 2]
    assert actor_system.dead_letters.count == 0


async def test_on_restart_runs_on_the_new_instance_with_the_reason(
    actor_system: ActorSystem,
) -> None:
    probe = TestProbe(actor_system)
    worker = await start(actor_system, probe, Remembering)
    worker.tell("crash")
    await expect_events(probe, ("stop", "w"))
    _, instance, reason = await probe.expect(tuple)
    assert instance == await worker.ask("instance", timeout=1.0)
    assert isinstance(reason, Boom) and str(reason) == "w crashed"


async def test_the_default_on_restart_runs_on_start(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    actor_system.spawn(Supervisor("root", children=[Child(StartsOnly, probe.ref, name="s")]))
    await probe.expect("on_start")
    actor_system.registry.whereis("s").tell("boom")  # type: ignore[union-attr]
    await probe.expect("on_start")
