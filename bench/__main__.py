"""``python -m bench``: run the benchmarks and print one table; ``make bench`` calls it.

The local suite (``baselines``, ``local``, ``peers``) fills one table and writes
``bench/results/local.json``. Any other public module in ``bench/`` that defines
``run(quick: bool = False) -> list[bench.report.Row]`` (or a mapping of names to
`bench._harness.Result`s) is run after it, in a child process with a deadline
(`EXTRA_TIMEOUT`), printed as its own table, and written to
``bench/results/<module>.json``. Each module's time is printed with its table.

The run ends with issue 15's table (`bench._summary`: each target's figure beside its
same-run baseline, the paired ratio, its ranges, whether it held, the peers) and every
other row that has a target; a full run writes them to ``bench/results/summary.json``
and its judged figures to ``bench/results/history.json``, for the range over runs.

Options: ``--quick`` (counts divided by 10, a smoke run that writes nothing unless
``--output`` is given) and ``--only NAME`` (one module; ``local`` and ``peers`` still
measure the baselines, which take two seconds, so their ratios mean something).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pkgutil
import re
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import baselines, peers
from bench._harness import Result, run_child, run_child_json
from bench._plan import LOCAL_COUNTS, run_local
from bench._summary import (
    build_summary,
    format_lines,
    format_other,
    history_entry,
    other_targets,
    summary_json,
)
from bench.report import Row, Target, format_table, legend, write_json

SUITE = ("baselines", "local", "peers")
RESULTS = Path(__file__).parent / "results"
# Each full run's judged figures, for issue 15's range over the last three runs.
HISTORY = RESULTS / "history.json"
HISTORY_KEEP = 30
# What the figures depend on, for telling runs of the same code apart (`_code_version`).
_CODE = ("actors", "runtime", "supervisors", "bench", "pyproject.toml")
# Seconds each other module may take before it is killed and shows as n/a. A deadline
# only guards against a hang: it is about three times what the module took on this
# 2-core machine with every core busy (routing_rules 45+ s, routing 90 s, mesh 85 s,
# cluster 55 s), so that load makes a module slow, not missing. Modules with deadlines
# of their own get more than those add up to, so that their own message comes through
# (mesh: START + FORM + DETECT deadlines for each of its two meshes).
EXTRA_TIMEOUT = 240.0
EXTRA_TIMEOUTS = {"cluster": 400.0, "mesh": 900.0, "routing": 600.0, "routing_rules": 300.0,
                  "streams": 400.0}
Cells = Mapping[str, Result | str]
_RUN = re.compile(r"^def run\(", re.MULTILINE)


def _extra_modules() -> list[str]:
    """Public modules of bench/ that define ``run`` (read from their source: importing
    them here would import the runtime into the parent)."""
    folder = Path(__file__).parent
    names = (m.name for m in pkgutil.iter_modules([str(folder)]))
    return sorted(n for n in names if not n.startswith("_") and n not in (*SUITE, "report")
                  and _RUN.search((folder / f"{n}.py").read_text()))


def build_rows(base: Cells, ours: Mapping[str, Cells], peer: Mapping[str, Cells]) -> list[Row]:
    """The local table: Repertory on asyncio (and trio) beside baseline and peers."""

    def row(figure: str, unit: str, key: str, base_key: str | None, base_name: str,
            targets: list[Target], higher_is_better: bool = True, peer_key: str = "") -> Row:
        on_asyncio = ours.get("asyncio", {})
        # Prefer the baseline runs taken in turn with ours, in the same child process.
        same_process = on_asyncio.get(f"{key}_baseline")
        baseline = same_process if isinstance(same_process, Result) else (
            base.get(base_key) if base_key else None)
        return Row(
            figure, unit,
            ours=on_asyncio.get(key),
            baseline=baseline,
            paired=isinstance(same_process, Result),
            baseline_name=base_name,
            trio=ours.get("trio", {}).get(key),
            peers={name: cells[peer_key or key] for name, cells in peer.items()
                   if (peer_key or key) in cells},
            targets=targets,
            higher_is_better=higher_is_better,
        )

    # The rates' baselines run in turn with ours in the same child (bench.local).
    ask_targets = [Target(">=0.5x baseline", "baseline", 0.5),
                   Target("1.0x aim", "baseline", 1.0)]
    one_kb = [Target("<=1 KB", "absolute", 1024)]
    return [
        # Issue 15's targets: tell >= 1.5x its baseline, a sync ask >= 1.0x (paired).
        row("tell throughput", "msgs/s", "tell", "tell", "asyncio.Queue one-way",
            [Target(">=1.5x baseline", "baseline", 1.5), Target(">=5x pykka", "pykka", 5.0)]),
        row("ask, sync receive", "round trips/s", "ask", "ask", "asyncio.Queue ping-pong",
            [Target(">=1.0x baseline", "baseline", 1.0)]),
        row("ask, async receive", "round trips/s", "ask_async", "ask",
            "asyncio.Queue ping-pong", ask_targets, peer_key="ask"),
        row("spawn (until on_start)", "actors/s", "spawn", "spawn",
            "building objects with a deque each", [Target(">=100k/s", "absolute", 100_000)]),
        row("idle actor, traced heap", "bytes/actor", "idle_bytes", "idle_bytes",
            "an object with an empty deque", one_kb, higher_is_better=False),
        row("idle actor, RSS delta", "bytes/actor", "idle_rss", None, "", one_kb,
            higher_is_better=False),
    ]


def run_suite(only: str | None, quick: bool) -> tuple[list[Row], dict[str, Any]]:
    """Baselines, Repertory and peers, each measured in child processes, as one table."""
    raw: dict[str, Any] = {}
    started = time.perf_counter()
    print("baselines ...", file=sys.stderr, flush=True)
    base = run_child("bench.baselines", "run", {"quick": quick}, timeout=120)
    raw["baselines"] = base
    ours: Mapping[str, Cells] = {}
    if only in (None, "local"):
        print("repertory (asyncio, trio) ...", file=sys.stderr, flush=True)
        ours = run_local(quick=quick)
        raw["local"] = ours
    found: dict[str, Cells] = {}
    if only in (None, "peers"):
        for name in peers.MODULES:
            print(f"{name} ...", file=sys.stderr, flush=True)
            found[name] = peers.run_peer(name, quick=quick, timeout=30.0 if quick else 60.0)
        raw["peers"] = found
        raw["peer_counts"] = peers.COUNTS
    raw["local_counts"] = LOCAL_COUNTS
    raw["baseline_counts"] = {"one_way": baselines.ONE_WAY, "ping_pong": baselines.PING_PONG,
                              "objects": baselines.SPAWN}
    raw["seconds"] = round(time.perf_counter() - started, 1)
    return build_rows(base, ours, found), raw


def run_extra(name: str, quick: bool) -> list[Row]:
    """Another team's module, in a child with a deadline: its rows, or one row saying
    why there are none, so that one slow or broken module cannot stall the run."""
    timeout = EXTRA_TIMEOUTS.get(name, EXTRA_TIMEOUT)
    timeout = timeout / 2 if quick else timeout
    got = run_child_json("bench.report", "module_rows", {"name": name, "quick": quick}, timeout)
    if "skipped" in got:
        print(f"{got['skipped']}: not a benchmark, skipped", file=sys.stderr)
        return []
    if "rows" not in got:
        return [Row(name, "", f"n/a ({got.get('error', 'no rows')})")]
    return [Row.from_json(row) for row in got["rows"]]


def main(argv: Sequence[str] | None = None) -> int:
    extras = _extra_modules()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="counts / 10, for a smoke run")
    parser.add_argument("--only", choices=[*SUITE, *extras], help="run one module")
    parser.add_argument("--output", type=Path, help="where to write the local suite's JSON")
    args = parser.parse_args(argv)
    full = not (args.quick or args.only)

    started = time.perf_counter()
    load_before = _load()
    by_module: dict[str, list[Row]] = {}
    seconds: dict[str, float] = {}
    if args.only in (None, *SUITE):
        rows, raw = run_suite(args.only, args.quick)
        by_module["local"] = rows
        seconds["local"] = raw["seconds"]
        print(format_table(rows))
        if args.output or full:
            path = args.output or RESULTS / "local.json"
            write_json(path, rows, raw, quick=args.quick)
            print(f"written to {path} ({raw['seconds']} s)")
    for name in extras:
        if args.only not in (None, name):
            continue
        print(f"{name} ...", file=sys.stderr, flush=True)
        module_started = time.perf_counter()
        rows = run_extra(name, args.quick)
        if rows:
            seconds[name] = round(time.perf_counter() - module_started, 1)
            print(f"{name} took {seconds[name]:.0f} s", file=sys.stderr, flush=True)
            by_module[name] = rows
            print(f"\n{name} ({seconds[name]:.0f} s)\n{format_table(rows)}")
            # A failed run must not overwrite the last good results.
            if not args.quick and all(isinstance(row.ours, Result) for row in rows):
                write_json(RESULTS / f"{name}.json", rows, {"seconds": seconds[name]},
                           quick=args.quick)
    every = [row for rows in by_module.values() for row in rows]
    if every:
        elapsed = time.perf_counter() - started
        print(f"\nall figures ({elapsed:.0f} s)\n{format_table(every)}")
        print(legend(every))
        _summarise(by_module, seconds, elapsed, (load_before, _load()), write=full)
    return 0


def _summarise(by_module: Mapping[str, Sequence[Row]], seconds: Mapping[str, float],
               elapsed: float, load: tuple[float, float], write: bool) -> None:
    """Print issue 15's table and every other targeted row; on a full run, write them
    to summary.json and this run's figures to history.json (for the range over runs)."""
    code = _code_version()
    history = _load_history()
    same_code = [entry for entry in history if entry.get("code") == code]
    lines = build_summary(by_module, same_code)
    others = other_targets(by_module, lines)
    print(f"\n{format_lines(lines)}\n\n{format_other(others)}")
    per_module = ", ".join(f"{name} {s:.0f} s" for name, s in seconds.items())
    print(f"\ntime per module: {per_module}; total {elapsed:.0f} s ({elapsed / 60:.1f} min); "
          f"load average {load[0]:.1f} before, {load[1]:.1f} after ({os.cpu_count()} cores)")
    if not write:
        return
    every = [row for rows in by_module.values() for row in rows]
    date = datetime.now(UTC).isoformat(timespec="seconds")
    top = {**summary_json(lines, others), "code": code, "seconds": dict(seconds),
           "total_seconds": round(elapsed, 1), "load_average": load}
    write_json(RESULTS / "summary.json", every, {}, quick=False, top=top)
    history.append(history_entry(lines, code, date))
    HISTORY.write_text(json.dumps(history[-HISTORY_KEEP:], indent=1) + "\n")
    print(f"written to {RESULTS / 'summary.json'}")


