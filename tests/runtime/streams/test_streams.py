"""Streams: offsets, replay, consumer groups, flow control, persistence and its recovery.

Probes stand in for consumers where the test drives the commits itself; `Consumer`
actors commit from their own handler, as real consumers do.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors import Actor, ActorCrashedError, ActorRef, SerializationError, StreamEntry
from actors.testkit import TestProbe
from runtime import ActorSystem, Subscription
from supervisors import Child, Supervisor

pytestmark = pytest.mark.anyio


class Consumer(Actor[Any]):
    """Joins `group` on `stream` in on_start, commits each entry and reports it."""

    def __init__(
        self, stream: str, group: str | None, report: ActorRef[Any], *,
        start: str | int = "earliest", max_in_flight: int = 100,
    ) -> None:
        self.stream, self.group, self.report = stream, group, report
        self.start, self.max_in_flight = start, max_in_flight
        self.subscription: Subscription | None = None

    def on_start(self) -> None:
        stream = self.context.system.streams.stream(self.stream)
        self.subscription = stream.subscribe(
            self.context.ref, group=self.group, start=self.start,
            max_in_flight=self.max_in_flight,
        )

    def receive(self, message: Any) -> Any:
        if message == "ready?":
            return "ready"
        assert isinstance(message, StreamEntry) and self.subscription is not None
        self.subscription.commit(message.offset)
        self.report.tell((self.context.ref, message.offset, message.message))
        return None


class Flaky(Consumer):
    """A consumer that crashes the first time it handles offset 1."""

    def __init__(self, crashes: list[int], report: ActorRef[Any]) -> None:
        super().__init__("jobs", "g", report)
        self.crashes = crashes

    def receive(self, message: Any) -> Any:
        if isinstance(message, StreamEntry) and message.offset == 1 and not self.crashes:
            self.crashes.append(message.offset)
            raise RuntimeError("poisoned once")
        return super().receive(message)


class Crasher(Actor[Any]):
    def receive(self, message: Any) -> None:
        raise RuntimeError(f"cannot handle {message!r}")


async def offsets(probe: TestProbe, count: int) -> list[int]:
    """The offsets of the next `count` entries the probe gets."""
    return [(await probe.expect(StreamEntry)).offset for _ in range(count)]


# -- offsets and replay -------------------------------------------------------------------


async def test_offsets_are_dense_and_follow_append_order(actor_system: ActorSystem) -> None:
    stream = actor_system.streams.stream("orders")
    assert len(stream) == 0
    assert [stream.append(f"order {n}") for n in range(5)] == [0, 1, 2, 3, 4]
    assert len(stream) == 5
    assert actor_system.streams.stream("orders") is stream
    assert actor_system.streams.stream("other").append("x") == 0  # offsets per stream
    assert actor_system.streams.names() == ["orders", "other"]


@pytest.mark.parametrize(
    ("start", "expected"),
    [("earliest", [0, 1, 2, 3, 4, 5]), ("latest", [3, 4, 5]), (1, [1, 2, 3, 4, 5]),
     (3, [3, 4, 5])],
)
async def test_subscribe_from_start_replays_the_right_entries(
    actor_system: ActorSystem, start: str | int, expected: list[int]
) -> None:
    stream = actor_system.streams.stream("events")
    for n in range(3):
        stream.append(n * 10)
    probe = TestProbe(actor_system)
    stream.subscribe(probe.ref, start=start)
    for n in range(3, 6):
        stream.append(n * 10)
    got = [await probe.expect(StreamEntry) for _ in expected]
    assert [entry.offset for entry in got] == expected
    assert [entry.message for entry in got] == [offset * 10 for offset in expected]
    assert {entry.stream for entry in got} == {"events"}
    await probe.expect_no_message(0.02)


async def test_independent_subscribers_each_see_everything(actor_system: ActorSystem) -> None:
    stream = actor_system.streams.stream("prices")
    first, second = TestProbe(actor_system), TestProbe(actor_system)
    stream.append("before")
    stream.subscribe(first.ref, start="earliest")
    stream.subscribe(second.ref, start="earliest")
    stream.append("after")
    for probe in (first, second):
        assert [(await probe.expect(StreamEntry)).message for _ in range(2)] == [
            "before", "after",
        ]


async def test_seek_replays_from_an_offset(actor_system: ActorSystem) -> None:
    stream = actor_system.streams.stream("log")
    probe = TestProbe(actor_system)
    subscription = stream.subscribe(probe.ref)
    for n in range(4):
        stream.append(n)
    assert await offsets(probe, 4) == [0, 1, 2, 3]
    subscription.commit(3)
    subscription.seek(1)
    assert subscription.committed == 0
    assert await offsets(probe, 3) == [1, 2, 3]
    subscription.seek(4)  # the end: only what comes next
    stream.append(4)
    assert await offsets(probe, 1) == [4]


async def test_a_group_seek_moves_the_group_and_its_committed_offset(
    actor_system: ActorSystem,
) -> None:
    stream = actor_system.streams.stream("log")
    first, second = TestProbe(actor_system), TestProbe(actor_system)
    one = stream.subscribe(first.ref, group="g")
    two = stream.subscribe(second.ref, group="g")
    for n in range(4):
        stream.append(n)
    assert await offsets(first, 2) == [0, 2]
    assert await offsets(second, 2) == [1, 3]
    one.commit(2)
    two.commit(3)
    assert stream.committed("g") == 3
    two.seek(1)
    assert stream.committed("g") == 0
    assert sorted(await offsets(first, 2) + await offsets(second, 1)) == [1, 2, 3]


# -- consumer groups --------------------------------------------------------------------


async def test_a_group_shares_entries_round_robin(actor_system: ActorSystem) -> None:
    stream = actor_system.streams.stream("jobs")
    probes = [TestProbe(actor_system) for _ in range(3)]
    for probe in probes:
        stream.subscribe(probe.ref, group="workers")
    for n in range(9):
        stream.append(n)
    assert [await offsets(probe, 3) for probe in probes] == [[0, 3, 6], [1, 4, 7], [2, 5, 8]]
    for probe in probes:
        await probe.expect_no_message(0.02)


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    before=st.integers(0, 30), after=st.integers(0, 30), size=st.integers(1, 5),
    window=st.integers(1, 6),
)
async def test_a_group_sees_each_entry_once_while_all_members_live(
    anyio_backend: str, before: int, after: int, size: int, window: int
) -> None:
    async with ActorSystem("test") as system:
        report = TestProbe(system)
        stream = system.streams.stream("work")
        for n in range(before):
            stream.append(n)
        members = [
            system.spawn(Consumer, "work", "g", report.ref, max_in_flight=window)
            for _ in range(size)
        ]
        for member in members:
            assert await member.ask("ready?") == "ready"
        for n in range(before, before + after):
            stream.append(n)
        seen = [await report.expect(tuple) for _ in range(before + after)]
        await report.expect_no_message(0.02)
        assert sorted(offset for _, offset, _ in seen) == list(range(before + after))
        assert all(offset == message for _, offset, message in seen)
        assert {who for who, _, _ in seen} <= set(members)
        assert stream.committed("g") == (before + after - 1 if before + after else None)


async def test_a_stopped_members_uncommitted_entries_go_to_another(
    actor_system: ActorSystem,
) -> None:
    stream = actor_system.streams.stream("jobs")
    a, b, c = (TestProbe(actor_system) for _ in range(3))
    sub_a = stream.subscribe(a.ref, group="g")
    sub_b = stream.subscribe(b.ref, group="g")
    stream.subscribe(c.ref, group="g")
    for n in range(6):
        stream.append(n)
    assert await offsets(a, 2) == [0, 3]
    assert await offsets(b, 2) == [1, 4]
    assert await offsets(c, 2) == [2, 5]
    sub_b.commit(1)
    actor_system.stop(a.ref)
    await TestProbe(actor_system).expect_terminated(a.ref)
    assert not sub_a.active
    # a's 0 and 3 are owed again, oldest first, round robin over who is left.
    assert await offsets(b, 1) == [0]
    assert await offsets(c, 1) == [3]
    assert stream.committed("g") is None
    sub_b.commit(4)  # covers b's 0, 1 and 4
    assert stream.committed("g") == 1
    # An entry goes round until it is committed: c stops too, b gets 2, 3 and 5.
    actor_system.stop(c.ref)
    assert sorted(await offsets(b, 3)) == [2, 3, 5]
    sub_b.commit(5)
    assert stream.committed("g") == 5


async def test_a_crashed_member_is_replaced_by_the_others(actor_system: ActorSystem) -> None:
    stream = actor_system.streams.stream("jobs")
    report = TestProbe(actor_system)
    crasher = actor_system.spawn(Crasher)
    stream.subscribe(crasher, group="g")
    consumer = actor_system.spawn(Consumer, "jobs", "g", report.ref)
    assert await consumer.ask("ready?") == "ready"
    for n in range(4):
        stream.append(n)
    await TestProbe(actor_system).expect_terminated(crasher)
    seen = sorted([(await report.expect(tuple))[1] for _ in range(4)])
    assert seen == [0, 1, 2, 3]
    assert stream.committed("g") == 3


async def test_cancel_hands_a_members_entries_on(actor_system: ActorSystem) -> None:
    stream = actor_system.streams.stream("jobs")
    a, b = TestProbe(actor_system), TestProbe(actor_system)
    sub_a = stream.subscribe(a.ref, group="g")
    stream.subscribe(b.ref, group="g")
    stream.append("x")
    assert await offsets(a, 1) == [0]
    sub_a.cancel()
    sub_a.cancel()  # harmless twice
    assert await offsets(b, 1) == [0]
    with pytest.raises(RuntimeError, match="has ended"):
        sub_a.commit(0)


async def test_subscribing_again_redelivers_what_was_not_committed(
    actor_system: ActorSystem,
) -> None:
    stream = actor_system.streams.stream("jobs")
    solo, member = TestProbe(actor_system), TestProbe(actor_system)
    first = stream.subscribe(solo.ref)
    joined = stream.subscribe(member.ref, group="g")
    for n in range(3):
        stream.append(n)
    assert await offsets(solo, 3) == [0, 1, 2]
    assert await offsets(member, 3) == [0, 1, 2]
    first.commit(0)
    joined.commit(1)
    assert stream.subscribe(solo.ref, start="earliest") is first  # start= is not used
    assert stream.subscribe(member.ref, group="g") is joined
    assert await offsets(solo, 2) == [1, 2]
    assert await offsets(member, 1) == [2]
    await solo.expect_no_message(0.02)


async def test_a_restarted_consumer_gets_the_entry_its_crash_interrupted(
    actor_system: ActorSystem,
) -> None:
    report, crashes = TestProbe(actor_system), list[int]()
    actor_system.spawn(Supervisor("sup", children=[Child(Flaky, crashes, report.ref)]))
    stream = actor_system.streams.stream("jobs")
    for n in range(3):
        stream.append(n)
    seen = {(await report.expect(tuple))[1] for _ in range(3)}
    while seen != {0, 1, 2}:  # entries still in its mailbox may come twice
        seen.add((await report.expect(tuple))[1])
    assert crashes == [1]
    assert stream.committed("g") == 2


async def test_a_stopped_solo_subscriber_drops_out(actor_system: ActorSystem) -> None:
    stream = actor_system.streams.stream("news")
    leaves = TestProbe(actor_system)
    subscription = stream.subscribe(leaves.ref)
    actor_system.stop(leaves.ref)
    await TestProbe(actor_system).expect_terminated(leaves.ref)
    assert not subscription.active
    letters = actor_system.dead_letters.count
    stream.append("nobody")
    assert actor_system.dead_letters.count == letters
    late = stream.subscribe(leaves.ref)  # a dead actor gets an inactive subscription
    assert not late.active


# -- flow control --------------------------------------------------------------------------


async def test_a_subscriber_gets_at_most_max_in_flight_uncommitted(
    actor_system: ActorSystem,
) -> None:
    stream = actor_system.streams.stream("firehose")
    probe = TestProbe(actor_system)
    subscription = stream.subscribe(probe.ref, max_in_flight=3)
    for n in range(10):
        stream.append(n)
    assert await offsets(probe, 3) == [0, 1, 2]
    await probe.expect_no_message(0.05)
    assert subscription.in_flight == 3
    subscription.commit(0)
    assert await offsets(probe, 1) == [3]
    subscription.commit(3)
    assert await offsets(probe, 3) == [4, 5, 6]
    await probe.expect_no_message(0.02)
    subscription.commit(9 - 3)
    assert await offsets(probe, 3) == [7, 8, 9]
    assert subscription.committed == 6


async def test_each_group_member_has_its_own_window(actor_system: ActorSystem) -> None:
    stream = actor_system.streams.stream("firehose")
    a, b = TestProbe(actor_system), TestProbe(actor_system)
    sub_a = stream.subscribe(a.ref, group="g", max_in_flight=2)
    stream.subscribe(b.ref, group="g", max_in_flight=2)
    for n in range(10):
        stream.append(n)
    assert await offsets(a, 2) == [0, 2]
    assert await offsets(b, 2) == [1, 3]
    await a.expect_no_message(0.05)
    sub_a.commit(0)
    assert await offsets(a, 1) == [4]
    await b.expect_no_message(0.02)


# -- errors ------------------------------------------------------------------------------


async def test_errors_say_what_is_valid(actor_system: ActorSystem) -> None:
    streams = actor_system.streams
    stream = streams.stream("s")
    stream.append("only")
    probe = TestProbe(actor_system)
    with pytest.raises(ValueError, match="start= takes 'latest', 'earliest' or an offset"):
        stream.subscribe(probe.ref, start="newest")
    with pytest.raises(ValueError, match="start= 5 is outside stream 's': valid offsets are 0"):
        stream.subscribe(probe.ref, start=5)
    with pytest.raises(ValueError, match="max_in_flight must be an int >= 1"):
        stream.subscribe(probe.ref, max_in_flight=0)
    with pytest.raises(ValueError, match="a stream name must be"):
        streams.stream("../etc")
    subscription = stream.subscribe(probe.ref, start="latest")
    subscription.commit(0)  # before where it started: nothing to do
    with pytest.raises(ValueError, match="ahead of what was delivered: it was delivered offs"):
        subscription.commit(1)
    with pytest.raises(ValueError, match="seek 2 is outside stream 's': valid offsets are 0 to 1"):
        subscription.seek(2)
    with pytest.raises(TypeError, match="commit takes an int offset"):
        subscription.commit("0")  # type: ignore[arg-type]
    assert stream.committed("nope") is None  # no such group (yet): through none
    worker = TestProbe(actor_system)
    member = stream.subscribe(worker.ref, group="g", start="latest")
    with pytest.raises(ValueError, match="ahead of what was delivered: it was told nothing"):
        member.commit(1)
    stream.append("two")
    assert await offsets(worker, 1) == [1]
    with pytest.raises(ValueError, match="ahead of what was delivered: the last entry told"):
        member.commit(2)


class BlockingAppender(Actor[str]):
    blocking = True

    def receive(self, message: str) -> int:
        return int(self.context.system.streams.stream("s").append(message))


async def test_streams_refuse_worker_threads(actor_system: ActorSystem) -> None:
    appender = actor_system.spawn(BlockingAppender)
    with pytest.raises(ActorCrashedError) as caught:
        await appender.ask("from a thread")
    assert "not thread-safe" in str(caught.value.__cause__)
    assert len(actor_system.streams.stream("s")) == 0


async def test_streams_live_while_their_system_runs(anyio_backend: str) -> None:
    system = ActorSystem("short")
    with pytest.raises(RuntimeError, match="the system is not running"):
        system.streams.stream("s")
    async with system:
        stream = system.streams.stream("s")
    with pytest.raises(RuntimeError, match="the system has shut down"):
        stream.append("late")


# -- persistence ---------------------------------------------------------------------------


async def test_a_group_resumes_after_its_commit_when_the_system_reopens(
    anyio_backend: str, tmp_path: Path
) -> None:
    async with ActorSystem("node", data_dir=str(tmp_path)) as system:
        stream = system.streams.stream("orders")
        probe = TestProbe(system)
        billing = stream.subscribe(probe.ref, group="billing", start="earliest")
        for n in range(5):
            stream.append({"order": n})
        assert await offsets(probe, 5) == [0, 1, 2, 3, 4]
        billing.commit(2)
    assert sorted(p.name for p in (tmp_path / "streams").iterdir()) == [".lock", "orders"]
    assert sorted(p.name for p in (tmp_path / "streams" / "orders").iterdir()) == [
        "00000000000000000000.idx", "00000000000000000000.seg", "offsets.json",
    ]
    async with ActorSystem("node", data_dir=str(tmp_path)) as system:
        stream = system.streams.stream("orders")
        assert len(stream) == 5
        assert stream.committed("billing") == 2
        member = TestProbe(system)
        stream.subscribe(member.ref, group="billing", start="latest")  # start: a new group's
        assert [(await member.expect(StreamEntry)).message for _ in range(2)] == [
            {"order": 3}, {"order": 4},
        ]
        everything = TestProbe(system)
        stream.subscribe(everything.ref, start="earliest")
        assert await offsets(everything, 5) == [0, 1, 2, 3, 4]
        assert stream.append({"order": 5}) == 5


async def test_a_new_group_on_a_reopened_log_starts_where_it_asks(
    anyio_backend: str, tmp_path: Path
) -> None:
    async with ActorSystem("node", data_dir=str(tmp_path)) as system:
        system.streams.stream("s").append("a")
        system.streams.stream("s").subscribe(TestProbe(system).ref, group="late")
    async with ActorSystem("node", data_dir=str(tmp_path)) as system:
        stream = system.streams.stream("s")
        assert stream.committed("late") == 0  # it joined at "latest", after entry 0
        probe = TestProbe(system)
        stream.subscribe(probe.ref, group="fresh", start="earliest")
        assert [(await probe.expect(StreamEntry)).message] == ["a"]


@pytest.mark.parametrize("damage", ["cut", "zeros", "flipped"])
async def test_a_damaged_last_record_is_dropped_with_a_warning(
    anyio_backend: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    async with ActorSystem("node", data_dir=str(tmp_path)) as system:
        stream = system.streams.stream("s")
        for message in ("a", "b", "c"):
            stream.append(message)
    log_file = tmp_path / "streams" / "s" / "00000000000000000000.seg"
    data = log_file.read_bytes()
    if damage == "cut":
        data = data[:-2]  # the crash came in the middle of writing "c"
    elif damage == "zeros":
        data += bytes(16)  # a file extended, the record never written
    else:
        data = data[:-1] + bytes([data[-1] ^ 0xFF])
    log_file.write_bytes(data)
    kept = ["a", "b"] if damage != "zeros" else ["a", "b", "c"]
    with caplog.at_level(logging.WARNING, "repertory.streams"):
        async with ActorSystem("node", data_dir=str(tmp_path)) as system:
            stream = system.streams.stream("s")
            assert len(stream) == len(kept)
            assert stream.append("d") == len(kept)
    assert "dropped" in caplog.text and "cut short by a crash" in caplog.text
    assert list(log_file.parent.glob("00000000000000000000.seg.*.dropped"))
    async with ActorSystem("node", data_dir=str(tmp_path)) as system:
        probe = TestProbe(system)
        system.streams.stream("s").subscribe(probe.ref, start="earliest")
        got = [(await probe.expect(StreamEntry)).message for _ in range(len(kept) + 1)]
        assert got == [*kept, "d"]


async def test_stored_streams_refuse_refs_on_a_lone_node(
    anyio_backend: str, tmp_path: Path
) -> None:
    async with ActorSystem("node", data_dir=str(tmp_path)) as system:
        stream = system.streams.stream("s")
        probe = TestProbe(system)
        with pytest.raises(SerializationError, match="only on a clustered node"):
            stream.append({"reply_to": probe.ref})
        assert len(stream) == 0
        assert system.streams.stream("s").append("fine") == 0
    async with ActorSystem("memory") as system:
        probe = TestProbe(system)
        assert system.streams.stream("s").append(probe.ref) == 0  # in memory: any value


async def test_one_data_dir_serves_one_system_at_a_time(
    anyio_backend: str, tmp_path: Path
) -> None:
    async with ActorSystem("first", data_dir=str(tmp_path)) as first:
        first.streams.stream("s").append(1)
        second = ActorSystem("second", data_dir=str(tmp_path))
        held = rf"in use by another ActorSystem \(process {os.getpid()} holds"
        with pytest.raises(RuntimeError, match=held):
            async with second:  # the lock is taken as the system opens
                pass
    async with ActorSystem("third", data_dir=str(tmp_path)) as third:
        assert len(third.streams.stream("s")) == 1


class _TellLater(Actor[None]):
    """Tells `message` to `to` after `delay` seconds, through the system's timers."""

    def __init__(self, to: ActorRef[Any], delay: float, message: Any) -> None:
        self.context.send_after(delay, message, to=to)

    def receive(self, message: None) -> None:
        return None


