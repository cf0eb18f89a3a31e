"""`actors.lowlevel`: what a parent may do to its children, and what it hears about them."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from actors import (
    Actor,
    ActorCrashedError,
    ActorRef,
    ActorUnavailableError,
    Context,
    Terminated,
)
from actors.lowlevel import ChildControl, Parent, children, crashed
from actors.testkit import TestProbe
from runtime import ActorSystem

pytestmark = pytest.mark.anyio


class Boom(Exception):
    pass


class Worker(Actor[str]):
    """Answers what it is asked, fails on "fail"; reports its hooks to `probe`."""

    def __init__(self, probe: ActorRef[Any]) -> None:
        self.probe = probe

    def on_start(self) -> None:
        self.probe.tell(("started", self.context.ref))

    def on_stop(self, reason: BaseException | None) -> None:
        self.probe.tell(("stopped", self.context.ref))

    def on_restart(self, reason: BaseException) -> None:
        self.probe.tell(("restarted", type(reason).__name__))

    def receive(self, message: str) -> str:
        if message == "fail":
            raise Boom("asked to fail")
        return message


class Recorder(Parent[Any]):
    """A parent that tells `probe` every report about its children, and does what it is
    told: ("spawn", held) | ("start" | "teardown" | "recreate" | "stop", ref) |
    ("available", ref, flag)."""

    def __init__(self, probe: ActorRef[Any], restart_on_failure: bool = True) -> None:
        self.probe = probe
        self.restart_on_failure = restart_on_failure

    def receive(self, message: Any) -> Any:
        control = children(self.context)
        match message:
            case ("spawn", held):
                return control.spawn_child(Worker, (self.probe,), {}, start=not held)
            case ("start", ref):
                control.start_child(ref)
            case ("teardown", ref):
                control.teardown_child(ref, Boom("restart"))
            case ("recreate", ref):
                control.recreate_child(ref, Boom("restart"))
            case ("stop", ref):
                control.stop_child(ref, None)
            case ("available", ref, flag):
                control.set_available(ref, flag)
        return None

    def on_child_started(self, child: ActorRef[Any]) -> None:
        self.probe.tell(("child started", child))

    def on_child_failed(self, child: ActorRef[Any], error: BaseException) -> None:
        self.probe.tell(("child failed", child, type(error).__name__))
        if self.restart_on_failure:
            children(self.context).teardown_child(child, error)

    def on_child_torn_down(self, child: ActorRef[Any]) -> None:
        self.probe.tell(("child torn down", child))
        children(self.context).recreate_child(child, None)

    def on_child_terminated(self, child: ActorRef[Any], reason: BaseException | None) -> None:
        self.probe.tell(("child terminated", child, reason))

    def describe(self) -> dict[str, Any]:
        return {"kind": "recorder"}


async def spawn_worker(
    system: ActorSystem, probe: TestProbe, *, held: bool = False, restart: bool = True
) -> tuple[ActorRef[Any], ActorRef[Any]]:
    parent = system.spawn(Recorder, probe.ref, restart)
    worker: ActorRef[Any] = await parent.ask(("spawn", held), timeout=2.0)
    return parent, worker


async def test_a_restart_is_a_teardown_then_a_recreate_and_keeps_the_ref_and_mail(
    actor_system: ActorSystem,
) -> None:
    probe = TestProbe(actor_system)
    _, worker = await spawn_worker(actor_system, probe)
    assert await probe.expect(tuple, timeout=2.0) == ("started", worker)
    assert await probe.expect(tuple, timeout=2.0) == ("child started", worker)

    worker.tell("fail")
    worker.tell("still here")  # queued behind the failure: kept for the fresh instance
    assert await probe.expect(tuple, timeout=2.0) == ("child failed", worker, "Boom")
    assert await probe.expect(tuple, timeout=2.0) == ("stopped", worker)
    assert await probe.expect(tuple, timeout=2.0) == ("child torn down", worker)
    assert await probe.expect(tuple, timeout=2.0) == ("restarted", "NoneType")
    assert await probe.expect(tuple, timeout=2.0) == ("child started", worker)
    assert await worker.ask("same ref", timeout=2.0) == "same ref"


async def test_a_held_child_runs_on_start_only_when_started_and_mail_waits(
    actor_system: ActorSystem,
) -> None:
    probe = TestProbe(actor_system)
    parent, worker = await spawn_worker(actor_system, probe, held=True)
    asked = []

    async def ask() -> None:
        asked.append(await worker.ask("queued", timeout=2.0))

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(ask)
        await probe.expect_no_message(0.1)  # no on_start, no answer yet
        assert asked == []
        parent.tell(("start", worker))
        assert await probe.expect(tuple, timeout=2.0) == ("started", worker)
    assert asked == ["queued"]


async def test_a_stopped_child_is_reported_terminated_with_its_reason(
    actor_system: ActorSystem,
) -> None:
    probe = TestProbe(actor_system)
    parent, worker = await spawn_worker(actor_system, probe)
    await probe.expect(tuple, timeout=2.0)  # started
    await probe.expect(tuple, timeout=2.0)  # child started
    parent.tell(("stop", worker))
    assert await probe.expect(tuple, timeout=2.0) == ("stopped", worker)
    assert await probe.expect(tuple, timeout=2.0) == ("child terminated", worker, None)
    assert not worker.is_alive


async def test_an_unavailable_child_fails_asks_at_once_until_available_again(
    actor_system: ActorSystem,
) -> None:
    probe = TestProbe(actor_system)
    parent, worker = await spawn_worker(actor_system, probe)
    await probe.expect(tuple, timeout=2.0)
    await probe.expect(tuple, timeout=2.0)
    parent.tell(("available", worker, False))
    await parent.ask("sync", timeout=2.0)  # the parent has handled it
    with pytest.raises(ActorUnavailableError, match=r"is unavailable"):
        await worker.ask("anyone?", timeout=2.0)
    parent.tell(("available", worker, True))
    await parent.ask("sync", timeout=2.0)
    assert await worker.ask("back", timeout=2.0) == "back"


async def test_without_a_decision_of_its_own_a_parent_stops_the_failed_child(
    actor_system: ActorSystem,
) -> None:
    class Bare(Parent[Any]):  # keeps Parent's on_child_failed
        def receive(self, message: Any) -> Any:
            return children(self.context).spawn_child(Worker, (message,), {})

    probe, hooks = TestProbe(actor_system), TestProbe(actor_system)
    parent = actor_system.spawn(Bare)
    worker: ActorRef[Any] = await parent.ask(hooks.ref, timeout=2.0)
    probe.watch(worker)
    with pytest.raises(ActorCrashedError, match=r"Boom: asked to fail"):
        await worker.ask("fail", timeout=2.0)
    terminated = await probe.expect(Terminated, timeout=2.0)
    assert terminated.ref == worker and isinstance(terminated.reason, Boom)


async def test_a_parent_that_reports_started_counts_as_started_only_when_it_says_so(
    actor_system: ActorSystem,
) -> None:
    class Late(Parent[str]):
        reports_started = True

        def receive(self, message: str) -> None:
            children(self.context).report_started()

    class Grandparent(Parent[Any]):
        def __init__(self, probe: ActorRef[Any]) -> None:
            self.probe = probe

        def receive(self, message: Any) -> Any:
            return children(self.context).spawn_child(Late, (), {})

        def on_child_started(self, child: ActorRef[Any]) -> None:
            self.probe.tell(("child started", child))

    probe = TestProbe(actor_system)
    grandparent = actor_system.spawn(Grandparent, probe.ref)
    late: ActorRef[str] = await grandparent.ask("spawn", timeout=2.0)
    await probe.expect_no_message(0.1)  # its on_start ran, but it has not said so
    late.tell("ready")
    assert await probe.expect(tuple, timeout=2.0) == ("child started", late)


async def test_describe_shows_in_the_snapshot(actor_system: ActorSystem) -> None:
    probe = TestProbe(actor_system)
    parent, _ = await spawn_worker(actor_system, probe)
    infos = {info.address: info for info in actor_system.snapshot()}
    assert infos[parent.address].details == {"kind": "recorder"}


async def test_children_needs_a_runtime_context() -> None:
    with pytest.raises(TypeError, match=r"Context is not a runtime context with child control"):
        children(Context())


async def test_the_runtime_context_is_a_child_control(actor_system: ActorSystem) -> None:
    class Probe(Actor[None]):
        def receive(self, message: None) -> bool:
            return isinstance(self.context, ChildControl)

    assert await actor_system.spawn(Probe).ask(None, timeout=2.0) is True


def test_crashed_keeps_the_error_as_cause_and_is_not_wrapped_twice() -> None:
    error = Boom("no stock")
    crash = crashed("shop/cart", error)
    assert isinstance(crash, ActorCrashedError) and crash.__cause__ is error
    assert "Boom: no stock" in str(crash)
    assert crashed("shop/cart", crash) is crash


async def test_the_module_example_restarts_a_failed_child(actor_system: ActorSystem) -> None:
    import actors.lowlevel

    namespace: dict[str, Any] = {}
    example = actors.lowlevel.__doc__.split("::", 1)[1]  # type: ignore[union-attr]
    exec(compile(_dedent(example), "lowlevel-example", "exec"), namespace)

    class Flaky(Actor[str]):
        def receive(self, message: str) -> str:
            if message == "fail":
                raise Boom("flaky")
            return message

    restarter = actor_system.spawn(namespace["Restarter"], Flaky)
    worker: ActorRef[str] = await restarter.ask(None, timeout=2.0)
    with pytest.raises(ActorCrashedError):
        await worker.ask("fail", timeout=2.0)
    assert await worker.ask("again", timeout=2.0) == "again"


def _dedent(text: str) -> str:
    import textwrap

    return textwrap.dedent(text.strip("\n"))
