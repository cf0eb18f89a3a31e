"""The chaos run, start to end: nodes up, faults for a while, quiet, checks, a table.

Phases: start 5 nodes and wait for the full mesh; inject faults for `duration` s;
heal everything and let the mesh re-form; stop the pumps (the ``stop`` file) and let
the stream group catch up; stop the nodes with SIGTERM; check the journals. Whatever
happens, the ``finally`` kills every process group the run started.
"""

from __future__ import annotations

import random
import secrets
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import anyio

from samples.chaos.checks import Journals, Row, check_all
from samples.chaos.faults import Injector, ProxiedLink
from samples.chaos.journal import read_records
from samples.chaos.nodes import ChaosNodes, free_port
from samples.faultproxy import FaultProxy

__all__ = ("Options", "chaos")

NAMES = ("n1", "n2", "n3", "n4", "n5")
SEEDED = ("n1", "n2")  # every node seeds these two, through a proxy of its own
STREAM_HOST = "n1"
SHUTDOWN_TIMEOUT = 2.0
SETTLE = 12.0  # seconds to wait for the mesh after the last fault
DRAIN = 15.0  # seconds to wait for the pumps to stop and the group to catch up


@dataclass(frozen=True)
class Options:
    duration: float = 60.0
    seed: int = 0
    rate: float = 1.0
    keep: bool = False
    verbose: bool = False


async def chaos(options: Options) -> int:
    """Run once; print the table; return the exit status (0: every invariant held)."""
    directory = Path(tempfile.mkdtemp(prefix="repertory-chaos-"))
    rows: list[Row] = []
    try:
        rows, summary = await _run(options, directory)
    except Exception as error:
        summary = f"the run itself failed: {error}"
        rows.append(Row("run: completes", 1, [str(error)]))
    ok = all(row.failed == 0 for row in rows)
    print(render(rows))
    print(summary)
    replay = f"python -m samples.chaos --seed {options.seed} --duration {options.duration:g}"
    if ok:
        print(f"chaos: every invariant held (seed {options.seed})")
    else:
        print(f"chaos: FAILED (seed {options.seed}); replay with: {replay}")
    if ok and not options.keep:
        shutil.rmtree(directory, ignore_errors=True)
    else:
        print(f"journals and node logs kept in {directory}")
    return 0 if ok else 1


async def _run(options: Options, directory: Path) -> tuple[list[Row], str]:
    cookie = directory / "cookie"
    cookie.write_text(secrets.token_hex(16) + "\n")
    ports = {name: free_port() for name in NAMES}
    env = {
        "CHAOS_DIR": str(directory), "CHAOS_COOKIE": str(cookie),
        "CHAOS_NODES": ",".join(f"{n}={n}@127.0.0.1:{p}" for n, p in ports.items()),
        "CHAOS_STREAM_HOST": STREAM_HOST, "CHAOS_RATE": str(options.rate),
    }
    nodes = ChaosNodes(directory, env, SHUTDOWN_TIMEOUT)
    rng = random.Random(options.seed)
    async with _proxies(ports) as links:
        injector = Injector(rng, nodes, links)
        try:
            for name in NAMES:
                seeds = [f"127.0.0.1:{link.proxy.port}" for link in links if link.dialer == name]
                nodes.launch(nodes.add(name, ports[name], seeds))
            async with anyio.create_task_group() as starting:
                for node in nodes.nodes.values():
                    starting.start_soon(nodes.wait_ready, node)
            formed = await _wait_mesh(nodes, 20.0)
            _say(options, f"mesh formed: {formed}; faults for {options.duration:g} s")
            await injector.run(options.duration)
            last = max((f.end or 0.0 for f in injector.faults), default=time.monotonic())
            meshed = await _wait_mesh(nodes, max(1.0, last + SETTLE - time.monotonic()))
            _say(options, f"mesh after faults: {meshed}; stopping the pumps")
            end = time.monotonic()
            (directory / "stop").touch()
            drained = await _wait_drained(nodes, directory, DRAIN)
            _say(options, f"drained: {drained}; stopping the nodes")
            async with anyio.create_task_group() as stopping:
                for node in nodes.nodes.values():
                    if node.running:
                        stopping.start_soon(nodes.terminate, node, "final")
        finally:
            await injector.heal_all()
            nodes.kill_all()
    rows = check_all(nodes.nodes, injector.faults, directory, end, STREAM_HOST,
                     SHUTDOWN_TIMEOUT + 1.0)
    rows.insert(0, Row("mesh: formed at the start and again after the faults",
                       2, [what for what, ok in (("at the start", formed),
                                                 ("after the faults", meshed)) if not ok]))
    rows.append(_leftovers(nodes))
    for error in injector.errors:
        rows.append(Row("run: every restart came up", 1, [error]))
    return rows, _summary(options, injector)


