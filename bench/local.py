"""Repertory's local figures: tell throughput, ask round trips, spawn rate, idle memory.

Written against the public API only (``actors.Actor``, ``runtime.ActorSystem``), the way
a user would write it. Each function measures one figure on one anyio backend and is
meant to run in its own child process (`run` does that), so a fault in the runtime
costs one cell of the table and every figure starts from a fresh interpreter, like the
baselines and the peers. Rates are the best of `REPEATS` runs, each in a fresh system.

Run the whole local suite with ``python -m bench --only local``; run one figure in
this process (for a profiler) with ``python -m bench.local tell [N] [asyncio|trio]``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Awaitable, Callable

import anyio

from actors import Actor
from bench import baselines
from bench._harness import Result, TracedBytes, best_rates, rss_bytes
from bench._plan import DEADLINE, LOCAL_COUNTS
from runtime import ActorSystem

__all__ = ("ask", "memory", "spawn", "tell")


class _Counter(Actor[int]):
    """Counts tells; the last one sets `done`, which stops the clock."""

    def __init__(self, expected: int, done: anyio.Event) -> None:
        self.expected = expected
        self.done = done
        self.seen = 0

    def receive(self, message: int) -> None:
        self.seen += 1
        if self.seen == self.expected:
            self.done.set()


class _Echo(Actor[int]):
    def receive(self, message: int) -> int:
        return message


class _AsyncEcho(Actor[int]):
    async def receive(self, message: int) -> int:
        return message


class _Started(Actor[None]):
    """An idle actor that counts itself started. The count lives on the class, so an
    instance holds nothing that a user's idle actor would not."""

    expected = 0
    started = 0
    all_started: anyio.Event | None = None

    def on_start(self) -> None:
        cls = _Started
        cls.started += 1
        if cls.started == cls.expected and cls.all_started is not None:
            cls.all_started.set()

    def receive(self, message: None) -> None:
        return None


def _expect_started(n: int) -> anyio.Event:
    _Started.started, _Started.expected = 0, n
    _Started.all_started = anyio.Event()
    return _Started.all_started


def _on(backend: str, work: Callable[[ActorSystem], Awaitable[float]]) -> Callable[[], float]:
    """A run of `work` in a fresh system on a fresh event loop, returning its seconds.

    Starting and stopping the system stay outside the clock: `work` times itself.
    """

    async def main() -> float:
        with anyio.fail_after(DEADLINE):
            async with ActorSystem("bench") as system:
                return await work(system)

    return lambda: anyio.run(main, backend=backend)


def _with_baseline(
    key: str, n: int, backend: str, ours: Callable[[], float], baseline: Callable[[int], float]
) -> dict[str, Result]:
    """Our runs and, on asyncio, the baseline's, taking turns in this process: `key` and
    `key + "_baseline"`. The table's ratios are against asyncio, so trio skips it."""
    runs = {key: ours}
    if backend == "asyncio":
        runs[f"{key}_baseline"] = lambda: baseline(n)
    return best_rates(n, runs)


def tell(n: int, backend: str = "asyncio") -> dict[str, Result]:
    """One sender task tells `n` ints to one actor; the clock stops when it has all."""

    async def work(system: ActorSystem) -> float:
        done = anyio.Event()
        counter = system.spawn(_Counter, n, done)
        start = time.perf_counter()
        for i in range(n):
            counter.tell(i)
        await done.wait()
        return time.perf_counter() - start

    return _with_baseline("tell", n, backend, _on(backend, work), baselines.one_way)


def ask(n: int, backend: str = "asyncio", handler: str = "sync") -> dict[str, Result]:
    """`n` sequential asks to an actor whose `receive` (sync or async) echoes."""
    actor_class: type[Actor[int]] = _Echo if handler == "sync" else _AsyncEcho

    async def work(system: ActorSystem) -> float:
        echo = system.spawn(actor_class)
        await echo.ask(-1, timeout=5.0)  # started and warm before the clock
        start = time.perf_counter()
        for i in range(n):
            await echo.ask(i, timeout=5.0)
        return time.perf_counter() - start

    key = "ask" if handler == "sync" else "ask_async"
    return _with_baseline(key, n, backend, _on(backend, work), baselines.ping_pong)


def spawn(n: int, backend: str = "asyncio") -> dict[str, Result]:
    """Spawn `n` actors; the clock stops when the last `on_start` has run."""

    async def work(system: ActorSystem) -> float:
        all_started = _expect_started(n)
        start = time.perf_counter()
        refs = [system.spawn(_Started) for _ in range(n)]
        await all_started.wait()
        elapsed = time.perf_counter() - start
        del refs
        return elapsed

    return _with_baseline("spawn", n, backend, _on(backend, work), baselines.objects)


def memory(n: int, backend: str = "asyncio") -> dict[str, Result]:
    """Bytes per started, idle actor, its ref kept: RSS delta, then traced heap."""
    figures: dict[str, float] = {}

    async def work(system: ActorSystem) -> float:
        # RSS first, without tracemalloc, whose own bookkeeping would inflate it.
        all_started = _expect_started(n)
        before = rss_bytes()
        keep = [system.spawn(_Started) for _ in range(n)]
        await all_started.wait()
        figures["rss"] = (rss_bytes() - before) / n
        all_started = _expect_started(n)
        with TracedBytes() as traced:
            keep += [system.spawn(_Started) for _ in range(n)]
            await all_started.wait()
        figures["traced"] = traced.bytes / n
        return 0.0

    _on(backend, work)()
    return {
        "idle_bytes": Result(figures["traced"], n, note="tracemalloc"),
        "idle_rss": Result(figures["rss"], n, note="RSS delta"),
    }


def _main(argv: list[str]) -> int:
    """``python -m bench.local FIGURE [N] [BACKEND]``: one figure in this process, so
    that a profiler (``py-spy record -- python -m bench.local tell``) sees the runtime."""
    figure = argv[0] if argv else "tell"
    backend = argv[2] if len(argv) > 2 else "asyncio"
    n = int(argv[1]) if len(argv) > 1 else LOCAL_COUNTS["ask" if figure == "ask_async" else figure]
    if figure == "ask_async":
        results = ask(n, backend, handler="async")
    else:
        results = {"tell": tell, "ask": ask, "spawn": spawn, "memory": memory}[figure](n, backend)
    for key, result in results.items():
        print(f"{backend} {key}: {result.value:,.0f} (n={n:,}, runs={result.runs})")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
