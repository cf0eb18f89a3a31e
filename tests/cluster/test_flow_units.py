"""Batched credit grants and the summary line for drops, without processes."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import anyio
import anyio.abc
import pytest

from runtime._cluster.credits import GRANT_AT, WINDOW, grant
from runtime._cluster.delivery import RemoteDelivery
from runtime._cluster.drops import DropSummary
from runtime._wire import framing as wire


class FakeLink:
    def __init__(self) -> None:
        self.owed_credits: dict[int | str, int] = {}
        self.granting: set[int | str] = set()
        self.sent: list[Any] = []
        self.is_open = True

    def send(self, frame: Any) -> bool:
        self.sent.append(frame)
        return True


class FullLink(FakeLink):
    """A link whose buffer refuses frames until `drain()`; its tasks run in `tasks`."""

    def __init__(self, tasks: anyio.abc.TaskGroup) -> None:
        super().__init__()
        self.full = True
        self.tasks = tasks
        self.writer = self
        self.drained = anyio.Event()

    def send(self, frame: Any) -> bool:
        return not self.full and super().send(frame)

    def start_soon(self, work: Any) -> None:
        self.tasks.start_soon(work)

    async def flush(self) -> None:
        await self.drained.wait()

    def drain(self) -> None:
        self.full = False
        self.drained.set()


async def test_a_grant_refused_by_a_full_buffer_is_sent_once_there_is_room(
    anyio_backend: str,
) -> None:
    # Before: the Credit frame was dropped and its credits forgotten, so the sender's
    # window shrank for good (and with a whole window lost, it waited forever).
    async with anyio.create_task_group() as tasks:
        link = FullLink(tasks)
        grant(link, 7, GRANT_AT)  # type: ignore[arg-type]
        grant(link, 7, 5)  # type: ignore[arg-type]
        assert link.sent == [] and link.owed_credits[7] == GRANT_AT + 5
        assert link.granting == {7}  # one task waits for room, whatever else is owed
        link.drain()
    assert link.sent == [wire.Credit(7, GRANT_AT + 5)]
    assert link.owed_credits[7] == 0 and link.granting == set()
    grant(link, 7, GRANT_AT)  # type: ignore[arg-type]
    assert link.sent[-1] == wire.Credit(7, GRANT_AT)  # with room, at once as before


async def test_a_grant_waiting_for_room_ends_with_its_link(anyio_backend: str) -> None:
    async with anyio.create_task_group() as tasks:
        link = FullLink(tasks)
        grant(link, "x", GRANT_AT)  # type: ignore[arg-type]
        link.is_open = False
        link.drained.set()  # the writer's flush returns as the link closes
    assert link.sent == [] and link.granting == set()


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


def test_a_batch_of_sends_owes_its_credits_at_once() -> None:
    link = FakeLink()
    grant(link, 7, GRANT_AT - 1)  # type: ignore[arg-type]
    assert link.sent == [] and link.owed_credits[7] == GRANT_AT - 1
    grant(link, 7, WINDOW)  # type: ignore[arg-type]
    assert link.sent == [wire.Credit(7, GRANT_AT - 1 + WINDOW)] and link.owed_credits[7] == 0


class FakeHost:
    def __init__(self) -> None:
        self.dead: list[tuple[Any, str, str]] = []

    def dead_letter(self, message: Any, recipient: str, reason: str) -> None:
        self.dead.append((message, recipient, reason))


def test_sends_a_dead_link_still_held_are_dead_lettered_as_its_tells_are() -> None:
    host = FakeHost()
    delivery = RemoteDelivery(host, {}, allow_pickle=False)  # type: ignore[arg-type]
    encode = delivery.codec.encode
    link = SimpleNamespace(peer="b@127.0.0.1:2")
    delivery.unsent(link, [  # type: ignore[arg-type]
        wire.Tell(1, encode("t")), wire.SendMany(1, [encode("s1"), encode("s2")]),
        wire.Ask(5, 1, encode("asked")), wire.Send("sink", encode("s3")),
    ])
    assert host.dead == [
        ("t", "b@127.0.0.1:2/$1", "node down"), ("s1", "b@127.0.0.1:2/$1", "node down"),
        ("s2", "b@127.0.0.1:2/$1", "node down"), ("s3", "b@127.0.0.1:2/sink", "node down"),
    ]
    assert delivery.stats()["unsent_dead_lettered"] == 4


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
