"""`blocking = True`: a sync receive that blocks runs in a thread and stalls no one else."""

from __future__ import annotations

import threading
import time
from typing import Any

import anyio
import pytest

from actors import Actor, ActorCrashedError, ActorRef
from actors.testkit import TestProbe
from runtime import ActorSystem

pytestmark = pytest.mark.anyio


class Sleeper(Actor[Any]):
    """Sleeps in short time.sleep steps until another actor sets `release`."""

    blocking = True

    def __init__(self, probe: ActorRef[Any], release: threading.Event) -> None:
        self.probe = probe
        self.release = release

    def receive(self, message: Any) -> Any:
        if message == "crash":
            raise OSError("disk gone")
        if message != "block":
            self.probe.tell(("handled", message))
            return message
        self.probe.tell(("blocked", threading.get_ident()))
        # A safety bound, not a synchronisation: if the loop were stalled, the release
        # could never come, and this answers "stalled" after 5 s instead of hanging.
        deadline = time.monotonic() + 5.0
        while not self.release.is_set() and time.monotonic() < deadline:
            time.sleep(0.001)
        return "released" if self.release.is_set() else "stalled"


class Releaser(Actor[Any]):
    def __init__(self, release: threading.Event) -> None:
        self.release = release

    def receive(self, message: Any) -> Any:
        self.release.set()
        return "set"


async def test_a_blocking_handler_does_not_stall_other_actors(
    actor_system: ActorSystem,
) -> None:
    probe = TestProbe(actor_system)
    release = threading.Event()
    sleeper = actor_system.spawn(Sleeper, probe.ref, release)
    releaser = actor_system.spawn(Releaser, release)
    answers: list[Any] = []

    async def ask_sleeper() -> None:
        answers.append(await sleeper.ask("block", timeout=10.0))

    async with anyio.create_task_group() as tg:
        tg.start_soon(ask_sleeper)
        _, thread = await probe.expect(tuple)
        assert thread != threading.get_ident()  # it runs off the event loop's thread
        # The sleeper is inside time.sleep now; another actor still answers, and it
        # is that actor that ends the sleep.
        assert await releaser.ask("release", timeout=10.0) == "set"
    assert answers == ["released"]


async def test_tell_from_inside_a_blocking_handler_reaches_its_target(
    actor_system: ActorSystem,
) -> None:
    class Reporter(Actor[Any]):
        blocking = True

        def __init__(self, target: ActorRef[Any]) -> None:
            self.target = target

        def receive(self, message: Any) -> None:
            for n in range(message):
                self.target.tell(n)
            time.sleep(0.001)
            self.target.tell("done")

    probe = TestProbe(actor_system)
    reporter = actor_system.spawn(Reporter, probe.ref)
    reporter.tell(50)
    for n in range(50):
        await probe.expect(n)
    await probe.expect("done")


async def test_a_blocking_actor_handles_messages_one_at_a_time_in_order(
    actor_system: ActorSystem,
) -> None:
    probe = TestProbe(actor_system)
    sleeper = actor_system.spawn(Sleeper, probe.ref, threading.Event())
    sleeper.tell_many(range(20))
    for n in range(20):
        await probe.expect(("handled", n))
    assert await sleeper.ask("last", timeout=5.0) == "last"
    await probe.expect(("handled", "last"))


async def test_a_blocking_handler_that_raises_crashes_the_actor(
    actor_system: ActorSystem,
) -> None:
    probe = TestProbe(actor_system)
    sleeper = actor_system.spawn(Sleeper, probe.ref, threading.Event())
    probe.watch(sleeper)
    with pytest.raises(ActorCrashedError, match="OSError: disk gone") as info:
        await sleeper.ask("crash", timeout=5.0)
    assert isinstance(info.value.__cause__, OSError)
    terminated = await probe.expect_terminated(sleeper)
    assert isinstance(terminated.reason, OSError)
