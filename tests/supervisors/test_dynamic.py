"""Dynamic supervisors: children added and removed at run time, restarted one_for_one."""

from __future__ import annotations

from typing import Any

import pytest

from actors import ActorCrashedError, NameTakenError, Terminated
from actors.testkit import TestProbe
from runtime import ActorSystem
from supervisors import (
    Child,
    ChildInfo,
    DynamicSupervisor,
    DynamicSupervisorRef,
    MaxChildrenError,
    Supervisor,
)
from tests.supervisors._workers import Boom, Worker, expect_events

pytestmark = pytest.mark.anyio


def jobs(system: ActorSystem, **options: Any) -> DynamicSupervisorRef:
    ref = system.spawn(DynamicSupervisor("jobs", **options))
    assert isinstance(ref, DynamicSupervisorRef)
    return ref


async def test_start_child_returns_once_on_start_ran_and_which_children_lists_it(
    actor_system: ActorSystem,
) -> None:
    probe = TestProbe(actor_system)
    sup = jobs(actor_system)
    assert await sup.which_children() == []
    first = await sup.start_child(Child(Worker, probe.ref, "one", name="one"))
    assert len(probe) == 1  # on_start had run when start_child returned
    await expect_events(probe, ("start", "one"))
    second = await sup.start_child(Child(Worker, probe.ref, "two", restart="transient"))
    await expect_events(probe, ("start", "two"))
    assert await first.ask("ping", timeout=1.0) == ("pong", "one")
    assert await sup.which_children() == [
        ChildInfo("one", first, "running", "permanent", True),
        ChildInfo("Worker", second, "running", "transient", True),
    ]


async def test_terminate_child_stops_it_for_good(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    sup = jobs(actor_system)
    child = await sup.start_child(Child(Worker, probe.ref, "one"))
    await expect_events(probe, ("start", "one"))
    probe.watch(child)
    assert await sup.terminate_child(child) is True
    await expect_events(probe, ("stop", "one"), Terminated(child, None))
    await probe.expect_no_message(0.05)  # a permanent child, yet not restarted
    assert await sup.which_children() == []
    assert await sup.terminate_child(child) is False
    assert await sup.terminate_child(probe.ref) is False  # not a child of it


async def test_max_children_refuses_more_and_the_supervisor_carries_on(
    actor_system: ActorSystem,
) -> None:
    probe = TestProbe(actor_system)
    sup = jobs(actor_system, max_children=2)
    first = await sup.start_child(Child(Worker, probe.ref, "one"))
    await sup.start_child(Child(Worker, probe.ref, "two"))
    with pytest.raises(MaxChildrenError, match=(
        r"supervisor test/jobs already runs its max_children=2; terminate a child first "
        r"or raise max_children"
    )):
        await sup.start_child(Child(Worker, probe.ref, "three"))
    assert len(await sup.which_children()) == 2
    await sup.terminate_child(first)
    await sup.start_child(Child(Worker, probe.ref, "three"))
    assert [info.ref.is_alive for info in await sup.which_children()] == [True, True]


async def test_a_child_failing_in_on_start_makes_start_child_raise_and_is_not_kept(
    actor_system: ActorSystem,
) -> None:
    probe = TestProbe(actor_system)
    sup = jobs(actor_system)
    with pytest.raises(ActorCrashedError, match=r"Boom: bad cannot start") as caught:
        await sup.start_child(Child(Worker, probe.ref, "bad", True, name="bad"))
    assert isinstance(caught.value.__cause__, Boom)
    assert await sup.which_children() == []
    await expect_events(probe, ("stop", "bad"))
    await probe.expect_no_message(0.05)  # never restarted
    assert actor_system.registry.whereis("bad") is None
    assert await (await sup.start_child(Child(Worker, probe.ref, "ok"))).ask("ping") == (
        "pong", "ok"
    )


async def test_a_taken_name_makes_start_child_raise_and_the_supervisor_carries_on(
    actor_system: ActorSystem,
) -> None:
    probe = TestProbe(actor_system)
    sup = jobs(actor_system)
    await sup.start_child(Child(Worker, probe.ref, "one", name="one"))
    with pytest.raises(NameTakenError, match=r"'one'"):
        await sup.start_child(Child(Worker, probe.ref, "one", name="one"))
    assert [info.name for info in await sup.which_children()] == ["one"]


async def test_children_are_restarted_one_for_one(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    sup = jobs(actor_system)
    one = await sup.start_child(Child(Worker, probe.ref, "one"))
    two = await sup.start_child(Child(Worker, probe.ref, "two"))
    await expect_events(probe, ("start", "one"), ("start", "two"))
    one_before, two_before = await one.ask("instance"), await two.ask("instance")
    one.tell("crash")
    await expect_events(probe, ("stop", "one"), ("restart", "one"))
    await probe.expect_no_message(0.02)
    assert await one.ask("instance") != one_before
    assert await two.ask("instance") == two_before
    assert [info.status for info in await sup.which_children()] == ["running", "running"]


async def test_a_temporary_child_that_exits_is_forgotten(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    sup = jobs(actor_system)
    child = await sup.start_child(Child(Worker, probe.ref, "once", restart="temporary"))
    await expect_events(probe, ("start", "once"))
    child.tell("crash")
    await expect_events(probe, ("stop", "once"))
    await probe.expect_no_message(0.02)
    assert await sup.which_children() == []


async def test_a_dynamic_supervisor_nests_in_a_static_tree(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    actor_system.spawn(Supervisor("app", children=[DynamicSupervisor("pool", max_children=1)]))
    plain = actor_system.registry.whereis("pool")
    assert plain is not None
    pool = DynamicSupervisorRef(plain)
    assert pool == plain and hash(pool) == hash(plain)
    child = await pool.start_child(Child(Worker, probe.ref, "job"))
    assert await child.ask("ping") == ("pong", "job")


async def test_a_dynamic_supervisor_past_its_intensity_fails_upward(
    actor_system: ActorSystem,
) -> None:
    probe = TestProbe(actor_system)
    actor_system.spawn(Supervisor("app", children=[DynamicSupervisor("pool", max_restarts=1)]))
    plain = actor_system.registry.whereis("pool")
    assert plain is not None
    pool = DynamicSupervisorRef(plain)
    child = await pool.start_child(Child(Worker, probe.ref, "job"))
    await expect_events(probe, ("start", "job"))
    child.tell("crash")
    await expect_events(probe, ("stop", "job"), ("restart", "job"))
    probe.watch(child)
    child.tell("crash")  # the second restart is one too many: app restarts pool
    await expect_events(probe, ("stop", "job"), Terminated(child, None))
    # The restarted pool is empty: dynamic children are not part of its spec.
    assert actor_system.registry.whereis("pool") == plain
    assert await pool.which_children() == []
