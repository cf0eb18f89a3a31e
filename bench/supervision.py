"""Supervision: how fast a failed actor serves again, and how fast a big tree starts and stops.

Each figure on asyncio and on trio, each run in a fresh event loop:

- restart latency: a supervised worker (one_for_one, no back-off) raises in its
  handler; the clock runs from the raise (taken inside the handler) to the moment its
  fresh instance starts handling the next message, which was already queued. That
  covers the crash report, the teardown, the rebuild, ``on_restart`` and the dispatch.
  The crash report is emitted as a user's node emits it: the handler and text format of
  ``repertory node`` (`runtime.cli.logs.configure`), written to a log file (a service's
  stderr is a file or a pipe, not a terminal); the bench checks that every restart
  logged its report. The baseline is the same restart with the report not logged
  (``repertory.supervision`` above ERROR; the report is still built for the web view),
  in turns with it: `ROUNDS` rounds of each, A B A B, so the paired ratio is the report's
  share. Median and p99 over all rounds, after unmeasured warm-up restarts in each. The
  p99 is given twice: in wall-clock time, and in the worker thread's CPU time over the
  same span (`time.thread_time`), which leaves out the moments another process held the
  core; on a quiet machine the two agree, on a loaded one the wall-clock p99 is the
  machine's scheduler (a restart that straddles a time slice waits it out).
- a tree of 10,000 workers under 100 supervisors (under one root): start is the time
  from ``system.spawn(tree)`` to the last ``on_start``; shutdown is the time from
  stopping the root to the root's ``Terminated`` (every ``on_stop`` has run, children
  before parents, last started first). Best of three trees.

Times come from ``time.perf_counter`` (its resolution is in each row's note).
Targets (issue 3): restart median < 200 µs, p99 < 1 ms; start and shutdown each < 1 s.

Run alone with ``python -m bench.supervision`` (``--quick`` for a smoke run): it prints
the table and writes ``bench/results/supervision.json``. ``python -m bench`` finds
`run` by itself and runs it as one of its extra modules.
"""

from __future__ import annotations

import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

from actors import Actor, ActorRef, Terminated
from bench._harness import REPEATS, Result
from bench.report import Row, Target, format_table, write_json
from runtime import ActorSystem
from runtime.cli.logs import configure
from supervisors import Child, Supervisor

__all__ = ("main", "run")

RESTARTS = 1000  # measured per side (report logged / not logged), over all rounds
ROUNDS = 5
WARMUP = 50  # per round
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
            self.stamps["failed_cpu"] = time.thread_time()
            raise RuntimeError("crash")
        self.stamps["served_cpu"] = time.thread_time()
        self.stamps["served"] = time.perf_counter()


async def _restart_latencies(n: int) -> tuple[list[float], list[float]]:
    """`n` restarts after `WARMUP`: each one's wall-clock and CPU seconds."""
    stamps: dict[str, float] = {}
    wall: list[float] = []
    cpu: list[float] = []
    async with ActorSystem("bench") as system:
        system.spawn(Supervisor("root", max_restarts=10 * (n + WARMUP), within=3600.0,
                                children=[Child(_Crashing, stamps, name="w")]))
        ref = system.registry.whereis("w")
        assert ref is not None
        for index in range(n + WARMUP):
            ref.tell("crash")
            await ref.ask("serve", timeout=5.0)  # queued behind the crash
            if index >= WARMUP:
                wall.append(stamps["served"] - stamps["failed"])
                cpu.append(stamps["served_cpu"] - stamps["failed_cpu"])
    return wall, cpu


def _restarts(backend: str, n: int, logged: bool, log_file: Path) -> tuple[list[float], ...]:
    """One round: `n` restarts with the crash report logged as ``repertory node`` logs
    it (to `log_file`), or with ``repertory.supervision`` above ERROR."""
    root = logging.getLogger()
    kept = (list(root.handlers), root.level)
    supervision = logging.getLogger("repertory.supervision")
    level = supervision.level
    with log_file.open("a") as stream:
        configure("info", "text", stream)
        supervision.setLevel(logging.NOTSET if logged else logging.CRITICAL)
        try:
            before = stream.tell()
            latencies = anyio.run(_restart_latencies, n, backend=backend)
            stream.flush()
        finally:
            supervision.setLevel(level)
            for handler in list(root.handlers):
                root.removeHandler(handler)
            for handler in kept[0]:
                root.addHandler(handler)
            root.setLevel(kept[1])
    with log_file.open() as logged_text:
        logged_text.seek(before)
        reports = sum("failed handling a str" in line for line in logged_text)
    expected = n + WARMUP if logged else 0
    assert reports == expected, f"{reports} crash reports logged, expected {expected}"
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


