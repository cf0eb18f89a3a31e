"""A mesh of node processes on one machine: how fast it forms, what it costs idle, and
how fast the survivors see a node that was killed.

For N node processes (20 and 40; 4 with ``--quick``), each ``python -m runtime.cli
node`` on 127.0.0.1 seeded with the first, running `app` (an actor that prints each
`NodeUp` / `NodeDown` it is told with the wall-clock time, which every process on the
machine shares):

- mesh formation: seconds from the last node's ready line until every node has seen
  every other come up (a full mesh, N x (N - 1) links' worth of `NodeUp`);
- idle CPU: after the mesh formed and `SETTLE` seconds passed, the CPU time (user and
  system) each node process used over `IDLE_WINDOW` seconds, as a percentage of one
  core (psutil), mean and highest, with the wake-ups per second (voluntary context
  switches) beside it; heartbeats and the failure detector are what runs, and nothing
  of this process reaches the nodes meanwhile (it only sleeps);
- RSS per node: resident memory of each node process then, mean and highest (psutil);
- failure detection: the last node is killed with SIGKILL (no goodbye); seconds until
  every survivor has seen its `NodeDown`: the slowest survivor, and the median.

There is no baseline in the same run: these are absolute figures (issue 15's targets:
idle CPU <= 1% of a core per node at 40 nodes). Every process this starts is killed
and reaped before it returns, whatever happens.

Run alone with ``python -m bench.mesh`` (``--quick`` for a smoke run; ``--nodes 20 40``
to choose); it prints the table and writes ``bench/results/mesh.json``.
"""

from __future__ import annotations

import argparse
import os
import re
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from actors import Actor
from actors.messages import NodeDown, NodeUp
from bench._harness import Result
from bench.report import Row, Target, format_table, write_json

__all__ = ("app", "main", "run")

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "mesh.json"
COOKIE = "bench-mesh-cookie"
FULL_NODES = (20, 40)
QUICK_NODES = (4,)
# Seconds after formation before idle CPU is measured: past the 2 s for which a
# duplicate connection made during the joins stays open (RETIRE_GRACE).
SETTLE = 3.0
# The kernel counts CPU time in 10 ms ticks: over 10 s, a node at 0.3% of a core used
# three of them, so the window must not be much shorter.
IDLE_WINDOW = 10.0
START_DEADLINE = 240.0  # for all N interpreters to print ready, on a loaded machine
FORM_DEADLINE = 120.0
DETECT_DEADLINE = 60.0
_READY = re.compile(rb"^node (\S+) ready$", re.MULTILINE)
_EVENT = re.compile(rb"^MESH (up|down) (\S+) ([0-9.]+)$", re.MULTILINE)


class _Watcher(Actor[Any]):
    """Prints every membership event with the wall-clock time it arrived."""

    def on_start(self) -> None:
        self.context.system.cluster.subscribe(self.context.ref)

    def receive(self, message: Any) -> None:
        if isinstance(message, NodeUp | NodeDown):
            kind = "up" if isinstance(message, NodeUp) else "down"
            print(f"MESH {kind} {message.node} {time.time():.6f}", flush=True)


def app(system: Any) -> None:
    """The node's app (``--app bench.mesh:app``): the membership watcher."""
    system.spawn(_Watcher)


@dataclass(eq=False)
class _Node:
    process: subprocess.Popen[bytes]
    out: bytes = b""
    address: str = ""
    ups: dict[str, float] = field(default_factory=dict)  # peer -> first NodeUp (wall)
    downs: dict[str, float] = field(default_factory=dict)

    def read(self) -> None:
        """Take what the node printed so far (without blocking) and parse it."""
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        while select.select([fd], [], [], 0)[0]:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            self.out += chunk
        if not self.address and (ready := _READY.search(self.out)):
            self.address = ready.group(1).decode()
        for kind, peer, at in _EVENT.findall(self.out):
            seen = self.ups if kind == b"up" else self.downs
            seen.setdefault(peer.decode(), float(at))


@contextmanager
def _cluster(count: int) -> Iterator[list[_Node]]:
    """`count` node processes, the first the others' seed; all killed and reaped after."""
    nodes: list[_Node] = []
    with tempfile.TemporaryDirectory() as folder:
        cookie = Path(folder) / "cookie"
        cookie.write_text(COOKIE)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}

        def launch(index: int, seeds: Sequence[str]) -> _Node:
            command = [sys.executable, "-m", "runtime.cli", "node", "--name", f"m{index}",
                       "--listen", "127.0.0.1:0", "--cookie-file", str(cookie),
                       "--app", "bench.mesh:app", "--log-level", "error",
                       *(f"--seed={seed}" for seed in seeds)]
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                       stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
            node = _Node(process)
            nodes.append(node)
            return node

        try:
            seed = launch(0, ())
            _wait(lambda: bool(seed.address), [seed], START_DEADLINE, "the seed node to start")
            for index in range(1, count):
                launch(index, (seed.address.split("@", 1)[1],))
            yield nodes
        finally:
            for node in nodes:
                if node.process.poll() is None:
                    node.process.kill()
            for node in nodes:
                node.process.wait(10)
                assert node.process.stdout is not None
                node.process.stdout.close()


