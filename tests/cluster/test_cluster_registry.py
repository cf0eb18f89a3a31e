"""Cluster-wide names: `register(name, ref, scope="cluster")` is seen on every node,
leaves with its actor or its node, and a clash found when two partitions meet is
settled the same way on both sides, the loser being told with `NameLost`."""

from __future__ import annotations

from typing import Any

import pytest

from actors import ActorRef
from actors.messages import NodeDown, NodeUp
from actors.testkit import TestProbe
from runtime import ActorSystem
from tests.cluster.apps import Claimant, Recorder
from tests.cluster.nodes import NodeProcess, Nodes, eventually, wait_for_log

pytestmark = pytest.mark.anyio


async def whereis_on(system: ActorSystem, node: NodeProcess, name: str) -> ActorRef[Any] | None:
    control = await system.lookup("control", node=node.address)
    assert control is not None
    found: ActorRef[Any] | None = await control.ask(("whereis", name), timeout=2.0)
    return found


async def mesh_of_two(system: ActorSystem, nodes: Nodes) -> tuple[NodeProcess, NodeProcess]:
    """Two node processes and this node, fully linked."""
    a = await nodes.start("reg-a")
    b = await nodes.start("reg-b", seeds=[a.address])
    probe = TestProbe(system)
    system.cluster.subscribe(probe.ref)
    await probe.expect(NodeUp)
    await system.cluster.join(a.address)
    assert {(await probe.expect(NodeUp)).node for _ in range(2)} == {a.address, b.address}
    return a, b


async def test_a_cluster_name_is_visible_on_every_node(system: ActorSystem, nodes: Nodes) -> None:
    a, b = await mesh_of_two(system, nodes)
    # Registered here: the update travels ahead of the asks on each link.
    local = system.spawn(Recorder)
    system.registry.register("here", local, scope="cluster")
    assert await whereis_on(system, a, "here") == local
    assert await whereis_on(system, b, "here") == local
    assert await system.lookup("here") == local

    # Registered on another node: found here with lookup(name) and node=None.
    probe = TestProbe(system)
    claimant = system.spawn(Claimant, ["there"], probe.ref, node=a.address)
    assert await probe.expect(("claimed", claimant)) == ("claimed", claimant)
    assert system.registry.whereis("there") == claimant
    assert await system.lookup("there") == claimant
    assert await system.lookup("there", node=None) == claimant

    async def known_on_b() -> bool:
        return await whereis_on(system, b, "there") == claimant

    await eventually(known_on_b, what="the name registered on reg-a reaching reg-b")
    assert await claimant.ask("losses", timeout=2.0) == []


async def test_a_name_leaves_with_its_actor(system: ActorSystem, nodes: Nodes) -> None:
    a, _ = await mesh_of_two(system, nodes)
    probe = TestProbe(system)
    claimant = system.spawn(Claimant, ["short-lived"], probe.ref, node=a.address)
    await probe.expect(("claimed", claimant))
    assert await system.lookup("short-lived") == claimant
    probe.watch(claimant)
    system.stop(claimant)
    await probe.expect_terminated(claimant)
    assert system.registry.whereis("short-lived") is None
    assert await whereis_on(system, a, "short-lived") is None


async def test_names_of_a_dead_node_leave_every_node(system: ActorSystem, nodes: Nodes) -> None:
    a, b = await mesh_of_two(system, nodes)
    probe = TestProbe(system)
    claimant = system.spawn(Claimant, ["doomed"], probe.ref, node=a.address)
    await probe.expect(("claimed", claimant))

    async def b_knows(expected: ActorRef[Any] | None) -> bool:
        return await whereis_on(system, b, "doomed") == expected

    await eventually(lambda: b_knows(claimant), what="reg-b learning the name")
    system.cluster.subscribe(probe.ref)
    for _ in range(3):
        await probe.expect(NodeUp)
    a.kill()
    assert (await probe.expect(NodeDown, timeout=3.0)).node == a.address
    assert system.registry.whereis("doomed") is None
    await eventually(lambda: b_knows(None), what="reg-b dropping the dead node's name")
    assert await system.lookup("doomed") is None  # asks reg-b too, which agrees now


async def test_a_clash_between_partitions_goes_the_same_way_on_both_sides(
    system: ActorSystem, nodes: Nodes
) -> None:
    """This node and a node process run apart, both claiming "alpha" and "beta": this
    node claims alpha first and beta last. When they meet, the earlier claim wins on
    both sides, and each loser hears it from its own node."""
    probe = TestProbe(system)
    alpha_here = system.spawn(Claimant, ["alpha"], probe.ref)
    await probe.expect(("claimed", alpha_here))
    other = await nodes.start(
        "partition", app="tests.cluster.apps:claim_app",
        env={"REPERTORY_TEST_CLAIMS": "alpha,beta"},
    )
    await wait_for_log(other, r"/claimant claimed alpha,beta$")
    beta_here = system.spawn(Claimant, ["beta"], probe.ref)
    await probe.expect(("claimed", beta_here))
    assert system.registry.whereis("beta") == beta_here  # nobody else known yet

    await system.cluster.join(other.address)
    there = await system.lookup("claimant", node=other.address)
    assert there is not None
    # Here: alpha stays, beta goes to the other side's earlier claim.
    lost = await probe.expect(tuple)
    assert lost == ("lost", beta_here, "beta", there)
    assert system.registry.whereis("alpha") == alpha_here
    assert system.registry.whereis("beta") == there
    # There: the same verdict, and the other claimant lost alpha to ours.
    assert await whereis_on(system, other, "alpha") == alpha_here
    assert await whereis_on(system, other, "beta") == there
    assert await there.ask("losses", timeout=2.0) == [("alpha", alpha_here)]
    assert await alpha_here.ask("losses", timeout=2.0) == []
    await probe.expect_no_message(0.1)
