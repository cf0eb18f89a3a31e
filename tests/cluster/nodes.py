"""Nodes in their own processes for the cluster tests, on 127.0.0.1 only.

`Nodes` starts ``python -m runtime.cli node ...`` subprocesses with a cookie file and the
test app (`tests.cluster.apps:app`), waits for each one's ``node NAME@HOST:PORT ready``
line on its stdout (with a deadline, never a sleep), and kills and reaps every process
it started when closed. `open_node` opens the in-test node: an `ActorSystem` that
listens on 127.0.0.1 and fails the test if it leaves a task behind.

Use the fixtures in ``tests/cluster/conftest.py`` rather than these classes directly:
they fail a test that leaves a child process behind.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

from runtime import ActorSystem
from runtime.pytest_plugin import is_current as _is_current
from runtime.pytest_plugin import running_tasks as _running_tasks

__all__ = (
    "COOKIE",
    "DEFAULT_APP",
    "NodeProcess",
    "Nodes",
    "child_pids",
    "eventually",
    "open_node",
    "wait_for_log",
)

COOKIE = "cluster-tests-cookie"
DEFAULT_APP = "tests.cluster.apps:app"
READY_TIMEOUT = 15.0  # a cold interpreter on a loaded machine; usually well under 1 s
STOP_TIMEOUT = 5.0
ROOT = Path(__file__).resolve().parents[2]
_READY = re.compile(rb"^node (\S+) ready$", re.MULTILINE)


@dataclass(eq=False)
class NodeProcess:
    """One node running in a subprocess."""

    name: str
    address: str  # "name@127.0.0.1:port", as the node calls itself
    process: subprocess.Popen[bytes]
    log_path: Path
    stdout: bytes = b""

    @property
    def port(self) -> int:
        return int(self.address.rpartition(":")[2])

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        """``kill -9`` the node (it gets no chance to say goodbye) and reap it."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(STOP_TIMEOUT)

    def stop(self) -> int:
        """SIGTERM: the node stops its actors and leaves; SIGKILL if it dawdles."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait(STOP_TIMEOUT)

    def log(self) -> str:
        """What the node has logged so far (its stderr)."""
        return self.log_path.read_text(errors="replace")

    def close_pipes(self) -> None:
        if self.process.stdout is not None:
            self.process.stdout.close()


@dataclass
class Nodes:
    """Starts node processes in `directory` and reaps them all on `close`."""

    directory: Path
    cookie: str = COOKIE
    started: list[NodeProcess] = field(default_factory=list)

    def cookie_file(self, cookie: str | None = None) -> Path:
        cookie = self.cookie if cookie is None else cookie
        path = self.directory / f"cookie-{abs(hash(cookie))}"
        if not path.exists():
            path.write_text(cookie + "\n")
        return path

    def launch(
        self,
        name: str,
        *,
        seeds: Sequence[str] = (),
        app: str | None = DEFAULT_APP,
        cookie: str | None = None,
        listen: str = "127.0.0.1:0",
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        command_prefix: Sequence[str] = (),
    ) -> NodeProcess:
        """Start a node and return once it prints its ready line (blocking).

        `command_prefix` runs before the node's command (which it is given as its
        arguments), to start the node under other limits, say."""
        if not listen.startswith("127.0.0.1:"):
            raise ValueError(f"test nodes listen on 127.0.0.1 only, got {listen!r}")
        command = [
            *command_prefix,
            sys.executable, "-m", "runtime.cli", "node", "--name", name, "--listen", listen,
            "--cookie-file", str(self.cookie_file(cookie)), "--shutdown-timeout", "1",
            *(f"--seed={seed}" for seed in seeds), *extra_args,
        ]
        if app is not None:
            command += ["--app", app]
        log_path = self.directory / f"{name}-{len(self.started)}.log"
        environment = {**os.environ, **(env or {}), "PYTHONPATH": str(ROOT)}
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command, cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=log,
                stdin=subprocess.DEVNULL,
            )
        node = NodeProcess(name, "", process, log_path)
        self.started.append(node)
        node.address = _wait_ready(node, time.monotonic() + READY_TIMEOUT)
        return node

    async def start(self, name: str, **options: Any) -> NodeProcess:
        """`launch` without blocking the event loop (the wait runs in a thread)."""
        return await anyio.to_thread.run_sync(partial(self.launch, name, **options))

    async def start_many(self, names: Sequence[str], **options: Any) -> list[NodeProcess]:
        """Start several nodes at once (their interpreters load in parallel)."""
        found: dict[str, NodeProcess] = {}

        async def one(name: str) -> None:
            found[name] = await self.start(name, **options)

        async with anyio.create_task_group() as tasks:
            for name in names:
                tasks.start_soon(one, name)
        return [found[name] for name in names]

    @property
    def pids(self) -> set[int]:
        return {node.pid for node in self.started}

    def close(self) -> None:
        """Stop every node this started (SIGTERM, then SIGKILL) and reap it."""
        for node in self.started:
            if node.process.poll() is None:
                node.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for node in self.started:
            try:
                node.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                node.process.kill()
                node.process.wait(STOP_TIMEOUT)
            node.close_pipes()


def _wait_ready(node: NodeProcess, deadline: float) -> str:
    """Read the node's stdout until its ready line; fail with its log otherwise."""
    stdout = node.process.stdout
    assert stdout is not None
    fd = stdout.fileno()
    while (match := _READY.search(node.stdout)) is None:
        left = deadline - time.monotonic()
        if left <= 0:
            node.kill()
            raise AssertionError(
                f"node {node.name} printed no ready line within {READY_TIMEOUT} s;"
                f" stdout {node.stdout!r}, log:\n{node.log()}"
            )
        readable, _, _ = select.select([fd], [], [], left)
        if readable:
            chunk = os.read(fd, 4096)
            if not chunk:
                code = node.process.wait(STOP_TIMEOUT)
                raise AssertionError(
                    f"node {node.name} exited with status {code} before it was ready;"
                    f" log:\n{node.log()}"
                )
            node.stdout += chunk
    return match.group(1).decode()


