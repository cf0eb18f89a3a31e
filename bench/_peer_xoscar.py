"""xoscar doing the local benchmarks' work, in one in-process actor pool.

``create_actor_pool(address, n_process=0)`` gives a main pool with no sub-processes:
the actors live in this process and event loop, which is xoscar's local mode. A tell is
``await ref.method.tell(...)`` and an ask is ``await ref.method(...)``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import xoscar as xo

from bench._harness import Result, TracedBytes, best_rate, rss_bytes

__all__ = ("ask", "memory", "spawn", "tell")


class _Counter(xo.Actor):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.seen = 0

    def add(self, value: int) -> None:
        self.seen += 1

    def count(self) -> int:
        return self.seen

    def echo(self, value: Any) -> Any:
        return value


class _Idle(xo.Actor):  # type: ignore[misc]
    pass


def _in_pool(work: Callable[[str], Awaitable[float]]) -> float:
    """Run `work(pool_address)` in a fresh pool and loop; return the seconds it reports."""

    async def main() -> float:
        pool = await xo.create_actor_pool("127.0.0.1:0", n_process=0)
        async with pool:
            return await work(pool.external_address)

    return asyncio.run(main())


def tell(n: int) -> dict[str, Result]:
    async def work(address: str) -> float:
        counter = await xo.create_actor(_Counter, address=address, uid="counter")
        start = time.perf_counter()
        for i in range(n):
            await counter.add.tell(i)
        # Calls to one actor are handled in order, so this answer comes after every add.
        seen = await counter.count()
        elapsed = time.perf_counter() - start
        if seen != n:
            raise RuntimeError(f"xoscar counter saw {seen} of {n} tells")
        return elapsed

    return {"tell": best_rate(n, lambda: _in_pool(work))}


def ask(n: int) -> dict[str, Result]:
    async def work(address: str) -> float:
        counter = await xo.create_actor(_Counter, address=address, uid="counter")
        start = time.perf_counter()
        for i in range(n):
            await counter.echo(i)
        return time.perf_counter() - start

    return {"ask": best_rate(n, lambda: _in_pool(work))}


def spawn(n: int) -> dict[str, Result]:
    async def work(address: str) -> float:
        # create_actor returns once the actor is created and its __post_create__ has run.
        start = time.perf_counter()
        for i in range(n):
            await xo.create_actor(_Idle, address=address, uid=f"idle-{i}")
        return time.perf_counter() - start

    return {"spawn": best_rate(n, lambda: _in_pool(work))}


def memory(n: int) -> dict[str, Result]:
    figures: dict[str, float] = {}

    async def work(address: str) -> float:
        before = rss_bytes()
        keep = [await xo.create_actor(_Idle, address=address, uid=f"a-{i}") for i in range(n)]
        figures["rss"] = (rss_bytes() - before) / n
        with TracedBytes() as traced:
            keep += [await xo.create_actor(_Idle, address=address, uid=f"b-{i}")
                     for i in range(n)]
        figures["traced"] = traced.bytes / n
        return 0.0

    _in_pool(work)
    return {
        "idle_bytes": Result(figures["traced"], n, note="tracemalloc; includes the ref kept"),
        "idle_rss": Result(figures["rss"], n, note="RSS delta"),
    }
