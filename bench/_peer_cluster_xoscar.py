"""xoscar doing the cluster benchmark's work between two processes on 127.0.0.1.

Run by `bench.cluster` in a child process (``python -m bench._harness
bench._peer_cluster_xoscar run ...``) under a deadline. That child, the client, starts
a server process (``python -m bench._peer_cluster_xoscar --serve``) running an xoscar
actor pool on 127.0.0.1 with no sub-processes, creates the actors in it with
``xo.create_actor(..., address=...)`` and calls them over TCP:

- ask: ``await ref.echo(i)`` one after the other; round trips/s.
- tell: ``await ref.add.tell(i)`` one after the other, then ``await ref.count()``,
  which the pool answers after every add (calls to one actor run in order); the clock
  stops at the answer; msgs/s. xoscar's ``tell`` is one-way (no result comes back) but
  is a coroutine: each is awaited until xoscar has sent it, so this is not pipelined
  as our tell is. Gathering many tells at once (``asyncio.gather``) is measured too,
  as "tell_gathered".

The server process is stopped (its pool with it) whatever happens; `bench.cluster`
kills this child's whole process group if it overruns its deadline.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import xoscar as xo

from bench._harness import REPEATS, Result

__all__ = ("run",)

ROOT = Path(__file__).resolve().parent.parent


class _Counter(xo.Actor):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.seen = 0

    def add(self, value: int) -> None:
        self.seen += 1

    def count(self) -> int:
        seen, self.seen = self.seen, 0
        return seen

    def echo(self, value: Any) -> Any:
        return value


async def _serve() -> None:
    pool = await xo.create_actor_pool("127.0.0.1:0", n_process=0)
    async with pool:
        print(f"pool {pool.external_address} ready", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()


def _start_server() -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-m", "bench._peer_cluster_xoscar", "--serve"],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()  # the parent's deadline covers a server that hangs
    if not line.startswith("pool "):
        process.kill()
        raise RuntimeError(f"the xoscar pool process did not start: {line!r}")
    return process, line.split()[1]


def _stop_server(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def run(asks: int, tells: int) -> dict[str, Result | str]:
    process, address = _start_server()
    try:
        return asyncio.run(_client(address, asks, tells))
    finally:
        _stop_server(process)


async def _client(address: str, asks: int, tells: int) -> dict[str, Result | str]:
    ref = await xo.create_actor(_Counter, address=address, uid="counter")
    assert await ref.echo(0) == 0  # warm the connection
    timings: dict[str, list[float]] = {"ask": [], "tell": [], "tell_gathered": []}

    async def asks_once() -> float:
        start = time.perf_counter()
        for i in range(asks):
            await ref.echo(i)
        return time.perf_counter() - start

    async def tells_once(gathered: bool) -> float:
        await ref.count()
        start = time.perf_counter()
        if gathered:
            await asyncio.gather(*(ref.add.tell(i) for i in range(tells)))
        else:
            for i in range(tells):
                await ref.add.tell(i)
        seen = await ref.count()
        elapsed = time.perf_counter() - start
        if seen != tells:
            raise RuntimeError(f"xoscar counter saw {seen} of {tells} tells")
        return elapsed

    for _ in range(REPEATS):  # taking turns, as bench.cluster's own figures do
        timings["ask"].append(await asks_once())
        timings["tell"].append(await tells_once(False))
        timings["tell_gathered"].append(await tells_once(True))
    counts = {"ask": asks, "tell": tells, "tell_gathered": tells}
    results: dict[str, Result | str] = {}
    for key, seconds in timings.items():
        rates = [counts[key] / s for s in seconds]
        results[key] = Result(max(rates), counts[key], runs=[round(r) for r in rates])
    return results


if __name__ == "__main__" and sys.argv[1:] == ["--serve"]:
    asyncio.run(_serve())
