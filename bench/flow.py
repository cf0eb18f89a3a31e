"""Flow control between nodes: remote ``await send()`` beside remote ``tell``, and the
receiver's memory under a flood to a bounded mailbox.

A server node runs in its own process (``python -m bench.flow --serve``); this process
joins it. Figures, all from one run:

- remote send, back-pressured: 50,000 ``await sink.send(i)`` to an unbounded counting
  sink, timed until an ask behind the last one answers with the count; msgs/s.
  Baseline: remote ``tell`` of the same messages to the same sink, taking turns with
  it (the sender yields every `YIELD_EVERY` tells, as in `bench.cluster`).
- receiver RSS growth under a flood: for `DURATION` seconds (``--duration 60`` for the
  issue's 60 s figure) this node tells as fast as the link takes them to an actor
  with ``Mailbox(capacity=1000)`` that takes 1 ms per message; the figure is the
  server's peak RSS minus its RSS before the flood, in MB (target: at most 100 MB).
  Baseline: the server's RSS before the flood.

Run alone with ``python -m bench.flow`` (``--quick`` for a smoke run): it prints the
table and writes ``bench/results/flow.json``. ``python -m bench`` runs `run` as one of
its extra modules.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel

from actors import Actor, Mailbox
from bench._harness import REPEATS, Result
from bench.cluster import COOKIE, Sink, server_node
from bench.report import Row, Target, format_table, write_json
from runtime import ActorSystem

__all__ = ("app", "main", "run")

SENDS = 50_000
YIELD_EVERY = 1_000
DURATION = 20.0  # seconds of flood; the figure is 60 (``--duration 60``)
RSS_BOUND_MB = 100.0
ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "flow.json"


class Slow(Actor[Any]):
    """Takes 1 ms per message; asked ``"pid"``, answers its process id."""

    async def receive(self, message: Any) -> Any:
        if message == "pid":
            return os.getpid()
        await anyio.sleep(0.001)
        return None


def app(system: ActorSystem) -> None:
    """The server node's actors."""
    system.spawn(Sink, name="sink")
    system.spawn(Slow, name="slow", mailbox=Mailbox(capacity=1000, overflow="drop_new"))


async def _rate(address: str, figure: str, n: int) -> float:
    """Seconds `n` remote sends (or tells) to the sink took, until the sink saw them."""
    async with ActorSystem("flow-client", listen="127.0.0.1:0", cookie=COOKIE) as system:
        await system.cluster.join(address)
        sink = await system.lookup("sink", node=address)
        assert sink is not None
        await sink.ask("count", timeout=5.0)
        start = time.perf_counter()
        if figure == "send":
            send = sink.send
            for i in range(n):
                await send(i)
        else:
            tell, checkpoint = sink.tell, anyio.lowlevel.checkpoint
            for i in range(n):
                tell(i)
                if i % YIELD_EVERY == 0:
                    await checkpoint()
        count = await sink.ask("count", timeout=60.0)
        elapsed = time.perf_counter() - start
        assert count == n, f"the sink saw {count} of {n} {figure}s"
        return elapsed


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


async def _flood(address: str, duration: float) -> tuple[float, float, int]:
    """(RSS before, peak RSS, tells) of the server over `duration` s of flood."""
    async with ActorSystem("flow-flood", listen="127.0.0.1:0", cookie=COOKIE) as system:
        await system.cluster.join(address)
        slow = await system.lookup("slow", node=address)
        assert slow is not None
        pid = await slow.ask("pid", timeout=5.0)
        before = peak = _rss_mb(pid)
        told, checkpoint = 0, anyio.lowlevel.checkpoint
        end = time.monotonic() + duration
        next_sample = 0.0
        while (now := time.monotonic()) < end:
            for _ in range(YIELD_EVERY):
                slow.tell(told)
                told += 1
            await checkpoint()
            if now >= next_sample:
                peak, next_sample = max(peak, _rss_mb(pid)), now + 0.2
        peak = max(peak, _rss_mb(pid))
        return before, peak, told


def _measure(quick: bool, duration: float) -> dict[str, Result]:
    n = SENDS // 10 if quick else SENDS
    rates: dict[str, list[float]] = {"send": [], "tell": []}
    with server_node(module="bench.flow") as address:
        for _ in range(REPEATS):
            for figure in ("send", "tell"):
                rates[figure].append(n / anyio.run(_rate, address, figure, n))
        before, peak, told = anyio.run(_flood, address, duration / 4 if quick else duration)
    got = {key: Result(max(v), n, runs=[round(x) for x in v]) for key, v in rates.items()}
    note = f"{told} tells in {duration / 4 if quick else duration:g} s; peak {peak:.0f} MB"
    got["rss_growth"] = Result(round(peak - before, 1), told, note=note)
    got["rss_before"] = Result(round(before, 1), 1)
    return got


def run(quick: bool = False, duration: float = DURATION) -> list[Row]:
    got = _measure(quick, duration)
    return [
        Row("remote send (back-pressured)", "msgs/s", got["send"], got["tell"], "remote tell"),
        Row("receiver RSS growth, flood to capacity=1000", "MB", got["rss_growth"],
            got["rss_before"], "RSS before",
            targets=[Target(f"<= {RSS_BOUND_MB:g} MB", "absolute", RSS_BOUND_MB)],
            higher_is_better=False),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.flow", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run: fewer messages")
    parser.add_argument("--duration", type=float, default=DURATION, help="flood seconds")
    parser.add_argument("--serve", metavar="COOKIE_FILE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        anyio.run(_serve, Path(args.serve).read_text(), backend="asyncio")
        return 0
    rows = run(args.quick, args.duration)
    print(format_table(rows))
    write_json(RESULTS, rows, {}, args.quick)
    return 0


async def _serve(cookie: str) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with ActorSystem("flow-server", listen="127.0.0.1:0", cookie=cookie) as system:
            app(system)
            print(f"node {system.address} ready", flush=True)
            async for _ in signals:
                return


if __name__ == "__main__":
    sys.exit(main())
