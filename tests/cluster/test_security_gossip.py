"""Bounded gossip: names learned from a peer cannot grow without bound or keep a node
busy after the peer has gone, and per-peer tables empty when it goes.

Issue 10: one `Members` frame with 3,001 made-up names, and the node kept them all and
redialled them for ever at 96% of a core; topic interest kept empty entries after
each hostile session (100k -> 300k entries over three).
"""

from __future__ import annotations

import os
import re

import anyio
import msgspec
import pytest

from actors.testkit import TestProbe
from runtime._cluster.membership import FORGET_AFTER
from runtime._wire import framing as wire
from tests.cluster.hostile import intruder, still_serving
from tests.cluster.nodes import NodeProcess, Nodes, eventually, open_node, wait_for_log

pytestmark = pytest.mark.anyio


def ghosts(count: int, start: int = 1) -> wire.Members:
    """Names of nodes that do not exist, at 127.0.0.1 ports nobody listens on (the
    node dials them: only this machine's loopback, where they are refused at once)."""
    return wire.Members([wire.Member(f"ghost{n}@127.0.0.1:{n}") for n in range(start,
                                                                               start + count)])


def cpu_seconds(node: NodeProcess) -> float:
    """User and system CPU time the node process has used so far."""
    with open(f"/proc/{node.pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def test_a_members_frame_past_max_members_closes_its_link(
    anyio_backend: str, nodes: Nodes
) -> None:
    target = await nodes.start("target")
    async with intruder(target.port, "gossiper") as peer:
        await peer.send_frames([wire.encode_frame(ghosts(3001))])
        line = await wait_for_log(target, r"closing link to gossiper: its Members frame")
        # The gossiper itself, and the 3,001 names it sent.
        assert "would make 3002 nodes learned from peers, over max_members=1000" in line
    await wait_for_log(target, r"node gossiper is down: protocol limit: its Members frame")
    assert "ghost" not in re.sub(r"closing link.*|node gossiper is down.*", "", target.log())
    await still_serving(target)


async def test_names_learned_from_a_peer_that_left_are_forgotten_and_cost_little(
    anyio_backend: str, nodes: Nodes
) -> None:
    target = await nodes.start("target")
    async with intruder(target.port, "gossiper") as peer:
        # An ask behind the Members frame: its answer means the frame was handled.
        ping = wire.Ask(1, "echo", msgspec.msgpack.encode("handled?"), 5.0)
        await peer.send_frames([wire.encode_frame(ghosts(900, start=2000)),
                                wire.encode_frame(ping)])
        assert (await peer.expect(wire.Reply)).ok
    before = cpu_seconds(target)
    with anyio.fail_after(FORGET_AFTER + 10):
        await wait_for_log(target, r"forgot 900 nodes learned from peers that were not"
                                   r" linked for 10 s", timeout=FORGET_AFTER + 10)
    # Dialling 900 unknown names with back-off, then forgetting them: well under the
    # 96% of a core that redialling them for ever took.
    used = cpu_seconds(target) - before
    assert used < 0.5 * FORGET_AFTER, f"{used:.1f} s of CPU over {FORGET_AFTER:.0f} s"
    await still_serving(target)


async def test_topic_interest_and_watches_of_a_peer_that_left_are_emptied(
    anyio_backend: str,
) -> None:
    async with open_node("victim") as victim:
        probe = TestProbe(victim, name="watched")
        _, uid, _ = victim.cluster.export(probe.ref)
        port = int(victim.address.rpartition(":")[2])
        names, watches = victim.cluster.names, victim.cluster.watches
        for session in range(3):
            async with intruder(port, f"hostile-{session}") as peer:
                topics = [f"t{session}-{n}" for n in range(5_000)]
                await peer.send_frames([
                    wire.encode_frame(wire.TopicInterest(subscribe=topics)),
                    *(wire.encode_frame(wire.Watch(uid, f"hostile|{n}|w")) for n in range(200)),
                ])
                await eventually(lambda: len(names.interest) >= 5_000,
                                 what="the peer's topic interest arriving")
            name = f"hostile-{session}"
            await eventually(lambda name=name: name not in victim.cluster.links,
                             what="the peer's link closing")
            assert names.interest == {}, f"{len(names.interest)} topics left after session"
            assert watches.watched_by == {}
