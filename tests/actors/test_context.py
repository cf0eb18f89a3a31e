"""`self.context`: sender, children, stop, watch, timers, stash, become, reply_later."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from actors import Actor, ActorCrashedError, ActorRef, Cancel, Reply, Terminated
from actors.testkit import TestProbe
from runtime import ActorSystem

pytestmark = pytest.mark.anyio


class Idle(Actor[Any]):
    def receive(self, message: Any) -> Any:
        return message


# -- sender -------------------------------------------------------------------------


class SenderReporter(Actor[Any]):
    def __init__(self, probe: ActorRef[Any]) -> None:
        self.probe = probe

    def receive(self, message: Any) -> Any:
        self.probe.tell(("sender", message, self.context.sender))
        return self.context.sender


async def test_sender_is_the_ref_passed_with_the_message(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    other = actor_system.spawn(Idle)
    reporter = actor_system.spawn(SenderReporter, probe.ref)
    reporter.tell("with", sender=other)
    reporter.tell("without")
    await probe.expect(("sender", "with", other))
    await probe.expect(("sender", "without", None))
    assert await reporter.ask("asked", timeout=1.0) is None


# -- spawn, children, parent ------------------------------------------------------------


class Parent(Actor[Any]):
    def on_start(self) -> None:
        self.first = self.context.spawn(Child, name="first")
        self.second = self.context.spawn(Child)

    def receive(self, message: Any) -> Any:
        match message:
            case "children":
                return list(self.context.children)
            case "parent":
                return self.context.parent
            case ("stop", ref):
                self.context.stop(ref)
        return None


class Child(Actor[Any]):
    def receive(self, message: Any) -> Any:
        if message == "parent":
            return self.context.parent
        return None


async def test_spawn_children_and_parent(actor_system: ActorSystem) -> None:
    parent = actor_system.spawn(Parent)
    children = await parent.ask("children", timeout=1.0)
    assert len(children) == 2
    first, second = children
    assert first.name == "first" and first == actor_system.registry.whereis("first")
    assert second.name is None
    assert await first.ask("parent", timeout=1.0) == parent
    assert await second.ask("parent", timeout=1.0) == parent
    # Actors spawned by the system have no parent a user can see.
    assert await parent.ask("parent", timeout=1.0) is None


async def test_a_stopped_child_leaves_children(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    parent = actor_system.spawn(Parent)
    first, second = await parent.ask("children", timeout=1.0)
    parent.tell(("stop", first))
    await probe.expect_terminated(first)
    assert await parent.ask("children", timeout=1.0) == [second]


async def test_stopping_a_parent_stops_its_children(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    parent = actor_system.spawn(Parent)
    first, second = await parent.ask("children", timeout=1.0)
    probe.watch(first)
    probe.watch(second)
    probe.watch(parent)
    actor_system.stop(parent)
    # Children stop last started first, and before their parent.
    assert (await probe.expect(Terminated)).ref == second
    assert (await probe.expect(Terminated)).ref == first
    assert (await probe.expect(Terminated)).ref == parent


# -- stop ---------------------------------------------------------------------------------


class StopsItself(Actor[Any]):
    def __init__(self, probe: ActorRef[Any]) -> None:
        self.probe = probe

    def receive(self, message: Any) -> Any:
        self.probe.tell(message)
        if message == "stop":
            self.context.stop()
            return "stopping"
        return None


async def test_stop_self_finishes_the_current_message_then_stops(
    actor_system: ActorSystem,
) -> None:
    probe = TestProbe(actor_system)
    actor = actor_system.spawn(StopsItself, probe.ref)
    probe.watch(actor)
    assert await actor.ask("stop", timeout=1.0) == "stopping"
    await probe.expect("stop")
    terminated = await probe.expect(Terminated)
    assert terminated.ref == actor and terminated.reason is None


async def test_messages_behind_a_stop_self_go_to_dead_letters(
    actor_system: ActorSystem,
) -> None:
    probe = TestProbe(actor_system)
    actor = actor_system.spawn(StopsItself, probe.ref)
    probe.watch(actor)
    before = actor_system.dead_letters.count
    actor.tell_many(["stop", "after-1", "after-2"])
    await probe.expect("stop")
    await probe.expect(Terminated)
    assert actor_system.dead_letters.count == before + 2
    assert [d.message for d in actor_system.dead_letters.recent][-2:] == ["after-1", "after-2"]


# -- watch / unwatch ---------------------------------------------------------------------


class Watcher(Actor[Any]):
    def __init__(self, probe: ActorRef[Any], gate: anyio.Event | None = None) -> None:
        self.probe = probe
        self.gate = gate

    async def receive(self, message: Any) -> Any:
        match message:
            case ("watch", ref):
                self.context.watch(ref)
            case ("unwatch", ref):
                self.context.unwatch(ref)
            case ("hold-then-unwatch", ref):
                assert self.gate is not None
                await self.gate.wait()
                self.context.unwatch(ref)
            case _:
                self.probe.tell(message)
        return None


async def test_watch_delivers_terminated_with_the_reason(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    watcher = actor_system.spawn(Watcher, probe.ref)
    target = actor_system.spawn(Idle)
    await watcher.ask(("watch", target), timeout=1.0)
    actor_system.stop(target)
    assert await probe.expect(Terminated) == Terminated(target, None)


async def test_watching_an_already_dead_actor_delivers_terminated_at_once(
    actor_system: ActorSystem,
) -> None:
    probe = TestProbe(actor_system)
    target = actor_system.spawn(Idle)
    actor_system.stop(target)
    await probe.expect_terminated(target)
    watcher = actor_system.spawn(Watcher, probe.ref)
    watcher.tell(("watch", target))
    assert await probe.expect(Terminated) == Terminated(target, None)


async def test_no_terminated_after_unwatch(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    watcher = actor_system.spawn(Watcher, probe.ref)
    target = actor_system.spawn(Idle)
    await watcher.ask(("watch", target), timeout=1.0)
    await watcher.ask(("unwatch", target), timeout=1.0)
    actor_system.stop(target)
    await TestProbe(actor_system).expect_terminated(target)
    watcher.tell("marker")  # anything the watcher got before the marker would show first
    await probe.expect("marker")
    await probe.expect_no_message(0.02)


async def test_unwatch_drops_a_terminated_already_queued(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    gate = anyio.Event()
    watcher = actor_system.spawn(Watcher, probe.ref, gate)
    target = actor_system.spawn(Idle)
    await watcher.ask(("watch", target), timeout=1.0)
    # The watcher is held inside a handler while the target terminates, so the
    # Terminated queues behind it; the same handler then unwatches.
    watcher.tell(("hold-then-unwatch", target))
    actor_system.stop(target)
    await TestProbe(actor_system).expect_terminated(target)
    gate.set()
    watcher.tell("marker")
    await probe.expect("marker")
    await probe.expect_no_message(0.02)


# -- send_after ---------------------------------------------------------------------------


class Timed(Actor[Any]):
    def __init__(self, probe: ActorRef[Any]) -> None:
        self.probe = probe
        self.cancels: dict[str, Cancel] = {}

    def receive(self, message: Any) -> Any:
        match message:
            case ("after", delay, what):
                self.cancels[what] = self.context.send_after(delay, what)
            case ("after-to", delay, what, to):
                self.cancels[what] = self.context.send_after(delay, what, to=to)
            case ("cancel", what):
                cancel = self.cancels[what]
                cancel.cancel()
                cancel.cancel()  # harmless twice
                return cancel.cancelled
            case _:
                self.probe.tell(message)
        return None


async def test_send_after_delivers_later_to_self_or_another(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    timed = actor_system.spawn(Timed, probe.ref)
    timed.tell(("after", 0.01, "tick"))
    timed.tell(("after-to", 0.0, "direct", probe.ref))
    await probe.expect("direct")
    await probe.expect("tick")


async def test_a_cancelled_send_after_never_arrives(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    timed = actor_system.spawn(Timed, probe.ref)
    await timed.ask(("after", 0.05, "never"), timeout=1.0)
    assert await timed.ask(("cancel", "never"), timeout=1.0) is True
    await timed.ask(("after", 0.06, "control"), timeout=1.0)
    await probe.expect("control")  # fires after "never" would have
    await probe.expect_no_message(0.02)


async def test_timers_are_cancelled_when_the_actor_stops(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    timed = actor_system.spawn(Timed, probe.ref)
    await timed.ask(("after-to", 0.05, "orphan", probe.ref), timeout=1.0)
    actor_system.stop(timed)
    await probe.expect_terminated(timed)
    await probe.expect_no_message(0.1)


# -- stash / unstash_all -------------------------------------------------------------------


class Stasher(Actor[Any]):
    """Stashes everything until "open", then handles in arrival order."""

    def __init__(self, probe: ActorRef[Any]) -> None:
        self.probe = probe
        self.open = False

    def receive(self, message: Any) -> Any:
        if message == "open":
            self.open = True
            self.context.unstash_all()
            return "opened"
        if not self.open:
            self.context.stash()
            self.probe.tell(("stashed", message))
            return None
        self.probe.tell(message)
        return ("handled", message)


async def test_unstash_all_replays_in_order_before_newer_messages(
    actor_system: ActorSystem,
) -> None:
    probe = TestProbe(actor_system)
    stasher = actor_system.spawn(Stasher, probe.ref)
    stasher.tell_many([1, 2, 3])
    stasher.tell("open")
    for n in (1, 2, 3):
        await probe.expect(("stashed", n))
    stasher.tell(4)
    for n in (1, 2, 3, 4):
        await probe.expect(n)


async def test_a_stashed_ask_is_answered_when_it_is_handled(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    stasher = actor_system.spawn(Stasher, probe.ref)
    answers: list[Any] = []

    async def ask() -> None:
        answers.append(await stasher.ask("q", timeout=2.0))

    async with anyio.create_task_group() as tg:
        tg.start_soon(ask)
        await probe.expect(("stashed", "q"))
        assert await stasher.ask("open", timeout=1.0) == "opened"
    assert answers == [("handled", "q")]
    await probe.expect("q")


async def test_stash_outside_a_handler_is_an_error(actor_system: ActorSystem) -> None:
    class StashInStart(Actor[Any]):
        def on_start(self) -> None:
            self.context.stash()

        def receive(self, message: Any) -> None:
            return None

    probe = TestProbe(actor_system)
    ref = actor_system.spawn(StashInStart)
    terminated = await probe.expect_terminated(ref)
    assert isinstance(terminated.reason, RuntimeError)
    with pytest.raises(RuntimeError, match="outside a message handler"):
        raise terminated.reason


# -- become / unbecome ----------------------------------------------------------------------


class Moody(Actor[Any]):
    def receive(self, message: Any) -> Any:
        if message == "async":
            self.context.become(self.angry)
            return "became async"
        return ("calm", message)

    async def angry(self, message: Any) -> Any:
        await anyio.lowlevel.checkpoint()
        if message == "sync":
            self.context.become(self.sleepy)
            return "became sync"
        if message == "back":
            self.context.unbecome()
            return "unbecame"
        return ("angry", message)

    def sleepy(self, message: Any) -> Any:
        if message == "back":
            self.context.unbecome()
            return "unbecame"
        return ("sleepy", message)


async def test_become_and_unbecome_switch_between_sync_and_async_handlers(
    actor_system: ActorSystem,
) -> None:
    moody = actor_system.spawn(Moody)
    assert await moody.ask(1, timeout=1.0) == ("calm", 1)
    assert await moody.ask("async", timeout=1.0) == "became async"
    assert await moody.ask(2, timeout=1.0) == ("angry", 2)
    assert await moody.ask("sync", timeout=1.0) == "became sync"
    assert await moody.ask(3, timeout=1.0) == ("sleepy", 3)
    assert await moody.ask("back", timeout=1.0) == "unbecame"
    assert await moody.ask(4, timeout=1.0) == ("angry", 4)
    assert await moody.ask("back", timeout=1.0) == "unbecame"
    assert await moody.ask(5, timeout=1.0) == ("calm", 5)


async def test_become_applies_to_messages_already_queued(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)

    class Switch(Actor[Any]):
        def receive(self, message: Any) -> None:
            if message == "switch":
                self.context.become(self.other)
            else:
                probe.ref.tell(("first", message))

        async def other(self, message: Any) -> None:
            probe.ref.tell(("other", message))

    switch = actor_system.spawn(Switch)
    switch.tell_many([1, "switch", 2, 3])
    await probe.expect(("first", 1))
    await probe.expect(("other", 2))
    await probe.expect(("other", 3))


# -- reply_later ---------------------------------------------------------------------------


class Deferred(Actor[Any]):
    """Holds asks for "get" until a "put" arrives, then answers them all."""

    def __init__(self, probe: ActorRef[Any]) -> None:
        self.probe = probe
        self.waiting: list[Reply] = []

    def receive(self, message: Any) -> Any:
        match message:
            case "get":
                self.waiting.append(self.context.reply_later())
                self.probe.tell("waiting")
                return "ignored: the reply was taken"
            case ("put", value):
                for reply in self.waiting:
                    reply.send(value)
                    assert reply.done
                self.waiting.clear()
            case ("fail", text):
                for reply in self.waiting:
                    reply.fail(LookupError(text))
                self.waiting.clear()
        return None


async def test_reply_later_answers_from_a_later_message(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    deferred = actor_system.spawn(Deferred, probe.ref)
    answers: list[Any] = []

    async def get() -> None:
        answers.append(await deferred.ask("get", timeout=2.0))

    async with anyio.create_task_group() as tg:
        tg.start_soon(get)
        tg.start_soon(get)
        await probe.expect("waiting")
        await probe.expect("waiting")
        deferred.tell(("put", 42))
    assert answers == [42, 42]


async def test_reply_later_fail_raises_actor_crashed_error(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    deferred = actor_system.spawn(Deferred, probe.ref)

    async def get() -> None:
        with pytest.raises(ActorCrashedError, match="LookupError: no stock") as info:
            await deferred.ask("get", timeout=2.0)
        assert isinstance(info.value.__cause__, LookupError)

    async with anyio.create_task_group() as tg:
        tg.start_soon(get)
        await probe.expect("waiting")
        deferred.tell(("fail", "no stock"))
    assert deferred.is_alive  # failing a reply does not fail the actor


async def test_reply_later_for_a_told_message_ignores_the_answer(
    actor_system: ActorSystem,
) -> None:
    probe = TestProbe(actor_system)
    deferred = actor_system.spawn(Deferred, probe.ref)
    deferred.tell("get")
    await probe.expect("waiting")
    assert await deferred.ask(("put", 1), timeout=1.0) is None
    assert deferred.is_alive


async def test_terminated_comes_after_the_messages_sent_before_stopping(
    actor_system: ActorSystem,
) -> None:
    class Chatty(Actor[Any]):
        def receive(self, message: Any) -> None:
            for n in range(message):
                probe.ref.tell(n)
            self.context.stop()

    probe = TestProbe(actor_system)
    chatty = actor_system.spawn(Chatty)
    probe.watch(chatty)
    chatty.tell(20)
    for n in range(20):
        await probe.expect(n)
    assert (await probe.expect(Terminated)).ref == chatty


async def test_send_after_rejects_a_negative_delay(actor_system: ActorSystem) -> None:
    class Early(Actor[Any]):
        def receive(self, message: Any) -> Any:
            with pytest.raises(ValueError, match="delay must be >= 0 seconds, got -1"):
                self.context.send_after(-1, "never")
            return "checked"

    assert await actor_system.spawn(Early).ask("go", timeout=1.0) == "checked"