async def test_commits_reach_the_disk_within_the_flush_interval(
    anyio_backend: str, tmp_path: Path
) -> None:
    saved = tmp_path / "streams" / "s" / "offsets.json"
    async with ActorSystem("node", data_dir=str(tmp_path)) as system:
        system.streams.flush_interval = 0.01
        stream = system.streams.stream("s")
        probe = TestProbe(system)
        subscription = stream.subscribe(probe.ref, group="g")
        stream.append("a")
        await probe.expect(StreamEntry)
        subscription.commit(0)
        # One scheduler runs every timer in deadline order: once this later one has
        # fired, the flush has run.
        system.spawn(_TellLater, probe.ref, 0.05, "later")
        await probe.expect("later")
        assert saved.read_bytes() == b'{"version":1,"groups":{"g":1}}'
        assert not list(saved.parent.glob("*.tmp"))
        stream.append("b")
        probe2 = TestProbe(system)
        stream.subscribe(probe2.ref, group="h", start="earliest")
        system.streams.sync()  # now, not within flush_interval
        assert b'"h":0' in saved.read_bytes()


# -- subscribers on another node ---------------------------------------------------------


def node(name: str) -> ActorSystem:
    return ActorSystem(
        name, listen="127.0.0.1:0", cookie="streams-test-cookie", shutdown_timeout=5.0
    )


async def test_a_remote_member_gets_entries_and_hands_them_back_when_it_stops(
    anyio_backend: str,
) -> None:
    async with node("here") as here, node("far") as far:
        await here.cluster.join(far.address)
        worker = TestProbe(far, name="worker")
        remote = await here.lookup("worker", node=far.address)
        assert remote is not None
        local = TestProbe(here)
        stream = here.streams.stream("jobs")
        stream.subscribe(remote, group="g")
        stream.subscribe(local.ref, group="g")
        for n in range(4):
            stream.append({"job": n})
        assert await offsets(worker, 2) == [0, 2]
        assert await offsets(local, 2) == [1, 3]
        far.stop(worker.ref)  # here learns it through a watch, then redelivers
        assert await offsets(local, 2) == [0, 2]