def _code_version() -> str:
    """Which code the run measured: a hash of the committed source (bench/results and
    the docs aside, so committing results or docs keeps it), with "+changes-<hash>"
    when the work tree differs from it, so the range over runs mixes only runs of the
    same code."""
    root = Path(__file__).resolve().parent.parent
    paths = ["--", *_CODE, ":(exclude)bench/results"]

    def git(*command: str) -> str:
        try:
            done = subprocess.run(["git", *command], cwd=root, capture_output=True,
                                  text=True, timeout=10, check=True)
        except (OSError, subprocess.SubprocessError):
            return ""
        return done.stdout

    # ls-tree takes no pathspec magic: the results are left out here.
    tree = [line for line in git("ls-tree", "-r", "HEAD", "--", *_CODE).splitlines()
            if "\tbench/results/" not in line]
    if not tree:
        return "unknown"
    version = hashlib.sha1("\n".join(tree).encode()).hexdigest()[:12]
    changes = git("diff", "HEAD", *paths)
    if changes:
        version += "+changes-" + hashlib.sha1(changes.encode()).hexdigest()[:8]
    return version


def _load() -> float:
    """The one-minute load average: how busy the machine was around the figures."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def _load_history() -> list[dict[str, Any]]:
    try:
        loaded = json.loads(HISTORY.read_text())
    except (OSError, ValueError):
        return []
    return [entry for entry in loaded if isinstance(entry, dict)] if isinstance(
        loaded, list) else []


if __name__ == "__main__":
    sys.exit(main())
