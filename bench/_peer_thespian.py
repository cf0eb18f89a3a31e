"""thespian (``simpleSystemBase``) doing the local benchmarks' work.

simpleSystemBase runs every actor in the caller's thread: a `tell` from outside queues
the message and the queue is drained inside the next `ask`, so the tell figure is
"tell n-1 messages, then ask the last one", with the clock stopping at the answer.
"""

from __future__ import annotations

import time
from typing import Any

from thespian.actors import Actor, ActorAddress, ActorSystem

from bench._harness import Result, TracedBytes, best_rate, rss_bytes

__all__ = ("ask", "memory", "spawn", "tell")

_BASE = "simpleSystemBase"


class _Counter(Actor):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.seen = 0

    def receiveMessage(self, message: Any, sender: ActorAddress) -> None:
        if message == "ping":
            self.send(sender, "pong")
        elif isinstance(message, tuple):  # ("last", expected): answer once all are in
            self.seen += 1
            self.send(sender, self.seen == message[1])
        elif isinstance(message, int):
            self.seen += 1


class _Idle(Actor):  # type: ignore[misc]
    def receiveMessage(self, message: Any, sender: ActorAddress) -> None:
        pass


def tell(n: int) -> dict[str, Result]:
    def once() -> float:
        system = ActorSystem(_BASE)
        counter = system.createActor(_Counter)
        start = time.perf_counter()
        for i in range(n - 1):
            system.tell(counter, i)
        complete = system.ask(counter, ("last", n), 30)
        elapsed = time.perf_counter() - start
        system.shutdown()
        if complete is not True:
            raise RuntimeError(f"thespian counter answered {complete!r}, expected True")
        return elapsed

    return {"tell": best_rate(n, once)}


def ask(n: int) -> dict[str, Result]:
    def once() -> float:
        system = ActorSystem(_BASE)
        counter = system.createActor(_Counter)
        start = time.perf_counter()
        for _ in range(n):
            system.ask(counter, "ping", 5)
        elapsed = time.perf_counter() - start
        system.shutdown()
        return elapsed

    return {"ask": best_rate(n, once)}


def spawn(n: int) -> dict[str, Result]:
    def once() -> float:
        system = ActorSystem(_BASE)
        # createActor runs the actor's __init__ before returning: there is no later start.
        start = time.perf_counter()
        for _ in range(n):
            system.createActor(_Idle)
        elapsed = time.perf_counter() - start
        system.shutdown()
        return elapsed

    return {"spawn": best_rate(n, once)}


def memory(n: int) -> dict[str, Result]:
    system = ActorSystem(_BASE)
    before = rss_bytes()
    keep = [system.createActor(_Idle) for _ in range(n)]
    rss = (rss_bytes() - before) / n
    with TracedBytes() as traced:
        keep += [system.createActor(_Idle) for _ in range(n)]
    system.shutdown()
    return {
        "idle_bytes": Result(traced.bytes / n, n, note="tracemalloc"),
        "idle_rss": Result(rss, n, note="RSS delta"),
    }
