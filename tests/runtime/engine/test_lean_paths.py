"""The lean paths: an idle actor's small footprint, and an ask run on the asker's task.

An ask to an idle actor with a sync handler runs that actor's turn on the asker's own
task (`turn.run_ask`); these tests pin what must not change because of it: order, the
other tasks' share of the loop, reply_later, failures, cancellation.
"""

from __future__ import annotations

import gc
import logging
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from actors import Actor, ActorCrashedError, AskTimeoutError, Reply
from runtime import ActorSystem
from runtime._engine.local_ref import cell_of

pytestmark = pytest.mark.anyio


class _Idle(Actor[None]):
    def receive(self, message: None) -> None:
        return None


class _Journal(Actor[str]):
    """Notes every message; "ping" also tells itself "pong" from inside the handler."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def receive(self, message: str) -> Any:
        if message == "seen":
            return list(self.seen)
        self.seen.append(message)
        if message == "ping":
            self.context.ref.tell("pong")
        return len(self.seen)


class _Later(Actor[Any]):
    """Takes the reply slot of "question" (and says so), answers it when told
    "answer"; "boom" fails, "warm" answers at once."""

    def __init__(self, taken: anyio.Event | None = None) -> None:
        self.taken = taken
        self.reply: Reply | None = None

    def receive(self, message: Any) -> Any:
        if message == "answer":
            assert self.reply is not None
            self.reply.send("late")
        elif message == "boom":
            raise ValueError("boom")
        elif message == "warm":
            return "warm"
        else:
            self.reply = self.context.reply_later()
            if self.taken is not None:
                self.taken.set()
        return None


class _Lifecycle(Actor[None]):
    def __init__(self, events: list[str]) -> None:
        self.events = events

    def on_start(self) -> None:
        self.events.append("start")

    def on_stop(self, reason: BaseException | None) -> None:
        self.events.append("stop")

    def receive(self, message: None) -> None:
        return None


async def test_an_idle_actor_keeps_no_queue_and_no_bound_handler() -> None:
    async with ActorSystem("lean") as system:
        ref = system.spawn(_Idle)
        assert await ref.ask(None) is None
        cell = cell_of(ref)
        assert cell is not None
        # Its Start left no system-message deque behind, and its own receive is bound
        # per turn, not kept: ~700 bytes an idle actor does not carry.
        assert cell.sysmail is None and cell.handler is None
        assert cell.kwargs == {} and not cell.scheduled


async def test_a_stop_right_after_spawn_still_runs_on_start_first() -> None:
    events: list[str] = []
    async with ActorSystem("lean") as system:
        ref = system.spawn(_Lifecycle, events)
        await system.stop(ref)
    assert events == ["start", "stop"]


async def test_mail_the_handler_sends_itself_during_an_ask_comes_after_it() -> None:
    async with ActorSystem("lean") as system:
        journal = system.spawn(_Journal)
        assert await journal.ask("ping") == 1
        journal.tell("told")
        assert await journal.ask("seen") == ["ping", "pong", "told"]


async def test_a_loop_of_answered_asks_lets_other_tasks_run() -> None:
    rounds = 0
    asks = 200

    async def other() -> None:
        nonlocal rounds
        while True:
            rounds += 1
            await anyio.lowlevel.checkpoint()

    async with ActorSystem("lean") as system:
        journal = system.spawn(_Journal)
        await journal.ask("warm")
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(other)
            await anyio.lowlevel.checkpoint()  # let it start
            before = rounds
            for _ in range(asks):
                await journal.ask("x")
            ran = rounds - before
            tasks.cancel_scope.cancel()
    # Every ask yields to the loop once, even when its answer is there at once.
    assert ran >= asks // 2


async def test_reply_later_from_a_turn_on_the_askers_task_still_answers() -> None:
    taken = anyio.Event()
    answer: list[Any] = []
    async with ActorSystem("lean") as system:
        later = system.spawn(_Later, taken)
        await system.stop(system.spawn(_Idle))  # the system is up and running turns

        async def ask() -> None:
            answer.append(await later.ask("question", timeout=5.0))

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(ask)
            await taken.wait()
            later.tell("answer")
    assert answer == ["late"]


async def test_a_slot_taken_and_never_answered_times_out() -> None:
    async with ActorSystem("lean") as system:
        later = system.spawn(_Later)
        with pytest.raises(AskTimeoutError, match=r"after 0\.05 s"):
            await later.ask("question", timeout=0.05)


async def test_a_failing_sync_handler_fails_the_ask_as_before() -> None:
    async with ActorSystem("lean") as system:
        later = system.spawn(_Later)
        with pytest.raises(ActorCrashedError, match="boom"):
            await later.ask("boom")


async def test_an_asker_cancelled_after_a_failed_answer_leaves_nothing_unretrieved(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # No crash report: a log record's traceback would keep the ask's frame alive.
    caplog.set_level(logging.CRITICAL + 1, logger="repertory")
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        async with ActorSystem("lean") as system:
            later = system.spawn(_Later)
            assert await later.ask("warm") == "warm"  # the next ask runs on the asker
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(later.ask, "boom")
                await anyio.lowlevel.checkpoint()  # the asker ran the handler, and yields once
                tasks.cancel_scope.cancel()  # ... where it is cancelled
        del system, later
        gc.collect()  # a failed future nobody retrieved is logged when collected
    assert "never retrieved" not in caplog.text


class _Quitter(Actor[str]):
    def receive(self, message: str) -> str:
        if message == "fail":
            raise LookupError("no such thing")
        if message == "stop":
            self.context.stop()
        return message


async def test_when_an_ask_returns_what_its_turn_set_off_has_run() -> None:
    # As when a worker runs the turn: the stop the handler asked for, or its parent's
    # decision on its failure, is done before the asker resumes (trio orders a batch at
    # random, hence the rounds).
    async with ActorSystem("lean") as system:
        for _ in range(20):
            quitter = system.spawn(_Quitter)
            assert await quitter.ask("hello") == "hello"  # started: now idle
            assert await quitter.ask("stop") == "stop"
            assert not quitter.is_alive
            failing = system.spawn(_Quitter)
            assert await failing.ask("hello") == "hello"
            with pytest.raises(ActorCrashedError, match="no such thing"):
                await failing.ask("fail")
            assert not failing.is_alive  # no supervisor: the failure stopped it
