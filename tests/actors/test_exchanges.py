"""Exchanges through a real system, by RabbitMQ's rules: direct, fanout, topic, headers,
unroutable messages, alternate exchanges, and bindings that drop with their actors.

Which probes a publish reached is read without waiting: after the publish, the test
tells every probe a sentinel itself, so each probe's next message is the published one
if it was reached and the sentinel if not (one sender's messages keep their order).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anyio
import pytest

from actors import Actor, Mailbox
from actors.errors import ActorError, UnroutableError
from actors.messages import DeadLetter
from actors.routing import Exchange
from actors.testkit import TestProbe
from runtime import ActorSystem

pytestmark = pytest.mark.anyio

SENTINEL = "-- sentinel --"


def probes(system: ActorSystem, *names: str) -> dict[str, TestProbe]:
    return {name: TestProbe(system, name=name) for name in names}


async def reached(by: Mapping[str, TestProbe], message: Any) -> set[str]:
    """The probes that got `message` (once) since the last call; never waits for a miss."""
    for probe in by.values():
        probe.ref.tell(SENTINEL)
    got = set()
    for name, probe in by.items():
        first = await probe.receive()
        if first == message:
            got.add(name)
            first = await probe.receive()
        assert first == SENTINEL, f"{name} got {first!r}: a second copy or a stray message"
    return got


async def publish_reached(
    exchange: Exchange, by: Mapping[str, TestProbe], key: str,
    headers: Mapping[str, Any] | None = None,
) -> set[str]:
    message = f"msg for {key!r} {headers!r}"
    count = exchange.publish(key, message, headers)
    got = await reached(by, message)
    assert count == len(got), f"publish said {count}, {sorted(got)} got it"
    return got


# -- direct and fanout -------------------------------------------------------------------------


async def test_direct_routes_on_exact_case_sensitive_keys(actor_system: ActorSystem) -> None:
    ex = actor_system.exchange("jobs", "direct")
    by = probes(actor_system, "lower", "upper", "both")
    ex.bind(by["lower"].ref, "resize")
    ex.bind(by["upper"].ref, "Resize")
    ex.bind(by["both"].ref, "resize")
    ex.bind(by["both"].ref, "Resize")

    assert await publish_reached(ex, by, "resize") == {"lower", "both"}
    assert await publish_reached(ex, by, "Resize") == {"upper", "both"}
    assert await publish_reached(ex, by, "RESIZE") == set()
    assert await publish_reached(ex, by, "resize.small") == set()  # no patterns here
    assert await publish_reached(ex, by, "*") == set()


async def test_fanout_reaches_every_bound_actor_whatever_the_key(
    actor_system: ActorSystem,
) -> None:
    ex = actor_system.exchange("broadcast", "fanout")
    by = probes(actor_system, "a", "b", "unbound")
    ex.bind(by["a"].ref, "only-this")
    ex.bind(by["b"].ref)
    ex.bind(by["b"].ref, "again")  # one copy still

    for key in ("", "only-this", "anything.at.all", "#"):
        assert await publish_reached(ex, by, key) == {"a", "b"}
    ex.unbind(by["b"].ref, "again")  # its binding under "" still takes everything
    assert await publish_reached(ex, by, "x") == {"a", "b"}
    ex.unbind(by["b"].ref)
    assert await publish_reached(ex, by, "x") == {"a"}


# -- topic -----------------------------------------------------------------------------------


TOPIC_BINDINGS = {"hash": "#", "star": "*", "a_hash": "a.#", "hash_star": "#.*",
                  "a_star_c": "a.*.c", "hash_c": "#.c"}


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("", {"hash"}),  # `#` matches the empty key, `*` does not, nor does `#.*`
        ("a", {"hash", "star", "a_hash", "hash_star"}),  # `a.#` matches `a`
        ("a.b", {"hash", "a_hash", "hash_star"}),  # `*` is exactly one word
        ("b.a", {"hash", "hash_star"}),
        ("a.b.c", {"hash", "a_hash", "hash_star", "a_star_c", "hash_c"}),
        ("a.c", {"hash", "a_hash", "hash_star", "hash_c"}),  # `*` is not zero words
        ("c", {"hash", "star", "hash_star", "hash_c"}),  # `#.c` with `#` as no word
        ("A.b.c", {"hash", "hash_star", "hash_c"}),  # words are case-sensitive
        ("a..c", {"hash", "a_hash", "hash_star", "a_star_c", "hash_c"}),  # "" is a word
    ],
)
async def test_topic_follows_amqp_edge_cases(
    actor_system: ActorSystem, key: str, expected: set[str]
) -> None:
    ex = actor_system.exchange("events", "topic")
    by = probes(actor_system, *TOPIC_BINDINGS)
    for name, pattern in TOPIC_BINDINGS.items():
        ex.bind(by[name].ref, pattern)
    assert await publish_reached(ex, by, key) == expected


async def test_topic_sends_one_copy_to_an_actor_bound_by_several_matching_patterns(
    actor_system: ActorSystem,
) -> None:
    ex = actor_system.exchange("events", "topic")
    by = probes(actor_system, "audit", "billing")
    for pattern in ("order.#", "order.*.paid", "#.paid", "#", "order.eu.paid"):
        ex.bind(by["audit"].ref, pattern)
    ex.bind(by["billing"].ref, "*.*.paid")
    ex.bind(by["billing"].ref, "order.eu.*")

    assert await publish_reached(ex, by, "order.eu.paid") == {"audit", "billing"}
    assert await publish_reached(ex, by, "order") == {"audit"}


async def test_topic_unbind_removes_one_pattern_only(actor_system: ActorSystem) -> None:
    ex = actor_system.exchange("events", "topic")
    by = probes(actor_system, "audit")
    ex.bind(by["audit"].ref, "order.#")
    ex.bind(by["audit"].ref, "#.paid")
    ex.unbind(by["audit"].ref, "order.#")
    ex.unbind(by["audit"].ref, "never.bound")  # no error

    assert await publish_reached(ex, by, "order.eu") == set()
    assert await publish_reached(ex, by, "order.paid") == {"audit"}
    assert ex.bindings() == [(by["audit"].ref, "#.paid")]


# -- headers ---------------------------------------------------------------------------------


async def test_headers_all_and_any(actor_system: ActorSystem) -> None:
    ex = actor_system.exchange("docs", "headers")
    by = probes(actor_system, "all", "any", "present")
    ex.bind(by["all"].ref, {"format": "pdf", "type": "report"})  # x-match all by default
    ex.bind(by["any"].ref, {"x-match": "any", "format": "pdf", "type": "log"})
    ex.bind(by["present"].ref, {"lang": None})  # None: the header is there, any value

    def routed(headers: Mapping[str, Any] | None) -> Any:
        return publish_reached(ex, by, "ignored", headers)

    assert await routed({"format": "pdf", "type": "report"}) == {"all", "any"}
    assert await routed({"format": "pdf", "type": "log", "lang": "fr"}) == {"any", "present"}
    assert await routed({"type": "report"}) == set()
    assert await routed({"format": "zip", "type": "log"}) == {"any"}
    assert await routed({"lang": 0}) == {"present"}
    assert await routed(None) == set()


async def test_headers_ignore_x_keys_unless_the_mode_says_with_x(
    actor_system: ActorSystem,
) -> None:
    ex = actor_system.exchange("docs", "headers")
    by = probes(actor_system, "plain", "with_x", "only_x")
    ex.bind(by["plain"].ref, {"x-match": "all", "x-tenant": "acme", "format": "pdf"})
    ex.bind(by["with_x"].ref, {"x-match": "all-with-x", "x-tenant": "acme", "format": "pdf"})
    ex.bind(by["only_x"].ref, {"x-match": "any", "x-tenant": "acme"})  # nothing to compare

    assert await publish_reached(ex, by, "", {"format": "pdf"}) == {"plain"}
    got = await publish_reached(ex, by, "", {"format": "pdf", "x-tenant": "acme"})
    assert got == {"plain", "with_x"}


async def test_headers_values_compare_by_amqp_type(actor_system: ActorSystem) -> None:
    ex = actor_system.exchange("flags", "headers")
    by = probes(actor_system, "boolean", "number", "text")
    ex.bind(by["boolean"].ref, {"flag": True})
    ex.bind(by["number"].ref, {"flag": 1})
    ex.bind(by["text"].ref, {"name": "é"})

    assert await publish_reached(ex, by, "", {"flag": True}) == {"boolean"}
    assert await publish_reached(ex, by, "", {"flag": 1}) == {"number"}
    assert await publish_reached(ex, by, "", {"flag": 1.0}) == {"number"}
    assert await publish_reached(ex, by, "", {"name": "é".encode()}) == {"text"}


async def test_headers_bindings_are_deduplicated_and_unbound_by_amqp_equality(
    actor_system: ActorSystem,
) -> None:
    """{"a": True} == {"a": 1} in Python, but they are two bindings that route apart."""
    ex = actor_system.exchange("flags", "headers")
    by = probes(actor_system, "flags")
    ref = by["flags"].ref
    ex.bind(ref, {"a": True})
    ex.bind(ref, {"a": 1})
    ex.bind(ref, {"a": 1, "b": "x"})
    ex.bind(ref, {"b": b"x", "a": 1})  # the same table: key order and str/bytes aside
    assert len(ex.bindings()) == 3

    ex.unbind(ref, {"a": 1})  # leaves {"a": True} bound
    assert ex.bindings() == [(ref, {"a": True}), (ref, {"a": 1, "b": "x"})]
    assert await publish_reached(ex, by, "", {"a": True}) == {"flags"}
    assert await publish_reached(ex, by, "", {"a": 1}) == set()
    ex.unbind(ref, {"a": True})
    assert await publish_reached(ex, by, "", {"a": True}) == set()


async def test_headers_bindings_are_checked_when_bound(actor_system: ActorSystem) -> None:
    ex = actor_system.exchange("docs", "headers")
    probe = TestProbe(actor_system)
    with pytest.raises(ValueError, match="x-match must be one of 'all', 'any', 'all-with-x', "
                       "'any-with-x'; got 'some'"):
        ex.bind(probe.ref, {"x-match": "some", "format": "pdf"})
    with pytest.raises(TypeError, match="binds a dict of headers, got 'format=pdf'"):
        ex.bind(probe.ref, "format=pdf")
    with pytest.raises(TypeError, match="header names are str, got 1"):
        ex.bind(probe.ref, {1: "one"})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="topic exchange 'events' binds a str key"):
        actor_system.exchange("events", "topic").bind(probe.ref, {"a": 1})
    assert ex.bindings() == []


# -- bindings and actors -----------------------------------------------------------------------


class Sink(Actor[Any]):
    def receive(self, message: Any) -> None:
        return None


@pytest.mark.parametrize(
    ("kind", "key"),
    [("direct", "k"), ("fanout", ""), ("topic", "k.#"), ("headers", {"k": "v"})],
)
async def test_bindings_drop_when_the_actor_stops(
    actor_system: ActorSystem, kind: Any, key: Any
) -> None:
    ex = actor_system.exchange("drops", kind)
    sink = actor_system.spawn(Sink)
    ex.bind(sink, key)
    assert ex.publish("k", "before", {"k": "v"}) == 1

    actor_system.stop(sink)
    await TestProbe(actor_system).expect_terminated(sink)
    assert ex.bindings() == []
    assert ex.publish("k", "after", {"k": "v"}) == 0
    ex.bind(sink, key)  # a stopped actor is not bound again: nothing could unbind it
    assert ex.bindings() == []


async def test_unroutable_messages_go_to_dead_letters(actor_system: ActorSystem) -> None:
    letters = TestProbe(actor_system)
    actor_system.topics.subscribe("dead_letters", letters.ref)
    ex = actor_system.exchange("orders", "topic")
    ex.bind(TestProbe(actor_system).ref, "order.*")

    assert ex.publish("invoice.eu", {"id": 7}) == 0
    letter = await letters.expect(DeadLetter)
    assert letter == DeadLetter({"id": 7}, "exchange orders", "unroutable key 'invoice.eu'")


async def test_mandatory_publish_raises_unroutable_error(actor_system: ActorSystem) -> None:
    letters = TestProbe(actor_system)
    actor_system.topics.subscribe("dead_letters", letters.ref)
    ex = actor_system.exchange("orders", "direct")
    with pytest.raises(
        UnroutableError,
        match=r"exchange 'orders' routed key 'order\.eu' to no actor; bind a queue for it, "
              r"name an alternate exchange, or publish without mandatory=True",
    ) as caught:
        ex.publish("order.eu", "lost", mandatory=True)
    assert isinstance(caught.value, ActorError)
    assert (caught.value.exchange, caught.value.key) == ("orders", "order.eu")
    letters.ref.tell(SENTINEL)
    await letters.expect(SENTINEL)  # raised instead of dead-lettered


async def test_alternate_exchange_takes_what_the_first_cannot_route(
    actor_system: ActorSystem,
) -> None:
    letters = TestProbe(actor_system)
    actor_system.topics.subscribe("dead_letters", letters.ref)
    fallback = actor_system.exchange("unrouted", "fanout")
    orders = actor_system.exchange("orders", "direct", alternate="unrouted")
    by = probes(actor_system, "paid", "fallback")
    orders.bind(by["paid"].ref, "paid")
    fallback.bind(by["fallback"].ref)

    assert await publish_reached(orders, by, "paid") == {"paid"}
    assert await publish_reached(orders, by, "refunded") == {"fallback"}
    assert orders.publish("refunded", "kept", mandatory=True) == 1  # the alternate took it
    assert await reached(by, "kept") == {"fallback"}

    fallback.unbind(by["fallback"].ref)
    with pytest.raises(UnroutableError, match="exchange 'orders' routed key 'refunded'"):
        orders.publish("refunded", "nobody", mandatory=True)
    assert orders.publish("refunded", "to the dead") == 0
    assert await letters.expect(DeadLetter) == DeadLetter(
        "to the dead", "exchange orders", "unroutable key 'refunded'"
    )


async def test_an_existing_name_keeps_its_kind_and_alternate(actor_system: ActorSystem) -> None:
    orders = actor_system.exchange("orders", "topic")
    assert actor_system.exchange("orders", "topic") is orders
    with pytest.raises(ValueError, match="exchange 'orders' exists as a topic exchange; ask "
                       "for it with kind='topic' or pick another name \\(asked: 'direct'\\)"):
        actor_system.exchange("orders", "direct")
    actor_system.exchange("spare", "fanout")
    with pytest.raises(ValueError, match="exists with alternate none, not 'spare'"):
        actor_system.exchange("orders", "topic", alternate="spare")
    with pytest.raises(ValueError, match="alternate exchange 'missing' of 'new' does not exist"):
        actor_system.exchange("new", "topic", alternate="missing")
    with pytest.raises(ValueError, match="exchange kind must be one of 'direct', 'fanout', "
                       "'topic', 'headers'; got 'queue'"):
        actor_system.exchange("other", "queue")  # type: ignore[arg-type]


class Blocking(Actor[Any]):
    """Blocks on its first message until `release` is set, so its bounded mailbox fills."""

    def __init__(self, started: TestProbe, release: anyio.Event) -> None:
        self.started = started
        self.release = release

    async def receive(self, message: Any) -> None:
        self.started.ref.tell(message)
        await self.release.wait()


async def test_a_mailbox_that_rejects_does_not_stop_the_others(
    actor_system: ActorSystem,
) -> None:
    ex = actor_system.exchange("all", "fanout")
    busy, release = TestProbe(actor_system), anyio.Event()
    full = actor_system.spawn(Blocking, busy, release, mailbox=Mailbox(1, overflow="reject"))
    by = probes(actor_system, "other")
    ex.bind(full)
    ex.bind(by["other"].ref)
    try:
        assert ex.publish("", "taken") == 2
        await busy.expect("taken")  # `full` blocks on it, its mailbox empty
        await by["other"].expect("taken")
        full.tell("fills the one place")

        letters = TestProbe(actor_system)
        actor_system.topics.subscribe("dead_letters", letters.ref)
        assert ex.publish("", "refused by one") == 1
        assert await reached(by, "refused by one") == {"other"}
        letter = await letters.expect(DeadLetter)
        assert letter.message == "refused by one" and letter.recipient == full.address
        assert letter.reason.startswith("exchange all: ")
    finally:
        release.set()
