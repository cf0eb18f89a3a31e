"""pykka (ThreadingActor: one thread per actor) doing the local benchmarks' work.

Runs in a child process (`bench.peers`), so that its threads cannot outlive the figure.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pykka

from bench._harness import Result, TracedBytes, best_rate, rss_bytes


class _Counter(pykka.ThreadingActor):
    def __init__(self, expected: int, done: threading.Event) -> None:
        super().__init__()
        self.expected = expected
        self.done = done
        self.seen = 0

    def on_receive(self, message: Any) -> Any:
        if message == "ping":
            return "pong"
        self.seen += 1
        if self.seen == self.expected:
            self.done.set()
        return None


class _Idle(pykka.ThreadingActor):
    # on_start runs in each actor's own thread, so the count needs a lock.
    lock = threading.Lock()
    started = 0
    expected = 0
    all_started = threading.Event()

    def on_start(self) -> None:
        with _Idle.lock:
            _Idle.started += 1
            if _Idle.started == _Idle.expected:
                _Idle.all_started.set()


def tell(n: int) -> dict[str, Result]:
    def once() -> float:
        done = threading.Event()
        ref = _Counter.start(n, done)
        start = time.perf_counter()
        for i in range(n):
            ref.tell(i)
        done.wait()
        elapsed = time.perf_counter() - start
        ref.stop()
        return elapsed

    return {"tell": best_rate(n, once)}


def ask(n: int) -> dict[str, Result]:
    def once() -> float:
        ref = _Counter.start(0, threading.Event())
        start = time.perf_counter()
        for _ in range(n):
            ref.ask("ping", timeout=5.0)
        elapsed = time.perf_counter() - start
        ref.stop()
        return elapsed

    return {"ask": best_rate(n, once)}


def _start_all(n: int) -> list[pykka.ActorRef[Any]]:
    _Idle.started, _Idle.expected = 0, n
    _Idle.all_started = threading.Event()
    refs = [_Idle.start() for _ in range(n)]
    _Idle.all_started.wait()
    return refs


def spawn(n: int) -> dict[str, Result]:
    def once() -> float:
        start = time.perf_counter()
        _start_all(n)
        elapsed = time.perf_counter() - start
        pykka.ActorRegistry.stop_all()
        return elapsed

    return {"spawn": best_rate(n, once)}


def memory(n: int) -> dict[str, Result]:
    # RSS first, without tracemalloc, whose own bookkeeping would inflate it.
    before = rss_bytes()
    _start_all(n)
    rss = (rss_bytes() - before) / n
    with TracedBytes() as traced:
        _start_all(n)
    pykka.ActorRegistry.stop_all()
    return {
        "idle_bytes": Result(traced.bytes / n, n, note="tracemalloc; misses thread stacks"),
        "idle_rss": Result(rss, n, note="RSS delta"),
    }


__all__ = ("ask", "memory", "spawn", "tell")
