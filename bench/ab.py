"""A/B: the local hot paths of two source trees, measured in turns in one run.

``python -m bench.ab OLD_TREE [NEW_TREE] [--rounds N]`` runs `bench.local`'s tell and
ask figures (sync handler) on both anyio backends (``--only`` picks one of those, or
``ask_async`` or ``spawn``, which the default run leaves out), each run in a fresh child process
whose ``PYTHONPATH`` is one tree, taking turns old, new, old, new... so that both see
the same drift of a shared machine. It prints, per figure, each side's median rate and
the median of the per-round ratios new/old (1.00 = unchanged). Rates are per second of
the child's CPU time, not wall time: the event loop runs on one thread, and on a shared
machine CPU time does not count the moments another process held the core. Make OLD_TREE with
``git worktree add /tmp/old <commit>`` (or ``git archive <commit> | tar -x -C DIR``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

__all__ = ("main",)

# Smaller than the suite's counts: many short turns beat few long ones against drift.
COUNTS = {"tell": 100_000, "ask": 10_000, "ask_async": 10_000, "spawn": 20_000}
DEFAULT = ("tell", "ask")

_CHILD = """
import json, sys, time
import anyio
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

works = {"tell": tell, "ask": asks(_Echo), "ask_async": asks(_AsyncEcho), "spawn": spawn}
run = _on(backend, works[figure])
print(json.dumps(max(n / run() for _ in range(3))))
"""


def _rate(tree: Path, figure: str, backend: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, figure, backend, str(COUNTS[figure])],
        cwd=tree, env=env, capture_output=True, text=True, check=True, timeout=300,
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__)
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path, nargs="?", default=Path(__file__).parent.parent)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", choices=sorted(COUNTS), help="one figure")
    args = parser.parse_args(argv)
    print(f"old: {args.old}\nnew: {args.new}\n")
    for backend in ("asyncio", "trio"):
        for figure in [args.only] if args.only else DEFAULT:
            old: list[float] = []
            new: list[float] = []
            for _ in range(args.rounds):
                old.append(_rate(args.old.resolve(), figure, backend))
                new.append(_rate(args.new.resolve(), figure, backend))
            ratio = statistics.median(b / a for a, b in zip(old, new, strict=True))
            print(
                f"{backend:8} {figure:5} old {statistics.median(old):>11,.0f}/s  "
                f"new {statistics.median(new):>11,.0f}/s  new/old {ratio:.3f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
