"""An ask from another node to an idle actor with a sync handler is answered in the
link's read callback; everything an actor guarantees still holds.

The node process runs asyncio over plain TCP, where that path exists: its actors
(`tests.cluster.inline_app`) report the task their turn ran in (None: no task, the
read callback). The in-test node asks from both backends.
"""

from __future__ import annotations

import pytest

from actors.errors import ActorCrashedError
from runtime import ActorSystem
from tests.cluster.inline_app import Log, WhereSync
from tests.cluster.nodes import NodeProcess, Nodes, eventually, wait_for_log

pytestmark = pytest.mark.anyio

WORKER = "repertory-worker"  # the name of the dispatcher's worker tasks


@pytest.fixture(scope="module")
def inline_node(shared_nodes: Nodes) -> NodeProcess:
    """One node process serving `tests.cluster.inline_app`, for this module."""
    return shared_nodes.launch("inline", app="tests.cluster.inline_app:app")


async def test_an_idle_sync_actor_answers_in_the_read_callback_where_anyio_works(
    system: ActorSystem, inline_node: NodeProcess
) -> None:
    await system.cluster.join(inline_node.address)
    actor = await system.start(WhereSync, node=inline_node.address)  # started: idle
    assert await actor.ask("where", timeout=5.0) is None  # no task: the read callback
    assert await actor.ask("anyio", timeout=5.0) == ["asyncio", True, 7, True]
    # A child spawned there (an async handler: its turns need a task) runs in a worker.
    child = await actor.ask("spawn_async", timeout=5.0)
    assert await child.ask("anything", timeout=5.0) == WORKER


async def test_an_async_handler_and_a_busy_actor_take_the_worker_path(
    system: ActorSystem, inline_node: NodeProcess
) -> None:
    await system.cluster.join(inline_node.address)
    actor = await system.start(WhereSync, node=inline_node.address)
    actor.tell("start_spinning")  # from now on it always has mail: it is never idle
    assert await actor.ask("where", timeout=5.0) == WORKER
    assert await actor.ask("where", timeout=5.0) == WORKER
    actor.tell("halt")

    async def idle_again() -> bool:
        return await actor.ask("where", timeout=5.0) is None

    await eventually(idle_again, what="the actor answering in the read callback again")


async def test_tells_and_asks_from_one_sender_keep_their_order(
    system: ActorSystem, inline_node: NodeProcess
) -> None:
    await system.cluster.join(inline_node.address)
    log = system.spawn(Log, node=inline_node.address)
    told: list[int] = []
    for i in range(400):
        if i % 7 == 0:
            log.tell_many([("remote", j) for j in range(len(told), len(told) + 3)])
            told += range(len(told), len(told) + 3)
        else:
            log.tell(("remote", len(told)))
            told.append(len(told))
        if i % 3 == 0:  # every ask sees exactly what was told before it...
            assert await log.ask("remote_seen", timeout=5.0) == told
            # ...also one that finds the actor idle, answered in the read callback.
            assert await log.ask("remote_seen_where", timeout=5.0) == [told, None]
    assert await log.ask("remote_seen", timeout=5.0) == told


async def test_local_tells_and_remote_asks_take_one_turn_at_a_time(
    system: ActorSystem, inline_node: NodeProcess
) -> None:
    """A local actor floods the target while this node tells and asks it: every
    message arrives once and in its sender's order, and no turn overlaps another."""
    await system.cluster.join(inline_node.address)
    log = system.spawn(Log, node=inline_node.address)
    flooder = await system.lookup("flooder", node=inline_node.address)
    assert flooder is not None
    assert await flooder.ask(("flood", log), timeout=5.0) is True
    places: set[str | None] = set()
    for i in range(60):  # each ask waits for the node's loop to read: ~10 ms here
        log.tell(("remote", i))
        seen, place = await log.ask("remote_seen_where", timeout=5.0)
        assert seen == list(range(i + 1))
        places.add(place)
    local = await flooder.ask("halt", timeout=5.0)

    async def flood_done() -> bool:
        return bool((await log.ask("stats", timeout=5.0))[0] == local)

    await eventually(flood_done, what="all local tells handled")
    count, in_order, overlaps, _ = await log.ask("stats", timeout=5.0)
    assert (count, in_order, overlaps) == (local, True, 0)
    assert WORKER in places  # some asks found it busy with local mail...
    assert await log.ask("stats", timeout=5.0) == [local, True, 0, None]  # ...now idle


async def test_a_raising_handler_is_supervised_and_the_asker_gets_the_crash(
    system: ActorSystem, inline_node: NodeProcess
) -> None:
    await system.cluster.join(inline_node.address)
    fragile = await system.lookup("fragile", node=inline_node.address)
    assert fragile is not None
    built = await fragile.ask("instances", timeout=5.0)
    assert await fragile.ask("count", timeout=5.0) >= 1
    with pytest.raises(ActorCrashedError, match=r"FragileError: fragile broke on 'boom'") as caught:
        await fragile.ask("boom", timeout=5.0)
    assert "in receive" in caught.value.remote_traceback
    # Its supervisor restarts it, as for a turn a worker ran: a new instance, count 1.
    assert await fragile.ask("count", timeout=5.0) == 1
    assert await fragile.ask("instances", timeout=5.0) == built + 1
    await wait_for_log(inline_node, r"fragile .*failed handling a str: FragileError.*restart")
