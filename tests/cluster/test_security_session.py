"""Session integrity between real node processes: a connection carries nothing its
two ends did not write.

The relay attack of issue 10: a node that dials an address without an expected name
(a ``host:port`` seed) reaches an attacker, who relays the handshake to a victim node
and then owns a connection the victim trusts. With records tagged by keys that only
the two real ends can derive, anything the attacker writes on it, forged, injected
or replayed, fails its tag or its sequence number: the victim closes that link,
logs why, runs nothing of it, and goes on serving everyone else.
"""

from __future__ import annotations

import pickle
import struct
from pathlib import Path
from typing import Any

import msgspec
import pytest
from msgspec.msgpack import Ext

from runtime._wire import codec as _codec
from runtime._wire import framing as wire
from runtime._wire.records import TAG_SIZE
from tests.cluster.hostile import Relay, intruder, still_serving
from tests.cluster.nodes import NodeProcess, Nodes, eventually, wait_for_log

_HANDSHAKE_HEADER = struct.Struct(">I")
_RECORD_HEADER = struct.Struct(">IQ")


class Trap:
    """Unpickling this creates the file it names: proof that something unpickled."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.path,))


def pickled_tell(target: str, trap: Path) -> bytes:
    """The frame that ran code on the victim in issue 10: a Tell of a pickle."""
    payload = msgspec.msgpack.encode(Ext(_codec._PICKLE, pickle.dumps(Trap(trap))))
    return wire.encode_frame(wire.Tell(target, payload))


def records_after_handshake(data: bytes) -> list[bytes]:
    """Split what a dialler wrote into its two handshake frames' bytes and its records."""
    pos = 0
    for _ in range(2):  # Hello, Proof
        (size,) = _HANDSHAKE_HEADER.unpack_from(data, pos)
        pos += _HANDSHAKE_HEADER.size + size
    records = []
    while pos + _RECORD_HEADER.size <= len(data):
        size, _ = _RECORD_HEADER.unpack_from(data, pos)
        end = pos + _RECORD_HEADER.size + size + TAG_SIZE
        records.append(data[pos:end])
        pos = end
    return records


async def relayed(nodes: Nodes, relay: Relay, victim: NodeProcess) -> NodeProcess:
    """A dialler node seeded with the relay's address, linked to `victim` through it."""
    dialler = await nodes.start("dialler", seeds=[f"127.0.0.1:{relay.port}"])
    await wait_for_log(victim, rf"node {dialler.address} is up")
    # Heartbeats flow both ways through the relay: the link is up and in use.
    await eventually(lambda: len(records_after_handshake(b"".join(relay.to_victim))) >= 2,
                     what="two records from the dialler through the relay")
    return dialler


@pytest.mark.anyio
async def test_a_relay_attacker_cannot_inject_into_the_link_it_relayed(
    anyio_backend: str, nodes: Nodes, tmp_path: Path
) -> None:
    victim = await nodes.start("victim", extra_args=["--allow-pickle"])
    async with Relay(victim.port).running() as relay:
        dialler = await relayed(nodes, relay, victim)
        relay.hijack.set()  # from now on the attacker writes for the dialler
        sent = records_after_handshake(b"".join(relay.to_victim))
        trap = tmp_path / "unpickled"
        body = pickled_tell("echo", trap)
        # The attacker knows the framing and can count records; it lacks only the keys.
        forged = _RECORD_HEADER.pack(len(body), len(sent)) + body + bytes(TAG_SIZE)
        await relay.inject(forged)
        line = await wait_for_log(victim, rf"closing link to {dialler.address}: record")
        assert f"record {len(sent)} failed authentication (bad tag)" in line
        assert line.split()[2] == "WARNING"
        await wait_for_log(victim, rf"node {dialler.address} is down: protocol error: record")
    assert not trap.exists()
    await still_serving(victim)


@pytest.mark.anyio
async def test_a_relay_attacker_cannot_replay_what_the_dialler_wrote(
    anyio_backend: str, nodes: Nodes
) -> None:
    victim = await nodes.start("victim")
    async with Relay(victim.port).running() as relay:
        dialler = await relayed(nodes, relay, victim)
        relay.hijack.set()
        first = records_after_handshake(b"".join(relay.to_victim))[0]
        await relay.inject(first)  # genuine, tagged, and stale
        line = await wait_for_log(victim, rf"closing link to {dialler.address}: record")
        assert "record 0 arrived where record" in line and "replayed or reordered" in line
    await still_serving(victim)


@pytest.mark.anyio
async def test_frames_without_records_are_refused_after_the_handshake(
    anyio_backend: str, nodes: Nodes, tmp_path: Path
) -> None:
    """Even a peer that holds the cookie cannot skip the tags: a bare frame after
    the handshake (the protocol before records) closes its link unread."""
    victim = await nodes.start("victim", extra_args=["--allow-pickle"])
    trap = tmp_path / "unpickled"
    async with intruder(victim.port, "bare") as peer:
        await peer.send_raw(pickled_tell("echo", trap) * 3)
        await wait_for_log(victim, r"closing link to bare: record 0 (announces|failed)")
    assert not trap.exists()
    await still_serving(victim)
