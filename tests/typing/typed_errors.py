"""What mypy must reject: each line marked ``# E`` is one error, and no other line has
one (`tests/test_typing.py` runs it). Not a test module: nothing runs it."""

from __future__ import annotations

from functools import partial

from actors import Actor, ActorRef
from actors.routing import Pool
from runtime import ActorSystem
from supervisors import Supervisor


class Counter(Actor[int | str]):
    def __init__(self, start: int = 0, *, step: int = 1) -> None:
        self.count = start

    def receive(self, message: int | str) -> int | None:
        return None


async def wrong(system: ActorSystem) -> None:
    counter = system.spawn(Counter, name="counter")
    counter.tell(3.5)  # E
    counter.tell_many([b"x"])  # E
    await counter.ask(None)  # E
    system.spawn(lambda: Counter("one"))  # E
    system.spawn(partial(Counter, step="two"))  # E
    (await system.start(Counter)).tell(b"x")  # E
    (await system.start(lambda: Counter(step=None))).tell(1)  # E
    system.spawn(Pool(Counter, size=2)).tell(1.5)  # E
    system.spawn_pool(Counter).tell([1])  # E
    system.spawn(Supervisor("shop")).tell("anything")  # E
    system.spawn(lambda: 42)  # E
    narrower: ActorRef[bytes] = counter  # E
    narrower.tell(b"x")
    system.spawn(Pool(Counter), "extra")  # E


class Parent(Actor[str]):
    def on_start(self) -> None:
        self.context.spawn(Counter).tell(2.5)  # E
        self.context.spawn(lambda: Counter(start="x"))  # E

    def receive(self, message: str) -> None:
        return None
