"""Mailboxes: unbounded by default, bounded with an overflow rule, system mail first."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from actors import Actor, ActorRef, ActorStoppedError, Mailbox, MailboxFullError
from actors.testkit import TestProbe
from runtime import ActorSystem

pytestmark = pytest.mark.anyio


class Gated(Actor[Any]):
    """Holds on "hold" until the gate opens; reports every other message to a probe."""

    def __init__(self, probe: ActorRef[Any], gate: anyio.Event) -> None:
        self.probe = probe
        self.gate = gate
        self.handled = 0

    async def receive(self, message: Any) -> Any:
        if message == "hold":
            self.probe.tell("holding")
            await self.gate.wait()
            return None
        self.handled += 1
        self.probe.tell(message)
        return message

    def on_stop(self, reason: BaseException | None) -> None:
        self.probe.tell(("handled", self.handled))


async def held(
    system: ActorSystem, mailbox: Mailbox | None = None
) -> tuple[ActorRef[Any], TestProbe, anyio.Event]:
    """A `Gated` actor busy inside its first message, so the next ones stay queued."""
    probe = TestProbe(system)
    gate = anyio.Event()
    ref = system.spawn(Gated, probe.ref, gate, mailbox=mailbox)
    ref.tell("hold")
    await probe.expect("holding")
    return ref, probe, gate


def dead_messages(system: ActorSystem, count: int) -> list[Any]:
    return [letter.message for letter in list(system.dead_letters.recent)[-count:]]


async def test_unbounded_by_default(actor_system: ActorSystem) -> None:
    ref, probe, gate = await held(actor_system)
    ref.tell_many(range(2000))
    assert actor_system.dead_letters.count == 0
    gate.set()
    for n in range(2000):
        await probe.expect(n)


async def test_drop_new_sends_the_newest_to_dead_letters(actor_system: ActorSystem) -> None:
    ref, probe, gate = await held(actor_system, Mailbox(capacity=3, overflow="drop_new"))
    ref.tell_many([1, 2, 3, 4, 5])
    assert actor_system.dead_letters.count == 2
    assert dead_messages(actor_system, 2) == [4, 5]
    assert actor_system.dead_letters.recent[-1].reason == "mailbox full (drop_new)"
    gate.set()
    await ref.send("end")
    for expected in (1, 2, 3, "end"):
        await probe.expect(expected)


async def test_drop_old_sends_the_oldest_to_dead_letters(actor_system: ActorSystem) -> None:
    ref, probe, gate = await held(actor_system, Mailbox(capacity=3, overflow="drop_old"))
    ref.tell_many([1, 2, 3, 4, 5])
    assert dead_messages(actor_system, 2) == [1, 2]
    assert actor_system.dead_letters.recent[-1].reason == "mailbox full (drop_old)"
    gate.set()
    await ref.send("end")
    for expected in (3, 4, 5, "end"):
        await probe.expect(expected)


async def test_reject_raises_mailbox_full_error(actor_system: ActorSystem) -> None:
    ref, probe, gate = await held(
        actor_system, Mailbox(capacity=2, overflow="reject")
    )
    ref.tell_many([1, 2])
    with pytest.raises(MailboxFullError, match=r"mailbox of test/\$\d+ is full \(2 messages\)"):
        ref.tell(3)
    with pytest.raises(MailboxFullError, match=r"await ref\.send"):
        await ref.ask(4, timeout=1.0)
    assert actor_system.dead_letters.count == 0  # rejected, not dropped
    gate.set()
    await ref.send("end")
    for expected in (1, 2, "end"):
        await probe.expect(expected)


async def test_the_default_overflow_is_reject() -> None:
    assert Mailbox(capacity=5).overflow == "reject"
    assert not Mailbox().bounded and Mailbox(capacity=1).bounded
    assert repr(Mailbox(capacity=100, overflow="drop_old")) == (
        "Mailbox(capacity=100, overflow='drop_old')"
    )


@pytest.mark.parametrize("capacity", [0, -1, 1.5, "10"])
def test_a_bad_capacity_is_refused(capacity: Any) -> None:
    with pytest.raises(ValueError, match=f"positive int or None, got {capacity!r}"):
        Mailbox(capacity=capacity)


def test_a_bad_overflow_lists_the_choices() -> None:
    with pytest.raises(
        ValueError, match="one of 'drop_new', 'drop_old', 'reject'; got 'block'"
    ):
        Mailbox(capacity=1, overflow="block")  # type: ignore[arg-type]


async def test_spawn_refuses_a_mailbox_that_is_not_a_mailbox(actor_system: ActorSystem) -> None:
    with pytest.raises(TypeError, match="mailbox= takes a Mailbox, got int"):
        actor_system.spawn(Gated, None, None, mailbox=10)  # type: ignore[arg-type]


async def test_send_waits_for_room_then_delivers(actor_system: ActorSystem) -> None:
    ref, probe, gate = await held(actor_system, Mailbox(capacity=2, overflow="reject"))
    ref.tell_many([1, 2])
    sent = anyio.Event()

    async def send() -> None:
        await ref.send(3)
        sent.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(send)
        await anyio.wait_all_tasks_blocked()
        assert not sent.is_set()  # no room: it waits instead of failing or dropping
        gate.set()
        await sent.wait()
    for expected in (1, 2, 3):
        await probe.expect(expected)
    assert actor_system.dead_letters.count == 0


async def test_send_fails_when_the_actor_stops_while_it_waits(
    actor_system: ActorSystem,
) -> None:
    ref, probe, gate = await held(actor_system, Mailbox(capacity=1, overflow="drop_new"))
    ref.tell(1)

    async def send() -> None:
        with pytest.raises(ActorStoppedError, match=r"actor test/\$\d+ is stopped"):
            await ref.send(2)

    async with anyio.create_task_group() as tg:
        tg.start_soon(send)
        await anyio.wait_all_tasks_blocked()
        actor_system.stop(ref)
        gate.set()
    await probe.expect(("handled", 0))


async def test_a_stop_overtakes_1000_queued_messages(actor_system: ActorSystem) -> None:
    ref, probe, gate = await held(actor_system)
    ref.tell_many(range(1000))
    actor_system.stop(ref)
    gate.set()
    await probe.expect(("handled", 0))  # on_stop ran before any of the 1000
    assert actor_system.dead_letters.count == 1000
    assert dead_messages(actor_system, 3) == [997, 998, 999]
    assert {letter.reason for letter in actor_system.dead_letters.recent} == {"stopped"}


async def test_a_stop_overtakes_queued_messages_of_a_sync_actor(
    actor_system: ActorSystem,
) -> None:
    handled: list[Any] = []

    class Counter(Actor[Any]):
        def receive(self, message: Any) -> Any:
            handled.append(message)
            return message

    probe = TestProbe(actor_system)
    ref = actor_system.spawn(Counter)
    assert await ref.ask("started", timeout=1.0) == "started"
    ref.tell_many(range(1000))
    actor_system.stop(ref)  # before the dispatcher ran: the 1000 are all queued
    await probe.expect_terminated(ref)
    assert handled == ["started"]
    assert actor_system.dead_letters.count == 1000


async def test_asks_queued_behind_a_stop_fail_at_once(actor_system: ActorSystem) -> None:
    ref, probe, gate = await held(actor_system)
    failures: list[BaseException] = []

    async def ask(n: int) -> None:
        try:
            await ref.ask(n, timeout=30.0)
        except ActorStoppedError as error:
            failures.append(error)

    async with anyio.create_task_group() as tg:
        for n in range(5):
            tg.start_soon(ask, n)
        await anyio.wait_all_tasks_blocked()
        actor_system.stop(ref)
        gate.set()
    assert len(failures) == 5
    await probe.expect(("handled", 0))


async def test_an_ask_dropped_by_a_full_mailbox_fails_with_mailbox_full_error(
    actor_system: ActorSystem,
) -> None:
    ref, probe, gate = await held(actor_system, Mailbox(capacity=1, overflow="drop_new"))
    ref.tell(1)
    with pytest.raises(MailboxFullError, match=r"is full \(1 messages\)"):
        await ref.ask(2, timeout=5.0)
    gate.set()
    await probe.expect(1)


async def test_an_ask_pushed_out_by_drop_old_fails_at_once(actor_system: ActorSystem) -> None:
    ref, probe, gate = await held(actor_system, Mailbox(capacity=1, overflow="drop_old"))
    failures: list[BaseException] = []

    async def ask() -> None:
        try:
            await ref.ask("old", timeout=30.0)
        except MailboxFullError as error:
            failures.append(error)

    async with anyio.create_task_group() as tg:
        tg.start_soon(ask)
        await anyio.wait_all_tasks_blocked()
        ref.tell("new")  # pushes the queued ask out
    assert len(failures) == 1
    gate.set()
    await probe.expect("new")
