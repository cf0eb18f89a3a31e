"""`spawn` and `start` type their refs: mypy accepts `tests/typing/typed_ok.py` (with the
types it asserts) and rejects exactly the lines of `tests/typing/typed_errors.py` marked
``# E``. One mypy run per file, sharing the project's cache (they are slow)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mypy import api

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "tests" / "typing"


def mypy(path: Path) -> tuple[str, int]:
    out, err, status = api.run([
        "--strict", "--config-file", str(ROOT / "pyproject.toml"),
        "--cache-dir", str(ROOT / ".mypy_cache"), "--no-error-summary",
        "--show-error-codes", str(path),
    ])
    assert not err, err
    return out, status


@pytest.mark.timeout(240)
def test_the_typed_example_type_checks() -> None:
    out, status = mypy(HERE / "typed_ok.py")
    assert (status, out) == (0, "")


@pytest.mark.timeout(240)
def test_wrong_messages_and_constructor_calls_are_type_errors() -> None:
    path = HERE / "typed_errors.py"
    marked = {
        number
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if line.rstrip().endswith("# E")
    }
    out, status = mypy(path)
    failing = {int(m.group(1)) for m in re.finditer(r"typed_errors\.py:(\d+): error:", out)}
    assert status == 1
    assert failing == marked, out
