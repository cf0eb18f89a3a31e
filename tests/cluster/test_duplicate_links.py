"""Connections dialled at once: nodes that dial each other at the same moment, each of
them twice (by "host:port" and by name), end with one link per peer on every side, and
no node sees a NodeDown: a duplicate connection is retired, never mistaken for a loss.

Real node processes, all dialling at one agreed instant: each waits for a plan file the
test writes once every node is up (`tests.cluster.apps.Dialler`).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import anyio
import pytest

from actors.messages import NodeUp
from actors.testkit import TestProbe
from runtime import ActorSystem
from runtime._cluster.link import RETIRE_GRACE
from tests.cluster.nodes import NodeProcess, Nodes

pytestmark = pytest.mark.anyio

ROUNDS = 3


def both_forms(address: str) -> list[str]:
    """A node's address as a seed gives it ("host:port") and as gossip names it."""
    return [address.partition("@")[2], address]


def write_plan(path: Path, at: float, addresses: list[str]) -> None:
    """Written whole, then renamed into place: a node never reads half a plan."""
    draft = path.with_suffix(".draft")
    draft.write_text(json.dumps({"at": at, "addresses": addresses}))
    os.replace(draft, path)


async def dial_all_at_once(
    system: ActorSystem, nodes: Nodes, plan: Path, names: list[str]
) -> list[NodeProcess]:
    """Start node processes that dial `system` twice at one instant, at which `system`
    dials each of them twice too."""
    env = {"REPERTORY_TEST_DIAL_FILE": str(plan)}
    peers = await nodes.start_many(names, app="tests.cluster.apps:dial_app", env=env)
    at = time.time() + 0.3
    write_plan(plan, at, both_forms(system.address))
    await anyio.sleep(max(0.0, at - time.time()))  # the agreed instant (not a wait for state)
    async with anyio.create_task_group() as tasks:
        for peer in peers:
            for address in both_forms(peer.address):
                tasks.start_soon(system.cluster.join, address)
    return peers


@pytest.mark.parametrize("round_", range(ROUNDS))
async def test_nodes_that_dial_each_other_at_once_keep_one_link_and_see_no_node_down(
    system: ActorSystem, nodes: Nodes, tmp_path: Path, round_: int
) -> None:
    probe = TestProbe(system)
    system.cluster.subscribe(probe.ref)
    assert await probe.expect(NodeUp) == NodeUp(system.address)
    names = [f"dup{round_}-{letter}" for letter in "abc"]
    peers = await dial_all_at_once(system, nodes, tmp_path / "plan.json", names)
    ups = {(await probe.expect(NodeUp, timeout=10.0)).node for _ in peers}
    assert ups == {peer.address for peer in peers}
    # Past the grace of every retired duplicate: closing them costs nothing.
    await probe.expect_no_message(RETIRE_GRACE + 1.5)
    everyone = sorted([system.address, *(peer.address for peer in peers)])
    for peer in peers:
        link = system.cluster.links[peer.address]
        assert link.is_open and not link.retired
        dialler = await system.lookup("dialler", node=peer.address)
        control = await system.lookup("control", node=peer.address)
        assert dialler is not None and control is not None
        assert await dialler.ask("downs", timeout=5.0) == [], f"NodeDown seen on {peer.name}"
        assert await control.ask(("members",), timeout=5.0) == everyone
