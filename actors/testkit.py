"""Test kit: `TestProbe` to assert on the messages an actor sends, and a pytest fixture.

Use it in tests of your own actors. A probe is a real actor: give its `ref` to the
actor under test as a collaborator or as `sender=`, then `await probe.expect(...)`.

The `actor_system` fixture (registered with pytest when Repertory is installed) opens
an `ActorSystem` for one test and fails the test if a task is left running after the
system has closed. It runs under the anyio plugin, so mark tests ``@pytest.mark.anyio``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from actors._actor import Actor
from actors._ref import ActorRef
from actors.messages import Terminated

if TYPE_CHECKING:
    from runtime import ActorSystem

__all__ = ("TestProbe", "actor_system")


class _ProbeActor(Actor[Any]):
    def __init__(self, probe: TestProbe) -> None:
        self.probe = probe
        probe._actor = self

    def receive(self, message: Any) -> None:
        self.probe._arrive(message, self.context.sender)


class TestProbe:
    """An actor whose inbox a test can assert on.

    Messages are matched in arrival order; each `expect` consumes one.

    >>> # probe = TestProbe(system)
    >>> # worker.tell("ping", sender=probe.ref)
    >>> # assert await probe.expect("pong") == "pong"
    """

    __test__ = False  # not a pytest test class, despite its name

    def __init__(self, system: ActorSystem, name: str | None = None) -> None:
        self._inbox: deque[tuple[Any, ActorRef[Any] | None]] = deque()
        self._arrived = anyio.Event()
        self.last_sender: ActorRef[Any] | None = None
        self._actor: _ProbeActor | None = None
        self.ref: ActorRef[Any] = system.spawn(_ProbeActor, self, name=name)

    def _arrive(self, message: Any, sender: ActorRef[Any] | None) -> None:
        self._inbox.append((message, sender))
        self._arrived.set()

    async def receive(self, timeout: float = 3.0) -> Any:
        """The next message, waiting up to `timeout` seconds for it."""
        with anyio.move_on_after(timeout):
            while not self._inbox:
                self._arrived = anyio.Event()
                await self._arrived.wait()
        if not self._inbox:
            raise AssertionError(f"probe {self.ref.address}: no message within {timeout:g} s")
        message, self.last_sender = self._inbox.popleft()
        return message

    async def expect(self, expected: Any, timeout: float = 3.0) -> Any:
        """Take the next message and assert it equals `expected` (or is an instance of it,
        when `expected` is a type). Returns the message."""
        message = await self.receive(timeout)
        if isinstance(expected, type):
            matches = isinstance(message, expected)
        else:
            matches = message == expected
        if not matches:
            raise AssertionError(
                f"probe {self.ref.address}: expected {expected!r}, got {message!r}"
            )
        return message

    async def expect_no_message(self, duration: float = 0.1) -> None:
        """Assert that no message arrives for `duration` seconds."""
        if not self._inbox:
            with anyio.move_on_after(duration):
                self._arrived = anyio.Event()
                await self._arrived.wait()
        if self._inbox:
            raise AssertionError(
                f"probe {self.ref.address}: expected no message, got {self._inbox[0][0]!r}"
            )

    def watch(self, ref: ActorRef[Any]) -> None:
        """Have the probe watch `ref`, so its `Terminated` arrives here."""
        assert self._actor is not None
        self._actor.context.watch(ref)

    async def expect_terminated(self, ref: ActorRef[Any], timeout: float = 3.0) -> Terminated:
        """Watch `ref` and wait for its `Terminated`; returns it (with its reason)."""
        self.watch(ref)
        message = await self.expect(Terminated, timeout)
        if message.ref != ref:
            raise AssertionError(
                f"probe {self.ref.address}: Terminated for {message.ref}, not {ref}"
            )
        assert isinstance(message, Terminated)
        return message

    def __len__(self) -> int:
        """Messages received and not yet taken."""
        return len(self._inbox)


def _running_tasks() -> set[Any]:
    """The tasks alive on this event loop now (asyncio or trio)."""
    import sys

    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            root = trio.lowlevel.current_root_task()
        except RuntimeError:
            root = None
        if root is not None:
            tasks: set[Any] = set()
            nurseries = list(root.child_nurseries)
            while nurseries:
                nursery = nurseries.pop()
                for task in nursery.child_tasks:
                    tasks.add(task)
                    nurseries.extend(task.child_nurseries)
            return tasks
    import asyncio

    return set(asyncio.all_tasks())


@pytest.fixture
async def actor_system(anyio_backend: Any) -> AsyncIterator[ActorSystem]:
    """An `ActorSystem` named ``test`` for one test; fails the test on leaked tasks."""
    from runtime import ActorSystem

    before = _running_tasks()
    async with ActorSystem("test", shutdown_timeout=5.0) as system:
        yield system
    # anyio's pytest plugin may start its runner task between setup and teardown; it
    # belongs to the test harness, not to the system.
    leaked = [
        task
        for task in _running_tasks() - before
        if not _is_current(task) and "TestRunner" not in repr(task)
    ]
    if leaked:
        pytest.fail(f"tasks left running after the ActorSystem closed: {leaked!r}")


def _is_current(task: Any) -> bool:
    import sys

    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            return bool(task is trio.lowlevel.current_task())
        except RuntimeError:
            pass
    import asyncio

    return task is asyncio.current_task()


