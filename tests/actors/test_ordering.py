"""FIFO per sender, whatever the interleaving of senders and the kind of handler."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors import Actor, ActorRef, Mailbox
from actors.testkit import TestProbe
from runtime import ActorSystem

pytestmark = pytest.mark.anyio

SENDER_KINDS = ("sync", "async", "blocking")


class SyncTarget(Actor[Any]):
    """Records (sender, seq) pairs; ("report", probe) tells the record to the probe."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, int]] = []

    def receive(self, message: Any) -> Any:
        if message[0] == "report":
            message[1].tell(self.seen)
        else:
            self.seen.append(message)
        return None


class AsyncTarget(SyncTarget):
    async def receive(self, message: Any) -> Any:
        # Yield on some messages, so other actors run while this one is busy.
        if message[0] != "report" and message[1] % 3 == 0:
            await anyio.lowlevel.checkpoint()
        return super().receive(message)


class SyncSender(Actor[Any]):
    """Sends ("send", [(sender, seq), ...], many) to the target, one by one or as a batch."""

    def __init__(self, target: ActorRef[Any]) -> None:
        self.target = target

    def receive(self, message: Any) -> Any:
        if message == "flush":
            return "flushed"
        _, batch, many = message
        if many:
            self.target.tell_many(batch)
        else:
            for item in batch:
                self.target.tell(item)
        return None


class AsyncSender(SyncSender):
    async def receive(self, message: Any) -> Any:
        await anyio.lowlevel.checkpoint()
        return super().receive(message)


class BlockingSender(SyncSender):
    blocking = True  # receive runs in a worker thread, so tells come from off the loop


SENDERS: dict[str, type[SyncSender]] = {
    "sync": SyncSender,
    "async": AsyncSender,
    "blocking": BlockingSender,
}

# A schedule: which sender sends next, how many messages, as tells or one tell_many,
# and whether the test yields to the event loop before the next step.
steps = st.lists(
    st.tuples(
        st.integers(0, 3), st.integers(1, 8), st.booleans(), st.booleans()
    ),
    min_size=1,
    max_size=25,
)


async def run_schedule(
    target_cls: type[SyncTarget],
    kinds: list[str],
    schedule: list[tuple[int, int, bool, bool]],
    mailbox: Mailbox | None = None,
) -> tuple[list[tuple[int, int]], dict[int, int]]:
    """Play `schedule`; the test task itself is sender number len(kinds)."""
    sent: dict[int, int] = {}
    async with ActorSystem("order") as system:
        target = system.spawn(target_cls, mailbox=mailbox)
        senders = [system.spawn(SENDERS[kind], target) for kind in kinds]
        for who, count, many, pause in schedule:
            who %= len(kinds) + 1
            start = sent.get(who, 0)
            batch = [(who, seq) for seq in range(start, start + count)]
            sent[who] = start + count
            if who == len(kinds):
                if many:
                    target.tell_many(batch)
                else:
                    for item in batch:
                        target.tell(item)
            else:
                senders[who].tell(("send", batch, many))
            if pause:
                await anyio.lowlevel.checkpoint()
        for sender in senders:
            assert await sender.ask("flush", timeout=5.0) == "flushed"
        probe = TestProbe(system)
        await target.send(("report", probe.ref))  # waits for room in a bounded mailbox
        seen: list[tuple[int, int]] = await probe.expect(list)
    return seen, sent


def by_sender(seen: list[tuple[int, int]]) -> dict[int, list[int]]:
    order: dict[int, list[int]] = {}
    for who, seq in seen:
        order.setdefault(who, []).append(seq)
    return order


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    target_async=st.booleans(),
    kinds=st.lists(st.sampled_from(SENDER_KINDS), min_size=1, max_size=3),
    schedule=steps,
)
async def test_fifo_per_sender_for_any_interleaving(
    anyio_backend: str, target_async: bool, kinds: list[str], schedule: list[Any]
) -> None:
    target_cls = AsyncTarget if target_async else SyncTarget
    seen, sent = await run_schedule(target_cls, kinds, schedule)
    assert by_sender(seen) == {who: list(range(n)) for who, n in sent.items()}


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    overflow=st.sampled_from(["drop_new", "drop_old"]),
    capacity=st.integers(1, 6),
    kinds=st.lists(st.sampled_from(("sync", "async")), min_size=1, max_size=3),
    schedule=steps,
)
async def test_drops_never_reorder_a_senders_messages(
    anyio_backend: str, overflow: Any, capacity: int, kinds: list[str], schedule: list[Any]
) -> None:
    mailbox = Mailbox(capacity=capacity, overflow=overflow)
    seen, sent = await run_schedule(AsyncTarget, kinds, schedule, mailbox)
    for who, seqs in by_sender(seen).items():
        assert seqs == sorted(set(seqs)), f"sender {who} reordered or duplicated: {seqs}"
        assert set(seqs) <= set(range(sent[who]))
