"""Cluster: remote asks and tells between two node processes on 127.0.0.1.

A server node runs in its own process (``python -m bench.cluster --serve``: an
`ActorSystem` serving `app` on plain asyncio, as the baseline's server runs; note that
``repertory node`` would pick uvloop where it is installed); this process is the other
node, an `ActorSystem` that joins it. Two figures, each beside the raw TCP baseline of
`bench.raw_tcp` measured in the same run (length-prefixed msgspec frames over bare
asyncio protocols, its server in a child process too), taking turns with it:

- remote ask, sequential: ``await echo.ask(i)`` one after the other, 5,000 times;
  round trips/s. Baseline: `raw_tcp.sequential_round_trips` (one frame out, its echo
  back).
- remote tell, pipelined: 200,000 ``sink.tell(i)`` as fast as the link takes them
  (the sender yields to the loop every `YIELD_EVERY` tells, as a busy actor would),
  timed until an ask queued behind the last one answers with the count the sink saw;
  msgs/s. Baseline: `raw_tcp.pipelined_frames`.

Rates are the best of `REPEATS` runs; each run joins from a fresh event loop and
system (joining is not timed). The client runs on asyncio, then on trio ("ours/trio").
Targets (issue 5): ask >= 0.7x the raw sequential echo; tell >= 0.5x raw pipelined
and >= 200k msgs/s.

Run alone with ``python -m bench.cluster`` (``--quick`` for a smoke run): it prints
the table and writes ``bench/results/cluster.json``. ``python -m bench`` runs `run`
as one of its extra modules.
"""

from __future__ import annotations

import argparse
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel

from actors import Actor
from bench._harness import REPEATS, Result
from bench.raw_tcp import pipelined_frames, sequential_round_trips
from bench.report import Row, Target, format_table, write_json
from runtime import ActorSystem

__all__ = ("app", "main", "run")

ASKS = 5_000
TELLS = 200_000
YIELD_EVERY = 1_000
COOKIE = "bench-cluster-cookie"
ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "cluster.json"
_READY = re.compile(rb"node (\S+) ready")


class Echo(Actor[Any]):
    def receive(self, message: Any) -> Any:
        return message


class Sink(Actor[Any]):
    """Counts what it is told; asked ``"count"``, answers the count and starts over."""

    def __init__(self) -> None:
        self.count = 0

    def receive(self, message: Any) -> Any:
        if message == "count":
            count, self.count = self.count, 0
            return count
        self.count += 1
        return None


def app(system: ActorSystem) -> None:
    """The server node's actors."""
    system.spawn(Echo, name="echo")
    system.spawn(Sink, name="sink")


@contextmanager
def server_node() -> Iterator[str]:
    """A node process serving `app`; yields its address; killed and reaped after."""
    with tempfile.TemporaryDirectory() as folder:
        cookie = Path(folder) / "cookie"
        cookie.write_text(COOKIE)
        command = [sys.executable, "-m", "bench.cluster", "--serve", str(cookie)]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL)
        try:
            yield _wait_ready(process, deadline=time.monotonic() + 30.0)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
            assert process.stdout is not None
            process.stdout.close()


async def _serve(cookie: str) -> None:
    """The server node: `app` on plain asyncio, until SIGTERM or SIGINT."""
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with ActorSystem("bench-server", listen="127.0.0.1:0", cookie=cookie) as system:
            app(system)
            print(f"node {system.address} ready", flush=True)
            async for _ in signals:
                return


def _wait_ready(process: subprocess.Popen[bytes], deadline: float) -> str:
    assert process.stdout is not None
    seen = b""
    while (match := _READY.search(seen)) is None:
        left = deadline - time.monotonic()
        if left <= 0 or process.poll() is not None:
            raise RuntimeError(f"the bench server node did not start: {seen!r}")
        if select.select([process.stdout], [], [], left)[0]:
            seen += os.read(process.stdout.fileno(), 4096)
    return match.group(1).decode()


async def _client(address: str, figure: str, n: int) -> float:
    """Join `address` from a fresh system and return the seconds `n` operations took."""
    async with ActorSystem("bench-client", listen="127.0.0.1:0", cookie=COOKIE) as system:
        await system.cluster.join(address)
        target = await system.lookup("echo" if figure == "ask" else "sink", node=address)
        assert target is not None
        await target.ask("count" if figure == "tell" else 0, timeout=5.0)  # warm the path
        if figure == "ask":
            ask = target.ask
            start = time.perf_counter()
            for i in range(n):
                await ask(i, timeout=5.0)
            return time.perf_counter() - start
        tell = target.tell
        checkpoint = anyio.lowlevel.checkpoint
        start = time.perf_counter()
        for i in range(n):
            tell(i)
            if i % YIELD_EVERY == 0:
                await checkpoint()
        count = await target.ask("count", timeout=60.0)
        elapsed = time.perf_counter() - start
        assert count == n, f"the sink saw {count} of {n} tells"
        return elapsed


def _measure(quick: bool) -> dict[str, Result]:
    scale = 10 if quick else 1
    asks, tells = ASKS // scale, TELLS // scale
    rates: dict[str, list[float]] = {key: [] for key in (
        "ask", "ask_trio", "ask_raw", "tell", "tell_trio", "tell_raw")}
    with server_node() as address:
        for _ in range(REPEATS):
            # Taking turns, so that drift in the machine's load hits each contender alike.
            for figure, n in (("ask", asks), ("tell", tells)):
                for backend, key in (("asyncio", figure), ("trio", f"{figure}_trio")):
                    seconds = anyio.run(_client, address, figure, n, backend=backend)
                    rates[key].append(n / seconds)
                raw = sequential_round_trips if figure == "ask" else pipelined_frames
                rates[f"{figure}_raw"].append(raw(n))
    counts = {"ask": asks, "tell": tells}
    return {key: Result(max(values), counts[key.split("_")[0]], runs=[round(v) for v in values])
            for key, values in rates.items()}


def run(quick: bool = False) -> list[Row]:
    """Both figures as rows for `python -m bench`'s table."""
    measured = _measure(quick)
    return [
        Row("remote ask, sequential", "round trips/s", ours=measured["ask"],
            trio=measured["ask_trio"], baseline=measured["ask_raw"],
            baseline_name="raw asyncio TCP echo, msgspec frames (bench.raw_tcp)",
            targets=[Target(">=0.7x baseline", "baseline", 0.7)]),
        Row("remote tell, pipelined", "msgs/s", ours=measured["tell"],
            trio=measured["tell_trio"], baseline=measured["tell_raw"],
            baseline_name="raw asyncio TCP pipelined frames (bench.raw_tcp)",
            targets=[Target(">=0.5x baseline", "baseline", 0.5),
                     Target(">=200k/s", "absolute", 200_000)]),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="counts / 10, writes nothing")
    parser.add_argument("--serve", metavar="COOKIE_FILE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        anyio.run(_serve, Path(args.serve).read_text(), backend="asyncio")
        return 0
    rows = run(quick=args.quick)
    print(format_table(rows))
    if not args.quick:
        write_json(RESULTS, rows, {"asks": ASKS, "tells": TELLS, "yield_every": YIELD_EVERY},
                   quick=False)
        print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
