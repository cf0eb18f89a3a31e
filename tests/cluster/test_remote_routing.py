"""Exchanges and pools with actors on another node: the same API as locally.

Two nodes in this process (the `system` fixture checks for leaked tasks of both):
remote refs bind like local ones, their
bindings drop when the remote actor stops or its node goes down, and a pool reached
through the pool actor's remote ref routes tells and asks to its workers.
"""

from __future__ import annotations

from typing import Any

import pytest

from actors import Actor
from actors.messages import NodeDown
from actors.testkit import TestProbe
from runtime import ActorSystem
from runtime._cluster.refs import RemoteRef
from tests.cluster.nodes import COOKIE, eventually

pytestmark = pytest.mark.anyio


def peer_node(name: str) -> ActorSystem:
    return ActorSystem(name, listen="127.0.0.1:0", cookie=COOKIE, shutdown_timeout=5.0)


class Who(Actor[Any]):
    def __init__(self) -> None:
        self.seen: list[Any] = []

    def receive(self, message: Any) -> Any:
        if message == "seen":
            return list(self.seen)
        self.seen.append(message)
        return self.context.ref


async def test_remote_refs_bind_and_drop_when_their_actor_stops(system: ActorSystem) -> None:
    async with peer_node("far") as far:
        await system.cluster.join(far.address)
        probe = TestProbe(far, name="listener")
        remote = await system.lookup("listener", node=far.address)
        assert isinstance(remote, RemoteRef)
        events = system.exchange("events", "topic")
        jobs = system.exchange("jobs", "direct")
        events.bind(remote, "order.#")
        events.bind(remote, "#.paid")
        jobs.bind(remote, "resize")

        assert events.publish("order.eu.paid", "one copy") == 1
        assert jobs.publish("resize", "job") == 1
        assert await probe.expect("one copy") == "one copy"
        assert await probe.expect("job") == "job"

        far.stop(probe.ref)
        await eventually(lambda: not events.bindings() and not jobs.bindings(),
                         what="the stopped remote actor's bindings dropping")
        assert events.publish("order.eu.paid", "nobody") == 0


async def test_bindings_of_a_nodes_actors_drop_when_it_goes_down(system: ActorSystem) -> None:
    members = TestProbe(system)
    events = system.exchange("events", "fanout")
    local = TestProbe(system)
    events.bind(local.ref)
    async with peer_node("leaving") as leaving:
        address = await system.cluster.join(leaving.address)
        system.cluster.subscribe(members.ref)
        probe = TestProbe(leaving, name="listener")
        remote = await system.lookup("listener", node=address)
        assert remote is not None
        events.bind(remote)
        assert events.publish("", "both") == 2
        await probe.expect("both")
    # The cluster drops the bindings before it reports the node down.
    while not isinstance(await members.receive(), NodeDown):
        pass
    assert events.bindings() == [(local.ref, "")]
    assert events.publish("", "local only") == 1


async def test_a_pool_reached_from_another_node_routes_tells_and_asks(
    system: ActorSystem,
) -> None:
    async with peer_node("workers") as far:
        await system.cluster.join(far.address)
        pool = far.spawn_pool(Who, size=3, routing="round_robin", name="pool")
        remote = await system.lookup("pool", node=far.address)
        assert isinstance(remote, RemoteRef) and remote == pool

        answers = [await remote.ask(f"job {i}", timeout=2.0) for i in range(6)]
        assert {answer._identity() for answer in answers} == {
            worker._identity() for worker in pool.workers
        }
        remote.tell("told")
        await remote.ask("after", timeout=2.0)
        logs = [await worker.ask("seen", timeout=2.0) for worker in pool.workers]
        assert sum(log.count("told") for log in logs) == 1
        assert sorted(len(log) for log in logs) == [2, 3, 3]

        events = system.exchange("to-pool", "topic")
        events.bind(remote, "#")
        assert events.publish("anything", "published") == 1
        assert await remote.ask("last", timeout=2.0) is not None
