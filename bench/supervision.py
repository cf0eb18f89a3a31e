"""Supervision: how fast a failed actor serves again, and how fast a big tree starts and stops.

Two figures, each on asyncio and on trio, each in a fresh event loop:

- restart latency: a supervised worker (one_for_one, no back-off) raises in its
  handler; the clock runs from the raise (taken inside the handler) to the moment its
  fresh instance starts handling the next message, which was already queued. That
  covers the failure report, the teardown, the rebuild, ``on_restart`` and the
  dispatch. Median and p99 over 1000 restarts, after 100 unmeasured ones.
- a tree of 10,000 workers under 100 supervisors (under one root): start is the time
  from ``system.spawn(tree)`` to the last ``on_start``; shutdown is the time from
  stopping the root to the root's ``Terminated`` (every ``on_stop`` has run, children
  before parents, last started first). Best of three trees.

Times come from ``time.perf_counter`` (its resolution is in each row's note).
Targets (issue 3): restart median < 200 µs; start and shutdown each < 1 s.

Run alone with ``python -m bench.supervision`` (``--quick`` for a smoke run): it prints
the table and writes ``bench/results/supervision.json``. ``python -m bench`` finds
`run` by itself and runs it as one of its extra modules.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

import anyio

from actors import Actor, ActorRef, Terminated
from bench._harness import REPEATS, Result
from bench.report import Row, Target, format_table, write_json
from runtime import ActorSystem
from supervisors import Child, Supervisor

__all__ = ("main", "run")

RESTARTS = 1000
WARMUP = 100
SUPERVISORS = 100
WORKERS_PER_SUPERVISOR = 100
BACKENDS = ("asyncio", "trio")
RESULTS = Path(__file__).parent / "results" / "supervision.json"
_RESOLUTION = time.get_clock_info("perf_counter").resolution


class _Crashing(Actor[str]):
    """Raises on "crash" (noting when); notes when it serves anything else."""

    def __init__(self, stamps: dict[str, float]) -> None:
        self.stamps = stamps

    def on_restart(self, reason: BaseException) -> None:
        return None

    def receive(self, message: str) -> None:
        if message == "crash":
            self.stamps["failed"] = time.perf_counter()
            raise RuntimeError("crash")
        self.stamps["served"] = time.perf_counter()


async def _restart_latencies(n: int) -> list[float]:
    stamps: dict[str, float] = {}
    latencies: list[float] = []
    async with ActorSystem("bench") as system:
        system.spawn(Supervisor("root", max_restarts=10 * (n + WARMUP), within=3600.0,
                                children=[Child(_Crashing, stamps, name="w")]))
        ref = system.registry.whereis("w")
        assert ref is not None
        for index in range(n + WARMUP):
            ref.tell("crash")
            await ref.ask("serve", timeout=5.0)  # queued behind the crash
            if index >= WARMUP:
                latencies.append(stamps["served"] - stamps["failed"])
    return latencies


class _Counted(Actor[Any]):
    """A worker that counts its on_start and on_stop calls in a shared tally."""

    def __init__(self, tally: _Tally) -> None:
        self.tally = tally

    def on_start(self) -> None:
        self.tally.started()

    def on_stop(self, reason: BaseException | None) -> None:
        self.tally.stopped += 1

    def receive(self, message: Any) -> None:
        return None


class _Tally:
    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.count = 0
        self.stopped = 0
        self.all_started = anyio.Event()
        self.at = 0.0

    def started(self) -> None:
        self.count += 1
        if self.count == self.expected:
            self.at = time.perf_counter()
            self.all_started.set()


class _Watcher(Actor[Any]):
    def __init__(self, done: anyio.Event, stamps: dict[str, float]) -> None:
        self.done = done
        self.stamps = stamps

    def receive(self, message: Any) -> None:
        if isinstance(message, Terminated):
            self.stamps["terminated"] = time.perf_counter()
            self.done.set()
        elif isinstance(message, ActorRef):
            self.context.watch(message)


async def _tree_times(supervisors: int, workers: int) -> tuple[float, float]:
    """Seconds to start and to shut down one tree of `supervisors` x `workers`."""
    tally = _Tally(supervisors * workers)
    tree = Supervisor("root", children=[
        Supervisor(f"s{index}", children=[Child(_Counted, tally) for _ in range(workers)])
        for index in range(supervisors)
    ])
    async with ActorSystem("bench", shutdown_timeout=60.0) as system:
        done = anyio.Event()
        stamps: dict[str, float] = {}
        watcher = system.spawn(_Watcher, done, stamps)
        began = time.perf_counter()
        root = system.spawn(tree)
        await tally.all_started.wait()
        start = tally.at - began
        watcher.tell(root)
        await watcher.ask(None)  # the watch is in place
        began = time.perf_counter()
        system.stop(root)
        await done.wait()
        shutdown = stamps["terminated"] - began
        assert tally.stopped == tally.expected
    return start, shutdown


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _measure(backend: str, quick: bool) -> dict[str, Result]:
    n = RESTARTS // 10 if quick else RESTARTS
    latencies = anyio.run(_restart_latencies, n, backend=backend)
    micro = [latency * 1e6 for latency in latencies]
    note = f"µs, perf_counter resolution {_RESOLUTION * 1e9:g} ns"
    results = {
        "restart_median": Result(statistics.median(micro), n, note),
        "restart_p99": Result(_percentile(micro, 0.99), n, note),
    }
    supervisors = SUPERVISORS // 10 if quick else SUPERVISORS
    starts: list[float] = []
    stops: list[float] = []
    for _ in range(1 if quick else REPEATS):
        start, stop = anyio.run(_tree_times, supervisors, WORKERS_PER_SUPERVISOR,
                                backend=backend)
        starts.append(start)
        stops.append(stop)
    size = supervisors * WORKERS_PER_SUPERVISOR
    note = f"ms, best of {len(starts)} trees of {supervisors} x {WORKERS_PER_SUPERVISOR}"
    starts = [seconds * 1e3 for seconds in starts]
    stops = [seconds * 1e3 for seconds in stops]
    results["tree_start"] = Result(min(starts), size, note, starts)
    results["tree_shutdown"] = Result(min(stops), size, note, stops)
    return results


def run(quick: bool = False) -> list[Row]:
    """Both figures on both backends, as rows for `python -m bench`'s table."""
    measured = {backend: _measure(backend, quick) for backend in BACKENDS}

    def row(figure: str, unit: str, key: str, target: Target) -> Row:
        return Row(figure, unit, ours=measured["asyncio"][key], trio=measured["trio"][key],
                   targets=[target], higher_is_better=False)

    tree = "1k workers / 10 supervisors" if quick else "10k workers / 100 supervisors"
    return [
        row("restart latency, median", "µs", "restart_median",
            Target("<200 µs", "absolute", 200.0)),
        row("restart latency, p99", "µs", "restart_p99", Target("<1 ms", "absolute", 1000.0)),
        row(f"start {tree}", "ms", "tree_start", Target("<1 s", "absolute", 1000.0)),
        row(f"shut down {tree}", "ms", "tree_shutdown", Target("<1 s", "absolute", 1000.0)),
    ]


def main(argv: list[str] | None = None) -> int:
    """Print the figures; a full run (not ``--quick``) writes them to `RESULTS`."""
    quick = "--quick" in (sys.argv[1:] if argv is None else argv)
    rows = run(quick=quick)
    print(format_table(rows))
    for row in rows:
        for backend, cell in (("asyncio", row.ours), ("trio", row.trio)):
            if isinstance(cell, Result):
                print(f"{row.figure} [{backend}]: {cell.value:.6g} {cell.note} (n={cell.n})")
    if not quick:
        write_json(RESULTS, rows, {"restarts": RESTARTS, "warmup": WARMUP,
                                   "supervisors": SUPERVISORS,
                                   "workers_per_supervisor": WORKERS_PER_SUPERVISOR,
                                   "perf_counter_resolution_s": _RESOLUTION}, quick=False)
        print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
