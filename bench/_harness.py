"""Shared plumbing for the benchmarks: results, best-of-N timing, memory probes, children.

Every benchmark module reports `Result`s (a value and the count it was measured over);
`bench.report` turns them into `Row`s. Work that may hang or crash (the peers) runs in a
child process through `run_child`, which the module itself serves when executed as
``python -m bench._harness MODULE FUNCTION KWARGS_JSON``.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import inspect
import json
import os
import signal
import statistics
import subprocess
import sys
import tracemalloc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = (
    "REPEATS",
    "Result",
    "TracedBytes",
    "best_rate",
    "best_rates",
    "child_result",
    "collect",
    "paired_ratio",
    "ratio_range",
    "rss_bytes",
    "run_child",
    "run_child_json",
)

# Every timed figure is the best of this many runs: the best run is the one least
# disturbed by the rest of the machine, which is what a comparison between libraries needs.
REPEATS = 3
_MARKER = "BENCH-RESULT "


@dataclass
class Result:
    """One figure: `value` in the row's unit, measured over `n` operations."""

    value: float
    n: int
    note: str = ""
    runs: list[float] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Result:
        return cls(float(data["value"]), int(data["n"]), str(data.get("note", "")),
                   [float(x) for x in data.get("runs", [])])


def best_rate(n: int, run_once: Callable[[], float], repeats: int = REPEATS) -> Result:
    """Call `run_once()` (which returns the seconds `n` operations took) `repeats` times
    and keep the best rate, in operations per second."""
    return best_rates(n, {"": run_once}, repeats)[""]


def best_rates(
    n: int, runs: Mapping[str, Callable[[], float]], repeats: int = REPEATS
) -> dict[str, Result]:
    """`best_rate` for several contenders, taking turns: ours, baseline, ours, ...

    On a shared machine the background load drifts over seconds; taking turns exposes
    every contender to the same drift, so their ratio holds even when the rates move.
    """
    rates: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run_once in runs.items():
            # Collect first so that one run's garbage is not charged to the next.
            gc.collect()
            seconds = run_once()
            rates[name].append(n / seconds if seconds > 0 else float("inf"))
    return {name: Result(max(r), n, runs=[round(x) for x in r]) for name, r in rates.items()}


def paired_ratio(ours: Result, baseline: Result) -> float | None:
    """The median of the per-round ratios ours / baseline, for runs that took turns
    (`best_rates`): round i of each ran under the same load, so each round's ratio
    holds when the machine's load drifts, and the median drops a disturbed round.
    None if the two do not have the same number of runs."""
    ratios = _round_ratios(ours, baseline)
    return statistics.median(ratios) if ratios else None


def ratio_range(ours: Result, baseline: Result) -> tuple[float, float] | None:
    """The lowest and highest per-round ratio (see `paired_ratio`)."""
    ratios = _round_ratios(ours, baseline)
    return (min(ratios), max(ratios)) if ratios else None


def _round_ratios(ours: Result, baseline: Result) -> list[float]:
    if not ours.runs or len(ours.runs) != len(baseline.runs):
        return []
    return [a / b for a, b in zip(ours.runs, baseline.runs, strict=True) if b]


def rss_bytes() -> int:
    """Resident set size of this process; /proc is exact where resource only gives peaks."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class TracedBytes:
    """Bytes the Python allocator holds for what was created inside the ``with`` block.

    tracemalloc counts every live Python allocation, so unlike RSS it does not depend on
    whether earlier runs left free arenas behind; it misses C stacks of threads, which is
    why the peers also report an RSS figure.
    """

    def __init__(self) -> None:
        self.bytes = 0

    def __enter__(self) -> TracedBytes:
        gc.collect()
        tracemalloc.start()
        self._start = tracemalloc.get_traced_memory()[0]
        return self

    def __exit__(self, *exc: object) -> None:
        gc.collect()
        self.bytes = tracemalloc.get_traced_memory()[0] - self._start
        tracemalloc.stop()


def _to_json(value: Any) -> Any:
    if hasattr(value, "to_json"):  # Result, bench.report.Row
        return value.to_json()
    raise TypeError(f"cannot send a {type(value).__qualname__} from a benchmark child")


def child_result(results: Mapping[str, Any]) -> None:
    """Print `results` where `run_child` in the parent looks for them."""
    print(_MARKER + json.dumps(results, default=_to_json), flush=True)


def run_child(
    module: str, function: str, kwargs: Mapping[str, Any], timeout: float
) -> dict[str, Result | str]:
    """Run ``module.function(**kwargs)`` in a fresh interpreter with a deadline.

    The function returns a mapping of figure keys to `Result`s (or to a reason string).
    A child that times out, crashes or prints nothing usable comes back as a reason
    string under the key ``"error"``, so one broken peer never stops the whole run.
    """
    raw = run_child_json(module, function, kwargs, timeout)
    return {k: v if isinstance(v, str) else Result.from_json(v) for k, v in raw.items()}


def run_child_json(
    module: str, function: str, kwargs: Mapping[str, Any], timeout: float,
    root: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """`run_child` without decoding: the child's mapping as JSON values.

    It runs in `root` (this source tree unless given) with that tree first on its path.
    The child leads a process group of its own, and the whole group is killed when it
    is done, times out or the parent is interrupted: a module that starts processes
    (bench.mesh's nodes) leaves none behind even when it is killed at its deadline.
    """
    cmd = [sys.executable, "-m", "bench._harness", module, function, json.dumps(dict(kwargs))]
    env = None
    if root is None:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    else:  # another source tree (bench.ab): its packages, not this one's
        env = {**os.environ, "PYTHONPATH": os.fspath(root)}
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True, cwd=root, env=env)
    try:
        stdout, stderr = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(child.pid)
        child.communicate()
        return {"error": f"timed out after {timeout:.0f} s"}
    except BaseException:
        _kill_group(child.pid)
        child.communicate()
        raise
    _kill_group(child.pid)  # whatever the child started and left running
    done = subprocess.CompletedProcess(cmd, child.returncode, stdout, stderr)
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(_MARKER):
            raw: dict[str, Any] = json.loads(line[len(_MARKER):])
            return raw
    tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
    return {"error": f"exit {done.returncode}: {tail[:120]}"}


def _kill_group(group: int) -> None:
    # The kernel does not reuse a pid while a process group of that id has members, so
    # this reaches only what the child started.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signal.SIGKILL)


def collect(
    module: str, function: str, kwargs: Mapping[str, Any], keys: Sequence[str], timeout: float
) -> dict[str, Result | str]:
    """`run_child`, keeping `keys` and marking each missing one "n/a (reason)"."""
    got = run_child(module, function, kwargs, timeout)
    cells: dict[str, Result | str] = {}
    for key in keys:
        value = got.get(key)
        cells[key] = value if isinstance(value, Result) else (
            f"n/a ({got.get('error') or value or 'no figure'})")
    return cells


def _serve_child(argv: list[str]) -> int:
    module_name, function_name, raw_kwargs = argv
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        # A peer that is not installed is a reason to print, not a crash.
        child_result({"error": f"cannot import {exc.name or module_name}: {exc}"})
        return 0
    function = getattr(module, function_name)
    results = function(**json.loads(raw_kwargs))
    if inspect.isawaitable(results):
        raise TypeError(f"{module_name}.{function_name} must be a plain function")
    child_result(results)
    return 0


if __name__ == "__main__":
    # Run the imported copy of this module, not __main__: the benchmark modules import
    # bench._harness, and their Results must be instances of the class child_result knows.
    from bench import _harness

    sys.exit(_harness._serve_child(sys.argv[1:]))
