"""Oversized messages, against a real node process: a reply too large for a frame
reaches the asker at once as `SerializationError` naming the limit, and the actor that
answered keeps running; a tell or ask too large fails at the sender, before anything
is queued or left pending.

Issue 10: a 70 MB reply stopped the replying actor ("engine error ... stopping it")
and left its asker waiting out the whole timeout; an oversized tell raised `FrameError`
and left its entry in `link.pending`.
"""

from __future__ import annotations

import time

import pytest

from actors.errors import SerializationError
from runtime import ActorSystem
from runtime._wire import framing as wire
from tests.cluster.nodes import Nodes, open_node

LIMIT = wire.payload_limit(wire.DEFAULT_MAX_FRAME_SIZE)  # the default frame's
LIMIT_TEXT = rf"over the {LIMIT}-byte limit of one message between nodes"

pytestmark = pytest.mark.anyio


async def test_a_reply_too_large_fails_the_asker_at_once_and_the_actor_runs_on(
    anyio_backend: str, nodes: Nodes
) -> None:
    target = await nodes.start("target", app="tests.cluster.security_app:app")
    async with open_node() as system:
        await system.cluster.join(target.address)
        big = await system.lookup("big", node=target.address)
        assert big is not None
        started = time.monotonic()
        with pytest.raises(SerializationError, match=rf"a bytes of {LIMIT + 10} bytes.*"
                           + LIMIT_TEXT):
            await big.ask(LIMIT + 5, timeout=30.0)
        assert time.monotonic() - started < 15.0, "the asker waited for its timeout"
        assert await big.ask(10, timeout=5.0) == b"x" * 10
        assert await big.ask(-1, timeout=5.0) == 3  # the same actor, never restarted
    assert "stopping it" not in target.log() and "CRITICAL" not in target.log()


def pending(system: ActorSystem, node: str) -> dict[int, object]:
    return system.cluster.links[node].pending


async def test_an_oversized_tell_or_ask_fails_at_the_sender_leaving_nothing_pending(
    anyio_backend: str, nodes: Nodes
) -> None:
    target = await nodes.start("target", app="tests.cluster.security_app:app")
    async with open_node() as system:
        await system.cluster.join(target.address)
        echo = await system.lookup("echo", node=target.address)
        assert echo is not None
        huge = b"y" * (LIMIT + 1)
        with pytest.raises(SerializationError, match=LIMIT_TEXT):
            echo.tell(huge)
        with pytest.raises(SerializationError, match=LIMIT_TEXT):
            echo.tell(huge, sender=None)
        with pytest.raises(SerializationError, match=LIMIT_TEXT):
            echo.tell_many([b"small", huge])
        with pytest.raises(SerializationError, match=LIMIT_TEXT):
            await echo.send(huge)
        with pytest.raises(SerializationError, match=LIMIT_TEXT):
            await echo.ask(huge, timeout=5.0)
        assert pending(system, target.address) == {}
        # The link carries on: nothing of the refused messages went out.
        assert await echo.ask("after", timeout=5.0) == "after"
        assert pending(system, target.address) == {}
