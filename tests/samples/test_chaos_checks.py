"""The chaos run's checks catch what they claim to: from hand-written journals, a lost
or duplicated send, a reordered tell, a late or unfinished ask, an unacknowledged
commit and a node that never links again each fail their row; a fault excuses a loss."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from samples.chaos.checks import check_all
from samples.chaos.faults import Fault
from samples.chaos.nodes import ChaosNode, Life

END = 100.0


def journal(directory: Path, name: str, kind: str, *records: list[Any]) -> None:
    with (directory / f"{name}.0.{kind}").open("a") as file:
        for record in records:
            file.write(json.dumps(record) + "\n")


def setup(directory: Path) -> dict[str, ChaosNode]:
    """Two nodes, linked to each other all along, the stream on a."""
    nodes = {}
    for name, port in (("a", 1), ("b", 2)):
        node = ChaosNode(name, port, [], directory)
        node.lives.append(Life(name, 0, 1000 + port, started=0.0, ready=0.5))
        nodes[name] = node
    journal(directory, "a", "members", [1.0, "up", nodes["b"].address],
            [99.0, "committed", 1, 2])
    journal(directory, "b", "members", [1.0, "up", nodes["a"].address])
    journal(directory, "a", "events", [10.0, "appended", 0], [11.0, "appended", 1])
    journal(directory, "b", "events")
    return nodes


def failures(directory: Path, nodes: dict[str, ChaosNode],
             faults: list[Fault] | None = None) -> dict[str, list[str]]:
    """The failures of each kind of row ("send", "stream", ...), the rows of a kind joined."""
    found: dict[str, list[str]] = {}
    for row in check_all(nodes, faults or [], directory, END, "a", 3.0):
        if row.failures:
            found.setdefault(row.invariant.split(":")[0], []).extend(row.failures)
    return found


def test_a_clean_run_fails_nothing(tmp_path: Path) -> None:
    nodes = setup(tmp_path)
    journal(tmp_path, "a", "events", [20.0, "send-start", "b", 1], [20.1, "send-end", "b", 1, "ok"],
            [21.0, "tell", "b", 1, 2], [22.0, "ask-start", 1, "b/echo", 0.5],
            [22.2, "ask-end", 1, "ok"])
    journal(tmp_path, "b", "events", [20.2, "recv-send", "a", 0, 1],
            [21.1, "recv-tell", "a", 0, 1], [21.1, "recv-tell", "a", 0, 2])
    assert failures(tmp_path, nodes) == {}


def test_a_send_acknowledged_and_never_received_fails(tmp_path: Path) -> None:
    nodes = setup(tmp_path)
    journal(tmp_path, "a", "events", [20.0, "send-start", "b", 1], [20.1, "send-end", "b", 1, "ok"])
    assert failures(tmp_path, nodes) == {
        "send": ["a#0 -> b #1 sent at 20.10 ok, never received"]
    }


def test_a_fault_on_the_receiver_excuses_a_lost_send(tmp_path: Path) -> None:
    nodes = setup(tmp_path)
    journal(tmp_path, "a", "events", [20.0, "send-start", "b", 1], [20.1, "send-end", "b", 1, "ok"])
    kill = Fault("kill", ("b",), start=20.5, end=22.0)
    assert "send" not in failures(tmp_path, nodes, [kill])


def test_a_send_that_never_returns_hangs(tmp_path: Path) -> None:
    nodes = setup(tmp_path)
    journal(tmp_path, "a", "events", [20.0, "send-start", "b", 1])
    assert failures(tmp_path, nodes)["send"] == [
        "a#0 -> b #1 started at 20.00, never returned"
    ]


@pytest.mark.parametrize(("received", "expected"), [
    ([2, 1], "a#0 -> b #1 received after #2"),
    ([1, 1, 2], "a#0 -> b #1 received twice"),
])
def test_tells_out_of_order_or_twice_fail(
    tmp_path: Path, received: list[int], expected: str
) -> None:
    nodes = setup(tmp_path)
    journal(tmp_path, "a", "events", [21.0, "tell", "b", 1, 2])
    journal(tmp_path, "b", "events", *([21.1, "recv-tell", "a", 0, n] for n in received))
    assert failures(tmp_path, nodes)["tell"] == [expected]


def test_an_ask_late_past_its_deadline_fails_unless_its_node_was_frozen(tmp_path: Path) -> None:
    nodes = setup(tmp_path)
    journal(tmp_path, "a", "events", [22.0, "ask-start", 1, "b/echo", 0.5],
            [23.7, "ask-end", 1, "AskTimeoutError"], [30.0, "ask-start", 2, "b/echo", 0.5])
    assert failures(tmp_path, nodes)["ask"] == [
        "a#0 ask to b/echo (deadline 0.50 s) took 1.70 s, ended AskTimeoutError",
        "a#0 ask to b/echo at 30.00 never ended",
    ]
    frozen = Fault("stop", ("a",), start=22.5, end=23.5)
    assert failures(tmp_path, nodes, [frozen])["ask"] == ["a#0 ask to b/echo at 30.00 never ended"]


def test_an_acknowledged_entry_the_group_did_not_commit_fails(tmp_path: Path) -> None:
    nodes = setup(tmp_path)
    journal(tmp_path, "a", "events", [12.0, "appended", 2], [13.0, "appended", 2])
    assert failures(tmp_path, nodes)["stream"] == [
        "offset 2 acknowledged, the log has 2 entries",
        "offset 2 acknowledged 2 times",
        "offset 2 acknowledged, committed through 1",
    ]


def test_a_node_not_linked_again_within_10_s_fails(tmp_path: Path) -> None:
    nodes = setup(tmp_path)
    journal(tmp_path, "b", "members", [40.0, "down", nodes["a"].address, "cut"])
    cut = Fault("stop", ("a",), start=38.0, end=40.0, detail="a 2.0 s")
    assert failures(tmp_path, nodes, [cut])["link"] == [
        "a and b not linked within 10 s after stop a 2.0 s ended at 40.00"
    ]
    journal(tmp_path, "b", "members", [45.0, "up", nodes["a"].address])
    assert "link" not in failures(tmp_path, nodes, [cut])
