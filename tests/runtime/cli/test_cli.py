"""`repertory` against a real node process: node, tree, --version, and the node's stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

from tests.runtime.cli.conftest import CLI, Node, repertory


def test_every_command_has_help() -> None:
    for command in ((), ("node",), ("members",), ("tree",), ("top",), ("sample",)):
        result = repertory(*command, "--help")
        assert result.returncode == 0, result.stderr
        assert "usage: repertory" in result.stdout


def test_version_names_the_installed_version() -> None:
    from importlib.metadata import version

    result = repertory("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"repertory {version('repertory')}"


def test_tree_draws_the_live_tree(node: Node, cookie_file: Path) -> None:
    result = repertory("tree", node.address, "--cookie-file", str(cookie_file))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("app [supervisor one_for_one] ● running")
    assert any("echo [worker permanent] ● running" in line for line in lines)
    assert any("spare [worker permanent non-critical] ● running" in line for line in lines)
    for fmt, marker in (("dot", "digraph supervision"), ("mermaid", "graph TD")):
        drawn = repertory("tree", node.address, "--cookie-file", str(cookie_file),
                          "--format", fmt)
        assert drawn.returncode == 0, drawn.stderr
        assert marker in drawn.stdout and "echo" in drawn.stdout


def test_a_closed_pipe_ends_the_output_quietly(node: Node, cookie_file: Path) -> None:
    with subprocess.Popen([*CLI, "tree", node.address, "--cookie-file", str(cookie_file)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as tree:
        assert tree.stdout is not None and tree.stderr is not None
        tree.stdout.close()  # as `| head -0` would: nobody reads what it prints
        errors = tree.stderr.read().decode()
        assert tree.wait(timeout=30) == 0
    assert "BrokenPipe" not in errors and "Traceback" not in errors and not errors.strip()


def test_a_wrong_cookie_is_one_clear_line(node: Node, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-secret")
    result = repertory("tree", node.address, "--cookie-file", str(wrong))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "cookie" in result.stderr
    assert node.process.poll() is None, "a bad handshake must not take the node down"


def test_node_stops_gracefully_on_sigterm(node: Node) -> None:
    os.killpg(node.process.pid, signal.SIGTERM)
    assert node.process.wait(timeout=15) == 0
    assert node.process.stdout is not None
    rest = node.process.stdout.read()
    assert "stopping (SIGTERM)" in rest and "stopped" in rest


def test_unreachable_node_fails_fast(cookie_file: Path) -> None:
    with socket.socket() as probe:  # a port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = repertory("tree", f"127.0.0.1:{port}", "--cookie-file", str(cookie_file),
                       timeout=20)
    assert result.returncode == 1
    assert "NodeDownError" in result.stderr and "cannot connect" in result.stderr
