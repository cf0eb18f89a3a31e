"""Limits before trust, against real node processes: connections that prove nothing
cannot stop a node, crowd out other peers, or flood its log.

Issue 10's first crash: ~1,100 idle TCP connections made `accept()` fail with EMFILE
and the node exit. Now a node turns away connections past its handshaking limits at
once, pauses accepting when it runs out of descriptors and goes on, and logs a
burst of rejections as a few lines that count the rest.
"""

from __future__ import annotations

import re
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import anyio
import anyio.abc
import msgspec
import pytest

from runtime._wire import framing as wire
from runtime._wire.handshake import client_handshake
from tests.cluster.hostile import Intruder, still_serving
from tests.cluster.nodes import COOKIE, NodeProcess, Nodes, eventually, wait_for_log

# Starts the node's command with a hard limit of 128 open files: the node cannot raise
# its soft limit past it, so a flood exhausts its descriptors.
LOW_FILE_LIMIT = [
    sys.executable, "-c",
    "import os, resource, sys; resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128));"
    " os.execv(sys.argv[1], sys.argv[1:])",
]


@asynccontextmanager
async def idle_connections(port: int, count: int) -> AsyncIterator[list[anyio.abc.SocketStream]]:
    """`count` connections that never send a byte, from 127.0.0.1."""
    async with AsyncExitStack() as stack:
        streams = []
        for _ in range(count):
            try:
                stream = await anyio.connect_tcp("127.0.0.1", port)
            except OSError:
                continue  # the listen backlog is full: the node is not accepting
            streams.append(await stack.enter_async_context(stream))
        yield streams


async def ask_from(local_host: str, node: NodeProcess, message: str) -> object:
    """Handshake from `local_host` (another loopback address) and ask the node's echo."""
    stream = await anyio.connect_tcp("127.0.0.1", node.port, local_host=local_host)
    async with stream:
        peer = Intruder(stream, await client_handshake(
            stream, cookie=COOKIE.encode(), node=f"from-{local_host}", timeout=5.0
        ))
        ask = wire.Ask(1, "echo", msgspec.msgpack.encode(message), 5.0)
        await peer.send_frames([wire.encode_frame(ask)])
        reply = await peer.expect(wire.Reply)
        assert reply.ok, reply.error
        return msgspec.msgpack.decode(reply.payload)


@pytest.mark.anyio
async def test_running_out_of_file_descriptors_pauses_a_node_and_never_stops_it(
    anyio_backend: str, nodes: Nodes
) -> None:
    node = await nodes.start("target", command_prefix=LOW_FILE_LIMIT, extra_args=[
        "--max-pending-handshakes", "1000", "--max-pending-handshakes-per-address", "1000",
    ])
    async with idle_connections(node.port, 300):
        await wait_for_log(node, r"cannot accept connections for now: .*Too many open files")
        await anyio.sleep(1.5)  # time passing is the point: the node lives through it
        assert node.process.poll() is None, node.log()[-2000:]
    # 300 connections over about two seconds, the accept loop retrying every 0.1 s:
    # a line a second at most, not one per failed accept.
    lines = re.findall(r"cannot accept connections for now", node.log())
    assert 1 <= len(lines) <= 4, lines
    await still_serving(node)


@pytest.mark.anyio
async def test_a_flood_from_one_address_is_closed_at_once_and_others_are_served(
    anyio_backend: str, nodes: Nodes
) -> None:
    node = await nodes.start("target")  # defaults: 256 handshaking, 32 per address
    async with idle_connections(node.port, 200):
        await wait_for_log(node, r"closed a connection from 127\.0\.0\.1 at once: 32"
                                 r" connections from 127\.0\.0\.1 are handshaking, the limit")
        # Another peer address is not crowded out by the flood.
        assert await ask_from("127.0.0.2", node, "served anyway") == "served anyway"

        # The rejections beyond the first burst are counted, then reported together.
        async def reported() -> bool:
            async with idle_connections(node.port, 1):
                pass
            return "more like it not logged, over the rate limit" in node.log()

        await eventually(reported, what="a line counting the rejections not logged")
    refused = re.findall(r"closed a connection from 127\.0\.0\.1 at once", node.log())
    assert len(refused) < 40, f"{len(refused)} lines for ~170 rejections"
    assert node.process.poll() is None
    await still_serving(node)
