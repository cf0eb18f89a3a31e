"""Every mistake is one line on stderr that names the option and says what to do."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.runtime.cli.conftest import repertory, start_node, stop


def one_line(result: object) -> str:
    stderr: str = result.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def node_args(cookie_file: Path, *extra: str) -> tuple[str, ...]:
    return ("node", "--name", "x", "--cookie-file", str(cookie_file), *extra)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (("--listen", "127.0.0.1:99999"),
         "--listen 127.0.0.1:99999: the port must be a number from 0 to 65535"),
        (("--listen", "999.1.1.1:4070"),
         "--listen 999.1.1.1:4070: cannot resolve the host '999.1.1.1'"),
        (("--listen", "localhost"), "--listen takes HOST:PORT"),
        (("--listen", "127.0.0.1:0", "--app", "samples.shop.front:PRICES"),
         "--app samples.shop.front:PRICES is a dict, not a supervision tree"),
        (("--listen", "127.0.0.1:0", "--app", "no_such_module:tree"),
         "cannot import 'no_such_module' for --app"),
        (("--listen", "127.0.0.1:0", "--app", "tests.runtime.cli.app:nothing"),
         "module 'tests.runtime.cli.app' has no 'nothing'"),
        (("--listen", "127.0.0.1:0", "--http", "0.0.0.0:0"),
         "--http 0.0.0.0:0 serves beyond this machine: give --http-token"),
        (("--listen", "127.0.0.1:0", "--http", "127.0.0.1:70000"),
         "--http 127.0.0.1:70000: the port must be a number from 0 to 65535"),
    ],
)
def test_node_options_are_checked_first(cookie_file: Path, extra: tuple[str, ...],
                                        expected: str) -> None:
    result = repertory(*node_args(cookie_file, *extra))
    assert result.returncode == 2
    assert expected in one_line(result)


def test_the_cookie_file_must_be_readable(tmp_path: Path) -> None:
    for args in (("node", "--name", "x", "--listen", "127.0.0.1:0", "--cookie-file",
                  "/nonexistent"),
                 ("tree", "127.0.0.1:1", "--cookie-file", "/nonexistent")):
        result = repertory(*args)
        assert result.returncode == 2
        assert "--cookie-file: cannot read the cookie file /nonexistent" in one_line(result)


def test_a_port_in_use_names_the_address(cookie_file: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        result = repertory(*node_args(cookie_file, "--listen", address))
        assert result.returncode == 2
        assert f"--listen {address}: the address is already in use" in one_line(result)
        web = repertory(*node_args(cookie_file, "--listen", "127.0.0.1:0", "--http", address))
        assert web.returncode == 2
        assert f"--http {address}: the address is already in use" in one_line(web)


@pytest.mark.parametrize("interval", ["0", "-1", "soon"])
def test_top_interval_must_be_positive_seconds(cookie_file: Path, interval: str) -> None:
    result = repertory("top", "127.0.0.1:1", "--cookie-file", str(cookie_file),
                       "--interval", interval)
    assert result.returncode == 2
    assert "--interval" in result.stderr and "ZeroDivision" not in result.stderr


def test_app_finds_a_module_in_the_current_directory(tmp_path: Path,
                                                     cookie_file: Path) -> None:
    # The installed `repertory` script, not `python -m`: a script's sys.path holds its
    # own directory, not the current one, which is what made "No module named" happen.
    script = Path(sys.executable).parent / "repertory"
    (tmp_path / "myapp.py").write_text("from tests.runtime.cli.app import tree\n")
    repo = Path(__file__).resolve().parents[3]
    process = subprocess.Popen(
        [str(script), "node", "--name", "mine", "--listen", "127.0.0.1:0", "--cookie-file",
         str(cookie_file), "--app", "myapp:tree"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(repo)}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.rstrip().endswith(" ready") or "repertory node:" in line:
                break
        assert lines and lines[-1].rstrip().endswith(" ready"), lines
    finally:
        stop(process)


def test_a_bad_seed_is_named(cookie_file: Path) -> None:
    result = repertory(*node_args(cookie_file, "--listen", "127.0.0.1:0", "--seed", "nowhere"))
    assert result.returncode == 2
    assert "--seed takes HOST:PORT" in one_line(result)


def test_an_http_token_allows_a_wide_bind(cookie_file: Path) -> None:
    node = start_node(cookie_file, "--http", "0.0.0.0:0", "--http-token", "s3cret")
    try:
        assert any("web view at http://0.0.0.0:" in line for line in node.lines)
    finally:
        stop(node.process)
