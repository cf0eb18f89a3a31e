"""A/B: two source trees measured in turns in one run, to check that nothing got slower.

``python -m bench.ab OLD_TREE [NEW_TREE] [--rounds N] [--only FIGURE_OR_MODULE]``

Local figures (the default: all four): tell, ask (sync handler) and spawn rates, and the
memory of an idle actor (RSS delta and traced heap, bytes per actor; ``--only ask_async``
for an async handler's asks), on both anyio backends, each run in a fresh child process
whose ``PYTHONPATH`` is one tree, taking turns old, new, old, new... so that both see
the same drift of a shared machine. Rates are per second of the child's CPU time, not
wall time: the event loop runs on one thread, and on a shared machine CPU time does not
count the moments another process held the core.

``--only MODULE`` (``routing``, ``supervision``, ``cluster``...): that module's rows
(``bench.<module>.run``) from each tree in turn, figure by figure (by name). These are
the module's own figures, so wall time, and slower: use ``--rounds 3``.

Each figure prints each side's median, the median of the per-round ratios new/old and
their range; a figure that got worse by more than ``--tolerance`` (5%) is marked, and
the exit status is 1 if any did. Make OLD_TREE with ``git worktree add /tmp/old
<commit>`` (or ``git archive <commit> | tar -x -C DIR``).
"""

from __future__ import annotations

import argparse
import json
import os
import pkgutil
import statistics
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from bench._harness import run_child_json

__all__ = ("main",)

# Smaller than the suite's counts: many short turns beat few long ones against drift.
COUNTS = {"tell": 100_000, "ask": 10_000, "ask_async": 10_000, "spawn": 20_000,
          "memory": 20_000}
# What a run without --only compares (ask_async only on request).
DEFAULT = ("tell", "ask", "spawn", "memory")
# Lower is better for these local keys (bytes); the others are rates.
SMALLER_IS_BETTER = frozenset({"idle_rss", "idle_bytes"})
MODULE_TIMEOUT = 900.0

_CHILD = """
import json, sys, time
import anyio
from bench import local
from bench.local import _AsyncEcho, _Counter, _Echo, _Started, _expect_started, _on

figure, backend, n = sys.argv[1], sys.argv[2], int(sys.argv[3])

async def tell(system):
    done = anyio.Event()
    counter = system.spawn(_Counter, n, done)
    start = time.process_time()
    for i in range(n):
        counter.tell(i)
    await done.wait()
    return time.process_time() - start

def asks(actor_class):
    async def ask(system):
        echo = system.spawn(actor_class)
        await echo.ask(-1, timeout=5.0)
        start = time.process_time()
        for i in range(n):
            await echo.ask(i, timeout=5.0)
        return time.process_time() - start
    return ask

async def spawn(system):
    all_started = _expect_started(n)
    start = time.process_time()
    refs = [system.spawn(_Started) for _ in range(n)]
    await all_started.wait()
    return time.process_time() - start

if figure == "memory":
    got = local.memory(n, backend)
    print(json.dumps({key: result.value for key, result in got.items()}))
else:
    works = {"tell": tell, "ask": asks(_Echo), "ask_async": asks(_AsyncEcho), "spawn": spawn}
    run = _on(backend, works[figure])
    print(json.dumps({figure: max(n / run() for _ in range(3))}))
"""


def _local(tree: Path, figure: str, backend: str) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, figure, backend, str(COUNTS[figure])],
        cwd=tree, env=env, capture_output=True, text=True, check=True, timeout=300,
    )
    got: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return got


def _module(tree: Path, name: str, smaller: set[str]) -> dict[str, float]:
    """``bench.<name>.run()`` in `tree`: each row's figure (asyncio), by name and unit;
    the keys of figures where lower is better are added to `smaller`."""
    got = run_child_json("bench.report", "module_rows", {"name": name, "quick": False},
                         MODULE_TIMEOUT, root=tree)
    if "rows" not in got:
        raise RuntimeError(f"bench.{name} in {tree}: {got.get('error') or got}")
    figures: dict[str, float] = {}
    for row in got["rows"]:
        ours = row.get("ours_asyncio")
        if isinstance(ours, Mapping):
            key = f"{row['figure']} [{row.get('unit', '')}]"
            figures[key] = float(ours["value"])
            if not row.get("higher_is_better", True):
                smaller.add(key)
    return figures


def _report(label: str, old: list[dict[str, float]], new: list[dict[str, float]],
            tolerance: float, smaller_is_better: frozenset[str] | set[str]) -> bool:
    """Print each figure's medians and new/old; True if one got worse than `tolerance`."""
    worse = False
    for key in old[0]:
        pairs = [(a[key], b[key]) for a, b in zip(old, new, strict=True)
                 if key in a and key in b and a[key]]
        if not pairs:
            print(f"{label} {key}: not in both trees")
            continue
        ratios = [b / a for a, b in pairs]
        ratio = statistics.median(ratios)
        smaller = key in smaller_is_better
        regressed = ratio > 1 + tolerance if smaller else ratio < 1 - tolerance
        worse |= regressed
        unit = "B" if key in ("idle_rss", "idle_bytes") else "/s" if key in COUNTS else ""
        mark = "  WORSE" if regressed else ""
        old_median = statistics.median(a for a, _ in pairs)
        new_median = statistics.median(b for _, b in pairs)
        print(f"{label} {key:24} old {_number(old_median):>11}{unit}  "
              f"new {_number(new_median):>11}{unit}  "
              f"new/old {ratio:.3f} [{min(ratios):.3f}-{max(ratios):.3f}]{mark}")
    return worse


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _modules() -> list[str]:
    names = (m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]))
    return sorted(n for n in names if not n.startswith("_") and n not in (
        "ab", "baselines", "local", "peers", "report"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__.split(
        "\n")[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path, nargs="?", default=Path(__file__).parent.parent)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", choices=[*COUNTS, *_modules()],
                        help="one local figure, or another module's figures")
    parser.add_argument("--tolerance", type=float, default=0.05,
                        help="how much worse counts as a regression (0.05: 5%%)")
    args = parser.parse_args(argv)
    old_tree, new_tree = args.old.resolve(), args.new.resolve()
    print(f"old: {old_tree}\nnew: {new_tree}\n")
    worse = False
    if args.only and args.only not in COUNTS:
        old, new, smaller = [], [], set[str]()
        for _ in range(args.rounds):
            old.append(_module(old_tree, args.only, smaller))
            new.append(_module(new_tree, args.only, smaller))
        worse = _report(args.only, old, new, args.tolerance, smaller)
        return 1 if worse else 0
    for backend in ("asyncio", "trio"):
        for figure in [args.only] if args.only else DEFAULT:
            old, new = [], []
            for _ in range(args.rounds):
                old.append(_local(old_tree, figure, backend))
                new.append(_local(new_tree, figure, backend))
            worse |= _report(f"{backend:8}", old, new, args.tolerance, SMALLER_IS_BETTER)
    if worse:
        print(f"\nworse by more than {args.tolerance:.0%} where marked")
    return 1 if worse else 0


if __name__ == "__main__":
    sys.exit(main())
