"""A pool is a supervisor's child like any other: `Child(Pool(Worker, size=N), name=...)`.

Its name resolves to its routing ref, its workers are named ``name-1`` .. ``name-N`` in
the registry and in trees, it starts (in its supervisor's start order) once its workers
have, and its supervisor's restart rules apply to it: a restart gives fresh workers, and
the routing ref held from before routes to them.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from actors import Actor, ActorRef
from actors.routing import PoolRef
from actors.testkit import TestProbe
from runtime import ActorSystem
from supervisors import Child, Pool, Supervisor, live_graph, render_text
from tests.supervisors._workers import Worker, expect_events

pytestmark = pytest.mark.anyio


class Pricer(Actor[Any]):
    """Answers ``"who"`` with its own ref; reports its start to `log` after a pause."""

    def __init__(self, log: list[str], currency: str = "eur") -> None:
        self.log = log
        self.currency = currency

    async def on_start(self) -> None:
        await anyio.sleep(0.01)  # stands in for loading a price table
        self.log.append(f"pricer {self.context.ref.name} ({self.currency})")

    def receive(self, message: Any) -> Any:
        if message == "who":
            return self.context.ref
        return f"{message} in {self.currency}"


class Opener(Actor[Any]):
    """A sibling started after the pool: logs its start."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    def on_start(self) -> None:
        self.log.append("opener")

    def receive(self, message: Any) -> Any:
        return None


async def test_a_pool_child_is_reached_by_name_and_names_its_workers(
    actor_system: ActorSystem,
) -> None:
    log: list[str] = []
    await actor_system.start(Supervisor("shop", children=[
        Child(Pool(Pricer, log, "usd", size=3), name="pricers"),
    ]))
    pricers = actor_system.registry.whereis("pricers")
    assert isinstance(pricers, PoolRef)
    assert [worker.name for worker in pricers.workers] == ["pricers-1", "pricers-2", "pricers-3"]
    assert [actor_system.registry.whereis(f"pricers-{n}") for n in (1, 2, 3)] == pricers.workers
    answers = [await pricers.ask("who") for _ in range(6)]
    assert answers == pricers.workers * 2  # round robin, in the caller
    assert await pricers.ask("tea") == "tea in usd"
    assert await actor_system.lookup("pricers") is pricers

    tree = render_text(live_graph(actor_system))
    for line in ("shop [supervisor one_for_one]", "pricers [pool one_for_one",
                 "pricers-1 [worker", "pricers-3 [worker"):
        assert line in tree, tree


async def test_a_pool_starts_in_order_once_its_workers_have(actor_system: ActorSystem) -> None:
    log: list[str] = []
    await actor_system.start(Supervisor("shop", children=[
        Child(Pool(Pricer, log, size=2), name="pricers"),
        Child(Opener, log, name="opener"),
    ]))
    # The workers start side by side; the next sibling only once both have.
    assert sorted(log[:2]) == ["pricer pricers-1 (eur)", "pricer pricers-2 (eur)"]
    assert log[2:] == ["opener"]


async def test_a_restarted_pool_has_fresh_workers_behind_the_same_ref(
    actor_system: ActorSystem,
) -> None:
    probe = TestProbe(actor_system)
    log: list[str] = []
    await actor_system.start(Supervisor("shop", strategy="one_for_all", children=[
        Child(Pool(Pricer, log, size=2), name="pricers"),
        Child(Worker, probe.ref, "cart", name="cart"),
    ]))
    await expect_events(probe, ("start", "cart"))
    pricers = actor_system.registry.whereis("pricers")
    assert isinstance(pricers, PoolRef)
    before = list(pricers.workers)

    cart = actor_system.registry.whereis("cart")
    assert cart is not None
    cart.tell("crash")  # one_for_all: the pool is torn down and started again too
    await expect_events(probe, ("stop", "cart"), ("restart", "cart"))

    after = pricers.workers
    assert [worker.name for worker in after] == ["pricers-1", "pricers-2"]
    assert not set(after) & set(before)
    assert not any(worker.is_alive for worker in before)
    assert {await pricers.ask("who") for _ in range(4)} == set(after)
    assert actor_system.registry.whereis("pricers") is pricers


async def test_a_temporary_pool_is_not_restarted(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    await actor_system.start(Supervisor("shop", strategy="one_for_all", children=[
        Child(Pool(Pricer, [], size=2), name="pricers", restart="temporary"),
        Child(Worker, probe.ref, "cart", name="cart"),
    ]))
    await expect_events(probe, ("start", "cart"))
    pricers = actor_system.registry.whereis("pricers")
    assert isinstance(pricers, PoolRef)
    watcher = TestProbe(actor_system)
    cart = actor_system.registry.whereis("cart")
    assert cart is not None
    cart.tell("crash")
    await watcher.expect_terminated(pricers)
    await expect_events(probe, ("stop", "cart"), ("restart", "cart"))
    assert actor_system.registry.whereis("pricers") is None


async def test_context_spawn_pool_gives_a_named_routing_ref(actor_system: ActorSystem) -> None:
    class Shop(Actor[str]):
        def on_start(self) -> None:
            self.pricers = self.context.spawn_pool(Pricer, [], size=2, name="pricers")

        def receive(self, message: str) -> ActorRef[Any]:
            return self.pricers

    shop = await actor_system.start(Shop)
    pricers = await shop.ask("pricers?")
    assert isinstance(pricers, PoolRef)
    assert actor_system.registry.whereis("pricers") is pricers
    assert [worker.name for worker in pricers.workers] == ["pricers-1", "pricers-2"]
    infos = {info.name: info for info in actor_system.snapshot()}
    assert infos["pricers-1"].parent == pricers.address


async def test_a_pool_child_takes_no_arguments_of_its_own() -> None:
    with pytest.raises(TypeError, match=r"takes the workers' arguments in the Pool itself"):
        Child(Pool(Pricer, [], size=2), "extra", name="pricers")
