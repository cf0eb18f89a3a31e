"""Deadlines that hold: leaving a system takes at most `shutdown_timeout` + 1 s, however
much mail is queued, and a blocking actor's endless handler cannot keep the process."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from typing import Any

import anyio
import pytest

from actors import Actor
from runtime import ActorSystem

QUEUED = 1_000_000


class Slow(Actor[int]):
    """Takes ten seconds over each message; says when it has begun the first."""

    def __init__(self, busy: anyio.Event) -> None:
        self.busy = busy

    async def receive(self, message: int) -> None:
        self.busy.set()
        await anyio.sleep(10)


@pytest.mark.anyio
async def test_a_million_queued_messages_are_dead_lettered_in_bulk_at_the_deadline(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="repertory.dead_letters")
    busy = anyio.Event()
    async with ActorSystem("deadline", shutdown_timeout=0.5) as system:
        slow = system.spawn(Slow, busy, name="slow")
        for number in range(QUEUED):
            slow.tell(number)
        await busy.wait()
        leaving, cpu = time.time(), time.process_time()
    took, cpu = time.time() - leaving, time.process_time() - cpu
    # The deadline fired on time (a timer is late by the machine's scheduling, never
    # early); then the rest is CPU work, measured as such so that a loaded machine does
    # not fail it: in bulk, a million letters take well under a second of CPU (about
    # 0.07 s), one at a time they would take several.
    [deadline] = [r.created for r in caplog.records if "after shutdown began" in r.getMessage()]
    assert 0.5 <= deadline - leaving < 0.5 + 1.0, deadline - leaving
    assert cpu < 1.0, f"leaving the system took {cpu:.2f} s of CPU to dead-letter"
    # And it ended: the 10 s handler was not waited for (the second after the deadline
    # that `kill` gets, then `terminate`), with room for a loaded machine.
    assert took < 0.5 + 1.0 + 3.0, f"leaving the system took {took:.2f} s with a 0.5 s deadline"
    # Every message but the one being handled when it was cancelled.
    assert system.dead_letters.count == QUEUED - 1
    assert system.dead_letters.by_reason == {"stopped": QUEUED - 1}
    assert [letter.message for letter in system.dead_letters.recent][-1] == QUEUED - 1
    bulk = [r.getMessage() for r in caplog.records if r.name == "repertory.dead_letters"]
    assert bulk == [f"{QUEUED - 1} dead letters to deadline/slow (stopped)"]


# Prints the monotonic clock when it begins to leave the system and when the process
# exits (atexit runs after the interpreter has joined its non-daemon threads), so the
# time measured is the shutdown's, not the interpreter's start on a loaded machine.
STUCK = """
import atexit, sys, threading, time, anyio
from actors import Actor
from runtime import ActorSystem

atexit.register(lambda: print(f"exiting at {time.monotonic()}", flush=True))

class Stuck(Actor):
    blocking = True
    def receive(self, message):
        started.set()
        threading.Event().wait()   # never returns

started = threading.Event()

async def main():
    async with ActorSystem("stuck", shutdown_timeout=0.5) as system:
        system.spawn(Stuck, name="forever").tell("go")
        await anyio.to_thread.run_sync(started.wait)
        print(f"leaving at {time.monotonic()}", flush=True)
    print("system closed", flush=True)

anyio.run(main, backend=sys.argv[1])
"""


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_blocking_handler_that_never_returns_does_not_keep_the_process(
    backend: str,
) -> None:
    # A thread that held the process would hang it: the timeout fails the test then.
    done = subprocess.run([sys.executable, "-c", STUCK, backend], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "system closed" in done.stdout
    clock = {line.split(" at ")[0]: float(line.split(" at ")[1])
             for line in done.stdout.splitlines() if " at " in line}
    took = clock["exiting"] - clock["leaving"]
    assert took < 0.5 + 2, f"the process took {took:.2f} s to end with a 0.5 s deadline"
    assert "abandoned blocking actor stuck/forever still running its handler" in done.stderr
    assert "Traceback" not in done.stderr


class Failing(Actor[Any]):
    blocking = True

    def receive(self, message: Any) -> Any:
        if message == "fail":
            raise ValueError("no such account")
        return message * 2


@pytest.mark.anyio
async def test_a_blocking_handler_answers_and_fails_through_its_thread(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with ActorSystem("threads") as system:
        failing = system.spawn(Failing)
        assert await failing.ask(21, timeout=5.0) == 42
        with pytest.raises(Exception, match="no such account"):
            await failing.ask("fail", timeout=5.0)
    assert "abandoned" not in caplog.text


class Waits(Actor[str]):
    """Blocks its thread until `release` is set."""

    blocking = True

    def __init__(self, release: threading.Event, started: threading.Event) -> None:
        self.release = release
        self.started = started

    def receive(self, message: str) -> str:
        self.started.set()
        self.release.wait()
        return "released"


@pytest.mark.anyio
async def test_an_abandoned_blocking_thread_is_not_reused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = threading.Event()
    started = threading.Event()
    try:
        async with ActorSystem("first", shutdown_timeout=0.2) as system:
            system.spawn(Waits, release, started, name="stuck").tell("wait")
            await anyio.to_thread.run_sync(started.wait)
        assert "abandoned blocking actor first/stuck still running" in caplog.text
        async with ActorSystem("second") as system:  # the stuck thread is still stuck
            answers = [system.spawn(Failing) for _ in range(3)]
            assert [await a.ask(2, timeout=5.0) for a in answers] == [4, 4, 4]
    finally:
        release.set()


@pytest.mark.anyio
async def test_idle_blocking_threads_end_with_the_system() -> None:
    async with ActorSystem("idle-threads") as system:
        workers = [system.spawn(Failing) for _ in range(3)]
        assert [await w.ask(1, timeout=5.0) for w in workers] == [2, 2, 2]
        threads = [t for t in threading.enumerate() if t.name == "repertory blocking actor"]
        assert threads, "the blocking actors ran on no worker thread"
    for thread in threads:
        thread.join(timeout=1.0)  # an idle thread lingers for IDLE (2 s) unless released
    assert [t for t in threads if t.is_alive()] == []
