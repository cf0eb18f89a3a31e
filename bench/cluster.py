"""Cluster: remote asks and tells between two node processes on 127.0.0.1.

A server node runs in its own process (``python -m bench.cluster --serve``: an
`ActorSystem` serving `app` on plain asyncio, as the baseline's server runs; note that
``repertory node`` would pick uvloop where it is installed); this process is the other
node, an `ActorSystem` that joins it. Three rows, each beside a baseline measured in
the same run, taking turns with it (A B A B: the ratio is the median of the rounds'):

- remote ask, sequential: ``await echo.ask(i)`` one after the other, 5,000 times;
  round trips/s. Baseline: `bench.raw_tcp.sequential_round_trips` (length-prefixed
  msgspec frames over bare asyncio protocols, its server in a child process too: one
  frame out, its echo back).
- remote tell, pipelined: 200,000 ``sink.tell(i)`` as fast as the link takes them
  (the sender yields to the loop every `YIELD_EVERY` tells, as a busy actor would),
  timed until an ask queued behind the last one answers with the count the sink saw;
  msgs/s. Baseline: `bench.raw_tcp.pipelined_frames`.
- remote tell vs local tell: the same remote tells, beside the same loop telling a
  `Sink` spawned in this process (this run's local tell, record tags and credits
  being what the remote side adds).

Peers, each in a child process with a deadline (`PEER_TIMEOUT`; a peer that fails,
hangs or is missing shows as "n/a (reason)", and every process it started is killed):
thespian ``multiprocTCPBase`` (`bench._peer_cluster_thespian`) and an xoscar actor pool
in a process of its own (`bench._peer_cluster_xoscar`), both on 127.0.0.1, doing the same
two figures with their own APIs and smaller counts (`PEER_COUNTS`: they are much slower;
the figures are rates). They run after ours, not taking turns with it.

Rates are the best of `ROUNDS` runs; each run joins from a fresh event loop and
system (joining is not timed). The client runs on asyncio, then on trio ("ours/trio").
Targets (issue 15): ask >= 0.85x the raw sequential echo; tell >= 0.6x this run's
local tell, >= 0.5x raw pipelined and >= 200k msgs/s.

Run alone with ``python -m bench.cluster`` (``--quick`` for a smoke run): it prints
the table and writes ``bench/results/cluster.json``. ``python -m bench`` runs `run`
as one of its extra modules.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel

from actors import Actor, ActorRef
from bench._harness import _MARKER, Result
from bench.raw_tcp import pipelined_frames, sequential_round_trips
from bench.report import Row, Target, format_table, write_json
from runtime import ActorSystem

__all__ = ("app", "main", "run")

ASKS = 5_000
TELLS = 200_000
YIELD_EVERY = 1_000
# Rounds of ours and the baselines in turn; each row's ratio is the median of theirs.
ROUNDS = 4
COOKIE = "bench-cluster-cookie"
ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "cluster.json"
_READY = re.compile(rb"node (\S+) ready")
# (asks, tells) per peer: here thespian manages about 1k round trips/s and 1-2k tells/s,
# xoscar about 2k round trips/s and 5k tells/s.
PEER_COUNTS = {"thespian": (1_000, 5_000), "xoscar": (2_000, 10_000)}
PEER_TIMEOUT = 50.0  # each; bench.__main__ gives this module 150 s in all
_PEER_TAG = "REPERTORY_BENCH_PEER"


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
def server_node(module: str = "bench.cluster") -> Iterator[str]:
    """A node process serving `module`'s app (``python -m <module> --serve``); yields
    its address; killed and reaped after."""
    with tempfile.TemporaryDirectory() as folder:
        cookie = Path(folder) / "cookie"
        cookie.write_text(COOKIE)
        command = [sys.executable, "-m", module, "--serve", str(cookie)]
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
        target: ActorRef[Any] | None = system.spawn(Sink)  # local_tell: a sink on this node
        if figure != "local_tell":
            target = await system.lookup("echo" if figure == "ask" else "sink", node=address)
        assert target is not None
        await target.ask(0 if figure == "ask" else "count", timeout=5.0)  # warm the path
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
    counts = {"ask": asks, "tell": tells, "local": tells}
    rates: dict[str, list[float]] = {key: [] for key in (
        "ask", "ask_trio", "ask_raw", "tell", "tell_local", "tell_trio", "tell_raw")}
    with server_node() as address:
        for _ in range(ROUNDS):
            # Taking turns, so that drift in the machine's load hits each contender alike.
            for figure, n in (("ask", asks), ("tell", tells)):
                for backend, key in (("asyncio", figure), ("trio", f"{figure}_trio")):
                    seconds = anyio.run(_client, address, figure, n, backend=backend)
                    rates[key].append(n / seconds)
                    if figure == "tell" and backend == "asyncio":
                        seconds = anyio.run(_client, address, "local_tell", n, backend=backend)
                        rates["tell_local"].append(n / seconds)
                raw = sequential_round_trips if figure == "ask" else pipelined_frames
                rates[f"{figure}_raw"].append(raw(n))
    return {key: Result(max(values), counts[key.split("_")[0]], runs=[round(v) for v in values])
            for key, values in rates.items()}


def _peer(name: str, quick: bool) -> dict[str, Result | str]:
    """``bench._peer_cluster_<name>.run`` in a child process, with a deadline.

    The child leads a process group of its own, and it and everything it starts carry a
    tag in their environment: thespian daemonizes its admin into a session of its own,
    so killing the group is not enough. Whatever happens, every process still carrying
    the tag is killed before this returns.
    """
    scale = 10 if quick else 1
    asks, tells = (n // scale for n in PEER_COUNTS[name])
    kwargs = json.dumps({"asks": asks, "tells": tells})
    tag = uuid.uuid4().hex
    command = [sys.executable, "-m", "bench._harness", f"bench._peer_cluster_{name}", "run",
               kwargs]
    env = {**os.environ, "PYTHONPATH": str(ROOT), _PEER_TAG: tag}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    error = ""
    try:
        out, err = process.communicate(timeout=PEER_TIMEOUT)
    except subprocess.TimeoutExpired:
        error = f"timed out after {PEER_TIMEOUT:.0f} s"
        _kill_tagged(process.pid, tag)
        out, err = process.communicate()
    finally:
        _kill_tagged(process.pid, tag)
    for line in reversed(out.splitlines()):
        if not error and line.startswith(_MARKER):
            got = json.loads(line[len(_MARKER):])
            return {k: v if isinstance(v, str) else Result.from_json(v) for k, v in got.items()}
    tail = (err.strip().splitlines() or ["no output"])[-1]
    return {"error": error or f"exit {process.returncode}: {tail[:120]}"}


def _kill_tagged(group: int, tag: str) -> None:
    """SIGKILL the process group `group` and every process whose environment has `tag`."""
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signal.SIGKILL)
    needle = f"{_PEER_TAG}={tag}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, ValueError):
            pass  # gone already, or not ours to read


def _peer_cells(quick: bool) -> dict[str, dict[str, Result | str]]:
    """{"ask" | "tell": {peer: cell}} for the rows."""
    cells: dict[str, dict[str, Result | str]] = {"ask": {}, "tell": {}}
    for name in PEER_COUNTS:
        got = _peer(name, quick)
        gathered = got.pop("tell_gathered", None)
        tell = got.get("tell")
        if isinstance(tell, Result):
            tell.note = {"thespian": "system.tell from outside (synchronous) one by one",
                         "xoscar": "await ref.add.tell(i) one by one"}[name]
            if isinstance(gathered, Result):
                # xoscar's tell is a coroutine: give it the better of awaiting each in
                # turn and gathering them all, and say which it was.
                tell.note += f"; gathered: {gathered.value:.0f}/s"
                if gathered.value > tell.value:
                    gathered.note = f"tells gathered; awaited one by one: {tell.value:.0f}/s"
                    got["tell"] = gathered
        for figure in cells:
            value = got.get(figure)
            cells[figure][name] = value if isinstance(value, Result) else (
                f"n/a ({got.get('error') or value or 'no figure'})")
    return cells


def run(quick: bool = False) -> list[Row]:
    """Both figures as rows for `python -m bench`'s table."""
    measured = _measure(quick)
    peers = _peer_cells(quick)
    return [
        Row("remote ask, sequential", "round trips/s", ours=measured["ask"],
            trio=measured["ask_trio"], baseline=measured["ask_raw"],
            baseline_name="raw asyncio TCP echo, msgspec frames (bench.raw_tcp)",
            peers=peers["ask"],
            targets=[Target(">=0.85x baseline", "baseline", 0.85)], paired=True),
        Row("remote tell, pipelined", "msgs/s", ours=measured["tell"],
            trio=measured["tell_trio"], baseline=measured["tell_raw"],
            baseline_name="raw asyncio TCP pipelined frames (bench.raw_tcp)",
            peers=peers["tell"],
            targets=[Target(">=0.5x baseline", "baseline", 0.5),
                     Target(">=200k/s", "absolute", 200_000)], paired=True),
        Row("remote tell vs local tell", "msgs/s", ours=measured["tell"],
            baseline=measured["tell_local"],
            baseline_name="the same tells to a sink in this process (local tell, this run)",
            targets=[Target(">=0.6x baseline", "baseline", 0.6)], paired=True),
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
        write_json(RESULTS, rows, {"asks": ASKS, "tells": TELLS, "yield_every": YIELD_EVERY,
                                   "rounds": ROUNDS, "peer_counts": PEER_COUNTS},
                   quick=False)
        print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
