"""tell and ask: fire-and-forget delivery, answers, refs' identity and repr."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from actors import Actor, ActorRef
from actors.testkit import TestProbe
from runtime import ActorSystem

pytestmark = pytest.mark.anyio


class Echo(Actor[Any]):
    """Answers an ask with the message; forwards a told message to its sender."""

    def receive(self, message: Any) -> Any:
        sender = self.context.sender
        if sender is not None:
            sender.tell(("echo", message), sender=self.context.ref)
        return message


class AsyncEcho(Actor[Any]):
    async def receive(self, message: Any) -> Any:
        return ("async", message)


class Collector(Actor[Any]):
    def __init__(self, probe: ActorRef[Any]) -> None:
        self.probe = probe
        self.seen: list[Any] = []

    def receive(self, message: Any) -> Any:
        if message == "report":
            return list(self.seen)
        self.seen.append(message)
        return None


async def test_tell_returns_at_once_and_delivers(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    echo = actor_system.spawn(Echo)
    echo.tell("hi", sender=probe.ref)
    assert await probe.expect(("echo", "hi")) == ("echo", "hi")
    assert probe.last_sender == echo


async def test_ask_answers_with_the_return_value_sync_and_async(
    actor_system: ActorSystem,
) -> None:
    sync_echo = actor_system.spawn(Echo)
    async_echo = actor_system.spawn(AsyncEcho)
    assert await sync_echo.ask(41, timeout=1.0) == 41
    assert await async_echo.ask(42, timeout=1.0) == ("async", 42)


async def test_ask_answers_none_when_the_handler_returns_nothing(
    actor_system: ActorSystem,
) -> None:
    collector = actor_system.spawn(Collector, None)
    assert await collector.ask("x", timeout=1.0) is None
    assert await collector.ask("report", timeout=1.0) == ["x"]


async def test_none_is_a_message_like_any_other(actor_system: ActorSystem) -> None:
    collector = actor_system.spawn(Collector, None)
    collector.tell(None)
    assert await collector.ask("report", timeout=1.0) == [None]


async def test_tell_many_delivers_every_message_in_order(actor_system: ActorSystem) -> None:
    collector = actor_system.spawn(Collector, None)
    collector.tell_many(range(500))
    assert await collector.ask("report", timeout=1.0) == list(range(500))


async def test_send_delivers_to_an_unbounded_mailbox(actor_system: ActorSystem) -> None:
    collector = actor_system.spawn(Collector, None)
    await collector.send("a")
    await collector.send("b")
    assert await collector.ask("report", timeout=1.0) == ["a", "b"]


async def test_many_concurrent_asks_each_get_their_own_answer(
    actor_system: ActorSystem,
) -> None:
    echo = actor_system.spawn(AsyncEcho)
    answers: dict[int, Any] = {}

    async def one(n: int) -> None:
        answers[n] = await echo.ask(n, timeout=2.0)

    async with anyio.create_task_group() as tg:
        for n in range(50):
            tg.start_soon(one, n)
    assert answers == {n: ("async", n) for n in range(50)}


async def test_refs_are_hashable_equal_by_actor_and_have_a_useful_repr(
    actor_system: ActorSystem,
) -> None:
    first = actor_system.spawn(Echo, name="first")
    second = actor_system.spawn(Echo)
    assert first == actor_system.registry.whereis("first")
    assert first != second
    assert len({first, second, actor_system.registry.whereis("first")}) == 2
    assert first != "first"
    assert first.name == "first"
    assert second.name is None
    assert first.address == "test/first"
    assert second.address.startswith("test/$")
    assert repr(first) == "<ActorRef test/first>"
    assert first.is_alive


async def test_a_new_actor_under_an_old_name_is_a_different_ref(
    actor_system: ActorSystem,
) -> None:
    probe = TestProbe(actor_system)
    old = actor_system.spawn(Echo, name="svc")
    actor_system.stop(old)
    await probe.expect_terminated(old)
    new = actor_system.spawn(Echo, name="svc")
    assert new != old
    assert new.address == old.address
    assert not old.is_alive and new.is_alive


async def test_a_tell_to_a_stopped_actor_goes_to_dead_letters(
    actor_system: ActorSystem,
) -> None:
    probe = TestProbe(actor_system)
    echo = actor_system.spawn(Echo, name="gone")
    actor_system.stop(echo)
    await probe.expect_terminated(echo)
    before = actor_system.dead_letters.count
    echo.tell("late")
    assert actor_system.dead_letters.count == before + 1
    letter = actor_system.dead_letters.recent[-1]
    assert (letter.message, letter.recipient, letter.reason) == ("late", "test/gone", "stopped")


class Asker(Actor[Any]):
    """Asks another actor from inside its own (async) handler."""

    def __init__(self, other: ActorRef[Any]) -> None:
        self.other = other

    async def receive(self, message: Any) -> Any:
        answer = await self.other.ask(message, timeout=1.0)
        return ("via", answer)


async def test_an_actor_can_ask_another_from_its_handler(actor_system: ActorSystem) -> None:
    echo = actor_system.spawn(AsyncEcho)
    asker = actor_system.spawn(Asker, echo)
    assert await asker.ask(1, timeout=2.0) == ("via", ("async", 1))


async def test_an_abandoned_ask_is_dropped_and_the_actor_goes_on(
    actor_system: ActorSystem,
) -> None:
    probe = TestProbe(actor_system)
    gate = anyio.Event()

    class Slow(Actor[Any]):
        async def receive(self, message: Any) -> Any:
            if message == "slow":
                probe.ref.tell("started")
                await gate.wait()
            return message

    slow = actor_system.spawn(Slow)
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(slow.ask, "slow", 5.0)
            await probe.expect("started")
            scope.cancel()  # the asker gives up while the handler runs
    gate.set()
    assert await slow.ask("next", timeout=1.0) == "next"
    assert slow.is_alive


class Sleeper(Actor[Any]):
    """Sleeps the seconds it is sent; asked "handled", answers what it slept."""

    def __init__(self) -> None:
        self.handled: list[float] = []

    async def receive(self, message: Any) -> Any:
        if message == "handled":
            return list(self.handled)
        await anyio.sleep(message)
        self.handled.append(message)
        return message


async def test_an_ask_whose_caller_gave_up_is_skipped(anyio_backend: str) -> None:
    from actors.errors import AskTimeoutError

    async with ActorSystem("skips") as system:
        sleeper = system.spawn(Sleeper)
        sleeper.tell(0.3)  # busy for 0.3 s
        with pytest.raises(AskTimeoutError, match="timed out"):
            await sleeper.ask(0.0, timeout=0.05)
        assert await sleeper.ask("handled", timeout=2.0) == [0.3]
