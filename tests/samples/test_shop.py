"""The shop sample's scenario runs end to end, in its short form, as `make sample` does."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

import pytest


@dataclass
class Run:
    code: int
    output: str
    leftover_nodes: set[int]


def _node_processes() -> set[int]:
    listing = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return {
        int(line.split()[0])
        for line in listing.splitlines()[1:]
        if "runtime.cli node" in line and "samples.shop.apps" in line
    }


@pytest.fixture(scope="module")
def shop_run() -> Run:
    before = _node_processes()
    run = subprocess.run(
        [sys.executable, "-m", "runtime.cli", "sample", "shop", "--quick"],
        capture_output=True, text=True, timeout=150,
    )
    return Run(run.returncode, run.stdout + run.stderr, _node_processes() - before)


def test_shop_scenario_holds_every_expectation(shop_run: Run) -> None:
    assert shop_run.code == 0, shop_run.output
    assert "every expectation held" in shop_run.output
    for step in ("a stream of orders", "points actor crashes", "ops node is killed",
                 "cart crashes past its restart budget", "supervision tree"):
        assert step in shop_run.output, shop_run.output


def test_shop_summary_counts_what_was_lost(shop_run: Run) -> None:
    lines = shop_run.output.splitlines()
    lost = next(line for line in lines if "asks (request/reply) lost" in line)
    assert lost.split()[-1] == "0", lost
    undelivered = next(line for line in lines if "undelivered, counted" in line)
    assert int(undelivered.split()[-1]) > 0, undelivered


def test_no_node_process_outlives_the_scenario(shop_run: Run) -> None:
    assert shop_run.code == 0, shop_run.output
    assert shop_run.leftover_nodes == set()


def test_the_restarts_it_reports_agree_with_the_tree(shop_run: Run) -> None:
    lines = shop_run.output.splitlines()
    step = next(line for line in lines if "points restarts so far:" in line)
    reported = int(step.rsplit("points restarts so far:", 1)[1].strip(" )"))
    drawn = next(line for line in lines if "points [worker" in line)
    in_tree = int(drawn.split("restarts=")[1].split()[0]) if "restarts=" in drawn else 0
    assert reported > 0 and reported == in_tree, (step, drawn)


def test_it_prints_the_web_view_while_it_runs(shop_run: Run) -> None:
    line = next(line for line in shop_run.output.splitlines() if "web view of the cluster" in line)
    assert "http://127.0.0.1:" in line
