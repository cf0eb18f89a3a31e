"""Spawning on another node by import path (or by value where pickle is allowed), and
watching actors across nodes: `Terminated` on a stop and on a crash, both ways."""

from __future__ import annotations

from typing import Any

import pytest

from actors import Actor
from actors.errors import ActorCrashedError, SerializationError
from actors.messages import Terminated
from actors.testkit import TestProbe
from runtime import ActorSystem
from tests.cluster.apps import Crasher, Opaque, Recorder
from tests.cluster.nodes import NodeProcess, Nodes, open_node

pytestmark = pytest.mark.anyio


async def test_spawn_on_another_node_by_import_path(
    system: ActorSystem, peer: NodeProcess
) -> None:
    await system.cluster.join(peer.address)
    name = f"recorder-{system.address.rpartition(':')[2]}"
    recorder = system.spawn(Recorder, name=name, node=peer.address)
    assert recorder.address == f"{peer.address}/{name}"
    recorder.tell("first")  # queued behind the Spawn frame on the same link
    assert await recorder.ask("get", timeout=2.0) == ["first"]
    # The peer registered the name: a lookup there finds the same actor.
    assert await system.lookup(name, node=peer.address) == recorder


async def test_spawn_a_class_by_value_where_pickle_is_allowed(
    anyio_backend: str, nodes: Nodes
) -> None:
    class Doubler(Actor[int]):  # defined here: the peer cannot import it by path
        def receive(self, message: int) -> int:
            return message * 2

    # Both nodes opt in (pickle is off by default).
    peer = await nodes.start("pickler", extra_args=["--allow-pickle"])
    async with open_node(allow_pickle=True) as system:
        await system.cluster.join(peer.address)
        doubler = system.spawn(Doubler, node=peer.address)
        assert await doubler.ask(21, timeout=2.0) == 42


async def test_without_pickle_a_class_not_importable_by_path_fails_at_the_sender(
    anyio_backend: str, peer: NodeProcess
) -> None:
    class Local(Actor[Any]):
        def receive(self, message: Any) -> Any:
            return message

    async with open_node(allow_pickle=False) as system:
        await system.cluster.join(peer.address)
        with pytest.raises(
            SerializationError, match=r"Local.*not importable by path and pickling is switched off"
        ):
            system.spawn(Local, node=peer.address)
        # Messages follow the same rule, and the failure is the sender's, at once.
        echo = await system.lookup("echo", node=peer.address)
        assert echo is not None
        with pytest.raises(SerializationError, match=r"Opaque.*allow_pickle=False"):
            echo.tell(Opaque(1))
        with pytest.raises(SerializationError, match=r"Opaque.*allow_pickle=False"):
            await echo.ask(Opaque(2), timeout=2.0)
        assert await echo.ask("the link is fine", timeout=2.0) == "the link is fine"


async def test_watching_a_remote_actor_gives_terminated_when_it_stops(
    system: ActorSystem, peer: NodeProcess
) -> None:
    await system.cluster.join(peer.address)
    recorder = system.spawn(Recorder, node=peer.address)
    probe = TestProbe(system)
    probe.watch(recorder)
    system.stop(recorder)
    terminated = await probe.expect(Terminated)
    assert terminated.ref == recorder and terminated.reason is None
    # Watching it now that it is gone answers at once.
    assert (await probe.expect_terminated(recorder)).ref == recorder


async def test_watching_a_remote_actor_gives_terminated_with_the_crash(
    system: ActorSystem, peer: NodeProcess
) -> None:
    await system.cluster.join(peer.address)
    crasher = system.spawn(Crasher, node=peer.address)
    probe = TestProbe(system)
    probe.watch(crasher)
    crasher.tell("die")
    terminated = await probe.expect(Terminated)
    assert terminated.ref == crasher
    assert isinstance(terminated.reason, ActorCrashedError)
    assert terminated.reason.error_type == "CrashError"
    assert "crasher refused 'die'" in terminated.reason.remote_traceback


class Idle(Actor[Any]):
    def receive(self, message: Any) -> None:
        return None


async def test_a_remote_node_watching_a_local_actor_sees_it_stop(
    system: ActorSystem, peer: NodeProcess
) -> None:
    await system.cluster.join(peer.address)
    control = await system.lookup("control", node=peer.address)
    assert control is not None
    local = system.spawn(Idle)
    probe = TestProbe(system)
    assert await control.ask(("watch", local, probe.ref), timeout=2.0) is True
    system.stop(local)
    terminated = await probe.expect(Terminated)
    assert terminated.ref == local and terminated.reason is None
