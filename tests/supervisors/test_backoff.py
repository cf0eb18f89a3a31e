"""Back-off: how long restarts wait, and that mail sent meanwhile is kept."""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

import supervisors._supervisor
from actors.testkit import TestProbe
from runtime import ActorSystem
from supervisors import Backoff, Child, Supervisor
from tests.supervisors._workers import LATE, Worker, expect_events, record_backoffs

pytestmark = pytest.mark.anyio


def test_delay_grows_by_factor_up_to_maximum() -> None:
    backoff = Backoff(initial=0.1, maximum=1.0, factor=3.0, jitter=0.0)
    assert [backoff.delay(n) for n in range(5)] == pytest.approx([0.1, 0.3, 0.9, 1.0, 1.0])
    assert backoff.delay(10_000) == 1.0  # no overflow for a child that never recovers
    assert Backoff(initial=0.5, maximum=0.5, factor=1.0).delay(7, jitter=False) == 0.5


@given(attempt=st.integers(min_value=0, max_value=100),
       jitter=st.floats(min_value=0.0, max_value=0.99))
def test_jitter_stays_within_its_bounds_and_under_maximum(attempt: int, jitter: float) -> None:
    backoff = Backoff(initial=0.1, maximum=10.0, jitter=jitter)
    base = backoff.delay(attempt, jitter=False)
    delay = backoff.delay(attempt)
    assert base * (1 - jitter) - 1e-12 <= delay <= min(base * (1 + jitter), 10.0) + 1e-12


def test_jitter_spreads_delays() -> None:
    backoff = Backoff(initial=1.0, maximum=10.0, jitter=0.5)
    delays = {backoff.delay(0) for _ in range(50)}
    assert len(delays) > 1
    assert all(0.5 <= delay <= 1.5 for delay in delays)


def test_reset_after_defaults_to_maximum() -> None:
    assert Backoff(initial=0.1, maximum=3.0).reset_after == 3.0
    assert Backoff(initial=0.1, maximum=3.0, reset_after=60.0).reset_after == 60.0


async def crash_and_time_restart(system: ActorSystem, probe: TestProbe, name: str) -> float:
    ref = system.registry.whereis(name)
    assert ref is not None
    began = time.monotonic()
    ref.tell("crash")
    await expect_events(probe, ("stop", name), ("restart", name))
    return time.monotonic() - began


async def test_a_restart_waits_for_its_backoff(
    actor_system: ActorSystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    scheduled = record_backoffs(monkeypatch)
    probe = TestProbe(actor_system)
    actor_system.spawn(Supervisor("root", children=[
        Child(Worker, probe.ref, "w", name="w",
              backoff=Backoff(initial=0.1, maximum=0.1, jitter=0.0)),
    ]))
    await expect_events(probe, ("start", "w"))
    waited = await crash_and_time_restart(actor_system, probe, "w")
    assert scheduled == [0.1]
    assert 0.1 <= waited < 0.1 + LATE


async def test_consecutive_restarts_back_off_further_and_reset_after_a_quiet_run(
    actor_system: ActorSystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr(supervisors._supervisor, "_clock", lambda: now[0])
    scheduled = record_backoffs(monkeypatch)
    probe = TestProbe(actor_system)
    actor_system.spawn(Supervisor("root", max_restarts=10, children=[
        Child(Worker, probe.ref, "w", name="w",
              backoff=Backoff(initial=0.02, maximum=1.0, factor=4.0, jitter=0.0,
                              reset_after=30.0)),
    ]))
    await expect_events(probe, ("start", "w"))
    first = await crash_and_time_restart(actor_system, probe, "w")
    second = await crash_and_time_restart(actor_system, probe, "w")
    third = await crash_and_time_restart(actor_system, probe, "w")
    assert scheduled == pytest.approx([0.02, 0.08, 0.32])
    # Each restart waited its delay, and each delay was longer than the one before.
    assert 0.02 <= first < 0.02 + LATE
    assert 0.08 <= second < 0.08 + LATE
    assert 0.32 <= third < 0.32 + LATE
    now[0] += 30.0  # the child has run for reset_after since its last restart
    assert 0.02 <= await crash_and_time_restart(actor_system, probe, "w") < 0.02 + LATE
    assert scheduled[3:] == pytest.approx([0.02])  # from the start again, not 1.0


async def test_mail_sent_while_waiting_for_the_restart_is_kept_and_handled_after_it(
    actor_system: ActorSystem,
) -> None:
    probe = TestProbe(actor_system)
    actor_system.spawn(Supervisor("root", children=[
        Child(Worker, probe.ref, "w", name="w",
              backoff=Backoff(initial=0.1, maximum=0.1, jitter=0.0)),
    ]))
    await expect_events(probe, ("start", "w"))
    worker = actor_system.registry.whereis("w")
    assert worker is not None
    before = await worker.ask("instance", timeout=1.0)
    worker.tell("crash")
    await expect_events(probe, ("stop", "w"))  # down, waiting out its back-off
    answers: list[Any] = []

    async def ask() -> None:
        answers.append(await worker.ask("instance", timeout=2.0))

    async with anyio.create_task_group() as tasks:
        worker.tell(("note", 1))
        tasks.start_soon(ask)
        worker.tell(("note", 2))
        # The notes reach the new instance, after its on_restart.
        await expect_events(probe, ("restart", "w"), ("got", "w", 1), ("got", "w", 2))
    # So does the ask: the fresh instance answered it.
    assert len(answers) == 1 and answers[0] != before
    assert await worker.ask("state", timeout=1.0) == [1, 2]
    assert actor_system.dead_letters.count == 0


async def test_a_group_waits_out_the_failed_childs_backoff_together(
    actor_system: ActorSystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    scheduled = record_backoffs(monkeypatch)
    probe = TestProbe(actor_system)
    actor_system.spawn(Supervisor("root", strategy="one_for_all", children=[
        Child(Worker, probe.ref, "a", name="a",
              backoff=Backoff(initial=0.05, maximum=0.05, jitter=0.0)),
        Child(Worker, probe.ref, "b", name="b"),
    ]))
    await expect_events(probe, ("start", "a"), ("start", "b"))
    b = actor_system.registry.whereis("b")
    assert b is not None
    began = time.monotonic()
    actor_system.registry.whereis("a").tell("crash")  # type: ignore[union-attr]
    await expect_events(probe, ("stop", "a"), ("stop", "b"))
    b.tell(("note", "kept"))  # b is down with its group: kept for its new instance
    await expect_events(probe, ("restart", "a"), ("restart", "b"), ("got", "b", "kept"))
    assert scheduled == [0.05]  # one delay, the failed child's, for the whole group
    assert 0.05 <= time.monotonic() - began < 0.05 + LATE
