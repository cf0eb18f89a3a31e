"""`repertory node`: a second SIGTERM or SIGINT while the node stops exits at once."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.runtime.cli.conftest import CLI, stop


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_second_signal_while_stopping_a_busy_actor_exits_at_once(
    cookie_file: Path, signum: signal.Signals
) -> None:
    process = subprocess.Popen(
        [*CLI, "node", "--name", "busy", "--listen", "127.0.0.1:0", "--cookie-file",
         str(cookie_file), "--app", "tests.runtime.cli.app:busy", "--shutdown-timeout", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        for line in process.stdout:
            if line.rstrip().endswith(" ready"):
                break
        else:
            raise AssertionError("the node never said it was ready: " + process.stderr.read())
        os.kill(process.pid, signum)
        for line in process.stdout:
            if f"stopping ({signum.name})" in line:
                break
        else:
            raise AssertionError("the node never said it was stopping")
        # Its actor takes a minute over on_stop, and the deadline is 60 s.
        assert process.poll() is None
        again = time.monotonic()
        os.kill(process.pid, signum)
        status = process.wait(timeout=10)
        took = time.monotonic() - again
        errors = process.stderr.read()
    finally:
        stop(process)
        if process.stderr is not None:
            process.stderr.close()
    assert status == 128 + signum
    assert took < 2.0, f"the second {signum.name} took {took:.2f} s to end the node"
    assert "Traceback" not in errors
    assert f"second {signum.name} while stopping; exiting now" in errors
