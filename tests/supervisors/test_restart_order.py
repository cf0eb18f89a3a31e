"""Restart order per strategy: who is stopped, in which order, and who keeps its ref.

As in OTP, the failed child's `on_stop` runs first (it has already failed); the others
in the restart group stop in reverse start order, then the whole group starts again
in start order. Siblings outside the group are not touched and keep their refs.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from actors import Actor, ActorRef
from actors.testkit import TestProbe
from runtime import ActorSystem
from supervisors import Backoff, Child, Supervisor
from supervisors._spec import Strategy
from tests.supervisors._workers import FlakyRestart, Worker, expect_events

pytestmark = pytest.mark.anyio

NAMES = ("a", "b", "c", "d")


async def start_tree(
    system: ActorSystem, strategy: Strategy
) -> tuple[TestProbe, dict[str, ActorRef[Any]]]:
    probe = TestProbe(system)
    system.spawn(Supervisor("root", strategy=strategy, max_restarts=10, children=[
        Child(Worker, probe.ref, name, name=name) for name in NAMES
    ]))
    await expect_events(probe, *(("start", name) for name in NAMES))
    refs = {name: system.registry.whereis(name) for name in NAMES}
    assert all(ref is not None for ref in refs.values())
    return probe, refs  # type: ignore[return-value]


async def instances(refs: dict[str, ActorRef[Any]]) -> dict[str, int]:
    return {name: await ref.ask("instance", timeout=1.0) for name, ref in refs.items()}


async def test_children_start_in_list_order(actor_system: ActorSystem) -> None:
    _, refs = await start_tree(actor_system, "one_for_one")
    # start_tree asserted the order of the on_start calls; the refs answer in that order.
    assert [await refs[name].ask("ping", timeout=1.0) for name in NAMES] == [
        ("pong", name) for name in NAMES
    ]


async def test_one_for_one_restarts_only_the_failed_child(actor_system: ActorSystem) -> None:
    probe, refs = await start_tree(actor_system, "one_for_one")
    before = await instances(refs)
    refs["b"].tell("crash")
    await expect_events(probe, ("stop", "b"), ("restart", "b"))
    await probe.expect_no_message(0.02)
    after = await instances(refs)
    assert [name for name in NAMES if after[name] != before[name]] == ["b"]
    assert {name: actor_system.registry.whereis(name) for name in NAMES} == refs


async def test_one_for_all_stops_the_others_in_reverse_then_restarts_all_in_order(
    actor_system: ActorSystem,
) -> None:
    probe, refs = await start_tree(actor_system, "one_for_all")
    before = await instances(refs)
    refs["b"].tell("crash")
    await expect_events(
        probe,
        ("stop", "b"), ("stop", "d"), ("stop", "c"), ("stop", "a"),
        ("restart", "a"), ("restart", "b"), ("restart", "c"), ("restart", "d"),
    )
    after = await instances(refs)
    assert all(after[name] != before[name] for name in NAMES)
    # Every child keeps its ref and its name across the group restart.
    assert {name: actor_system.registry.whereis(name) for name in NAMES} == refs


async def test_rest_for_one_restarts_those_started_after_and_keeps_earlier_refs(
    actor_system: ActorSystem,
) -> None:
    probe, refs = await start_tree(actor_system, "rest_for_one")
    before = await instances(refs)
    refs["b"].tell("crash")
    await expect_events(
        probe,
        ("stop", "b"), ("stop", "d"), ("stop", "c"),
        ("restart", "b"), ("restart", "c"), ("restart", "d"),
    )
    await probe.expect_no_message(0.02)
    after = await instances(refs)
    assert after["a"] == before["a"]
    assert all(after[name] != before[name] for name in "bcd")
    assert actor_system.registry.whereis("a") == refs["a"]
    assert await refs["a"].ask("ping", timeout=1.0) == ("pong", "a")


async def test_rest_for_one_on_the_last_child_restarts_it_alone(
    actor_system: ActorSystem,
) -> None:
    probe, refs = await start_tree(actor_system, "rest_for_one")
    refs["d"].tell("crash")
    await expect_events(probe, ("stop", "d"), ("restart", "d"))
    await probe.expect_no_message(0.02)


async def test_a_failure_of_a_child_already_queued_for_a_group_restart_is_part_of_it(
    actor_system: ActorSystem,
) -> None:
    probe, refs = await start_tree(actor_system, "one_for_all")
    refs["a"].tell("crash")
    refs["c"].tell("crash")  # fails before the supervisor has heard of a's failure
    # c was to be torn down with the group anyway: one group restart, as in OTP.
    await expect_events(
        probe,
        ("stop", "a"), ("stop", "d"), ("stop", "c"), ("stop", "b"),
        ("restart", "a"), ("restart", "b"), ("restart", "c"), ("restart", "d"),
    )
    await probe.expect_no_message(0.02)
    assert [await refs[name].ask("ping", timeout=1.0) for name in NAMES] == [
        ("pong", name) for name in NAMES
    ]


async def test_a_failure_while_the_group_restarts_restarts_the_group_again(
    actor_system: ActorSystem,
) -> None:
    probe = TestProbe(actor_system)
    actor_system.spawn(Supervisor("root", strategy="one_for_all", max_restarts=10, children=[
        Child(FlakyRestart, probe.ref, "a", [1], name="a"),
        *(Child(Worker, probe.ref, name, name=name) for name in "bcd"),
    ]))
    await expect_events(probe, *(("start", name) for name in NAMES))
    actor_system.registry.whereis("b").tell("crash")  # type: ignore[union-attr]
    # a fails again in on_restart, before b, c and d are back: they stay down, a is
    # torn down once more, and the group comes back once, in start order.
    await expect_events(
        probe,
        ("stop", "b"), ("stop", "d"), ("stop", "c"), ("stop", "a"),
        ("restart failed", "a"), ("stop", "a"),
        ("restart", "a"), ("restart", "b"), ("restart", "c"), ("restart", "d"),
    )
    await probe.expect_no_message(0.02)


async def test_an_actor_starts_a_tree_with_context_spawn(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)

    class Owner(Actor[Any]):
        def on_start(self) -> None:
            self.tree = self.context.spawn(Supervisor("owned", children=[
                Child(Worker, probe.ref, name, name=name) for name in "xy"
            ]))

        def receive(self, message: Any) -> Any:
            return self.tree

    owner = actor_system.spawn(Owner)
    tree = await owner.ask("tree", timeout=1.0)
    await expect_events(probe, ("start", "x"), ("start", "y"))
    actor_system.registry.whereis("x").tell("crash")  # type: ignore[union-attr]
    await expect_events(probe, ("stop", "x"), ("restart", "x"))
    actor_system.stop(owner)  # the tree stops with its owner, last started first
    await expect_events(probe, ("stop", "y"), ("stop", "x"))
    assert not tree.is_alive


async def test_a_child_that_exits_while_its_group_waits_out_a_backoff_comes_back_with_it(
    actor_system: ActorSystem,
) -> None:
    probe = TestProbe(actor_system)
    actor_system.spawn(Supervisor("root", strategy="rest_for_one", children=[
        Child(Worker, probe.ref, "a", name="a",
              backoff=Backoff(initial=0.02, maximum=0.02, jitter=0.0)),
        *(Child(Worker, probe.ref, name, name=name) for name in "bc"),
    ]))
    await expect_events(probe, *(("start", name) for name in "abc"))
    actor_system.registry.whereis("a").tell("crash")  # type: ignore[union-attr]
    actor_system.registry.whereis("b").tell("stop")  # type: ignore[union-attr]
    # b's own exit is part of the group restart a's failure began: nothing restarts
    # twice, and nobody is left behind when a's back-off ends.
    await expect_events(
        probe, ("stop", "b"), ("stop", "a"), ("stop", "c"),
        ("restart", "a"), ("start", "b"), ("restart", "c"),
    )
    await probe.expect_no_message(0.05)


async def test_each_child_starts_once_the_one_before_has_started(
    actor_system: ActorSystem,
) -> None:
    probe = TestProbe(actor_system)
    gate = anyio.Event()

    class SlowStart(Worker):
        async def on_start(self) -> None:  # type: ignore[override]
            self.probe.tell(("starting", self.name))
            await gate.wait()
            super().on_start()

    actor_system.spawn(Supervisor("root", children=[
        Child(SlowStart, probe.ref, "db", name="db"),
        Supervisor("services", children=[Child(Worker, probe.ref, "api", name="api")]),
        Child(Worker, probe.ref, "web", name="web"),
    ]))
    await expect_events(probe, ("starting", "db"))
    await probe.expect_no_message(0.05)  # nothing after db starts before db has started
    gate.set()
    # A supervisor counts as started once its own children have (OTP's start_link).
    await expect_events(probe, ("start", "db"), ("start", "api"), ("start", "web"))
