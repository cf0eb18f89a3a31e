"""Links come back: a cut link is re-established with back-off, and a node that
restarts on its address is linked again, with messaging working as before."""

from __future__ import annotations

import anyio
import pytest

from actors.errors import ActorStoppedError, NodeDownError
from actors.messages import NodeDown, NodeUp
from actors.testkit import TestProbe
from runtime import ActorSystem
from tests.cluster.apps import Recorder, Slow
from tests.cluster.faultproxy import FaultProxy
from tests.cluster.nodes import Nodes

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
