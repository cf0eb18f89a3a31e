"""`python -m samples.hello` runs its five steps and says when one does not hold."""

from __future__ import annotations

import subprocess
import sys

SAMPLE_STEPS = [
    "ok   spawn: Counter(10) runs as hello/counter",
    "ok   tell: 5, then 20 and 7 as a batch (returns at once)",
    "ok   ask: the counter answers 42 (10 + 5 + 20 + 7 = 42)",
    "ok   watch: hello/watcher watches hello/calculator",
    "ok   ask: 1 / 2 = 0.5",
    "ok   crash: 1 / 0 raised ZeroDivisionError (division by zero); "
    "the asker got ActorCrashedError",
    "ok   watch: the watcher saw Terminated(hello/calculator, "
    "reason=ZeroDivisionError: division by zero)",
    "ok   crash: the calculator is stopped, the counter still runs",
    "every expectation held",
]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=30
    )


def test_hello_prints_each_step_and_exits_zero() -> None:
    result = run("-m", "samples.hello")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == SAMPLE_STEPS
    # The one crash is reported once, on stderr (Python's last-resort log handler, as
    # the sample configures no logging), with its decision and traceback.
    assert result.stderr.startswith(
        "actor hello/calculator (Calculator) failed handling a tuple: ZeroDivisionError: "
        "division by zero; decision: stop\nTraceback (most recent call last):"
    ), result.stderr
    assert result.stderr.count("failed handling") == 1


def test_hello_exits_non_zero_when_an_expectation_fails() -> None:
    # The same program with a counter that loses what it is told.
    code = (
        "import sys\n"
        "import samples.hello as hello\n"
        "from runtime import run\n"
        "hello.Counter.receive = lambda self, message: (\n"
        "    self.count if message == 'get' else None)\n"
        "sys.exit(run(hello.main))\n"
    )
    result = run("-c", code)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "FAIL ask: the counter answers 10 (10 + 5 + 20 + 7 = 42)" in lines
    assert lines[-1] == "2 expectation(s) failed"
