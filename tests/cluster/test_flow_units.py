"""Batched credit grants and the summary line for drops, without processes."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from runtime._cluster.credits import GRANT_AT, WINDOW, grant
from runtime._cluster.drops import DropSummary
from runtime._wire import framing as wire


class FakeLink:
    def __init__(self) -> None:
        self.owed_credits: dict[int | str, int] = {}
        self.sent: list[Any] = []

    def send(self, frame: Any) -> bool:
        self.sent.append(frame)
        return True


def test_credits_are_granted_in_batches_of_half_the_window() -> None:
    link = FakeLink()
    for _ in range(WINDOW):
        grant(link, 7)  # type: ignore[arg-type]
    assert 0 < GRANT_AT <= WINDOW
    assert link.sent == [wire.Credit(7, GRANT_AT)] * (WINDOW // GRANT_AT)
    assert link.owed_credits[7] == WINDOW % GRANT_AT


def test_a_sender_that_used_its_window_is_always_granted_some_back() -> None:
    # Whatever the receiver still owes, taking in the window's sends sends a grant.
    link = FakeLink()
    for owed in range(GRANT_AT):
        link.owed_credits["x"], link.sent = owed, []
        for _ in range(WINDOW):
            grant(link, "x")  # type: ignore[arg-type]
        assert sum(frame.count for frame in link.sent) >= WINDOW - GRANT_AT + 1


def test_drops_are_logged_once_then_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    summary = DropSummary(lambda: now[0], interval=10.0)
    with caplog.at_level(logging.WARNING, logger="repertory.cluster"):
        for _ in range(500):
            summary.count("n1/slow", "drop_new")
        assert len(caplog.records) == 1
        assert "1 message(s)" in caplog.records[0].getMessage()
        assert "n1/slow (drop_new)" in caplog.records[0].getMessage()
        now[0] += 10.0
        summary.count("n1/slow", "drop_new")
        summary.count("n1/other", "reject")
    assert len(caplog.records) == 2
    line = caplog.records[1].getMessage()
    assert "dropped 500 message(s)" in line
    assert "500 by n1/slow (drop_new)" in line
    assert "await ref.send(msg)" in line
    assert summary.total == 502
