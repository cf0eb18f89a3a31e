"""`await system.start(...)` returns once `on_start` has run (a tree: every child) or
raises what prevented it; `await system.stop(ref)` returns once the actor has stopped,
with its reason, and not awaiting it is fine."""

from __future__ import annotations

import gc
import warnings

import anyio
import pytest

from actors import Actor, ActorCrashedError, ActorRef, AskTimeoutError, NameTakenError
from actors.routing import Pool, PoolRef
from actors.testkit import TestProbe
from runtime import ActorSystem
from supervisors import Child, RestartIntensityError, Supervisor

pytestmark = pytest.mark.anyio


class Slow(Actor[str]):
    """Starts after `delay` seconds (or never: delay=None waits on `gate`); logs hooks."""

    def __init__(
        self,
        log: list[str],
        label: str = "slow",
        delay: float | None = 0.02,
        gate: anyio.Event | None = None,
        fail_init: bool = False,
        fail_start: bool = False,
    ) -> None:
        if fail_init:
            raise ValueError(f"{label} has a bad config")
        self.log, self.label, self.delay, self.gate = log, label, delay, gate
        self.fail_start = fail_start

    async def on_start(self) -> None:
        if self.gate is not None:
            await self.gate.wait()
        elif self.delay is not None:
            await anyio.sleep(self.delay)  # stands in for slow set-up work
        if self.fail_start:
            raise ConnectionError(f"{self.label} cannot reach its database")
        self.log.append(f"started {self.label}")

    def on_stop(self, reason: BaseException | None) -> None:
        self.log.append(f"stopped {self.label}")

    def receive(self, message: str) -> str:
        return f"{self.label} got {message}"


# -- start ---------------------------------------------------------------------------------


async def test_start_returns_once_on_start_has_run(actor_system: ActorSystem) -> None:
    log: list[str] = []
    ref = await actor_system.start(Slow, log, name="slow")
    assert log == ["started slow"]
    assert actor_system.registry.whereis("slow") == ref
    assert await ref.ask("ping") == "slow got ping"


async def test_start_takes_a_factory(actor_system: ActorSystem) -> None:
    log: list[str] = []
    ref = await actor_system.start(lambda: Slow(log, "made", delay=0.01))
    assert log == ["started made"]
    assert await ref.ask("x") == "made got x"


async def test_start_of_a_tree_returns_once_every_child_has_started_in_order(
    actor_system: ActorSystem,
) -> None:
    log: list[str] = []
    tree = Supervisor("shop", children=[
        Child(Slow, log, "cart", name="cart"),
        Supervisor("payments", children=[Child(Slow, log, "card", name="card")]),
        Child(Slow, log, "points", name="points"),
    ])
    ref = await actor_system.start(tree)
    assert log == ["started cart", "started card", "started points"]
    assert actor_system.registry.whereis("shop") == ref


async def test_start_of_a_pool_returns_once_every_worker_has_started(
    actor_system: ActorSystem,
) -> None:
    log: list[str] = []
    pool = await actor_system.start(Pool(Slow, log, "worker", size=3), name="workers")
    assert isinstance(pool, PoolRef)
    assert log == ["started worker"] * 3
    assert actor_system.registry.whereis("workers") is pool
    assert [w.name for w in pool.workers] == ["workers-1", "workers-2", "workers-3"]


async def test_a_taken_name_raises_name_taken(actor_system: ActorSystem) -> None:
    await actor_system.start(Slow, [], name="slow", delay=None)
    with pytest.raises(NameTakenError, match=r"name 'slow' is taken by test/slow"):
        await actor_system.start(Slow, [], name="slow", delay=None)


async def test_a_failing_constructor_raises_crashed_with_the_error_as_cause(
    actor_system: ActorSystem,
) -> None:
    with pytest.raises(
        ActorCrashedError,
        match=r"actor test/bad crashed starting: ValueError: bad has a bad config; "
        r"see __cause__ .* fix __init__/on_start",
    ) as raised:
        await actor_system.start(Slow, [], "bad", name="bad", fail_init=True)
    assert isinstance(raised.value.__cause__, ValueError)
    assert raised.value.during == "starting"
    assert actor_system.registry.whereis("bad") is None


async def test_a_failing_child_constructor_names_the_child(actor_system: ActorSystem) -> None:
    tree = Supervisor("shop", children=[Child(Slow, [], "cart", name="cart", fail_init=True)])
    with pytest.raises(ActorCrashedError, match=r"actor test/cart crashed starting: ValueError"):
        await actor_system.start(tree)
    assert actor_system.registry.whereis("shop") is None


async def test_a_failing_on_start_raises_crashed_and_the_actor_is_gone(
    actor_system: ActorSystem,
) -> None:
    log: list[str] = []
    with pytest.raises(
        ActorCrashedError,
        match=r"actor test/db crashed starting: ConnectionError: db cannot reach its database",
    ) as raised:
        await actor_system.start(Slow, log, "db", name="db", fail_start=True)
    assert isinstance(raised.value.__cause__, ConnectionError)
    assert actor_system.registry.whereis("db") is None  # gone before start raised
    assert log == ["stopped db"]
    assert actor_system.failure is None


