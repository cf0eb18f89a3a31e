"""`kill -9` of a node: what waited on it fails fast and everyone who cares is told.

Asks in flight fail with `NodeDownError` within 2 s, watchers of its actors get
`Terminated(reason=NodeDownError)`, `cluster.subscribe` subscribers get `NodeDown`, and
what is sent to it afterwards fails at once or goes to dead letters.
"""

from __future__ import annotations

import signal
from typing import Any

import anyio
import pytest

from actors.errors import NodeDownError
from actors.messages import DeadLetter, NodeDown, NodeUp, Terminated
from actors.testkit import TestProbe
from runtime import ActorSystem
from tests.cluster.apps import Recorder, Slow
from tests.cluster.nodes import Nodes

pytestmark = pytest.mark.anyio
DETECT_WITHIN = 2.0


async def test_asks_in_flight_fail_with_node_down_within_2_s(
    system: ActorSystem, nodes: Nodes
) -> None:
    victim = await nodes.start("victim")
    await system.cluster.join(victim.address)
    slow = system.spawn(Slow, node=victim.address)
    echo = await system.lookup("echo", node=victim.address)
    assert echo is not None and await echo.ask("up?", timeout=2.0) == "up?"

    outcomes: list[tuple[BaseException | None, float]] = []
    all_sent = anyio.Event()

    async def ask_in_flight(i: int) -> None:
        try:
            if i == 9:
                all_sent.set()
            await slow.ask(30.0, timeout=15.0)  # would answer long after the test's end
        except BaseException as error:
            outcomes.append((error, anyio.current_time()))
            if not isinstance(error, Exception):
                raise
        else:
            outcomes.append((None, anyio.current_time()))

    async with anyio.create_task_group() as tasks:
        for i in range(10):
            tasks.start_soon(ask_in_flight, i)
        await all_sent.wait()
        assert await echo.ask("the asks are out", timeout=2.0)  # they reached the node
        killed_at = anyio.current_time()
        victim.kill()
    assert len(outcomes) == 10
    for error, when in outcomes:
        assert isinstance(error, NodeDownError), error
        assert error.node == victim.address
        assert when - killed_at < DETECT_WITHIN
    assert victim.address not in system.cluster.members
    # From now on an ask fails at once, and a tell goes to dead letters.
    with pytest.raises(NodeDownError, match=rf"node {victim.address} is down"):
        await slow.ask(0.0, timeout=5.0)
    letters = TestProbe(system)
    system.topics.subscribe("dead_letters", letters.ref)
    slow.tell(0.0)
    letter = await letters.expect(DeadLetter)
    assert letter.recipient == slow.address and "not linked" in letter.reason


async def test_watchers_of_its_actors_get_terminated_with_node_down(
    system: ActorSystem, nodes: Nodes
) -> None:
    victim = await nodes.start("victim")
    await system.cluster.join(victim.address)
    recorders = [system.spawn(Recorder, node=victim.address) for _ in range(3)]
    probe = TestProbe(system)
    for recorder in recorders:
        probe.watch(recorder)
    assert await recorders[-1].ask("get", timeout=2.0) == []  # the watches have arrived
    killed_at = anyio.current_time()
    victim.kill()
    seen: dict[Any, BaseException | None] = {}
    for _ in recorders:
        terminated = await probe.expect(Terminated, timeout=DETECT_WITHIN)
        seen[terminated.ref] = terminated.reason
    assert anyio.current_time() - killed_at < DETECT_WITHIN
    assert set(seen) == set(recorders)
    for reason in seen.values():
        assert isinstance(reason, NodeDownError) and reason.node == victim.address


async def test_node_down_reaches_cluster_subscribers(system: ActorSystem, nodes: Nodes) -> None:
    victim = await nodes.start("victim")
    probe = TestProbe(system)
    system.cluster.subscribe(probe.ref)
    assert await probe.expect(NodeUp) == NodeUp(system.address)  # the members so far
    await system.cluster.join(victim.address)
    assert await probe.expect(NodeUp) == NodeUp(victim.address)
    killed_at = anyio.current_time()
    victim.kill()
    down = await probe.expect(NodeDown, timeout=DETECT_WITHIN)
    assert down.node == victim.address and down.reason
    assert anyio.current_time() - killed_at < DETECT_WITHIN
    assert system.cluster.members == frozenset([system.address])


async def test_a_connection_reset_takes_down_the_link_not_the_node(
    system: ActorSystem, nodes: Nodes
) -> None:
    """A node killed with our bytes unread in its socket resets the connection: the
    link goes down with a reason, and this node keeps serving."""
    victim = await nodes.start("victim")
    await system.cluster.join(victim.address)
    echo = await system.lookup("echo", node=victim.address)
    assert echo is not None
    probe = TestProbe(system)
    system.cluster.subscribe(probe.ref)
    await probe.expect(NodeUp)
    await probe.expect(NodeUp)
    victim.process.send_signal(signal.SIGSTOP)  # it reads nothing from now on
    for i in range(100):
        echo.tell(("unread", i))
    await system.cluster.links[victim.address].writer.flush()  # into its socket buffer
    victim.kill()
    down = await probe.expect(NodeDown, timeout=DETECT_WITHIN)
    assert down.node == victim.address and down.reason
    # The node is fine: its own actors answer, and it links to others again.
    other = await nodes.start("other")
    assert await system.cluster.join(other.address) == other.address
    other_echo = await system.lookup("echo", node=other.address)
    assert other_echo is not None and await other_echo.ask("alive", timeout=2.0) == "alive"
