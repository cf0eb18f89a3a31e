"""Links come back: a cut link is re-established with back-off, and a node that
restarts on its address is linked again, with messaging working as before."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from actors import ActorRef
from actors.errors import ActorStoppedError, NodeDownError
from actors.messages import NodeDown, NodeUp
from actors.testkit import TestProbe
from runtime import ActorSystem
from runtime._cluster.cluster import parse_address
from tests.cluster.apps import Recorder, Slow
from tests.cluster.faultproxy import FaultProxy
from tests.cluster.nodes import Nodes, eventually, open_node

pytestmark = pytest.mark.anyio


async def test_a_cut_link_heals_and_messaging_works_again(
    system: ActorSystem, nodes: Nodes
) -> None:
    node = await nodes.start("cut")
    probe = TestProbe(system)
    system.cluster.subscribe(probe.ref)
    await probe.expect(NodeUp)
    async with FaultProxy("127.0.0.1", node.port) as proxy:
        assert await system.cluster.join(f"127.0.0.1:{proxy.port}") == node.address
        assert await probe.expect(NodeUp) == NodeUp(node.address)
        slow = system.spawn(Slow, node=node.address)
        recorder = system.spawn(Recorder, node=node.address)
        recorder.tell("before")
        assert await slow.ask(0.0, timeout=2.0) == "done"
        failed: list[BaseException] = []

        async def ask_in_flight() -> None:
            with pytest.raises(NodeDownError, match=node.address) as caught:
                await slow.ask(3.0, timeout=10.0)
            failed.append(caught.value)

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(ask_in_flight)
            assert await recorder.ask("get", timeout=2.0) == ["before"]  # behind the ask
            proxy.cut()
        assert len(failed) == 1
        down = await probe.expect(NodeDown, timeout=3.0)
        assert down.node == node.address
    # The link is dialled again (straight to the node's own address now) and heals.
    assert await probe.expect(NodeUp, timeout=5.0) == NodeUp(node.address)
    assert node.address in system.cluster.members
    recorder.tell("after")  # the same refs work over the new link
    assert await recorder.ask("get", timeout=3.0) == ["before", "after"]


async def test_a_node_that_restarts_on_its_address_is_linked_again(
    system: ActorSystem, nodes: Nodes
) -> None:
    first = await nodes.start("phoenix")
    probe = TestProbe(system)
    system.cluster.subscribe(probe.ref)
    await probe.expect(NodeUp)
    await system.cluster.join(first.address)
    assert await probe.expect(NodeUp) == NodeUp(first.address)
    old = system.spawn(Recorder, node=first.address)
    assert await old.ask("get", timeout=2.0) == []

    first.kill()
    assert (await probe.expect(NodeDown, timeout=3.0)).node == first.address
    again = await nodes.start("phoenix", listen=f"127.0.0.1:{first.port}")
    assert again.address == first.address
    assert await probe.expect(NodeUp, timeout=8.0) == NodeUp(first.address)
    echo = await system.lookup("echo", node=again.address)
    assert echo is not None and await echo.ask("back", timeout=2.0) == "back"
    # A ref to an actor of the old incarnation reaches nothing in the new one.
    with pytest.raises(ActorStoppedError, match="never existed"):
        await old.ask("get", timeout=2.0)


async def test_a_node_that_leaves_is_not_dialled_again(
    system: ActorSystem, nodes: Nodes
) -> None:
    """A node that said goodbye left on purpose: it rejoins by dialling (its seeds), the
    others do not keep dialling its address."""
    leaver = await nodes.start("leaver")
    probe = TestProbe(system)
    system.cluster.subscribe(probe.ref)
    await probe.expect(NodeUp)
    await system.cluster.join(leaver.address)
    await probe.expect(NodeUp)
    assert leaver.stop() == 0  # SIGTERM: it stops its actors and says goodbye
    down = await probe.expect(NodeDown, timeout=3.0)
    assert down.node == leaver.address and "the peer left" in down.reason
    again = await nodes.start("leaver", listen=f"127.0.0.1:{leaver.port}")
    await probe.expect_no_message(0.6)  # a redial would come within 0.1 s
    # It comes back by dialling a member, as a restarted node with seeds does.
    back = await nodes.start("leaver-2", seeds=[system.address])
    assert await probe.expect(NodeUp, timeout=5.0) == NodeUp(back.address)
    assert again.address not in system.cluster.members


async def test_a_duplicate_connection_is_retired_without_losing_asks(
    anyio_backend: str,
) -> None:
    """Two nodes that dial each other at once keep the connection the smaller name
    dialled; asks already sent over the other one still get their answers."""
    async with (
        open_node("zz-big") as big,
        open_node("aa-small", check_tasks=False) as small,
    ):
        small.spawn(Slow, name="slow")
        probe = TestProbe(big)
        big.cluster.subscribe(probe.ref)
        await probe.expect(NodeUp)
        await big.cluster.join(small.address)  # dialled by the bigger name
        await probe.expect(NodeUp)
        first = big.cluster.links[small.address]
        remote = await big.lookup("slow", node=small.address)
        assert remote is not None
        answers: list[str] = []
        async with anyio.create_task_group() as tasks:
            for _ in range(3):
                tasks.start_soon(lambda: remote_ask(remote, answers))
            await eventually(lambda: len(first.pending) == 3, what="three asks in flight")
            # The smaller name dials too: its connection wins on both sides.
            _, host, port = parse_address(big.address)
            await small.cluster.connections.dial(host, port, big.address)
        assert answers == ["done"] * 3
        assert big.cluster.links[small.address] is not first and first.retired
        assert await remote.ask(0.0, timeout=2.0) == "done"  # over the new link
        await probe.expect_no_message(0.1)  # no NodeDown, no second NodeUp


async def remote_ask(ref: ActorRef[Any], answers: list[str]) -> None:
    answers.append(await ref.ask(0.2, timeout=5.0))