def child_pids() -> set[int]:
    """This process's children, running or not yet reaped (zombies count)."""
    me = os.getpid()
    found: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue  # gone while we looked
        if int(fields[1]) == me:
            found.add(int(entry))
    return found


@asynccontextmanager
async def open_node(
    name: str = "test", *, check_tasks: bool = True, **options: Any
) -> AsyncIterator[ActorSystem]:
    """The in-test node: listens on 127.0.0.1, shared cookie; fails on leaked tasks.

    Nodes opened inside another's block pass ``check_tasks=False``: tasks the outer
    node starts meanwhile (serving their connections) would look like theirs. The
    outermost node's check covers them all.
    """
    options.setdefault("cookie", COOKIE)
    options.setdefault("shutdown_timeout", 5.0)
    listen = options.pop("listen", "127.0.0.1:0")
    if not listen.startswith("127.0.0.1:"):
        raise ValueError(f"test nodes listen on 127.0.0.1 only, got {listen!r}")
    before = _running_tasks()
    async with ActorSystem(name, listen=listen, **options) as system:
        yield system
    if not check_tasks:
        return
    leaked = [
        task
        for task in _running_tasks() - before
        if not _is_current(task) and "TestRunner" not in repr(task)
    ]
    if leaked:
        pytest.fail(f"tasks left running after node {system.address} closed: {leaked!r}")


async def eventually(
    condition: Callable[[], bool | Awaitable[bool]],
    *,
    timeout: float = 5.0,
    what: str = "the condition",
) -> None:
    """Wait until `condition()` (sync or async) holds, checking every 20 ms; fail after
    `timeout` seconds.

    For state that announces no event: another process's log, or a name that a frame
    from a third node brings at a time the test cannot observe. The wait is bounded and
    ends as soon as the state is there.
    """
    with anyio.move_on_after(timeout):
        while True:
            outcome = condition()
            if not isinstance(outcome, bool):
                outcome = await outcome
            if outcome:
                return
            await anyio.sleep(0.02)
    raise AssertionError(f"{what} did not come true within {timeout} s")


async def wait_for_log(node: NodeProcess, pattern: str, *, timeout: float = 5.0) -> str:
    """Wait until `node` logs a line matching `pattern` (a regex); return the line."""
    found: list[str] = []

    def logged() -> bool:
        found[:] = [line for line in node.log().splitlines() if re.search(pattern, line)]
        return bool(found)

    await eventually(logged, timeout=timeout, what=f"a log line of {node.name} like {pattern!r}")
    return found[0]
