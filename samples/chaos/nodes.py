"""The chaos run's node processes: started, killed, stopped, frozen and restarted at
the same address, and never left behind.

Each node is ``python -m runtime.cli node ... --app samples.chaos.app:app`` on
127.0.0.1, in a process group of its own, started from the driver's main thread with
``PR_SET_PDEATHSIG``: if the driver dies however it dies (even ``kill -9``), the kernel
kills its nodes. `ChaosNodes.kill_all` (run in a ``finally``) kills every process group
it started and reaps every process, and `leftovers` says whether any survived.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import anyio

__all__ = ("APP", "ChaosNode", "ChaosNodes", "Life", "free_port")

APP = "samples.chaos.app:app"
READY_TIMEOUT = 30.0  # a cold interpreter on a loaded 2-core machine
ROOT = Path(__file__).resolve().parents[2]
_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _die_with_driver() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class Life:
    """One incarnation of a node: when it was started, ready and gone, and how it went."""

    node: str
    inc: int
    pid: int
    started: float
    ready: float | None = None
    ended: float | None = None
    how: str = ""  # "kill", "term" (a restart), "final" (the end of the run)
    stop_seconds: float | None = None  # SIGTERM to exit, for a graceful stop


@dataclass(eq=False)
class ChaosNode:
    """One node name at one address, over its incarnations."""

    name: str
    port: int
    seeds: list[str]
    directory: Path
    process: subprocess.Popen[bytes] | None = None
    lives: list[Life] = field(default_factory=list)
    stopped: bool = False  # SIGSTOPped now

    @property
    def address(self) -> str:
        return f"{self.name}@127.0.0.1:{self.port}"

    @property
    def life(self) -> Life:
        return self.lives[-1]

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class ChaosNodes:
    """Every node of one run: the driver's handle on their processes."""

    directory: Path
    env: dict[str, str]
    shutdown_timeout: float
    nodes: dict[str, ChaosNode] = field(default_factory=dict)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def add(self, name: str, port: int, seeds: list[str]) -> ChaosNode:
        node = self.nodes[name] = ChaosNode(name, port, seeds, self.directory)
        return node

    def launch(self, node: ChaosNode) -> None:
        """Start the node's next incarnation (returns at once; see `wait_ready`)."""
        inc = len(node.lives)
        data_dir = self.directory / f"data-{node.name}"
        command = [
            sys.executable, "-m", "runtime.cli", "node", "--name", node.name,
            "--listen", f"127.0.0.1:{node.port}", "--cookie-file", self.env["CHAOS_COOKIE"],
            "--shutdown-timeout", str(self.shutdown_timeout), "--data-dir", str(data_dir),
            *(f"--seed={seed}" for seed in node.seeds), "--app", APP,
        ]
        environment = {
            **os.environ, **self.env, "CHAOS_NODE": node.name, "CHAOS_INC": str(inc),
            "PYTHONPATH": str(ROOT),
        }
        out = self.directory / f"{node.name}.{inc}.out"
        err = self.directory / f"{node.name}.{inc}.log"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            process = subprocess.Popen(
                command, cwd=ROOT, env=environment, stdin=subprocess.DEVNULL,
                stdout=stdout, stderr=stderr, start_new_session=True,
                preexec_fn=_die_with_driver,
            )
        self.processes.append(process)
        node.process = process
        node.stopped = False
        node.lives.append(Life(node.name, inc, process.pid, time.monotonic()))

    async def wait_ready(self, node: ChaosNode) -> None:
        """Wait (polling its stdout file) until the node prints its ready line."""
        life = node.life
        out = self.directory / f"{node.name}.{life.inc}.out"
        line = f"node {node.address} ready".encode()
        deadline = time.monotonic() + READY_TIMEOUT
        while line not in out.read_bytes():
            assert node.process is not None
            if node.process.poll() is not None:
                raise RuntimeError(
                    f"node {node.name} (incarnation {life.inc}) exited with status "
                    f"{node.process.returncode} before it was ready; see {out.with_suffix('.log')}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"node {node.name} (incarnation {life.inc}) printed no ready line within "
                    f"{READY_TIMEOUT} s; see {out.with_suffix('.log')}"
                )
            await anyio.sleep(0.05)
        life.ready = time.monotonic()

    async def kill(self, node: ChaosNode) -> None:
        """``kill -9`` the node's process group and reap it."""
        process = node.process
        assert process is not None
        _killpg(process.pid, signal.SIGKILL)
        await _reap(process)
        node.life.ended, node.life.how = time.monotonic(), "kill"
        node.stopped = False

    async def terminate(self, node: ChaosNode, how: str) -> None:
        """SIGTERM (a graceful stop, SIGCONT first if frozen); SIGKILL after 10 s."""
        process = node.process
        assert process is not None
        if node.stopped:
            self.resume(node)
        sent = time.monotonic()
        _killpg(process.pid, signal.SIGTERM)
        with anyio.move_on_after(10.0):
            await _reap(process)
        if process.poll() is None:
            _killpg(process.pid, signal.SIGKILL)
            await _reap(process)
        node.life.ended, node.life.how = time.monotonic(), how
        node.life.stop_seconds = node.life.ended - sent

    def freeze(self, node: ChaosNode) -> None:
        assert node.process is not None
        _killpg(node.process.pid, signal.SIGSTOP)
        node.stopped = True

    def resume(self, node: ChaosNode) -> None:
        assert node.process is not None
        _killpg(node.process.pid, signal.SIGCONT)
        node.stopped = False

    def kill_all(self) -> None:
        """Kill every process group this started (frozen ones too) and reap them all."""
        for process in self.processes:
            _killpg(process.pid, signal.SIGKILL)
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):  # `leftovers` reports it
                process.wait(5.0)

    def leftovers(self) -> list[int]:
        """Pids (or process groups) of this run that still exist."""
        left = []
        for process in self.processes:
            if process.poll() is None:
                left.append(process.pid)
                continue
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                continue
            except PermissionError:
                pass
            left.append(process.pid)
        return left


def _killpg(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # gone already
        os.killpg(pgid, signum)


async def _reap(process: subprocess.Popen[bytes]) -> None:
    """Wait for `process` to exit without blocking the event loop (a bounded poll)."""
    # Another process's state announces no event here: poll it.
    while True:
        if process.poll() is not None:
            return
        await anyio.sleep(0.02)
