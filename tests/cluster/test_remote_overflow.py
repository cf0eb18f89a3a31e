"""A full bounded mailbox on another node: its overflow policy applies there, its drops
are dead letters there, the rest of a batch is delivered, and an ask fails at once."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import pytest

from actors.errors import MailboxFullError
from runtime import ActorSystem
from runtime._cluster.credits import WINDOW
from tests.cluster.nodes import Nodes, eventually, wait_for_log

pytestmark = pytest.mark.anyio


async def test_a_full_remote_mailbox_rejects_there_and_fails_asks_at_once(
    system: ActorSystem, nodes: Nodes
) -> None:
    node = await nodes.start("bounded")
    await system.cluster.join(node.address)
    narrow = await system.lookup("narrow", node=node.address)  # capacity 2, "reject"
    control = await system.lookup("control", node=node.address)
    assert narrow is not None and control is not None
    # One frame: 1.0 and 0.01 fill the mailbox, 0.02 and 0.03 are rejected there.
    narrow.tell_many([1.0, 0.01, 0.02, 0.03])

    async def waiting() -> int:
        size: int = await control.ask(("mailbox", "narrow"), timeout=2.0)
        return size

    await eventually(_equals(waiting, 1), what="the actor busy with the 1.0 s message")
    narrow.tell(0.05)  # fills the mailbox again
    await eventually(_equals(waiting, 2), what="a full mailbox")
    started = time.monotonic()
    with pytest.raises(MailboxFullError, match="narrow"):
        await narrow.ask(0.0, timeout=5.0)
    # At once, not after the 5 s timeout (a loaded machine may take a while for once).
    assert time.monotonic() - started < 2.5

    async def rejected() -> list[str]:
        letters = await control.ask(("dead_letters",), timeout=2.0)
        return [reason for recipient, reason in letters if recipient.endswith("/narrow")]

    assert await rejected() == ["mailbox full (reject)"] * 2
    # One WARNING line for the first drop (the next comes at most once per interval).
    line = await wait_for_log(node, "full bounded mailboxes dropped")
    assert "/narrow (reject)" in line and "await ref.send(msg)" in line
    assert node.log().count("full bounded mailboxes dropped") == 1

    async def handled() -> bool:
        try:
            seen: list[float] = await narrow.ask("handled", timeout=5.0)
        except MailboxFullError:
            return False  # still full: 1.0 is being handled
        return seen == [1.0, 0.01, 0.05]

    await eventually(handled, what="the messages that fitted, handled in order")


def _equals(read: Callable[[], Awaitable[int]], expected: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await read() == expected

    return check


async def test_remote_send_waits_for_room_and_drops_nothing(
    system: ActorSystem, nodes: Nodes
) -> None:
    node = await nodes.start("sendee")
    await system.cluster.join(node.address)
    narrow = await system.lookup("narrow_drop", node=node.address)  # capacity 5, drop_new
    control = await system.lookup("control", node=node.address)
    assert narrow is not None and control is not None
    count = WINDOW + 300
    started = time.monotonic()
    for _ in range(count):
        await narrow.send(0.002)  # a tell would overflow and drop most of these
    # The sends waited: by the time the last one returned, all but a window had been
    # handled (or are in the mailbox).
    assert time.monotonic() - started > (count - 5 - WINDOW) * 0.002

    async def all_handled() -> bool:
        try:
            seen: list[float] = await narrow.ask("handled", timeout=5.0)
        except MailboxFullError:
            return False
        return len(seen) == count

    await eventually(all_handled, what="every send handled")
    letters = await control.ask(("dead_letters",), timeout=2.0)
    assert [r for r in letters if r[0].endswith("/narrow_drop")] == []
    assert system.dead_letters.count == 0
