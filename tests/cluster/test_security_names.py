"""No import by name, against real node processes: a type a peer names on the wire
resolves only to a Struct, dataclass, enum or exception class of a module the node
has imported or lists (and remote spawn only to an Actor class); whatever fails while
decoding, `SystemExit` included, is a `SerializationError` for that message alone,
and the link carries on.

Every attack here comes from a peer that holds the cookie and computes valid record
tags (`tests.cluster.hostile.intruder`): these checks are what stands after the
handshake. Pickle is off by default on ``repertory node``.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import msgspec
import pytest
from msgspec.msgpack import Ext

from runtime._wire import codec as _codec
from runtime._wire import framing as wire
from tests.cluster.hostile import Intruder, intruder, still_serving
from tests.cluster.nodes import NodeProcess, Nodes

SECURITY_APP = "tests.cluster.security_app:app"
SIDE_EFFECTS = "tests.runtime.wire.side_effects"  # imports leave a mark, then exit


def named(code: int, name: str, rest: Any) -> bytes:
    return msgspec.msgpack.encode(Ext(code, msgspec.msgpack.encode([name, rest])))


async def ask_echo(peer: Intruder, payload: bytes, corr: int) -> wire.Reply:
    await peer.send_frames([wire.encode_frame(wire.Ask(corr, "echo", payload, 5.0))])
    reply = await peer.expect(wire.Reply)
    assert reply.corr == corr
    return reply


def launch(nodes: Nodes, tmp_path: Path, *extra: str) -> tuple[NodeProcess, Path]:
    mark = tmp_path / "imported"
    node = nodes.launch("target", app=SECURITY_APP, extra_args=extra, env={
        "REPERTORY_SIDE_EFFECT_MARK": str(mark), "REPERTORY_SIDE_EFFECT_EXIT": "1",
    })
    return node, mark


@pytest.mark.anyio
async def test_a_type_named_by_a_peer_never_imports_its_module(
    anyio_backend: str, nodes: Nodes, tmp_path: Path
) -> None:
    target, mark = launch(nodes, tmp_path)
    async with intruder(target.port, "namer") as peer:
        for corr, code in enumerate((_codec._STRUCT, _codec._DATACLASS, _codec._ENUM), 1):
            reply = await ask_echo(peer, named(code, f"{SIDE_EFFECTS}:Listed", {"value": 1}),
                                   corr)
            assert not reply.ok and reply.error is not None
            assert reply.error.type_name == "SerializationError"
            assert f"module '{SIDE_EFFECTS}' is not imported on this node" in (
                reply.error.message
            )
        # The module whose import ran venv's command line inside the node (issue 10).
        reply = await ask_echo(peer, named(_codec._STRUCT, "venv.__main__:X", {}), 9)
        assert reply.error is not None and "'venv.__main__' is not imported" in (
            reply.error.message
        )
        reply = await ask_echo(peer, msgspec.msgpack.encode("the link carries on"), 10)
        assert reply.ok and msgspec.msgpack.decode(reply.payload) == "the link carries on"
    assert not mark.exists()
    await still_serving(target)


@pytest.mark.anyio
@pytest.mark.parametrize("cls", ["Exits", "Interrupts"])
async def test_a_constructor_raising_systemexit_costs_one_message_not_the_node(
    anyio_backend: str, nodes: Nodes, tmp_path: Path, cls: str
) -> None:
    target, _ = launch(nodes, tmp_path)
    async with intruder(target.port, "exiter") as peer:
        payload = named(_codec._DATACLASS, f"tests.cluster.security_app:{cls}", {"code": 3})
        reply = await ask_echo(peer, payload, 1)
        assert reply.error is not None and reply.error.type_name == "SerializationError"
        raised = "SystemExit(3)" if cls == "Exits" else "KeyboardInterrupt()"
        assert raised in reply.error.message
        await peer.send_frames([wire.encode_frame(wire.Tell("echo", payload))] * 3)
        reply = await ask_echo(peer, msgspec.msgpack.encode("still here"), 2)
        assert reply.ok
    assert target.process.poll() is None
    await still_serving(target)


@pytest.mark.anyio
async def test_remote_spawn_starts_only_actor_classes_of_imported_modules(
    anyio_backend: str, nodes: Nodes, tmp_path: Path
) -> None:
    target, mark = launch(nodes, tmp_path)
    cases = {
        f"{SIDE_EFFECTS}:Listed": f"module '{SIDE_EFFECTS}' is not imported on this node",
        "tests.cluster.apps:Point": "it is not an actor class",  # imported, not an Actor
        "os:system": "it is not an actor class",
        "builtins:": "a class is named 'module:QualName' on the wire",
    }
    args = msgspec.msgpack.encode([[], {}])
    async with intruder(target.port, "spawner") as peer:
        for corr, (path, error) in enumerate(cases.items(), 1):
            await peer.send_frames([wire.encode_frame(wire.Spawn(corr, path, args))])
            spawned = await peer.expect(wire.Spawned)
            assert spawned.corr == corr and spawned.error is not None, path
            assert error in spawned.error.message, spawned.error.message
        await peer.send_frames([wire.encode_frame(wire.Spawn(99, "tests.cluster.apps:Echo",
                                                             args, "spawned-echo"))])
        spawned = await peer.expect(wire.Spawned)
        assert spawned.error is None and spawned.actor.endswith("|spawned-echo")
    assert not mark.exists()
    await still_serving(target)


class Trap:
    """Unpickling this creates the file it names."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.path,))


@pytest.mark.anyio
async def test_repertory_node_refuses_pickle_unless_told_otherwise(
    anyio_backend: str, nodes: Nodes, tmp_path: Path
) -> None:
    target, _ = launch(nodes, tmp_path)
    trap = tmp_path / "unpickled"
    payload = msgspec.msgpack.encode(Ext(_codec._PICKLE, pickle.dumps(Trap(trap))))
    async with intruder(target.port, "pickler") as peer:
        reply = await ask_echo(peer, payload, 1)
        assert reply.error is not None and "pickling is switched off on this node" in (
            reply.error.message
        )
        spawn = wire.Spawn(2, "", msgspec.msgpack.encode([[], {}]), None, pickle.dumps(Trap(trap)))
        await peer.send_frames([wire.encode_frame(spawn)])
        spawned = await peer.expect(wire.Spawned)
        assert spawned.error is not None and "pickling is switched off" in spawned.error.message
    assert not trap.exists()

    # --allow-pickle opts in: the same payload is unpickled (the trap springs).
    opted, _ = launch(nodes, tmp_path, "--allow-pickle")
    async with intruder(opted.port, "pickler") as peer:
        await ask_echo(peer, payload, 1)
    assert trap.exists()
