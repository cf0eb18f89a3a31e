"""Clear errors at the edges an attacker or a mistake reaches first, against real
node processes: an ask's timeout is checked before anything is sent; a peer that
closes or goes silent during the handshake is `NodeDownError`, not a cookie problem;
a name mismatch names both names and points at `advertise=`; `advertise` names the
node, and listening on every address without it warns.
"""

from __future__ import annotations

import logging
import math
import signal
import socket
import struct

import anyio
import anyio.abc
import pytest
from anyio.abc import SocketAttribute

from actors.errors import AuthenticationError, NodeDownError
from actors.testkit import TestProbe
from runtime._cluster.links import node_name
from tests.cluster.nodes import NodeProcess, Nodes, open_node

pytestmark = pytest.mark.anyio

BAD_TIMEOUTS = [math.nan, math.inf, -math.inf, -1.0, "5"]


@pytest.mark.parametrize("timeout", BAD_TIMEOUTS, ids=repr)
async def test_a_bad_ask_timeout_is_refused_before_anything_is_sent(
    anyio_backend: str, peer: NodeProcess, timeout: object
) -> None:
    async with open_node() as system:
        probe = TestProbe(system, name="asked")
        with pytest.raises(ValueError, match=r"ask to .*asked: timeout must be a finite number"
                           r" of seconds >= 0, or None for no deadline; got"):
            await probe.ref.ask("local", timeout=timeout)  # type: ignore[arg-type]
        await system.cluster.join(peer.address)
        echo = await system.lookup("echo", node=peer.address)
        assert echo is not None
        with pytest.raises(ValueError, match=rf"ask to {peer.address}/echo: timeout must be"):
            await echo.ask("remote", timeout=timeout)  # type: ignore[arg-type]
        assert system.cluster.links[peer.address].pending == {}
        await probe.expect_no_message(0.05)  # the local ask was never posted
        assert await echo.ask("fine", timeout=None) == "fine"


class ClosingListener:
    """A listener that reads a dialler's Hello and then closes (or resets) on it:
    a node that dies in the middle of the handshake."""

    def __init__(self, reset: bool) -> None:
        self.reset = reset
        self.port = 0

    async def handle(self, stream: anyio.abc.SocketStream) -> None:
        await stream.receive()  # the Hello
        if self.reset:
            # Linger on, for 0 s: closing sends a reset instead of an end of stream.
            stream.extra(SocketAttribute.raw_socket).setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
        await stream.aclose()


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
async def test_a_peer_that_dies_during_the_handshake_is_node_down(
    anyio_backend: str, reset: bool
) -> None:
    dying = ClosingListener(reset)
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tasks, open_node() as system:
        tasks.start_soon(listener.serve, dying.handle)
        with pytest.raises(NodeDownError, match=r"node 127\.0\.0\.1:\d+ is down \(the"
                           r" connection closed during the handshake"):
            await system.cluster.join(f"127.0.0.1:{port}")
        tasks.cancel_scope.cancel()


async def test_a_silent_node_is_node_down_at_the_handshake_deadline(
    anyio_backend: str, nodes: Nodes
) -> None:
    frozen = await nodes.start("frozen")
    frozen.process.send_signal(signal.SIGSTOP)  # alive, and answers nothing
    try:
        async with open_node() as system:
            with pytest.raises(NodeDownError, match=rf"node {frozen.address} is down \(not"
                               r" done within 5\.0 s; the peer is silent"):
                await system.cluster.join(frozen.address)
    finally:
        frozen.process.send_signal(signal.SIGCONT)


async def test_a_name_mismatch_names_both_and_suggests_advertise(
    anyio_backend: str, peer: NodeProcess
) -> None:
    port = peer.address.rpartition(":")[2]
    wrong = f"peer@localhost:{port}"  # the right node, by another name
    async with open_node() as system:
        with pytest.raises(AuthenticationError) as raised:
            await system.cluster.join(wrong)
    text = str(raised.value)
    assert f"expected '{wrong}' but reached '{peer.address}'" in text
    assert "advertise=" in text and "cookie" not in text


async def test_advertise_names_the_node_that_peers_dial(
    anyio_backend: str, nodes: Nodes
) -> None:
    # The node listens on 127.0.0.1 and is known by another name of that address.
    listening = await nodes.start("adv", extra_args=["--advertise", "localhost:0"])
    assert listening.address.startswith("adv@localhost:")
    async with open_node() as system:
        assert await system.cluster.join(listening.address) == listening.address
        echo = await system.lookup("echo", node=listening.address)
        assert echo is not None and await echo.ask("by name", timeout=5.0) == "by name"


def test_listening_on_every_address_without_advertise_warns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The naming rule itself (a test binds 127.0.0.1 only, so not a real listen)."""
    with caplog.at_level(logging.WARNING, "repertory.cluster"):
        assert node_name("front", "0.0.0.0", 4001, None) == "front@0.0.0.0:4001"
    assert "front listens on 0.0.0.0:4001 without advertise=" in caplog.text
    assert "pass advertise='HOST:PORT' (repertory node --advertise)" in caplog.text
    caplog.clear()
    assert node_name("front", "0.0.0.0", 4001, "10.0.0.7:4001") == "front@10.0.0.7:4001"
    assert node_name("front", "::", 4001, "[fd00::7]:0") == "front@[fd00::7]:4001"
    assert caplog.text == ""
