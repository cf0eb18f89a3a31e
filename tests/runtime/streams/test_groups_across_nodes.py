"""Groups across nodes: consumers on other nodes subscribe and commit through their own
node; a node that goes down gives its members' uncommitted entries back; `ack_timeout`
takes back what a member sits on.

The stream lives in the in-test node; consumers run in real node processes that talk
real TCP on 127.0.0.1 (tests/cluster/nodes.py), and one of them is killed with SIGKILL.
"""

from __future__ import annotations

from typing import Any

import pytest

from actors import StreamEntry
from actors.testkit import TestProbe
from runtime import ActorSystem
from tests.cluster.nodes import Nodes, eventually, open_node
from tests.runtime.streams.apps import RemoteConsumer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]
APP = "tests.runtime.streams.apps:app"


async def reports(probe: TestProbe, count: int) -> list[tuple[str, int, Any]]:
    return [await probe.expect(tuple, timeout=5.0) for _ in range(count)]


async def test_a_consumer_on_another_node_commits_through_its_own_node(
    anyio_backend: str, nodes: Nodes
) -> None:
    async with open_node("here") as here:
        far = await nodes.start("far", app=APP)
        await here.cluster.join(far.address)
        jobs = here.streams.stream("jobs")
        report = TestProbe(here)
        consumer = here.spawn(RemoteConsumer, here.address, "jobs", "g", report.ref, True,
                              node=far.address)
        assert await consumer.ask("ready?") == "ready"  # on_start has subscribed
        local = TestProbe(here)
        mine = jobs.subscribe(local.ref, group="g")
        for n in range(6):
            jobs.append({"job": n})
        theirs = await reports(report, 3)
        assert [offset for _, offset, _ in theirs] == [0, 2, 4]
        assert {address for address, _, _ in theirs} == {consumer.address}
        assert [(await local.expect(StreamEntry)).offset for _ in range(3)] == [1, 3, 5]
        mine.commit(5)
        # The far node's commits arrive by tell; the watermark moves once they have.
        await eventually(lambda: jobs.committed("g") == 5, what="the group's commit to 5")
        remote = await here.streams.remote("jobs", here.address)
        assert await remote.committed("g") == 5


async def test_a_node_that_goes_down_gives_its_members_entries_back(
    anyio_backend: str, nodes: Nodes
) -> None:
    async with open_node("here") as here:
        far = await nodes.start("far", app=APP)
        await here.cluster.join(far.address)
        jobs = here.streams.stream("jobs")
        report = TestProbe(here)
        stuck = here.spawn(RemoteConsumer, here.address, "jobs", "g", report.ref, False,
                           node=far.address)
        assert await stuck.ask("ready?") == "ready"
        local = TestProbe(here)
        mine = jobs.subscribe(local.ref, group="g")
        for n in range(4):
            jobs.append(n)
        assert [offset for _, offset, _ in await reports(report, 2)] == [0, 2]
        assert [(await local.expect(StreamEntry)).offset for _ in range(2)] == [1, 3]
        far.kill()  # SIGKILL: its consumer never commits, never says goodbye
        again = [(await local.expect(StreamEntry, timeout=10.0)).offset for _ in range(2)]
        assert again == [0, 2]
        mine.commit(3)
        assert jobs.committed("g") == 3


async def test_ack_timeout_redelivers_what_a_member_sits_on(actor_system: ActorSystem) -> None:
    jobs = actor_system.streams.stream("jobs")
    sitting, working = TestProbe(actor_system), TestProbe(actor_system)
    jobs.subscribe(sitting.ref, group="g", ack_timeout=0.2)
    worker = jobs.subscribe(working.ref, group="g")
    for n in range(4):
        jobs.append(n)
    assert [(await sitting.expect(StreamEntry)).offset for _ in range(2)] == [0, 2]
    assert [(await working.expect(StreamEntry)).offset for _ in range(2)] == [1, 3]
    worker.commit(3)
    # Neither committed nor given back within 0.2 s: they go to the other member.
    assert [(await working.expect(StreamEntry)).offset for _ in range(2)] == [0, 2]
    worker.commit(2)
    assert jobs.committed("g") == 3
    await sitting.expect_no_message(0.3)  # nothing more is owed


async def test_ack_timeout_tells_a_lone_subscriber_again(actor_system: ActorSystem) -> None:
    events = actor_system.streams.stream("events")
    probe = TestProbe(actor_system)
    subscription = events.subscribe(probe.ref, ack_timeout=0.1)
    events.append("a")
    events.append("b")
    assert [(await probe.expect(StreamEntry)).offset for _ in range(2)] == [0, 1]
    assert [(await probe.expect(StreamEntry)).offset for _ in range(2)] == [0, 1]  # again
    subscription.commit(1)
    await probe.expect_no_message(0.25)


async def test_a_remote_consumers_ack_timeout_holds_across_nodes(
    anyio_backend: str, nodes: Nodes
) -> None:
    async with open_node("here") as here:
        far = await nodes.start("far", app=APP)
        await here.cluster.join(far.address)
        jobs = here.streams.stream("jobs")
        report = TestProbe(here)
        stuck = here.spawn(RemoteConsumer, here.address, "jobs", "g", report.ref, False, 0.3,
                           node=far.address)
        assert await stuck.ask("ready?") == "ready"
        jobs.append("only")
        assert [offset for _, offset, _ in await reports(report, 1)] == [0]
        # Its only member: the entry comes to it again after the timeout.
        assert [offset for _, offset, _ in await reports(report, 1)] == [0]
