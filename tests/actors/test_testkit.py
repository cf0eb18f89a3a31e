"""The test kit: TestProbe's expectations and the actor_system fixture."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from actors import Actor, Terminated
from actors.testkit import TestProbe
from runtime import ActorSystem

pytestmark = pytest.mark.anyio


class Fragile(Actor[Any]):
    def receive(self, message: Any) -> None:
        raise ValueError(message)


async def test_the_fixture_gives_a_running_system(actor_system: ActorSystem) -> None:
    assert isinstance(actor_system, ActorSystem)
    assert actor_system.name == "test"


async def test_expect_by_value_returns_the_message(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    probe.ref.tell({"order": 1})
    assert await probe.expect({"order": 1}) == {"order": 1}


async def test_expect_by_type_matches_instances(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    probe.ref.tell_many([3, "three", (3,)])
    assert await probe.expect(int) == 3
    assert await probe.expect(str) == "three"
    assert await probe.expect(tuple) == (3,)


async def test_expect_fails_on_another_message(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system, name="inbox")
    probe.ref.tell("actual")
    with pytest.raises(AssertionError, match="probe test/inbox: expected 'wanted', got 'actual'"):
        await probe.expect("wanted")
    probe.ref.tell("text")
    with pytest.raises(AssertionError, match="expected <class 'int'>, got 'text'"):
        await probe.expect(int)


async def test_expect_fails_when_nothing_arrives_in_time(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system, name="quiet")
    with pytest.raises(AssertionError, match=r"probe test/quiet: no message within 0\.02 s"):
        await probe.expect("anything", timeout=0.02)


async def test_expect_no_message_passes_in_silence(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    await probe.expect_no_message(0.02)
    assert len(probe) == 0


async def test_expect_no_message_fails_when_a_message_arrives(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system, name="noisy")
    probe.ref.tell("surprise")
    with pytest.raises(
        AssertionError, match="probe test/noisy: expected no message, got 'surprise'"
    ):
        await probe.expect_no_message(1.0)


async def test_expect_no_message_fails_on_mail_already_waiting(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    probe.ref.tell("early")
    await probe.expect("early")
    probe.ref.tell("waiting")
    probe.ref.tell("sync point")
    await probe.expect("waiting")
    assert len(probe) == 1
    with pytest.raises(AssertionError, match="got 'sync point'"):
        await probe.expect_no_message(0.01)


async def test_expect_terminated_returns_the_reason(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    stopped = actor_system.spawn(Fragile)
    actor_system.stop(stopped)
    terminated = await probe.expect_terminated(stopped)
    assert terminated == Terminated(stopped, None)

    crashed = actor_system.spawn(Fragile)
    crashed.tell("bad input")
    terminated = await probe.expect_terminated(crashed)
    assert terminated.ref == crashed
    assert isinstance(terminated.reason, ValueError)
    assert str(terminated.reason) == "bad input"


async def test_expect_terminated_fails_for_another_actor(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    first = actor_system.spawn(Fragile, name="first")
    second = actor_system.spawn(Fragile, name="second")
    probe.watch(first)
    actor_system.stop(first)
    with pytest.raises(AssertionError, match=r"Terminated for .*test/first.*, not .*test/second"):
        await probe.expect_terminated(second)


async def test_the_probe_remembers_the_sender(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    other = TestProbe(actor_system)
    probe.ref.tell("from other", sender=other.ref)
    probe.ref.tell("anonymous")
    await probe.expect("from other")
    assert probe.last_sender == other.ref
    assert await probe.receive() == "anonymous"
    assert probe.last_sender is None


# A program that uses a probe, run where importing pytest fails: the test kit must not
# need it (a user's guide example runs after a plain `pip install repertory`).
_WITHOUT_PYTEST = """
import sys
sys.modules["pytest"] = None  # any `import pytest` now raises ImportError

import anyio
from actors import Actor
from actors.testkit import TestProbe
from runtime import ActorSystem

class Echo(Actor[str]):
    def receive(self, message: str) -> None:
        sender = self.context.sender
        if sender is not None:
            sender.tell(message.upper())

async def main() -> None:
    async with ActorSystem("plain") as system:
        probe = TestProbe(system)
        system.spawn(Echo).tell("hi", sender=probe.ref)
        assert await probe.expect("HI") == "HI"
    print("probe ok")

anyio.run(main)
assert "pytest" not in [m for m, v in sys.modules.items() if v is not None]
"""


def test_the_test_kit_works_without_pytest() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_PYTEST], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "probe ok"


def test_the_fixture_comes_from_the_plugin_entry_point() -> None:
    from importlib.metadata import entry_points

    plugins = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert plugins.get("repertory") == "runtime.pytest_plugin"
