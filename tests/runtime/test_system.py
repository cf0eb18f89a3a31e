"""ActorSystem: shutdown order and deadline, no leaked tasks, spawning rules, names."""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
import pytest

from actors import Actor, ActorRef, NameTakenError
from actors.testkit import TestProbe
from runtime import ActorSystem
from runtime.pytest_plugin import running_tasks as _running_tasks

pytestmark = pytest.mark.anyio


def new_tasks(before: set[Any]) -> set[Any]:
    return {task for task in _running_tasks() - before if "TestRunner" not in repr(task)}


class Node(Actor[Any]):
    """A tree node: spawns the subtree given as {name: subtree}, records its on_stop."""

    def __init__(self, tree: dict[str, Any], stops: list[str]) -> None:
        self.tree = tree
        self.stops = stops

    def on_start(self) -> None:
        for name, subtree in self.tree.items():
            self.context.spawn(Node, subtree, self.stops, name=name)

    def receive(self, message: Any) -> Any:
        return [child.name for child in self.context.children]

    def on_stop(self, reason: BaseException | None) -> None:
        assert reason is None
        assert self.context.ref.name is not None
        self.stops.append(self.context.ref.name)


async def test_shutdown_stops_children_before_parents_last_started_first(
    anyio_backend: str,
) -> None:
    stops: list[str] = []
    tree: dict[str, Any] = {"b1": {"c1": {}, "c2": {}}, "b2": {"c3": {}}}
    async with ActorSystem("tree") as system:
        a = system.spawn(Node, tree, stops, name="a")
        system.spawn(Node, {}, stops, name="d")
        assert await a.ask("children", timeout=1.0) == ["b1", "b2"]
        b1 = system.registry.whereis("b1")
        assert b1 is not None
        assert await b1.ask("children", timeout=1.0) == ["c1", "c2"]
        assert stops == []
    assert stops == ["d", "c3", "b2", "c2", "c1", "b1", "a"]


async def test_on_stop_runs_for_every_actor(anyio_backend: str) -> None:
    stops: list[str] = []

    class Leaf(Actor[Any]):
        def receive(self, message: Any) -> None:
            return None

        async def on_stop(self, reason: BaseException | None) -> None:
            await anyio.lowlevel.checkpoint()
            stops.append(self.context.ref.address)

    async with ActorSystem("many") as system:
        refs = [system.spawn(Leaf) for _ in range(300)]
        for ref in refs[::2]:
            ref.tell("busy")  # some with mail, some idle
    assert sorted(stops) == sorted(ref.address for ref in refs)
    assert not any(ref.is_alive for ref in refs)


async def test_a_handler_that_never_returns_is_cancelled_after_shutdown_timeout(
    anyio_backend: str,
) -> None:
    stops: list[str] = []
    entered = anyio.Event()

    class Stuck(Actor[Any]):
        async def receive(self, message: Any) -> None:
            entered.set()
            await anyio.sleep_forever()

        def on_stop(self, reason: BaseException | None) -> None:
            stops.append("stuck")

    class Parent(Actor[Any]):
        def on_start(self) -> None:
            self.context.spawn(Stuck, name="stuck").tell("hang")

        def receive(self, message: Any) -> None:
            return None

        def on_stop(self, reason: BaseException | None) -> None:
            stops.append("parent")

    before = _running_tasks()
    with anyio.fail_after(3.0):  # the block ends soon after the 0.1 s deadline
        async with ActorSystem("stuck", shutdown_timeout=0.1) as system:
            parent = system.spawn(Parent)
            await entered.wait()
    assert stops == ["stuck", "parent"]
    assert not parent.is_alive
    assert new_tasks(before) == set()


async def test_no_task_is_left_after_the_block(anyio_backend: str) -> None:
    class Busy(Actor[Any]):
        async def receive(self, message: Any) -> Any:
            await anyio.lowlevel.checkpoint()
            return message

    before = _running_tasks()
    async with ActorSystem("tasks") as system:
        refs = [system.spawn(Busy) for _ in range(20)]
        async with anyio.create_task_group() as tg:
            for ref in refs:
                tg.start_soon(ref.ask, "hi", 1.0)
        system.spawn(Busy).tell("mail left at exit")
        assert new_tasks(before)  # the system runs tasks while it is open
    assert new_tasks(before) == set()


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_leak_check_sees_a_leaked_task(anyio_backend: str) -> None:
    before = _running_tasks()
    leaked = asyncio.get_running_loop().create_task(asyncio.Event().wait())
    try:
        assert leaked in _running_tasks() - before
    finally:
        leaked.cancel()
        with pytest.raises(asyncio.CancelledError):
            await leaked
    assert leaked not in _running_tasks()


