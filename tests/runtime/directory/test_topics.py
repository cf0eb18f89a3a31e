"""Topics: publish-subscribe between actors, and the dead letters published on one."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from actors import Actor, DeadLetter, Mailbox
from actors.testkit import TestProbe
from runtime import ActorSystem

pytestmark = pytest.mark.anyio


class Leaf(Actor[Any]):
    def receive(self, message: Any) -> Any:
        return message


async def test_publish_reaches_every_subscriber_and_returns_the_count(
    actor_system: ActorSystem,
) -> None:
    topics = actor_system.topics
    probes = [TestProbe(actor_system) for _ in range(3)]
    for probe in probes:
        topics.subscribe("prices", probe.ref)
    topics.subscribe("prices", probes[0].ref)  # twice: still one subscription
    assert topics.subscribers("prices") == [probe.ref for probe in probes]
    assert topics.publish("prices", {"sku": 1, "price": 9.5}) == 3
    assert topics.publish("prices", "second") == 3
    for probe in probes:
        await probe.expect({"sku": 1, "price": 9.5})
        await probe.expect("second")


async def test_publish_to_a_topic_without_subscribers_returns_zero(
    actor_system: ActorSystem,
) -> None:
    assert actor_system.topics.publish("nobody-listens", "hello") == 0
    assert not actor_system.topics.has_subscribers("nobody-listens")


async def test_topics_are_separate(actor_system: ActorSystem) -> None:
    prices, stock = TestProbe(actor_system), TestProbe(actor_system)
    actor_system.topics.subscribe("prices", prices.ref)
    actor_system.topics.subscribe("stock", stock.ref)
    assert actor_system.topics.publish("prices", "p") == 1
    assert actor_system.topics.publish("stock", "s") == 1
    await prices.expect("p")
    await stock.expect("s")
    await prices.expect_no_message(0.02)


async def test_unsubscribe_stops_delivery(actor_system: ActorSystem) -> None:
    stays, leaves = TestProbe(actor_system), TestProbe(actor_system)
    topics = actor_system.topics
    topics.subscribe("news", stays.ref)
    topics.subscribe("news", leaves.ref)
    topics.unsubscribe("news", leaves.ref)
    topics.unsubscribe("news", leaves.ref)  # harmless twice
    topics.unsubscribe("unknown", leaves.ref)
    assert topics.publish("news", "n") == 1
    await stays.expect("n")
    await leaves.expect_no_message(0.02)


async def test_dead_subscribers_drop(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    alive = TestProbe(actor_system)
    subscriber = actor_system.spawn(Leaf)
    actor_system.topics.subscribe("news", subscriber)
    actor_system.topics.subscribe("news", alive.ref)
    actor_system.stop(subscriber)
    await probe.expect_terminated(subscriber)
    assert actor_system.topics.subscribers("news") == [alive.ref]
    assert actor_system.topics.publish("news", "n") == 1
    assert actor_system.dead_letters.count == 0  # the dead one was not told
    # A dead actor cannot subscribe again.
    actor_system.topics.subscribe("news", subscriber)
    assert actor_system.topics.subscribers("news") == [alive.ref]


async def test_dead_letters_are_counted_and_published(actor_system: ActorSystem) -> None:
    watcher = TestProbe(actor_system)
    actor_system.topics.subscribe("dead_letters", watcher.ref)
    ref = actor_system.spawn(Leaf, name="gone")
    actor_system.stop(ref)
    await TestProbe(actor_system).expect_terminated(ref)
    ref.tell("first")
    ref.tell_many(["second", "third"])
    assert actor_system.dead_letters.count == 3
    assert len(actor_system.dead_letters) == 3
    for message in ("first", "second", "third"):
        assert await watcher.expect(DeadLetter) == DeadLetter(message, "test/gone", "stopped")


async def test_dropped_messages_are_dead_letters_with_the_reason(
    actor_system: ActorSystem,
) -> None:
    watcher = TestProbe(actor_system)
    actor_system.topics.subscribe("dead_letters", watcher.ref)
    gate = anyio.Event()
    entered = anyio.Event()

    class Busy(Actor[Any]):
        async def receive(self, message: Any) -> None:
            entered.set()
            await gate.wait()

    ref = actor_system.spawn(Busy, name="busy", mailbox=Mailbox(1, "drop_new"))
    ref.tell("hold")
    await entered.wait()
    ref.tell_many(["kept", "dropped"])
    letter = await watcher.expect(DeadLetter)
    assert letter == DeadLetter("dropped", "test/busy", "mailbox full (drop_new)")
    gate.set()


async def test_recent_dead_letters_are_bounded(actor_system: ActorSystem) -> None:
    ref = actor_system.spawn(Leaf)
    actor_system.stop(ref)
    await TestProbe(actor_system).expect_terminated(ref)
    ref.tell_many(range(250))
    assert actor_system.dead_letters.count == 250
    recent = actor_system.dead_letters.recent
    assert [letter.message for letter in recent] == list(range(150, 250))
