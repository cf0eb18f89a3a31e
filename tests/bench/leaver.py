"""A benchmark child that starts a process and then hangs: for tests/bench/test_harness."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


def start_and_hang(pid_file: str) -> dict[str, object]:
    """Start a grandchild that would sleep a minute, note its pid, then hang."""
    grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    Path(pid_file).write_text(str(grandchild.pid))
    time.sleep(60)  # the test's deadline cuts this short
    return {}
