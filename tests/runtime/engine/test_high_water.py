"""An unbounded mailbox passing its high-water mark logs one warning naming the actor,
and warns again only after it drained and passed the mark again."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from actors import Actor, Mailbox
from runtime import ActorSystem
from runtime._engine import turn

pytestmark = pytest.mark.anyio

MARK = 1_000


class Flooded(Actor[Any]):
    """Asked ("fill", n), tells itself n messages in one go; asked "seen", answers."""

    def __init__(self) -> None:
        self.seen = 0

    def receive(self, message: Any) -> Any:
        if message == "seen":
            return self.seen
        if isinstance(message, tuple):
            for i in range(message[1]):
                self.context.ref.tell(i)
            return None
        self.seen += 1
        return None


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and "unbounded mailbox" in r.getMessage()]


async def test_one_warning_per_crossing_of_the_mark(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(turn, "HIGH_WATER", MARK)
    caplog.set_level(logging.WARNING, logger="repertory")
    async with ActorSystem("hw") as system:
        flooded = system.spawn(Flooded, name="flooded")
        await flooded.ask(("fill", 3 * MARK), timeout=10.0)
        assert await flooded.ask("seen", timeout=10.0) == 3 * MARK
        (line,) = _warnings(caplog)  # many turns over the mark, one warning
        assert "flooded" in line and "Mailbox(capacity=...)" in line
        await flooded.ask(("fill", MARK // 2), timeout=10.0)  # under the mark: none
        assert await flooded.ask("seen", timeout=10.0) == 3 * MARK + MARK // 2
        assert len(_warnings(caplog)) == 1
        await flooded.ask(("fill", 2 * MARK), timeout=10.0)  # drained, crossed again
        assert await flooded.ask("seen", timeout=10.0) == 5 * MARK + MARK // 2
        assert len(_warnings(caplog)) == 2


async def test_a_bounded_mailbox_is_not_warned_of(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(turn, "HIGH_WATER", MARK)
    caplog.set_level(logging.WARNING, logger="repertory")
    async with ActorSystem("hw") as system:
        bounded = system.spawn(
            Flooded, name="bounded", mailbox=Mailbox(capacity=10 * MARK, overflow="drop_new")
        )
        await bounded.ask(("fill", 3 * MARK), timeout=10.0)
        assert await bounded.ask("seen", timeout=10.0) == 3 * MARK
    assert _warnings(caplog) == []
