from __future__ import annotations

import pytest

from actors import Actor
from actors.testkit import TestProbe
from runtime import ActorSystem

pytestmark = pytest.mark.anyio


class Counter(Actor[int | str]):
    def __init__(self, start: int = 0) -> None:
        self.count = start

    async def receive(self, message: int | str) -> int | None:
        match message:
            case int(n):
                self.count += n
            case "get":
                return self.count
        return None


async def test_design_example_counts(actor_system: ActorSystem) -> None:
    counter = actor_system.spawn(Counter, 10, name="counter")
    counter.tell(5)
    assert await counter.ask("get", timeout=1.0) == 15


async def test_probe_sees_stop(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    counter = actor_system.spawn(Counter)
    actor_system.stop(counter)
    terminated = await probe.expect_terminated(counter)
    assert terminated.reason is None