def _wait(done: Any, nodes: Sequence[_Node], deadline: float, what: str) -> float:
    """Poll the nodes' output until `done()`; the wall-clock time it held. Raises
    TimeoutError after `deadline` seconds, naming `what`."""
    until = time.monotonic() + deadline
    while True:
        for node in nodes:
            node.read()
        if done():
            return time.time()
        if time.monotonic() > until:
            raise TimeoutError(f"{what}: not within {deadline:.0f} s")
        if any(node.process.poll() is not None for node in nodes):
            raise RuntimeError(f"{what}: a node process exited")
        time.sleep(0.005)  # a poll of other processes' output, not a synchronisation


def measure(count: int) -> dict[str, Result]:
    """Every figure for one mesh of `count` node processes."""
    import psutil

    with _cluster(count) as nodes:
        last_ready = _wait(lambda: all(n.address for n in nodes), nodes, START_DEADLINE,
                           f"{count} nodes to start")
        names = {node.address for node in nodes}
        formed = _wait(lambda: all(len(set(n.ups) & names) >= count - 1 for n in nodes),
                       nodes, FORM_DEADLINE, f"a full mesh of {count} nodes")
        time.sleep(SETTLE)  # let the joins' traffic die down: idle is what is measured
        processes = [psutil.Process(node.process.pid) for node in nodes]
        before = [sum(p.cpu_times()[:2]) for p in processes]
        switches = [p.num_ctx_switches().voluntary for p in processes]
        started = time.monotonic()
        time.sleep(IDLE_WINDOW)
        elapsed = time.monotonic() - started
        cpu = [100 * (sum(p.cpu_times()[:2]) - b) / elapsed
               for p, b in zip(processes, before, strict=True)]
        wakeups = [(p.num_ctx_switches().voluntary - s) / elapsed
                   for p, s in zip(processes, switches, strict=True)]
        rss = [p.memory_info().rss for p in processes]
        victim, survivors = nodes[-1], nodes[:-1]
        killed_at = time.time()
        os.kill(victim.process.pid, signal.SIGKILL)
        _wait(lambda: all(victim.address in n.downs for n in survivors), survivors,
              DETECT_DEADLINE, f"{count - 1} survivors to see {victim.address} down")
    detections = [n.downs[victim.address] - killed_at for n in survivors]
    note = f"{count} node processes"
    return {
        "formation": Result(formed - last_ready, count, f"s after the last ready; {note}"),
        "idle_cpu": Result(statistics.mean(cpu), count,
                           f"% of a core per node, mean (highest {max(cpu):.2f}%;"
                           f" {statistics.mean(wakeups):.0f} wake-ups/s per node)"),
        "rss": Result(statistics.mean(rss) / 2**20, count,
                      f"MB per node, mean (highest {max(rss) / 2**20:.1f} MB)"),
        "detection": Result(max(detections), count - 1,
                            f"s until the last survivor saw the kill (median "
                            f"{statistics.median(detections):.3f} s)"),
    }


def run(quick: bool = False, counts: Sequence[int] | None = None) -> list[Row]:
    """The figures for each mesh size, as rows for `python -m bench`'s table."""
    rows: list[Row] = []
    for count in counts or (QUICK_NODES if quick else FULL_NODES):
        try:
            got: dict[str, Result | str] = dict(measure(count))
        except (TimeoutError, RuntimeError) as error:
            got = dict.fromkeys(("formation", "idle_cpu", "rss", "detection"), f"n/a ({error})")
        rows += [
            Row(f"mesh of {count}: formation", "s", got["formation"], higher_is_better=False),
            Row(f"mesh of {count}: idle CPU per node", "% core", got["idle_cpu"],
                targets=[Target("<=1%", "absolute", 1.0)], higher_is_better=False),
            Row(f"mesh of {count}: RSS per node", "MB", got["rss"], higher_is_better=False),
            Row(f"mesh of {count}: kill -9 seen by all", "s", got["detection"],
                higher_is_better=False),
        ]
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.mesh", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="4 nodes, writes nothing")
    parser.add_argument("--nodes", type=int, nargs="+", help="mesh sizes (default 20 40)")
    args = parser.parse_args(argv)
    rows = run(quick=args.quick, counts=args.nodes)
    print(format_table(rows))
    for row in rows:
        if isinstance(row.ours, Result):
            print(f"{row.figure}: {row.ours.value:.3f} {row.ours.note}")
    if not args.quick:
        write_json(RESULTS, rows, {"settle_s": SETTLE, "idle_window_s": IDLE_WINDOW},
                   quick=False)
        print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
