"""`actors.lowlevel.tell_picked`: a router's tell behaves as the picked ref's own `tell`
in every case (order, sender, dead letters, full mailboxes, a blocking actor's thread), for local
refs (the engine's one-frame version) and for refs of mixed kinds (the plain one)."""

from __future__ import annotations

import itertools
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors import Actor, ActorRef, Mailbox
from actors.lowlevel import tell_picked
from actors.testkit import TestProbe
from runtime import ActorSystem

pytestmark = pytest.mark.anyio


class Log(Actor[Any]):
    """Keeps what it is told, with its sender; answers "log" with the list."""

    def __init__(self, gate: anyio.Event | None = None) -> None:
        self.gate = gate
        self.log: list[tuple[Any, ActorRef[Any] | None]] = []

    async def receive(self, message: Any) -> Any:
        if message == "log":
            return list(self.log)
        if message == "wait" and self.gate is not None:
            await self.gate.wait()
        self.log.append((message, self.context.sender))
        return None


@settings(max_examples=25, deadline=None)
@given(picks=st.lists(st.integers(min_value=0, max_value=2), max_size=60),
       backend=st.sampled_from(["asyncio", "trio"]))
def test_each_ref_gets_what_was_picked_for_it_in_order(picks: list[int], backend: str) -> None:
    async def main() -> None:
        async with ActorSystem("picked") as system:
            refs = [system.spawn(Log) for _ in range(3)]
            tell = tell_picked(refs, iter([refs[i] for i in picks]).__next__)
            for n in range(len(picks)):
                tell(n, None)
            for index, ref in enumerate(refs):
                expected = [(n, None) for n, pick in enumerate(picks) if pick == index]
                assert await ref.ask("log", timeout=2.0) == expected

    anyio.run(main, backend=backend)


async def test_the_sender_reaches_the_picked_actor(actor_system: ActorSystem) -> None:
    refs = [actor_system.spawn(Log) for _ in range(2)]
    probe = TestProbe(actor_system)
    tell = tell_picked(refs, itertools.cycle(refs).__next__)
    tell("a", probe.ref)
    tell("b", probe.ref)
    assert await refs[0].ask("log", timeout=2.0) == [("a", probe.ref)]
    assert await refs[1].ask("log", timeout=2.0) == [("b", probe.ref)]


async def test_mail_to_a_stopped_actor_goes_to_dead_letters(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    gone = actor_system.spawn(Log, name="gone")
    actor_system.stop(gone)
    await probe.expect_terminated(gone)
    before = actor_system.dead_letters.count
    tell_picked([gone], itertools.repeat(gone).__next__)("late", None)
    assert actor_system.dead_letters.count == before + 1
    letter = actor_system.dead_letters.recent[-1]
    assert (letter.message, letter.recipient, letter.reason) == ("late", "test/gone", "stopped")


async def test_a_full_bounded_mailbox_drops_as_a_plain_tell_does(
    actor_system: ActorSystem,
) -> None:
    gate = anyio.Event()
    held = actor_system.spawn(Log, gate, mailbox=Mailbox(capacity=2, overflow="drop_new"))
    tell = tell_picked([held], itertools.repeat(held).__next__)
    held.tell("wait")
    await anyio.wait_all_tasks_blocked()  # it holds "wait"; its mailbox is empty
    before = actor_system.dead_letters.count
    for n in range(4):
        tell(n, None)
    assert actor_system.dead_letters.count == before + 2  # 2 and 3: no room
    gate.set()
    await anyio.wait_all_tasks_blocked()  # it handled what it held, so the ask has room
    assert [m for m, _ in await held.ask("log", timeout=2.0)] == ["wait", 0, 1]


class Forwarder(Actor[Any]):
    """A blocking actor: tells each message on through `tell` from its worker thread."""

    blocking = True

    def __init__(self, tell: Any) -> None:
        self.tell = tell

    def receive(self, message: Any) -> None:
        self.tell(message, None)


async def test_a_tell_from_a_blocking_actors_thread_is_delivered(
    actor_system: ActorSystem,
) -> None:
    refs = [actor_system.spawn(Log) for _ in range(2)]
    forwarder = actor_system.spawn(Forwarder, tell_picked(refs, itertools.cycle(refs).__next__))
    await forwarder.ask("from a thread", timeout=2.0)
    await forwarder.ask("again", timeout=2.0)
    assert await refs[0].ask("log", timeout=2.0) == [("from a thread", None)]
    assert await refs[1].ask("log", timeout=2.0) == [("again", None)]


class Recording(ActorRef[Any]):
    """A ref of another kind: records its tells."""

    def __init__(self) -> None:
        self.told: list[Any] = []

    def tell(self, message: Any, sender: ActorRef[Any] | None = None) -> None:
        self.told.append(message)


async def test_refs_of_mixed_kinds_are_told_through_their_own_tell(
    actor_system: ActorSystem,
) -> None:
    local, other = actor_system.spawn(Log), Recording()
    tell = tell_picked([local, other], itertools.cycle([local, other]).__next__)
    for n in range(4):
        tell(n, None)
    assert other.told == [1, 3]
    assert await local.ask("log", timeout=2.0) == [(0, None), (2, None)]
