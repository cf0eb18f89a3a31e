"""`await system.start(..., node=peer)` returns once the actor has started there, or
raises what stopped it; a failed remote `spawn` makes asks to its ref say why; and
`await system.stop(remote_ref)` returns once the remote actor has stopped."""

from __future__ import annotations

import pytest

from actors import ActorCrashedError, ActorStoppedError, AskTimeoutError, NameTakenError
from actors.errors import NodeDownError, SerializationError
from actors.testkit import TestProbe
from runtime import ActorSystem
from tests.cluster.apps import Opaque, Starter
from tests.cluster.nodes import NodeProcess, open_node

pytestmark = pytest.mark.anyio


def unique(system: ActorSystem, name: str) -> str:
    """A name no other test on the shared peer uses (each in-test node has its port)."""
    return f"{name}-{system.address.rpartition(':')[2]}"


async def test_start_on_a_node_returns_once_on_start_has_run_there(
    system: ActorSystem, peer: NodeProcess
) -> None:
    await system.cluster.join(peer.address)
    ref = await system.start(Starter, 0.1, node=peer.address)
    assert await ref.ask("started?", timeout=2.0) == "started"


async def test_start_on_a_node_raises_name_taken(
    system: ActorSystem, peer: NodeProcess
) -> None:
    await system.cluster.join(peer.address)
    name = unique(system, "taken")
    first = await system.start(Starter, name=name, node=peer.address)
    with pytest.raises(NameTakenError, match=rf"name '{name}' is taken by {peer.address}/{name}"):
        await system.start(Starter, name=name, node=peer.address)
    assert await first.ask("still there?", timeout=2.0) == "started"


async def test_start_on_a_node_raises_the_constructors_and_on_starts_errors(
    system: ActorSystem, peer: NodeProcess
) -> None:
    await system.cluster.join(peer.address)
    with pytest.raises(ActorCrashedError, match=r"crashed starting: ValueError: starter has "
                       r"a bad config") as raised:
        await system.start(Starter, fail_init=True, node=peer.address)
    assert "raise ValueError" in raised.value.remote_traceback
    probe = TestProbe(system)
    name = unique(system, "no-db")
    with pytest.raises(ActorCrashedError, match=rf"actor {peer.address}/{name} crashed "
                       r"starting: ConnectionError: starter cannot reach its database"):
        await system.start(Starter, fail_start=True, report=probe.ref, name=name,
                           node=peer.address)
    assert await probe.expect("stopped") == "stopped"  # and it was stopped there
    assert await system.lookup(name, node=peer.address) is None


async def test_start_on_a_node_that_takes_too_long_times_out(
    system: ActorSystem, peer: NodeProcess
) -> None:
    await system.cluster.join(peer.address)
    probe = TestProbe(system)
    with pytest.raises(AskTimeoutError, match=r"start of .*/\$\d+ timed out after 0\.1 s"):
        await system.start(Starter, 1.0, report=probe.ref, node=peer.address, timeout=0.1)
    assert await probe.expect("stopped") == "stopped"  # stopped there once it started


async def test_start_raises_serialization_and_node_down_errors_at_the_caller(
    anyio_backend: str, peer: NodeProcess
) -> None:
    async with open_node(allow_pickle=False) as system:
        with pytest.raises(NodeDownError, match=rf"node {peer.address} is down \(cannot spawn "
                           r"there: not linked to this node\)"):
            await system.start(Starter, node=peer.address)
        await system.cluster.join(peer.address)
        with pytest.raises(SerializationError, match=r"Opaque"):
            await system.start(Starter, Opaque(1), node=peer.address)


async def test_asks_to_a_ref_whose_spawn_failed_say_why(
    system: ActorSystem, peer: NodeProcess
) -> None:
    await system.cluster.join(peer.address)
    name = unique(system, "twice")
    await system.start(Starter, name=name, node=peer.address)
    second = system.spawn(Starter, name=name, node=peer.address)  # returns at once
    with pytest.raises(ActorStoppedError, match=rf"is stopped and never started: its spawn "
                       rf"failed with NameTakenError\('{name}'") as raised:
        await second.ask("hello", timeout=2.0)
    assert isinstance(raised.value.__cause__, NameTakenError)


async def test_await_stop_of_a_remote_actor_returns_once_it_has_stopped(
    system: ActorSystem, peer: NodeProcess
) -> None:
    await system.cluster.join(peer.address)
    probe = TestProbe(system)
    ref = await system.start(Starter, report=probe.ref, node=peer.address)
    reason = await system.stop(ref)
    assert reason is None
    assert await probe.expect("stopped") == "stopped"
    with pytest.raises(ActorStoppedError):
        await ref.ask("there?", timeout=2.0)
    assert await system.stop(ref) is None  # gone already: at once


async def test_await_stop_of_an_actor_on_a_node_not_linked_raises_node_down(
    anyio_backend: str, peer: NodeProcess
) -> None:
    async with open_node() as system, open_node("other", check_tasks=False) as other:
        await system.cluster.join(peer.address)
        ref = await system.start(Starter, node=peer.address)
        stranger = other.cluster.ref_from_text(system.cluster.ref_to_text(ref) or "")
        with pytest.raises(NodeDownError, match=r"not linked: cannot stop"):
            await other.stop(stranger)
        other.stop(stranger)  # not awaited: nothing to do, nothing raised
        await system.stop(ref)
