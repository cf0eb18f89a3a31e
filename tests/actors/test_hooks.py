"""Lifecycle hooks: on_start before the first message, on_stop with its reason."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from actors import Actor, ActorRef
from actors.testkit import TestProbe
from runtime import ActorSystem

pytestmark = pytest.mark.anyio


class Recorder(Actor[Any]):
    """Reports every hook and message to a probe, in the order they ran."""

    def __init__(self, probe: ActorRef[Any]) -> None:
        self.probe = probe

    def on_start(self) -> None:
        self.probe.tell("start")

    def receive(self, message: Any) -> Any:
        if message == "boom":
            raise ValueError("boom")
        self.probe.tell(("msg", message))
        return message

    def on_stop(self, reason: BaseException | None) -> None:
        self.probe.tell(("stop", reason))


class AsyncRecorder(Recorder):
    """The same, with every hook async and awaiting something."""

    def __init__(self, probe: ActorRef[Any], gate: anyio.Event) -> None:
        super().__init__(probe)
        self.gate = gate

    async def on_start(self) -> None:  # type: ignore[override]
        await self.gate.wait()
        self.probe.tell("start")

    async def on_stop(self, reason: BaseException | None) -> None:  # type: ignore[override]
        await anyio.lowlevel.checkpoint()
        self.probe.tell(("stop", reason))


async def test_on_start_runs_before_the_first_message(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    actor = actor_system.spawn(Recorder, probe.ref)
    actor.tell(1)
    await probe.expect("start")
    await probe.expect(("msg", 1))


async def test_messages_sent_before_an_async_on_start_finishes_wait_for_it(
    actor_system: ActorSystem,
) -> None:
    probe = TestProbe(actor_system)
    gate = anyio.Event()
    actor = actor_system.spawn(AsyncRecorder, probe.ref, gate)
    actor.tell_many([1, 2, 3])
    await probe.expect_no_message(0.05)
    gate.set()
    await probe.expect("start")
    for n in (1, 2, 3):
        await probe.expect(("msg", n))


async def test_an_ask_sent_before_start_is_answered_after_it(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    gate = anyio.Event()
    actor = actor_system.spawn(AsyncRecorder, probe.ref, gate)
    answer: list[Any] = []

    async def ask() -> None:
        answer.append(await actor.ask("q", timeout=2.0))

    async with anyio.create_task_group() as tg:
        tg.start_soon(ask)
        await probe.expect_no_message(0.02)
        gate.set()
    assert answer == ["q"]
    await probe.expect("start")
    await probe.expect(("msg", "q"))


async def test_on_stop_runs_after_the_last_message_with_no_reason(
    actor_system: ActorSystem,
) -> None:
    probe = TestProbe(actor_system)
    actor = actor_system.spawn(Recorder, probe.ref)
    actor.tell("last")
    await probe.expect("start")
    await probe.expect(("msg", "last"))
    actor_system.stop(actor)
    assert await probe.expect(tuple) == ("stop", None)


async def test_on_stop_gets_the_error_that_failed_the_actor(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    actor = actor_system.spawn(Recorder, probe.ref)
    actor.tell("boom")
    await probe.expect("start")
    kind, reason = await probe.expect(tuple)
    assert kind == "stop"
    assert isinstance(reason, ValueError) and str(reason) == "boom"


async def test_async_hooks_run_in_order(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    gate = anyio.Event()
    gate.set()
    actor = actor_system.spawn(AsyncRecorder, probe.ref, gate)
    assert await actor.ask(7, timeout=1.0) == 7
    actor_system.stop(actor)
    await probe.expect("start")
    await probe.expect(("msg", 7))
    await probe.expect(("stop", None))


async def test_context_is_set_before_init_and_on_start(actor_system: ActorSystem) -> None:
    seen: list[Any] = []

    class Early(Actor[Any]):
        def __init__(self) -> None:
            seen.append(self.context.ref)

        def on_start(self) -> None:
            seen.append(self.context.ref)

        def receive(self, message: Any) -> Any:
            return self.context.ref

    ref = actor_system.spawn(Early)
    assert await ref.ask("who", timeout=1.0) == ref
    assert seen == [ref, ref]


async def test_on_start_that_raises_fails_the_actor(actor_system: ActorSystem) -> None:
    class BadStart(Actor[Any]):
        def on_start(self) -> None:
            raise RuntimeError("no database")

        def receive(self, message: Any) -> None:
            return None

    probe = TestProbe(actor_system)
    ref = actor_system.spawn(BadStart)
    terminated = await probe.expect_terminated(ref)
    assert isinstance(terminated.reason, RuntimeError)
    assert str(terminated.reason) == "no database"


async def test_on_stop_that_raises_still_stops_the_actor(actor_system: ActorSystem) -> None:
    class BadStop(Actor[Any]):
        def receive(self, message: Any) -> None:
            return None

        def on_stop(self, reason: BaseException | None) -> None:
            raise RuntimeError("cleanup failed")

    probe = TestProbe(actor_system)
    ref = actor_system.spawn(BadStop)
    actor_system.stop(ref)
    terminated = await probe.expect_terminated(ref)
    assert terminated.reason is None
    assert not ref.is_alive
