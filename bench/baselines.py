"""Same-run baselines: what plain asyncio does for the work the actor figures measure.

A ratio against a figure measured on another day, machine or Python says little, so
each run measures these next to Repertory's own figures:

- one-way: a producer task puts ints on an unbounded `asyncio.Queue`, a consumer task
  gets them; the clock stops when the consumer has the last one (the shape of `tell`);
- ping-pong: two tasks and two queues, sequential round trips (the shape of `ask`);
- objects: building small objects that each own a `deque` (the least a spawn can do:
  an object with somewhere to put its mail), and the traced bytes each one costs.

`bench.local` also runs these functions in turn with its own runs, in the same child
process, so that each ratio compares runs taken under the same load. Run alone with
``python -m bench.baselines``.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

from bench._harness import REPEATS, Result, TracedBytes, best_rate

__all__ = (
    "ONE_WAY", "PING_PONG", "SPAWN", "object_bytes", "objects", "one_way", "ping_pong", "run",
)

ONE_WAY = 300_000
PING_PONG = 20_000
SPAWN = 50_000


async def _one_way(n: int) -> float:
    queue: asyncio.Queue[int] = asyncio.Queue()

    async def consume() -> None:
        for _ in range(n):
            await queue.get()

    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(consume())
        # The consumer is already waiting when the clock starts, as a started actor is.
        await asyncio.sleep(0)
        start = time.perf_counter()
        for i in range(n):
            await queue.put(i)
    return time.perf_counter() - start


async def _ping_pong(n: int) -> float:
    requests: asyncio.Queue[int] = asyncio.Queue()
    replies: asyncio.Queue[int] = asyncio.Queue()

    async def serve() -> None:
        for _ in range(n):
            await replies.put(await requests.get())

    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(serve())
        await asyncio.sleep(0)
        start = time.perf_counter()
        for i in range(n):
            await requests.put(i)
            await replies.get()
        elapsed = time.perf_counter() - start
    return elapsed


class _Cell:
    """Stands in for the least an actor can be: an object with a mailbox."""

    __slots__ = ("mailbox", "state")

    def __init__(self) -> None:
        self.mailbox: deque[object] = deque()
        self.state = 0


def one_way(n: int) -> float:
    """Seconds for `n` ints from a producer task to a consumer, on a fresh loop."""
    return asyncio.run(_one_way(n))


def ping_pong(n: int) -> float:
    """Seconds for `n` sequential round trips between two tasks, on a fresh loop."""
    return asyncio.run(_ping_pong(n))


def objects(n: int) -> float:
    """Seconds to build `n` objects that each own a deque."""
    start = time.perf_counter()
    cells = [_Cell() for _ in range(n)]
    elapsed = time.perf_counter() - start
    del cells
    return elapsed


def object_bytes(n: int) -> float:
    """Traced bytes per object that owns a deque."""
    with TracedBytes() as traced:
        cells = [_Cell() for _ in range(n)]
    del cells
    return traced.bytes / n


def run(quick: bool = False) -> dict[str, Result]:
    """Measure every baseline (best of `REPEATS` for rates) and return them by key."""
    scale = 10 if quick else 1
    n_one_way, n_ping_pong, n_spawn = ONE_WAY // scale, PING_PONG // scale, SPAWN // scale
    # A fresh loop per run: one run's leftovers cannot slow the next.
    results = {
        "tell": best_rate(n_one_way, lambda: one_way(n_one_way)),
        "ask": best_rate(n_ping_pong, lambda: ping_pong(n_ping_pong)),
        "spawn": best_rate(n_spawn, lambda: objects(n_spawn)),
        "idle_bytes": Result(object_bytes(n_spawn), n_spawn, note="tracemalloc"),
    }
    results["tell"].note = f"asyncio.Queue one-way, best of {REPEATS}"
    results["ask"].note = f"asyncio.Queue ping-pong, best of {REPEATS}"
    results["spawn"].note = "objects with a deque each"
    return results


if __name__ == "__main__":
    for key, result in run().items():
        print(f"{key:12} {result.value:14,.0f}  n={result.n:,}  {result.note}  runs={result.runs}")
