"""Accounting when a link dies: what the link still held unsent is dead-lettered on the
sending node ("node down"), a tell to a node that is not linked is dead-lettered, and
a full link dead-letters tells ("link to X is full") instead of growing.

What the sending node had already handed to the operating system (its socket's send
buffer, the peer's receive buffer, and the last write in flight) is the one part that
can vanish without a trace; the test bounds it by those buffers.
"""

from __future__ import annotations

import os
import signal

import anyio
import anyio.lowlevel
import pytest

from runtime import ActorSystem
from tests.cluster.apps import Recorder
from tests.cluster.nodes import Nodes

pytestmark = pytest.mark.anyio

PAYLOAD = b"x" * 1000
# Loopback socket buffers grow to a few MiB each way (tcp_wmem / tcp_rmem maxima).
OS_BUFFERS = 16 * 1024 * 1024


async def test_tells_to_a_stopped_then_killed_peer_are_all_accounted_for(
    system: ActorSystem, nodes: Nodes
) -> None:
    node = await nodes.start("frozen")
    await system.cluster.join(node.address)
    recorder = system.spawn(Recorder, node=node.address)
    for i in range(100):
        recorder.tell(i)
    assert len(await recorder.ask("get", timeout=5.0)) == 100  # all delivered
    before = system.dead_letters.count
    os.kill(node.pid, signal.SIGSTOP)
    sent = 0
    try:
        with anyio.move_on_after(10.0):
            while node.address in system.cluster.members:
                for _ in range(200):
                    recorder.tell(PAYLOAD)
                sent += 200
                await anyio.lowlevel.checkpoint()
    finally:
        node.kill()  # SIGKILL works on a stopped process
    assert node.address not in system.cluster.members, "the frozen peer was never declared down"
    dead = system.dead_letters.count - before
    kinds = system.dead_letters.by_reason
    assert kinds.get("node down", 0) > 0  # what the link held was counted, not dropped
    assert kinds.get("link full", 0) > 0  # the link stopped growing at its bound
    vanished = sent - dead
    assert 0 <= vanished * len(PAYLOAD) <= OS_BUFFERS, (sent, dead, kinds)
    print(f"sent {sent}, dead-lettered {dead} {kinds}, vanished in OS buffers {vanished}")
    assert system.cluster.stats()["unsent_dead_lettered"] == kinds["node down"]
    # And from now on a tell to it is a dead letter at once.
    recorder.tell("after")
    assert system.dead_letters.count == before + dead + 1
    assert "not linked" in system.dead_letters.recent[-1].reason