def _measure_restarts(backend: str, quick: bool) -> dict[str, Result]:
    """Restarts with the report logged and not logged, in turns (A B A B)."""
    per_round = (RESTARTS // 10 if quick else RESTARTS) // ROUNDS
    load = os.getloadavg()[0]
    sides: dict[bool, list[tuple[list[float], list[float]]]] = {True: [], False: []}
    with tempfile.TemporaryDirectory(prefix="bench-supervision-") as folder:
        log_file = Path(folder) / "node.log"
        for _ in range(ROUNDS):
            for logged in (True, False):
                wall, cpu = _restarts(backend, per_round, logged, log_file)
                sides[logged].append(([t * 1e6 for t in wall], [t * 1e6 for t in cpu]))
    results: dict[str, Result] = {}
    n = per_round * ROUNDS
    for logged, rounds in sides.items():
        key = "" if logged else "_unlogged"
        wall = [t for round_wall, _ in rounds for t in round_wall]
        cpu = [t for _, round_cpu in rounds for t in round_cpu]
        note = (f"µs, {ROUNDS} rounds of {per_round}, load average {load:.1f} on "
                f"{os.cpu_count()} cores; perf_counter resolution {_RESOLUTION * 1e9:g} ns")
        results["restart_median" + key] = Result(
            statistics.median(wall), n, note,
            [round(statistics.median(w), 1) for w, _ in rounds])
        results["restart_p99" + key] = Result(
            _percentile(wall, 0.99), n, note,
            [round(_percentile(w, 0.99), 1) for w, _ in rounds])
        results["restart_p99_cpu" + key] = Result(
            _percentile(cpu, 0.99), n, "of the loop thread's CPU time, " + note,
            [round(_percentile(c, 0.99), 1) for _, c in rounds])
    return results


def _measure(backend: str, quick: bool) -> dict[str, Result]:
    results = _measure_restarts(backend, quick)
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

    def row(figure: str, unit: str, key: str, target: Target, baseline: str = "") -> Row:
        return Row(figure, unit, ours=measured["asyncio"][key], trio=measured["trio"][key],
                   targets=[target], higher_is_better=False,
                   baseline=measured["asyncio"][key + "_unlogged"] if baseline else None,
                   baseline_name=baseline, paired=bool(baseline))

    tree = "1k workers / 10 supervisors" if quick else "10k workers / 100 supervisors"
    unlogged = "same restart, report not logged (asyncio)"
    return [
        row("restart latency, median (crash report logged to a file, CLI text format)",
            "µs", "restart_median", Target("<200 µs", "absolute", 200.0), unlogged),
        row("restart latency, p99, wall clock", "µs", "restart_p99",
            Target("<1 ms", "absolute", 1000.0), unlogged),
        row("restart latency, p99, on-CPU time (without other processes' slices)", "µs",
            "restart_p99_cpu", Target("<1 ms", "absolute", 1000.0), unlogged),
        row(f"start {tree}", "ms", "tree_start", Target("<1 s", "absolute", 1000.0)),
        row(f"shut down {tree}", "ms", "tree_shutdown", Target("<1 s", "absolute", 1000.0)),
    ]


def main(argv: list[str] | None = None) -> int:
    """Print the figures; a full run (not ``--quick``) writes them to `RESULTS`."""
    quick = "--quick" in (sys.argv[1:] if argv is None else argv)
    rows = run(quick=quick)
    print(format_table(rows))
    for row in rows:
        cells = [("asyncio", row.ours), ("trio", row.trio)]
        if row.baseline is not None:
            cells.append(("asyncio, " + row.baseline_name, row.baseline))
        for backend, cell in cells:
            if isinstance(cell, Result):
                print(f"{row.figure} [{backend}]: {cell.value:.6g} {cell.note} (n={cell.n}, "
                      f"per round {cell.runs})")
    if not quick:
        write_json(RESULTS, rows, {"restarts": RESTARTS, "rounds": ROUNDS,
                                   "warmup_per_round": WARMUP,
                                   "supervisors": SUPERVISORS,
                                   "workers_per_supervisor": WORKERS_PER_SUPERVISOR,
                                   "perf_counter_resolution_s": _RESOLUTION}, quick=False)
        print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
