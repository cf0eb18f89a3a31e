"""An ask carries its deadline: the asked node skips a request whose asker has given up."""

from __future__ import annotations

import anyio
import pytest

from actors.errors import AskTimeoutError
from runtime import ActorSystem
from tests.cluster.apps import Sleeper
from tests.cluster.nodes import Nodes

pytestmark = pytest.mark.anyio


async def test_a_peer_skips_asks_whose_asker_gave_up(system: ActorSystem, nodes: Nodes) -> None:
    node = await nodes.start("deadlines")
    await system.cluster.join(node.address)
    sleeper = system.spawn(Sleeper, node=node.address)
    expired: list[BaseException] = []

    async def impatient() -> None:
        with pytest.raises(AskTimeoutError, match="timed out") as caught:
            await sleeper.ask(0.01, timeout=0.1)
        expired.append(caught.value)

    sleeper.tell(0.5)  # keeps the actor busy for 0.5 s; frames keep their order
    async with anyio.create_task_group() as tasks:
        for _ in range(5):
            tasks.start_soon(impatient)
    assert len(expired) == 5
    # The five waited behind the long one past their deadline: none was handled.
    assert await sleeper.ask("handled", timeout=2.0) == [0.5]
    stats = await system.cluster.call(node.address, "$stats", None, 2.0)
    assert stats["asks_skipped"] == 5
    assert stats["replies_too_late"] == 0


async def test_an_ask_with_time_left_is_handled(system: ActorSystem, nodes: Nodes) -> None:
    node = await nodes.start("patient")
    await system.cluster.join(node.address)
    sleeper = system.spawn(Sleeper, node=node.address)
    sleeper.tell(0.2)
    assert await sleeper.ask(0.0, timeout=2.0) == 0.0
    assert await sleeper.ask("handled", timeout=2.0) == [0.2, 0.0]
    assert (await system.cluster.call(node.address, "$stats", None, 2.0))["asks_skipped"] == 0