async def test_the_body_error_reaches_the_caller_as_it_is_after_shutdown(
    anyio_backend: str,
) -> None:
    stops: list[str] = []

    class Leaf(Actor[Any]):
        def receive(self, message: Any) -> None:
            return None

        def on_stop(self, reason: BaseException | None) -> None:
            stops.append("leaf")

    with pytest.raises(LookupError, match="from the body"):
        async with ActorSystem("body") as system:
            system.spawn(Leaf)
            raise LookupError("from the body")
    assert stops == ["leaf"]


async def test_spawn_after_close_raises_a_clear_error(anyio_backend: str) -> None:
    async with ActorSystem("closed") as system:
        pass

    class Leaf(Actor[Any]):
        def receive(self, message: Any) -> None:
            return None

    with pytest.raises(
        RuntimeError, match=r"cannot spawn on system closed: it is shut down; spawn inside"
    ):
        system.spawn(Leaf)


async def test_spawn_before_entering_raises_a_clear_error(anyio_backend: str) -> None:
    class Leaf(Actor[Any]):
        def receive(self, message: Any) -> None:
            return None

    with pytest.raises(RuntimeError, match=r"spawn inside `async with ActorSystem"):
        ActorSystem("early").spawn(Leaf)


async def test_a_system_is_entered_only_once(anyio_backend: str) -> None:
    system = ActorSystem("once")
    async with system:
        with pytest.raises(RuntimeError, match="can be entered only once"):
            await system.__aenter__()


@pytest.mark.parametrize("name", ["", "a/b", "a@b", 7])
def test_system_names_are_validated(name: Any) -> None:
    with pytest.raises(ValueError, match="a system name must be a non-empty str"):
        ActorSystem(name)


@pytest.mark.parametrize("timeout", [0, -1.0])
def test_shutdown_timeout_must_be_positive(timeout: float) -> None:
    with pytest.raises(ValueError, match=f"shutdown_timeout must be > 0 seconds, got {timeout}"):
        ActorSystem("t", shutdown_timeout=timeout)


@pytest.mark.parametrize("name", ["", "a/b", "$1", 42])
async def test_actor_names_are_validated(actor_system: ActorSystem, name: Any) -> None:
    class Leaf(Actor[Any]):
        def receive(self, message: Any) -> None:
            return None

    with pytest.raises(ValueError, match=r"an actor name must be a non-empty str without '/'"):
        actor_system.spawn(Leaf, name=name)
    assert actor_system.snapshot() == []


async def test_a_taken_name_raises_name_taken_error(actor_system: ActorSystem) -> None:
    class Leaf(Actor[Any]):
        def receive(self, message: Any) -> None:
            return None

    first = actor_system.spawn(Leaf, name="cart")
    with pytest.raises(NameTakenError, match=r"name 'cart' is taken by test/cart; pick another"):
        actor_system.spawn(Leaf, name="cart")
    assert actor_system.registry.whereis("cart") == first


async def test_spawn_refuses_what_is_not_an_actor(actor_system: ActorSystem) -> None:
    def factory() -> Any:
        return object()

    with pytest.raises(TypeError, match="spawn\\(\\) needs an Actor subclass or a factory"):
        actor_system.spawn(factory)


async def test_spawn_takes_a_factory_returning_an_actor(actor_system: ActorSystem) -> None:
    class Greeter(Actor[Any]):
        def __init__(self, greeting: str) -> None:
            self.greeting = greeting

        def receive(self, message: Any) -> Any:
            return f"{self.greeting}, {message}"

    ref: ActorRef[Any] = actor_system.spawn(lambda: Greeter("hello"))
    assert await ref.ask("you", timeout=1.0) == "hello, you"


async def test_system_stop_stops_an_actor(actor_system: ActorSystem) -> None:
    class Leaf(Actor[Any]):
        def receive(self, message: Any) -> None:
            return None

    probe = TestProbe(actor_system)
    ref = actor_system.spawn(Leaf)
    actor_system.stop(ref)
    actor_system.stop(ref)  # harmless twice
    assert (await probe.expect_terminated(ref)).reason is None
