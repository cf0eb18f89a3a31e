"""bench._harness: a benchmark child that hangs is cut off and leaves no process behind."""

from __future__ import annotations

import time
from pathlib import Path

from bench._harness import run_child_json


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return status != "Z"  # a zombie has ended; its parent (init) reaps it


def test_a_child_past_its_deadline_is_killed_with_what_it_started(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    got = run_child_json("tests.bench.leaver", "start_and_hang", {"pid_file": str(pid_file)},
                         timeout=5.0)
    assert got == {"error": "timed out after 5 s"}
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 5.0
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)  # a bounded poll of another process's state
    assert not _alive(grandchild), f"process {grandchild} outlived its benchmark child"


def test_a_child_that_fails_says_how() -> None:
    got = run_child_json("tests.bench.leaver", "no_such_function", {}, timeout=30.0)
    assert got["error"].startswith("exit 1: AttributeError")
