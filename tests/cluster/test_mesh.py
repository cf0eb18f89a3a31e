"""Nodes form a full mesh: every node links to every other, from one seed.

A node learns the members from any one of them (the seed), and each newcomer is
announced to the others, so whichever of a pair is to dial does.
"""

from __future__ import annotations

import pytest

from actors.messages import NodeUp
from actors.testkit import TestProbe
from runtime import ActorSystem
from tests.cluster.nodes import NodeProcess, Nodes, eventually, open_node

pytestmark = pytest.mark.anyio


async def members_of(system: ActorSystem, node: str) -> list[str]:
    control = await system.lookup("control", node=node)
    assert control is not None, f"no control actor on {node}"
    members: list[str] = await control.ask(("members",), timeout=2.0)
    return members


async def mesh_complete(system: ActorSystem, nodes: list[NodeProcess], everyone: set[str]) -> None:
    """Wait until every node process is linked to `everyone`: the links between two
    other nodes form when those nodes dial, which this node cannot observe."""
    for node in nodes:

        async def linked_to_everyone(node: NodeProcess = node) -> bool:
            return set(await members_of(system, node.address)) == everyone

        await eventually(linked_to_everyone, what=f"{node.name} linked to every member")


async def expect_node_ups(probe: TestProbe, count: int) -> set[str]:
    return {(await probe.expect(NodeUp, timeout=5.0)).node for _ in range(count)}


async def test_three_nodes_form_a_full_mesh_from_one_seed(
    system: ActorSystem, nodes: Nodes
) -> None:
    seed = await nodes.start("seed")
    # Started together: each knows only the seed, and must find the other through it.
    left, right = await nodes.start_many(["left", "right"], seeds=[seed.address])
    probe = TestProbe(system)
    system.cluster.subscribe(probe.ref)
    assert await probe.expect(NodeUp) == NodeUp(system.address)
    await system.cluster.join(seed.address)  # this node, too, joins by the seed only
    everyone = {system.address, seed.address, left.address, right.address}
    assert await expect_node_ups(probe, 3) == everyone - {system.address}
    assert system.cluster.members == everyone
    await mesh_complete(system, [seed, left, right], everyone)


async def test_seeds_given_at_start_join_the_cluster(anyio_backend: str, nodes: Nodes) -> None:
    """``seeds=`` at start, by ``host:port`` and by ``dns:NAME:PORT`` (a numeric name
    here, so nothing but 127.0.0.1 is ever dialled)."""
    first = await nodes.start("first")
    second = await nodes.start("second", seeds=[first.address])
    host_port = first.address.partition("@")[2]
    for seeds in ([host_port], [f"dns:{host_port}"]):
        async with open_node(seeds=seeds) as system:
            probe = TestProbe(system)
            system.cluster.subscribe(probe.ref)
            await probe.expect(NodeUp)  # itself
            assert await expect_node_ups(probe, 2) == {first.address, second.address}
            assert system.cluster.members == {system.address, first.address, second.address}
            await mesh_complete(system, [first, second], set(system.cluster.members))


async def test_a_node_started_later_is_linked_by_everyone(
    system: ActorSystem, nodes: Nodes
) -> None:
    """A newcomer whose name sorts first (so it is the one to dial every pair) and one
    whose name sorts last (so everyone else must dial it) both end up fully linked."""
    middle = await nodes.start("m-node")
    await system.cluster.join(middle.address)
    early, late = await nodes.start_many(["a-node", "z-node"], seeds=[middle.address])
    everyone = {system.address, middle.address, early.address, late.address}
    probe = TestProbe(system)
    system.cluster.subscribe(probe.ref)
    seen = await expect_node_ups(probe, 2)  # itself and m-node, at once
    while seen != everyone:
        seen |= await expect_node_ups(probe, 1)
    await mesh_complete(system, [middle, early, late], everyone)
