"""Topics across nodes: a publish reaches the subscribers on every node, and crosses
each link as one frame per node, however many subscribers that node has."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from actors.messages import DeadLetter, NodeUp
from actors.testkit import TestProbe
from runtime import ActorSystem
from runtime._cluster.link import Link
from runtime._wire import framing as wire
from tests.cluster.apps import Point, Recorder, Subscriber
from tests.cluster.nodes import NodeProcess, Nodes

pytestmark = pytest.mark.anyio


async def subscribers_on(
    system: ActorSystem, node: NodeProcess, topic: str, count: int, report: TestProbe
) -> set[str]:
    """Spawn `count` subscribers of `topic` on `node`; return their addresses once
    each has subscribed (its report follows its TopicInterest frame on the link)."""
    refs = [system.spawn(Subscriber, topic, report.ref, node=node.address) for _ in range(count)]
    for ref in refs:
        assert await ref.ask("ready?", timeout=2.0) == "ready"
    return {ref.address for ref in refs}


async def test_publish_reaches_subscribers_on_every_node_one_frame_per_node(
    system: ActorSystem, nodes: Nodes, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = await nodes.start("topics-a")
    b = await nodes.start("topics-b", seeds=[a.address])
    members = TestProbe(system)
    system.cluster.subscribe(members.ref)
    await members.expect(NodeUp)
    await system.cluster.join(a.address)
    assert {(await members.expect(NodeUp)).node for _ in range(2)} == {a.address, b.address}

    report = TestProbe(system)
    expected = await subscribers_on(system, a, "news", 3, report)
    expected |= await subscribers_on(system, b, "news", 2, report)
    local = system.spawn(Subscriber, "news", report.ref)
    assert await local.ask("ready?", timeout=2.0) == "ready"
    expected.add(local.address)

    frames: Counter[tuple[str, str]] = Counter()
    send = Link.send

    def counting_send(link: Link, frame: wire.Frame) -> bool:
        frames[(link.peer, type(frame).__name__)] += 1
        return send(link, frame)

    monkeypatch.setattr(Link, "send", counting_send)
    message = Point(1, 2)
    # Reached: the local subscriber, plus one per node with subscribers.
    assert system.topics.publish("news", message) == 1 + 2
    got = [await report.receive() for _ in expected]
    assert {address for address, _ in got} == expected
    assert all(payload == message for _, payload in got)
    assert frames[(a.address, "TopicPublish")] == 1
    assert frames[(b.address, "TopicPublish")] == 1
    await report.expect_no_message(0.1)


async def test_a_publish_on_another_node_reaches_subscribers_here(
    system: ActorSystem, peer: NodeProcess
) -> None:
    await system.cluster.join(peer.address)
    report = TestProbe(system)
    here = [system.spawn(Subscriber, "weather", report.ref) for _ in range(2)]
    for ref in here:
        assert await ref.ask("ready?", timeout=2.0) == "ready"
    control = await system.lookup("control", node=peer.address)
    assert control is not None
    # Our TopicInterest went out on join or on subscribe, ahead of this ask.
    reached = await control.ask(("publish", "weather", ("sunny", 21)), timeout=2.0)
    assert reached == 1  # one node (this one), whatever its number of subscribers
    got: list[Any] = [await report.receive(), await report.receive()]
    assert sorted(address for address, _ in got) == sorted(ref.address for ref in here)
    assert all(payload == ("sunny", 21) for _, payload in got)


async def test_subscribers_that_stop_no_longer_draw_frames(
    system: ActorSystem, peer: NodeProcess
) -> None:
    await system.cluster.join(peer.address)
    report = TestProbe(system)
    subscriber = system.spawn(Subscriber, "fleeting", report.ref, node=peer.address)
    assert await subscriber.ask("ready?", timeout=2.0) == "ready"
    assert system.topics.publish("fleeting", "one") == 1
    assert (await report.receive())[1] == "one"
    report.watch(subscriber)
    system.stop(subscriber)
    await report.expect_terminated(subscriber)
    control = await system.lookup("control", node=peer.address)
    assert control is not None
    await control.ask(("members",), timeout=2.0)  # the peer's interest update came first
    assert system.topics.publish("fleeting", "two") == 0


async def test_dead_letters_stay_on_their_node(system: ActorSystem, peer: NodeProcess) -> None:
    """Another node subscribing to its own dead letters neither receives this node's
    nor makes a local tell fail for a message that could not travel."""
    await system.cluster.join(peer.address)
    here = TestProbe(system)
    system.topics.subscribe("dead_letters", here.ref)
    there = TestProbe(system)
    remote = system.spawn(Subscriber, "dead_letters", there.ref, node=peer.address)
    assert await remote.ask("ready?", timeout=2.0) == "ready"

    gone = system.spawn(Recorder)
    watcher = TestProbe(system)
    system.stop(gone)
    await watcher.expect_terminated(gone)
    unpicklable = (i for i in range(3))  # a generator cannot travel, even by pickle
    gone.tell(unpicklable)  # to dead letters, here only; no SerializationError
    letter = await here.expect(DeadLetter)
    assert letter.message is unpicklable and letter.recipient == gone.address
    await there.expect_no_message(0.2)
