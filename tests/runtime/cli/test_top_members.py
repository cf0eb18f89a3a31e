"""`top` shows real rates over one connection, redrawn in place; `members` shows the
cluster as one node sees it."""

from __future__ import annotations

import os
import pty
import subprocess
import time
from pathlib import Path

from runtime.cli.top import HOME_AND_CLEAR
from tests.runtime.cli.conftest import CLI, Node, repertory, start_node, stop


def rows_of(table: str) -> dict[str, list[str]]:
    header, *rows = [line for line in table.splitlines() if line.strip()]
    assert header.split() == ["ACTOR", "TYPE", "STATUS", "MAILBOX", "MSG/S", "HANDLED",
                              "FAILURES", "RESTARTS"]
    return {row.split()[0].rsplit("/", 1)[-1]: row.split() for row in rows}


def test_top_once_samples_real_rates_over_one_interval(node: Node, cookie_file: Path) -> None:
    result = repertory("top", node.address, "--cookie-file", str(cookie_file), "--once",
                       "--interval", "1")
    assert result.returncode == 0, result.stderr
    title, _, table = result.stdout.partition("\n")
    assert node.address in title and "actors" in title
    rows = rows_of(table)
    assert rows["echo"][1:4] == ["Echo", "running", "0"]
    # The ticker handles a message every ~5 ms: a real rate, well above zero.
    assert 20 <= float(rows["ticker"][4]) <= 400, rows["ticker"]
    assert int(rows["ticker"][5]) >= 20
    assert rows["echo"][4] == "0"


def test_top_redraws_in_place_over_one_connection(node: Node, cookie_file: Path) -> None:
    leader, follower = pty.openpty()
    top = subprocess.Popen(
        [*CLI, "top", node.address, "--cookie-file", str(cookie_file), "--interval", "0.2"],
        stdout=follower, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    os.close(follower)
    output = b""
    try:
        deadline = time.monotonic() + 20
        while output.count(HOME_AND_CLEAR.encode()) < 4 and time.monotonic() < deadline:
            output += os.read(leader, 65536)
    finally:
        stop(top)  # type: ignore[arg-type]
        os.close(leader)
    text = output.decode()
    assert text.count(HOME_AND_CLEAR) >= 4, "each refresh homes the cursor and clears"
    whole = text.split(HOME_AND_CLEAR)[-2]  # the last one may still be arriving
    _, _, table = whole.replace("\r\n", "\n").partition("\n")
    assert float(rows_of(table)["ticker"][4]) > 0
    # One join for the whole run: the node saw one CLI node come up, not one per refresh.
    ups = [line for line in node.rest().splitlines()
           if "repertory-cli@" in line and " is up" in line]
    assert len(ups) == 1, ups


def test_members_lists_each_peer_with_phi_and_link_age(node: Node, cookie_file: Path) -> None:
    other = start_node(cookie_file, "--seed", node.address, name="other")
    try:
        deadline = time.monotonic() + 20
        while True:
            result = repertory("members", node.address, "--cookie-file", str(cookie_file))
            assert result.returncode == 0, result.stderr
            if other.address in result.stdout or time.monotonic() > deadline:
                break
        header, *rows = result.stdout.splitlines()
        assert header.split()[:3] == ["NODE", "STATUS", "PHI"]
        by_node = {row.split()[0]: row.split() for row in rows}
        assert by_node[node.address][1] == "self"
        peer = by_node[other.address]
        assert peer[1] == "up"
        assert 0.0 <= float(peer[2]) < 8.0  # phi: under the threshold
        assert peer[4] == "s" and float(peer[3]) >= 0  # link age, in seconds
        assert not any(row.startswith("repertory-cli@") for row in rows), (
            "the command's own node is left out")
    finally:
        stop(other.process)
