"""The chaos run, short: five node processes under seeded random faults for 12 s,
and every invariant of its table holds (`samples.chaos`; ``make chaos`` runs 60 s)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.cluster.nodes import ROOT, child_pids

SEED = 11
DURATION = 12


@pytest.mark.timeout(150)  # over the 20 s of the other cluster tests: the run is ~40 s
def test_a_short_chaos_run_keeps_every_invariant() -> None:
    before = child_pids()
    run = subprocess.run(
        [sys.executable, "-m", "samples.chaos", "--duration", str(DURATION),
         "--seed", str(SEED)],
        cwd=ROOT, capture_output=True, text=True, timeout=140,
    )
    report = run.stdout + run.stderr
    assert "processes: none left behind" in report, report
    assert f"chaos: every invariant held (seed {SEED})" in report, report
    assert run.returncode == 0, report
    assert child_pids() - before == set()
