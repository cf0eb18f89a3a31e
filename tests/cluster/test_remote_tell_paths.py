"""A remote tell's two paths, against a node process: plain values (the hot path in
`RemoteRef.tell`) and everything else (`RemoteDelivery.tell`) arrive as they were sent,
interleaved in order, and what the hot path cannot encode fails at the sender with the
general path's `SerializationError`, leaving the link as it was."""

from __future__ import annotations

import pytest

from actors.errors import SerializationError
from runtime import ActorSystem
from tests.cluster.apps import Point, Recorder
from tests.cluster.nodes import NodeProcess
from tests.cluster.test_remote_messaging import joined

pytestmark = pytest.mark.anyio

MIXED = [1, "two", b"three", 4.5, True, None, (6, 7), Point(8, 9), [10, "x"], {"k": 11},
         -(2**63), 2**64 - 1, "", b""]


async def test_plain_and_other_values_arrive_as_sent_and_in_order(
    system: ActorSystem, peer: NodeProcess
) -> None:
    await joined(system, peer)
    recorder = system.spawn(Recorder, node=peer.address)
    for value in MIXED * 50:
        recorder.tell(value)
    got = await recorder.ask("get", timeout=5.0)
    assert got == MIXED * 50
    assert [type(value) for value in got] == [type(value) for value in MIXED * 50]


async def test_what_msgpack_cannot_hold_fails_at_the_sender_and_the_link_goes_on(
    system: ActorSystem, peer: NodeProcess
) -> None:
    await joined(system, peer)
    recorder = system.spawn(Recorder, node=peer.address)
    recorder.tell("before")
    with pytest.raises(SerializationError, match=r"cannot serialize int: .*ints < -2\*\*63"):
        recorder.tell(2**64)
    with pytest.raises(SerializationError, match=r"cannot serialize str: .*surrogates"):
        recorder.tell("bad \udc80")
    recorder.tell("after")
    assert await recorder.ask("get", timeout=5.0) == ["before", "after"]
