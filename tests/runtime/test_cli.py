"""`repertory` against a real node process: node, tree, top, and its errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "runtime.cli"]


def repertory(*args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def cookie_file(tmp_path: Path) -> Path:
    path = tmp_path / "cookie"
    path.write_text("the-shared-secret\n")
    return path


@pytest.fixture
def node(cookie_file: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    process = subprocess.Popen(
        [*CLI, "node", "--name", "cli", "--listen", "127.0.0.1:0", "--cookie-file",
         str(cookie_file), "--app", "tests.runtime.cli_app:tree"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    try:
        assert process.stdout is not None
        address = ""
        for line in process.stdout:  # the ready line comes first; the pipe ends on exit
            if line.startswith("node ") and line.rstrip().endswith(" ready"):
                address = line.split()[1]
                break
        assert address, "the node never said it was ready"
        yield address, process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def test_every_command_has_help() -> None:
    for command in ((), ("node",), ("tree",), ("top",), ("sample",)):
        result = repertory(*command, "--help")
        assert result.returncode == 0, result.stderr
        assert "usage: repertory" in result.stdout


def test_tree_draws_the_live_tree(node: tuple[str, subprocess.Popen[str]],
                                  cookie_file: Path) -> None:
    address, _ = node
    result = repertory("tree", address, "--cookie-file", str(cookie_file))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("app [supervisor one_for_one] ● running")
    assert any("echo [worker permanent] ● running" in line for line in lines)
    assert any("spare [worker permanent non-critical] ● running" in line for line in lines)
    for fmt, marker in (("dot", "digraph supervision"), ("mermaid", "graph TD")):
        drawn = repertory("tree", address, "--cookie-file", str(cookie_file), "--format", fmt)
        assert drawn.returncode == 0, drawn.stderr
        assert marker in drawn.stdout and "echo" in drawn.stdout


def test_top_lists_actors_with_mailboxes_and_status(
    node: tuple[str, subprocess.Popen[str]], cookie_file: Path
) -> None:
    address, _ = node
    result = repertory("top", address, "--cookie-file", str(cookie_file), "--once")
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["ACTOR", "TYPE", "STATUS", "MAILBOX", "MSG/S", "RESTARTS"]
    echo = next(row for row in rows if row.split()[0].endswith("/echo"))
    assert echo.split()[1:4] == ["Echo", "running", "0"]


def test_a_wrong_cookie_is_one_clear_line(node: tuple[str, subprocess.Popen[str]],
                                          tmp_path: Path) -> None:
    address, process = node
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-secret")
    result = repertory("tree", address, "--cookie-file", str(wrong))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "cookie" in result.stderr
    assert process.poll() is None, "a bad handshake must not take the node down"


def test_node_stops_gracefully_on_sigterm(node: tuple[str, subprocess.Popen[str]]) -> None:
    _, process = node
    os.killpg(process.pid, signal.SIGTERM)
    assert process.wait(timeout=15) == 0
    assert process.stdout is not None
    rest = process.stdout.read()
    assert "stopping (SIGTERM)" in rest and "stopped" in rest


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("node", "--name", "x", "--listen", "127.0.0.1:0", "--cookie-file", "/nonexistent"),
         "cannot read the cookie file"),
        (("tree", "127.0.0.1:1", "--cookie-file", "/nonexistent"), "cannot read the cookie file"),
    ],
)
def test_errors_are_one_line_without_traceback(args: tuple[str, ...], message: str) -> None:
    result = repertory(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_app_names_what_is_wrong(cookie_file: Path) -> None:
    result = repertory("node", "--name", "x", "--listen", "127.0.0.1:0", "--cookie-file",
                       str(cookie_file), "--app", "no_such_module:tree")
    assert result.returncode == 2
    assert "cannot import 'no_such_module' for --app" in result.stderr


def test_unreachable_node_fails_fast(cookie_file: Path) -> None:
    import socket

    with socket.socket() as probe:  # a port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = repertory("tree", f"127.0.0.1:{port}", "--cookie-file", str(cookie_file),
                       timeout=20)
    assert result.returncode == 1
    assert "NodeDownError" in result.stderr and "cannot connect" in result.stderr
