"""Starting and stopping the shop's node processes (for the scenario and the tests).

Each node is ``python -m runtime.cli node ...`` in its own process group, on 127.0.0.1.
Every process started here is killed and reaped by `NodeProcesses.close()`, which the
scenario runs in a ``finally``: nothing outlives the run, even after Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import anyio

__all__ = ("NodeProcess", "NodeProcesses", "free_port")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class NodeProcess:
    """One node process; its output lines are kept (and echoed when `verbose`)."""

    def __init__(self, name: str, port: int, cookie_file: Path, seeds: list[str],
                 log_dir: Path, http_port: int | None = None) -> None:
        self.name = name
        self.port = port
        self.address = f"{name}@127.0.0.1:{port}"
        self._command = [
            sys.executable, "-m", "runtime.cli", "node", "--name", name,
            "--listen", f"127.0.0.1:{port}", "--cookie-file", str(cookie_file),
            "--app", f"samples.shop.apps:{name}", "--shutdown-timeout", "3",
        ]
        # The web view, when asked for: `web_url` is where it is served.
        self.web_url = None if http_port is None else f"http://127.0.0.1:{http_port}/"
        if http_port is not None:
            self._command += ["--http", f"127.0.0.1:{http_port}"]
        for seed in seeds:
            self._command += ["--seed", seed]
        self._log = log_dir / f"{name}.log"
        self._process: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str] = queue.Queue()

    def start(self) -> None:
        self._process = subprocess.Popen(
            self._command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, text=True, start_new_session=True,
        )
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        with self._log.open("a") as log:
            for line in self._process.stdout:
                log.write(line)
                log.flush()
                self._lines.put(line)

    async def wait_ready(self, timeout: float = 15.0) -> None:
        """Wait for the node's ready line (it listens and runs its tree)."""
        with anyio.fail_after(timeout):
            while True:
                try:
                    line = await anyio.to_thread.run_sync(self._lines.get, True, 0.5)
                except queue.Empty:
                    if self._process is not None and self._process.poll() is not None:
                        raise RuntimeError(
                            f"node {self.name} exited with {self._process.returncode}; "
                            f"see {self._log}"
                        ) from None
                    continue
                if " ready" in line:
                    return

    def kill(self) -> None:
        """SIGKILL the node's process group (as `kill -9` would) and reap it."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop(self, timeout: float = 8.0) -> int | None:
        """SIGTERM (a graceful shutdown), then SIGKILL after `timeout` seconds."""
        process = self._process
        if process is None or process.poll() is not None:
            return None if process is None else process.returncode
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return process.returncode

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None


class NodeProcesses:
    """The nodes of one run; `close()` stops every one of them."""

    def __init__(self, cookie_file: Path, log_dir: Path) -> None:
        self.cookie_file = cookie_file
        self.log_dir = log_dir
        self.nodes: dict[str, NodeProcess] = {}

    def add(self, name: str, port: int, seeds: list[str],
            http_port: int | None = None) -> NodeProcess:
        node = NodeProcess(name, port, self.cookie_file, seeds, self.log_dir, http_port)
        self.nodes[name] = node
        node.start()
        return node

    def close(self) -> None:
        for node in self.nodes.values():
            node.stop(timeout=5.0)
