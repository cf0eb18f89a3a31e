"""What a failing actor does to its askers, its watchers and itself."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from actors import (
    Actor,
    ActorCrashedError,
    ActorRef,
    ActorStoppedError,
    AskTimeoutError,
    Terminated,
)
from actors.testkit import TestProbe
from runtime import ActorSystem
from runtime.pytest_plugin import running_tasks as _running_tasks

pytestmark = pytest.mark.anyio


class InventoryError(Exception):
    pass


def check_stock(item: str) -> None:
    raise InventoryError(f"no stock for {item}")


class Shop(Actor[Any]):
    def receive(self, message: Any) -> Any:
        match message:
            case ("buy", item):
                check_stock(item)
            case _:
                return message
        return None


class AsyncShop(Actor[Any]):
    def __init__(self, gate: anyio.Event | None = None) -> None:
        self.gate = gate

    async def receive(self, message: Any) -> Any:
        match message:
            case ("buy", item):
                if self.gate is not None:
                    await self.gate.wait()
                check_stock(item)
            case "forever":
                await anyio.sleep_forever()
        return message


@pytest.mark.parametrize("shop", [Shop, AsyncShop])
async def test_ask_gets_actor_crashed_error_with_the_original_as_cause(
    actor_system: ActorSystem, shop: type[Actor[Any]]
) -> None:
    ref = actor_system.spawn(shop, name="shop")
    with pytest.raises(
        ActorCrashedError,
        match=r"actor test/shop crashed handling the message: "
        r"InventoryError: no stock for hat; see __cause__",
    ) as info:
        await ref.ask(("buy", "hat"), timeout=1.0)
    crash = info.value
    assert isinstance(crash.__cause__, InventoryError)
    assert str(crash.__cause__) == "no stock for hat"
    assert crash.actor == "test/shop"
    assert crash.error_type == "InventoryError"
    assert crash.error_text == "no stock for hat"
    assert "in check_stock" in crash.remote_traceback
    assert "InventoryError: no stock for hat" in crash.remote_traceback


async def test_the_crashed_actor_stops_with_the_error_and_watchers_get_it(
    actor_system: ActorSystem,
) -> None:
    probe = TestProbe(actor_system)
    ref = actor_system.spawn(Shop)
    probe.watch(ref)
    with pytest.raises(ActorCrashedError) as info:
        await ref.ask(("buy", "hat"), timeout=1.0)
    terminated = await probe.expect(Terminated)
    assert terminated.ref == ref
    assert terminated.reason is info.value.__cause__
    assert not ref.is_alive


async def test_a_told_message_that_crashes_stops_the_actor_with_the_reason(
    actor_system: ActorSystem,
) -> None:
    probe = TestProbe(actor_system)
    ref = actor_system.spawn(Shop)
    ref.tell(("buy", "scarf"))
    terminated = await probe.expect_terminated(ref)
    assert isinstance(terminated.reason, InventoryError)
    assert str(terminated.reason) == "no stock for scarf"


async def test_a_crashed_child_stops_without_taking_its_parent_down(
    actor_system: ActorSystem,
) -> None:
    class Parent(Actor[Any]):
        def receive(self, message: Any) -> Any:
            if message == "spawn":
                return self.context.spawn(Shop)
            return list(self.context.children)

    probe = TestProbe(actor_system)
    parent = actor_system.spawn(Parent)
    child = await parent.ask("spawn", timeout=1.0)
    child.tell(("buy", "hat"))
    terminated = await probe.expect_terminated(child)
    assert isinstance(terminated.reason, InventoryError)
    assert parent.is_alive
    assert await parent.ask("children", timeout=1.0) == []


async def test_ask_to_a_stopped_actor_fails_at_once(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    ref = actor_system.spawn(Shop, name="closed")
    actor_system.stop(ref)
    await probe.expect_terminated(ref)
    with anyio.fail_after(1.0):  # at once, not after the ask's own 30 s
        with pytest.raises(ActorStoppedError, match="actor test/closed is stopped; look it up"):
            await ref.ask("hello", timeout=30.0)


async def test_asks_queued_behind_a_crash_fail_fast(actor_system: ActorSystem) -> None:
    gate = anyio.Event()
    ref = actor_system.spawn(AsyncShop, gate)
    outcomes: list[BaseException] = []

    async def ask(message: Any) -> None:
        try:
            await ref.ask(message, timeout=30.0)
        except (ActorCrashedError, ActorStoppedError) as error:
            outcomes.append(error)

    with anyio.fail_after(2.0):  # by the crash, not by the asks' 30 s timeouts
        async with anyio.create_task_group() as tg:
            tg.start_soon(ask, ("buy", "hat"))
            await anyio.wait_all_tasks_blocked()
            for n in range(3):
                tg.start_soon(ask, n)
            await anyio.wait_all_tasks_blocked()
            gate.set()
    assert [type(error) for error in outcomes] == [
        ActorCrashedError,
        ActorStoppedError,
        ActorStoppedError,
        ActorStoppedError,
    ]


async def test_asks_queued_behind_a_sync_crash_fail_fast(actor_system: ActorSystem) -> None:
    ref = actor_system.spawn(Shop)
    assert await ref.ask("started", timeout=1.0) == "started"
    ref.tell(("buy", "hat"))  # queued ahead of the asks: it crashes the actor first
    with anyio.fail_after(2.0):
        for n in range(3):
            with pytest.raises(ActorStoppedError):
                await ref.ask(n, timeout=30.0)


async def test_ask_past_its_timeout_raises_ask_timeout_error(actor_system: ActorSystem) -> None:
    gate = anyio.Event()
    ref = actor_system.spawn(AsyncShop, gate, name="slow")
    with pytest.raises(
        AskTimeoutError,
        match=r"ask to test/slow timed out after 0\.05 s; raise timeout= or check",
    ) as info:
        await ref.ask(("buy", "hat"), timeout=0.05)
    assert isinstance(info.value, TimeoutError)
    assert info.value.timeout == 0.05
    gate.set()  # let the handler finish (it crashes), so the fixture closes at once


async def test_an_ask_times_out_while_the_handler_awaits_forever_and_shutdown_still_ends_it(
    anyio_backend: str,
) -> None:
    stopped: list[BaseException | None] = []

    class Stuck(AsyncShop):
        def on_stop(self, reason: BaseException | None) -> None:
            stopped.append(reason)

    before = _running_tasks()
    with anyio.fail_after(3.0):
        async with ActorSystem("stuck", shutdown_timeout=0.1) as system:
            ref = system.spawn(Stuck)
            with pytest.raises(TimeoutError):
                await ref.ask("forever", timeout=0.05)
            # The actor is still inside the handler: the next ask times out too.
            with pytest.raises(AskTimeoutError):
                await ref.ask("hello", timeout=0.05)
    assert stopped == [None]  # cancelled after shutdown_timeout, and on_stop still ran
    assert not ref.is_alive
    assert {task for task in _running_tasks() - before if "TestRunner" not in repr(task)} == set()


async def test_messages_told_after_a_crash_go_to_dead_letters(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    ref = actor_system.spawn(Shop)
    ref.tell(("buy", "hat"))
    await probe.expect_terminated(ref)
    ref.tell("late")
    assert actor_system.dead_letters.recent[-1].message == "late"


async def test_a_crash_reaches_every_watcher(actor_system: ActorSystem) -> None:
    probes = [TestProbe(actor_system) for _ in range(3)]
    ref: ActorRef[Any] = actor_system.spawn(Shop)
    for probe in probes:
        probe.watch(ref)
    ref.tell(("buy", "hat"))
    for probe in probes:
        terminated = await probe.expect(Terminated)
        assert isinstance(terminated.reason, InventoryError)
