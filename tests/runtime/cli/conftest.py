"""A real node process for the CLI tests, and a way to run the command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "runtime.cli"]


def repertory(*args: str, timeout: float = 30.0,
              cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd)


class Node:
    """A `repertory node` process; `lines` is what it printed up to its ready line."""

    def __init__(self, process: subprocess.Popen[str], address: str, lines: list[str]) -> None:
        self.process = process
        self.address = address
        self.lines = lines

    def rest(self) -> str:
        """Stop it (SIGTERM) and return what it printed after the ready line."""
        os.killpg(self.process.pid, signal.SIGTERM)
        assert self.process.stdout is not None
        rest = self.process.stdout.read()
        self.process.wait(timeout=15)
        return rest


def start_node(cookie_file: Path, *extra: str, name: str = "cli") -> Node:
    process = subprocess.Popen(
        [*CLI, "node", "--name", name, "--listen", "127.0.0.1:0", "--cookie-file",
         str(cookie_file), "--app", "tests.runtime.cli.app:tree", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    for line in process.stdout:  # the ready line comes first; the pipe ends on exit
        lines.append(line)
        if line.startswith("node ") and line.rstrip().endswith(" ready"):
            return Node(process, line.split()[1], lines)
    process.wait(timeout=10)
    raise AssertionError("the node never said it was ready:\n" + "".join(lines))


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    if process.stdout is not None:
        process.stdout.close()


@pytest.fixture
def cookie_file(tmp_path: Path) -> Path:
    path = tmp_path / "cookie"
    path.write_text("the-shared-secret\n")
    return path


@pytest.fixture
def node(cookie_file: Path) -> Iterator[Node]:
    started = start_node(cookie_file)
    try:
        yield started
    finally:
        stop(started.process)
