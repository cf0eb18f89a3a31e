"""Remote tell, ask and tell_many between the in-test node and a node process.

Messages keep their types and their order per sender; refs inside messages work
when used; a remote crash keeps its type name and traceback; a slow remote times out.
"""

from __future__ import annotations

import random
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from actors import ActorRef
from actors.errors import ActorCrashedError, AskTimeoutError
from actors.testkit import TestProbe
from runtime import ActorSystem
from runtime._cluster.refs import RemoteRef
from tests.cluster.apps import Color, Crasher, Order, Point, Recorder, Slow
from tests.cluster.nodes import NodeProcess

pytestmark = pytest.mark.anyio


async def joined(system: ActorSystem, node: NodeProcess) -> str:
    return await system.cluster.join(node.address)


async def test_ask_and_tell_reach_an_actor_in_another_process(
    system: ActorSystem, peer: NodeProcess
) -> None:
    await joined(system, peer)
    echo = await system.lookup("echo", node=peer.address)
    assert isinstance(echo, RemoteRef) and echo.address == f"{peer.address}/echo"
    assert await echo.ask("ping", timeout=2.0) == "ping"

    probe = TestProbe(system)
    echo.tell("hello", sender=probe.ref)
    assert await probe.expect("hello") == "hello"
    assert probe.last_sender == echo  # the remote actor, as a ref that works here


async def test_tell_many_arrives_whole_and_in_order(
    system: ActorSystem, peer: NodeProcess
) -> None:
    await joined(system, peer)
    recorder = system.spawn(Recorder, node=peer.address)
    recorder.tell_many(range(500))
    recorder.tell_many([("batch", 2), ("batch", 3)])
    assert await recorder.ask("get", timeout=5.0) == [*range(500), ("batch", 2), ("batch", 3)]


async def test_send_waits_for_room_and_delivers(system: ActorSystem, peer: NodeProcess) -> None:
    await joined(system, peer)
    recorder = system.spawn(Recorder, node=peer.address)
    for i in range(100):
        await recorder.send(("sent", i))
    assert await recorder.ask("get", timeout=5.0) == [("sent", i) for i in range(100)]


async def test_order_per_sender_holds_under_load(system: ActorSystem, peer: NodeProcess) -> None:
    """20k messages from two local senders, mixing tell and tell_many in random-sized
    batches: each sender's messages arrive in the order sent."""
    await joined(system, peer)
    recorder = system.spawn(Recorder, node=peer.address)
    rng = random.Random(5)
    sent: dict[str, list[tuple[str, int]]] = {"a": [], "b": []}
    for _ in range(400):
        sender = rng.choice("ab")
        start = len(sent[sender])
        batch = [(sender, start + i) for i in range(rng.randint(1, 50))]
        sent[sender] += batch
        if rng.random() < 0.5:
            recorder.tell_many(batch)
        else:
            for message in batch:
                recorder.tell(message)
        if rng.random() < 0.05:
            await anyio.lowlevel.checkpoint()  # let the writer run mid-stream, as senders do
    seen = await recorder.ask("get", timeout=10.0)
    assert len(seen) == len(sent["a"]) + len(sent["b"])
    for sender, expected in sent.items():
        assert [tuple(m) for m in seen if m[0] == sender] == expected


async def test_messages_from_a_remote_sender_arrive_in_order(
    system: ActorSystem, peer: NodeProcess
) -> None:
    await joined(system, peer)
    control = await system.lookup("control", node=peer.address)
    assert control is not None
    probe = TestProbe(system)
    count = 5000
    assert await control.ask(("tell", probe.ref, count), timeout=5.0) == count
    got = [await probe.receive(timeout=5.0) for _ in range(count)]
    assert got == list(range(count))
    assert probe.last_sender == control


def _same_types(a: Any, b: Any) -> bool:
    """`a == b` and every container and element has the same type, all the way down."""
    if type(a) is not type(b) or a != b:
        return False
    if isinstance(a, (list, tuple)):
        return all(_same_types(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return all(_same_types(a[k], b[k]) for k in a)
    return True


VALUES: list[Any] = [
    (1, "two", 3.0),
    {1, 2, 3},
    frozenset({"a", "b"}),
    Point(3, 4),
    [Point(1, 2), (Point(5, 6),)],
    Order("tea", 2, frozenset({"green", "hot"})),
    Color.GREEN,
    {"nested": {"deeper": [(1, 2), {3}]}, "color": Color.RED},
    {(1, 2): "tuple key", 3: {4, 5}},
    b"\x00bytes\xff",
    bytearray(b"mutable"),
    None,
    True,
    2**62,
    -1.5,
    "",
]


async def test_types_survive_the_round_trip(system: ActorSystem, peer: NodeProcess) -> None:
    await joined(system, peer)
    echo = await system.lookup("echo", node=peer.address)
    assert echo is not None
    for value in VALUES:
        back = await echo.ask(value, timeout=2.0)
        assert _same_types(back, value), (value, back)


async def test_refs_inside_messages_work_when_used(
    system: ActorSystem, peer: NodeProcess
) -> None:
    await joined(system, peer)
    control = await system.lookup("control", node=peer.address)
    assert control is not None
    probe = TestProbe(system)

    # A local ref inside a message: the remote node uses it to reach the probe here.
    assert await control.ask(("tell", probe.ref, 2), timeout=2.0) == 2
    assert [await probe.receive(), await probe.receive()] == [0, 1]

    # A remote ref coming back in an answer works here, for asks and tells.
    echo = await control.ask(("whereis", "echo"), timeout=2.0)
    assert isinstance(echo, ActorRef) and echo.address == f"{peer.address}/echo"
    assert await echo.ask(Point(1, 1), timeout=2.0) == Point(1, 1)

    # A local ref that went there and back inside a structure is the same actor
    # (equal, same hash) and reaches it.
    back = await echo.ask({"to": (probe.ref, [probe.ref])}, timeout=2.0)
    assert back == {"to": (probe.ref, [probe.ref])}
    assert hash(back["to"][0]) == hash(probe.ref)
    back["to"][1][0].tell("used")
    assert await probe.expect("used") == "used"


async def test_a_remote_crash_keeps_its_type_name_and_traceback(
    system: ActorSystem, peer: NodeProcess
) -> None:
    await joined(system, peer)
    crasher = system.spawn(Crasher, node=peer.address)
    with pytest.raises(ActorCrashedError, match=r"CrashError: crasher refused 'now'") as caught:
        await crasher.ask("now", timeout=2.0)
    error = caught.value
    assert error.error_type == "CrashError"
    assert error.actor.startswith(peer.address)
    assert "Traceback (most recent call last)" in error.remote_traceback
    assert "apps.py" in error.remote_traceback and "in receive" in error.remote_traceback
    assert "crasher refused 'now'" in error.remote_traceback


async def test_an_ask_to_a_slow_remote_times_out(system: ActorSystem, peer: NodeProcess) -> None:
    await joined(system, peer)
    slow = system.spawn(Slow, node=peer.address)
    started = anyio.current_time()
    with pytest.raises(AskTimeoutError, match=r"ask to .*/\$\d+ timed out after 0\.3 s"):
        await slow.ask(1.5, timeout=0.3)
    # At its timeout, not when the answer came (1.5 s): room for a loaded machine.
    assert 0.25 <= anyio.current_time() - started < 1.5
    # The late answer is dropped; the link and the actor keep working.
    assert await slow.ask(0.0, timeout=5.0) == "done"
    echo = await system.lookup("echo", node=peer.address)
    assert echo is not None and await echo.ask("still up", timeout=2.0) == "still up"
