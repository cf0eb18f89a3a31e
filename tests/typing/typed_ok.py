"""What mypy must accept, and the types it must infer (`tests/test_typing.py` runs it).

Not a test module: mypy reads it; nothing runs it.
"""

from __future__ import annotations

from functools import partial
from typing import Never, assert_type

from actors import Actor, ActorRef
from actors.routing import Pool, PoolRef
from runtime import ActorSystem
from supervisors import Child, DynamicSupervisor, DynamicSupervisorRef, Supervisor


class Counter(Actor[int | str]):
    def __init__(self, start: int = 0, *, step: int = 1) -> None:
        self.count = start
        self.step = step

    def receive(self, message: int | str) -> int | None:
        if isinstance(message, int):
            self.count += message * self.step
            return None
        return self.count


class Plain(Actor[bytes]):
    """Keeps the inherited `receive`: its message type comes from `Actor[bytes]`."""


async def spawning(system: ActorSystem) -> None:
    counter = system.spawn(Counter, 1, name="counter")
    assert_type(counter, ActorRef[int | str])
    counter.tell(5)
    counter.tell("get")
    assert_type(system.spawn(Plain), ActorRef[bytes])
    # The typed way: a factory, whose constructor call mypy checks.
    assert_type(system.spawn(lambda: Counter(1, step=2), name="c"), ActorRef[int | str])
    assert_type(system.spawn(partial(Counter, 1, step=2)), ActorRef[int | str])
    assert_type(await system.start(Counter, 1), ActorRef[int | str])
    assert_type(await system.start(lambda: Counter(step=3), timeout=1.0), ActorRef[int | str])
    # Not checked (PEP 612 cannot type *args around keyword-only name=): a runtime error.
    system.spawn(Counter, "one")
    wider: ActorRef[str] = counter  # a ref that takes int | str also takes str
    wider.tell("get")


async def specs(system: ActorSystem) -> None:
    pool = system.spawn(Pool(Counter, 10, size=2, routing="random"), name="pool")
    assert_type(pool, PoolRef[int | str])
    pool.tell(1)
    assert_type(await system.start(Pool(Counter)), PoolRef[int | str])
    assert_type(system.spawn_pool(Counter, size=3), PoolRef[int | str])
    tree = system.spawn(Supervisor("shop", children=[Child(Counter, name="counter"),
                                                     Child(Pool(Counter), name="pricers")]))
    assert_type(tree, ActorRef[Never])
    assert_type(await system.start(Supervisor("shop")), ActorRef[Never])
    assert_type(system.spawn(DynamicSupervisor("jobs")), DynamicSupervisorRef)
    assert_type(await system.stop(tree), BaseException | None)
    system.stop(pool)  # not awaited: fine


class Parent(Actor[str]):
    def on_start(self) -> None:
        child = self.context.spawn(Counter, name="child")
        assert_type(child, ActorRef[int | str])
        child.tell(1)
        assert_type(self.context.spawn(lambda: Counter(step=2)), ActorRef[int | str])
        assert_type(self.context.spawn(Pool(Counter, size=2)), PoolRef[int | str])
        assert_type(self.context.spawn_pool(Counter, size=2), ActorRef[int | str])

    def receive(self, message: str) -> None:
        return None