async def test_a_tree_that_gives_up_while_starting_raises_and_leaves_the_system_running(
    actor_system: ActorSystem,
) -> None:
    tree = Supervisor("shop", max_restarts=2, within=5.0, children=[
        Child(Slow, [], "db", name="db", delay=None, fail_start=True),
    ])
    with pytest.raises(ActorCrashedError, match=r"actor test/shop crashed starting: "
                       r"RestartIntensityError") as raised:
        await actor_system.start(tree)
    assert isinstance(raised.value.__cause__, RestartIntensityError)
    assert actor_system.failure is None  # the caller has the error: the system runs on
    assert await (await actor_system.start(Slow, [], delay=None)).ask("x") == "slow got x"


async def test_a_start_that_takes_too_long_times_out_and_the_actor_is_stopped(
    actor_system: ActorSystem,
) -> None:
    log: list[str] = []
    gate = anyio.Event()
    with pytest.raises(
        AskTimeoutError,
        match=r"start of test/stuck timed out after 0\.05 s \(it was stopped\); raise "
        r"timeout= or check that its on_start returns",
    ):
        await actor_system.start(Slow, log, "stuck", name="stuck", gate=gate, timeout=0.05)
    stuck = actor_system.registry.whereis("stuck")  # still in on_start, its stop queued
    assert stuck is not None
    gate.set()
    await TestProbe(actor_system).expect_terminated(stuck)
    assert log == ["started stuck", "stopped stuck"]


async def test_a_cancelled_start_stops_the_actor(actor_system: ActorSystem) -> None:
    gate = anyio.Event()
    log: list[str] = []
    with anyio.move_on_after(0.05):
        await actor_system.start(Slow, log, "c", name="cancelled", gate=gate, timeout=5.0)
    ref = actor_system.registry.whereis("cancelled")
    assert ref is not None  # still in on_start, its stop queued behind it
    gate.set()
    await TestProbe(actor_system).expect_terminated(ref)
    assert log == ["started c", "stopped c"]


# -- stop ------------------------------------------------------------------------------------


async def test_await_stop_returns_once_on_stop_has_run(actor_system: ActorSystem) -> None:
    log: list[str] = []
    ref = await actor_system.start(Slow, log, delay=None)
    reason = await actor_system.stop(ref)
    assert reason is None
    assert log == ["started slow", "stopped slow"]
    assert not ref.is_alive


async def test_await_stop_of_a_tree_returns_once_every_child_has_stopped(
    actor_system: ActorSystem,
) -> None:
    log: list[str] = []
    tree = await actor_system.start(Supervisor("shop", children=[
        Child(Slow, log, "cart", name="cart", delay=None),
        Child(Slow, log, "points", name="points", delay=None),
    ]))
    del log[:2]  # the starts
    await actor_system.stop(tree)
    assert log == ["stopped points", "stopped cart"]


async def test_await_stop_gives_the_reason_of_an_actor_that_failed(
    actor_system: ActorSystem,
) -> None:
    class Fragile(Actor[str]):
        def receive(self, message: str) -> None:
            raise KeyError(message)

    ref = actor_system.spawn(Fragile)
    ref.tell("sku-1")
    await TestProbe(actor_system).expect_terminated(ref)
    reason = await actor_system.stop(ref)  # already stopped: at once, with its reason
    assert isinstance(reason, KeyError)


async def test_stop_without_await_stops_and_warns_about_nothing(
    actor_system: ActorSystem,
) -> None:
    probe = TestProbe(actor_system)
    ref = actor_system.spawn(Slow, [], delay=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        handle = actor_system.stop(ref)
        del handle
        gc.collect()
    await probe.expect_terminated(ref)
    assert repr(actor_system.stop(ref)).startswith("<Stopping test/$")


async def test_two_waits_for_one_stop_both_return(actor_system: ActorSystem) -> None:
    ref: ActorRef[str] = actor_system.spawn(Slow, [], delay=None)
    handle = actor_system.stop(ref)
    results: list[BaseException | None] = []

    async def wait() -> None:
        results.append(await handle)

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(wait)
        tasks.start_soon(wait)
    assert results == [None, None]


async def test_await_stop_of_a_pool_stops_its_workers(actor_system: ActorSystem) -> None:
    log: list[str] = []
    pool = await actor_system.start(Pool(Slow, log, "w", delay=None, size=2))
    await actor_system.stop(pool)
    assert log == ["started w", "started w", "stopped w", "stopped w"]
    assert not any(worker.is_alive for worker in pool.workers)


async def test_spawn_of_a_spec_refuses_extra_arguments(actor_system: ActorSystem) -> None:
    with pytest.raises(TypeError, match=r"is a spec: its arguments go in the spec itself"):
        actor_system.spawn(Pool(Slow, [], size=2), "extra")  # type: ignore[call-overload]
    with pytest.raises(ValueError, match=r"a Supervisor is registered under its own name "
                       r"'shop'; spawn it without name= \(got 'other'\)"):
        actor_system.spawn(Supervisor("shop"), name="other")

