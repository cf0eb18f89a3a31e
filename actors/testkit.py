"""Test kit: `TestProbe`, an actor whose inbox a test (or any program) can assert on.

Use it in tests of your own actors. A probe is a real actor: give its `ref` to the
actor under test as a collaborator or as `sender=`, then `await probe.expect(...)`.
It needs neither pytest nor any test runner, so guides and plain programs use it too.

The `actor_system` pytest fixture lives in `runtime.pytest_plugin`, which pytest loads
by itself when Repertory is installed (its ``pytest11`` entry point): it opens an
`ActorSystem` for one test and fails the test if a task is left running after the
system has closed. It runs under the anyio plugin, so mark tests ``@pytest.mark.anyio``.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Protocol

import anyio

from actors._actor import Actor
from actors._ref import ActorRef
from actors.messages import Terminated

__all__ = ("TestProbe",)


class _System(Protocol):
    """What a probe needs of the `runtime.ActorSystem` it runs in (this package does not
    import `runtime`)."""

    def spawn(
        self, factory: Any, *args: Any, name: str | None = None, **kwargs: Any
    ) -> ActorRef[Any]: ...


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

    def __init__(self, system: _System, name: str | None = None) -> None:
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
