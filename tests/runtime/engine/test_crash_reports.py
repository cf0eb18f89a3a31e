"""Every actor failure is logged once at ERROR, with its address, class, message type,
decision and traceback, on ``repertory.actors`` or ``repertory.supervision``."""

from __future__ import annotations

import logging
from typing import Any

import anyio
import msgspec
import pytest

from actors import Actor
from actors.errors import ActorCrashedError
from actors.testkit import TestProbe
from runtime import ActorSystem
from supervisors import Child, Supervisor

pytestmark = pytest.mark.anyio


class PlaceOrder(msgspec.Struct):
    secret: str


class Fragile(Actor[Any]):
    def receive(self, message: Any) -> Any:
        if isinstance(message, PlaceOrder):
            raise RuntimeError("the database is gone")
        return message


class FailsToStart(Actor[Any]):
    def on_start(self) -> None:
        raise ValueError("no config")

    def receive(self, message: Any) -> None:
        return None


class Reports(logging.Handler):
    """Crash reports as they are logged; `wait_for(n)` returns once `n` have been."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self.changed = anyio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.name in ("repertory.actors", "repertory.supervision"):
            self.records.append(record)
            self.changed.set()

    async def wait_for(self, count: int, timeout: float = 5.0) -> None:
        with anyio.fail_after(timeout):
            while len(self.records) < count:
                self.changed = anyio.Event()
                await self.changed.wait()

    def __enter__(self) -> Reports:
        logging.getLogger("repertory").addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger("repertory").removeHandler(self)


def crash_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records
            if r.name in ("repertory.actors", "repertory.supervision")
            and r.levelno == logging.ERROR]


async def test_an_unsupervised_crash_is_logged_once_with_everything(
    anyio_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, "repertory")
    async with ActorSystem("crash") as system:
        ref = system.spawn(Fragile, name="fragile")
        probe = TestProbe(system)
        probe.watch(ref)
        with pytest.raises(ActorCrashedError, match="the database is gone"):
            await ref.ask(PlaceOrder("card 4111"), timeout=2.0)
        await probe.expect_terminated(ref, timeout=2.0)
        records = crash_records(caplog)
        assert len(records) == 1
        record = records[0]
        assert record.name == "repertory.actors"
        text = caplog.text
        assert "crash/fragile (Fragile)" in text and "handling a PlaceOrder" in text
        assert "decision: stop" in text
        assert "Traceback" in text and "RuntimeError: the database is gone" in text
        assert "card 4111" not in text, "a message's content never reaches the log"
        assert record.__dict__["decision"] == "stop"
        assert record.__dict__["message_type"] == "PlaceOrder"
        report = system._crashes.recent[-1]
        assert (report.address, report.actor_type, report.decision) == (
            "crash/fragile", "Fragile", "stop")


async def test_a_supervised_crash_names_the_supervisor_and_its_decision(
    anyio_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, "repertory")
    tree = Supervisor("app", children=[
        Child(Fragile, name="worker"),
        Child(Fragile, name="extra", critical=False),
    ])
    async with ActorSystem("sup") as system:
        system.spawn(tree)
        worker = system.registry.whereis("worker")
        extra = system.registry.whereis("extra")
        assert worker is not None and extra is not None
        with Reports() as reports:
            worker.tell(PlaceOrder("x"))
            await reports.wait_for(1)
            extra.tell(PlaceOrder("y"))
            await reports.wait_for(2)
        first, second = crash_records(caplog)
        assert first.name == "repertory.supervision"
        assert first.__dict__["decision"] == "restart"
        assert first.__dict__["supervisor"] == "sup/app"
        assert "sup/worker (Fragile) failed handling a PlaceOrder" in first.getMessage()
        assert first.exc_info is not None
        assert second.__dict__["decision"] == "degrade"
        assert await worker.ask("ping", timeout=2.0) == "ping"  # restarted
        assert len(crash_records(caplog)) == 2, "each failure is logged once"


async def test_past_its_budget_a_crash_escalates(
    anyio_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, "repertory")
    tree = Supervisor("top", max_restarts=0, within=5.0, children=[
        Supervisor("inner", max_restarts=0, within=5.0,
                   children=[Child(Fragile, name="leaf")]),
    ])
    async with ActorSystem("esc") as system:
        system.spawn(tree)
        leaf = system.registry.whereis("leaf")
        assert leaf is not None
        leaf.tell(PlaceOrder("z"))
        with anyio.fail_after(5):
            await system.wait_stopped()
        decisions = [(r.__dict__["actor"], r.__dict__["decision"])
                     for r in crash_records(caplog)]
        assert decisions == [("esc/leaf", "escalate"), ("esc/inner", "escalate"),
                             ("esc/top", "escalate")]


async def test_a_hook_failure_says_it_was_in_a_hook(
    anyio_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, "repertory")
    async with ActorSystem("hook") as system:
        ref = system.spawn(FailsToStart, name="nostart")
        probe = TestProbe(system)
        probe.watch(ref)
        await probe.expect_terminated(ref, timeout=2.0)
        (record,) = crash_records(caplog)
        assert "hook/nostart (FailsToStart) failed in a hook: ValueError: no config" in (
            record.getMessage())


async def test_counts_of_handled_messages_and_failures_show_in_snapshots(
    anyio_backend: str,
) -> None:
    tree = Supervisor("app", children=[Child(Fragile, name="worker")])
    async with ActorSystem("count") as system:
        system.spawn(tree)
        worker = system.registry.whereis("worker")
        assert worker is not None
        for i in range(10):
            worker.tell(i)
        assert await worker.ask("sync", timeout=2.0) == "sync"
        worker.tell(PlaceOrder("boom"))
        assert await worker.ask("after", timeout=2.0) == "after"
        info = next(i for i in system.snapshot() if i.name == "worker")
        assert info.processed == 13
        assert info.failures == 1
        assert info.restarts == 1