class _proxies:
    """A proxy per (node, seeded node) pair, for the run's whole length."""

    def __init__(self, ports: dict[str, int]) -> None:
        self.ports = ports
        self.stack: list[FaultProxy] = []

    async def __aenter__(self) -> list[ProxiedLink]:
        links = []
        for dialer in NAMES:
            for target in SEEDED:
                if target == dialer:
                    continue
                proxy = await FaultProxy("127.0.0.1", self.ports[target]).__aenter__()
                self.stack.append(proxy)
                links.append(ProxiedLink(dialer, target, proxy))
        return links

    async def __aexit__(self, *exc: object) -> None:
        for proxy in reversed(self.stack):
            await proxy.__aexit__(None, None, None)


def _linked_now(nodes: ChaosNodes) -> bool:
    """Whether every running node's journal says it is linked to every other."""
    directory = nodes.directory
    for node in nodes.nodes.values():
        if not node.running:
            return False
        path = directory / f"{node.name}.{node.life.inc}.members"
        if not path.exists():
            return False
        state: dict[str, bool] = {}
        for record in read_records(path):
            if record[1] in ("up", "down"):
                state[record[2]] = record[1] == "up"
        if not all(state.get(other.address) for other in nodes.nodes.values()
                   if other is not node):
            return False
    return True


async def _wait_mesh(nodes: ChaosNodes, timeout: float) -> bool:
    with anyio.move_on_after(timeout):
        while True:  # the nodes' journals announce nothing: poll them
            if _linked_now(nodes):
                return True
            await anyio.sleep(0.1)
    return False


async def _wait_drained(nodes: ChaosNodes, directory: Path, timeout: float) -> bool:
    """Wait until every pump has stopped and the group committed every acked entry."""
    pumps = 2 * (len(NAMES) - 1) + 2
    with anyio.move_on_after(timeout):
        while True:
            await anyio.sleep(0.2)
            journals = Journals.read(directory)
            stopped = all(
                sum(1 for r in journals.members.get((n.name, n.life.inc), [])
                    if r[1] == "pump-stopped") == pumps
                for n in nodes.nodes.values()
            )
            acked = [r[2] for rs in journals.events.values() for r in rs if r[1] == "appended"]
            host = nodes.nodes[STREAM_HOST]
            reports = [r for r in journals.members.get((STREAM_HOST, host.life.inc), [])
                       if r[1] == "committed"]
            committed = reports[-1][2] if reports else None
            if stopped and (not acked or (committed is not None and committed >= max(acked))):
                await anyio.sleep(0.5)  # the last sends and tells are on their way
                return True
    return False


def _leftovers(nodes: ChaosNodes) -> Row:
    left = nodes.leftovers()
    return Row("processes: none left behind", len(nodes.processes),
               [f"pid {pid} still there" for pid in left])


def _summary(options: Options, injector: Injector) -> str:
    kinds = Counter(fault.kind for fault in injector.faults)
    done = ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items())) or "none"
    skipped = ", ".join(f"{why} {n}" for why, n in sorted(injector.skipped.items())) or "none"
    return (f"seed {options.seed}, {options.duration:g} s of faults: {done} "
            f"(proposals skipped: {skipped})")


def render(rows: list[Row]) -> str:
    """The table: one line per invariant, then the first failures of those that failed."""
    width = max(len(row.invariant) for row in rows)
    lines = [f"{'invariant':<{width}}  {'checked':>8}  {'failed':>6}  result  note",
             "-" * (width + 40)]
    for row in rows:
        result = "ok" if row.failed == 0 else "FAIL"
        lines.append(f"{row.invariant:<{width}}  {row.checked:>8}  {row.failed:>6}  "
                     f"{result:<6}  {row.note}")
    for row in rows:
        for failure in row.failures[:3]:
            lines.append(f"  {row.invariant.split(':')[0]}: {failure}")
        if row.failed > 3:
            lines.append(f"  {row.invariant.split(':')[0]}: ... and {row.failed - 3} more")
    return "\n".join(lines)


def _say(options: Options, text: str) -> None:
    if options.verbose:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)
