"""The cookie, pickle and TLS against real node processes, over real sockets.

A wrong cookie is refused and logged with the peer's address while the node serves
everyone else; a replayed handshake is refused; a node with ``allow_pickle=False``
(the default) never unpickles what a peer sends; TLS runs under the cookie. Other
attacks have their own files: test_security_session (records), _limits, _names,
_gossip, _oversized, and _fuzz (generated frames before and after the handshake).
"""

from __future__ import annotations

import pickle
import re
import ssl
import struct
import sys
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import msgspec
import pytest
from anyio.abc import SocketAttribute
from anyio.streams.tls import TLSAttribute
from msgspec.msgpack import Ext

from actors.errors import AuthenticationError, NodeDownError
from actors.messages import DeadLetter
from actors.testkit import TestProbe
from runtime import ActorSystem
from runtime._wire import codec as _codec
from runtime._wire import framing as wire
from runtime._wire.handshake import HandshakeError, client_handshake
from runtime._wire.listener import connect
from tests.cluster.hostile import intruder, still_serving
from tests.cluster.nodes import COOKIE, ROOT, NodeProcess, Nodes, open_node, wait_for_log
from tests.tls import self_signed_certificate


class Recording(anyio.abc.ByteStream):
    """A stream that keeps a copy of every byte this side sends."""

    def __init__(self, inner: anyio.abc.ByteStream) -> None:
        self.inner = inner
        self.sent: list[bytes] = []

    async def send(self, item: bytes) -> None:
        self.sent.append(bytes(item))
        await self.inner.send(item)

    async def receive(self, max_bytes: int = 65536) -> bytes:
        return await self.inner.receive(max_bytes)

    async def send_eof(self) -> None:
        await self.inner.send_eof()

    async def aclose(self) -> None:
        await self.inner.aclose()

    @property
    def extra_attributes(self) -> Any:
        return self.inner.extra_attributes


async def read_until_closed(stream: anyio.abc.ByteStream) -> list[Any]:
    """Every handshake frame the other side sends until it closes (within 3 s)."""
    data = bytearray()
    with anyio.fail_after(3):
        try:
            async for chunk in stream:
                data += chunk
        except anyio.BrokenResourceError:
            pass  # a reset counts as closed
    frames, pos = [], 0
    decoder = msgspec.msgpack.Decoder(wire.HandshakeFrame)
    while pos + 4 <= len(data):
        (size,) = struct.unpack_from(">I", data, pos)
        frames.append(decoder.decode(data[pos + 4 : pos + 4 + size]))
        pos += 4 + size
    return frames


# -- the cookie -----------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_wrong_cookie_is_refused_logged_and_the_node_keeps_serving(
    anyio_backend: str, peer: NodeProcess
) -> None:
    stream = await connect("127.0.0.1", peer.port)
    port = stream.extra(SocketAttribute.local_port)
    with pytest.raises(HandshakeError, match="the peer refused: the cookie proof does not"):
        await client_handshake(stream, cookie=b"not the cookie", node="intruder")
    line = await wait_for_log(
        peer, rf"rejected a connection: handshake with 127\.0\.0\.1:{port} failed"
    )
    assert "the cookie proof does not match" in line and line.split()[2] == "WARNING"

    async with open_node(cookie="not the cookie") as intruder:
        with pytest.raises(AuthenticationError, match=r"cookie proof does not match"):
            await intruder.cluster.join(peer.address)
        assert intruder.cluster.members == {intruder.address}
    await still_serving(peer)


@pytest.mark.anyio
async def test_a_node_process_with_the_wrong_cookie_cannot_join_this_node(
    anyio_backend: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The other way round: the joiner is a process (`repertory tree`), the listener
    this node, which logs the joiner's address and goes on serving."""
    wrong, right = tmp_path / "wrong", tmp_path / "right"
    wrong.write_text("not the cookie\n")
    right.write_text(COOKIE + "\n")
    command = [sys.executable, "-m", "runtime.cli", "tree"]
    async with open_node() as system:
        refused = await anyio.run_process(
            [*command, system.address, "--cookie-file", str(wrong)], check=False, cwd=ROOT
        )
        assert refused.returncode == 1
        assert b"AuthenticationError" in refused.stderr and b"cookie" in refused.stderr
        rejected = [r.getMessage() for r in caplog.records if "rejected a connection" in
                    r.getMessage()]
        assert len(rejected) == 1
        assert re.search(r"handshake with 127\.0\.0\.1:\d+ failed: the cookie proof", rejected[0])
        accepted = await anyio.run_process(
            [*command, system.address, "--cookie-file", str(right)], check=False, cwd=ROOT
        )
        assert accepted.returncode == 0, accepted.stderr


# -- hostile handshakes ---------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_replayed_handshake_is_refused(anyio_backend: str, peer: NodeProcess) -> None:
    recording = Recording(await connect("127.0.0.1", peer.port))
    name = f"recorded-{recording.extra(SocketAttribute.local_port)}"  # unique in the log
    await client_handshake(recording, cookie=COOKIE.encode(), node=name)
    await recording.aclose()
    hello_bytes, proof_bytes = recording.sent

    replay = await connect("127.0.0.1", peer.port)
    port = replay.extra(SocketAttribute.local_port)
    async with replay:
        await replay.send(hello_bytes + proof_bytes)  # the same nonce, the same proof
        answers = await read_until_closed(replay)
    # A fresh challenge, so the old proof cannot match: refused, never welcomed.
    assert [type(frame) for frame in answers] == [wire.Challenge, wire.Goodbye]
    assert answers[1].reason.startswith("the cookie proof does not match")
    await wait_for_log(peer, rf"handshake with 127\.0\.0\.1:{port} failed: the cookie proof")
    assert len(re.findall(rf"node {name} is up", peer.log())) == 1
    await still_serving(peer)


# -- pickle -----------------------------------------------------------------------------------


class Trap:
    """Unpickling this creates the file it names: proof that something unpickled."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.path,))


@pytest.mark.anyio
async def test_a_node_without_pickle_dead_letters_pickled_payloads_unread(
    anyio_backend: str, nodes: Nodes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("pickle.loads ran on a node with allow_pickle=False")

    peer = await nodes.start("pickler", extra_args=["--allow-pickle"])

    monkeypatch.setattr(pickle, "loads", never)
    async with open_node() as system:  # allow_pickle=False, the default
        letters = TestProbe(system, name="letters")
        system.topics.subscribe("dead_letters", letters.ref)
        sink = TestProbe(system, name="sink")

        # A real node that allows pickle sends an object that only pickle can carry.
        await system.cluster.join(peer.address)
        control = await system.lookup("control", node=peer.address)
        assert control is not None
        assert await control.ask(("tell_opaque", sink.ref), timeout=2.0) is True
        letter = await letters.expect(DeadLetter)
        assert letter.recipient == sink.ref.address
        assert "pickling is switched off on this node" in letter.reason

        # An authenticated peer of our own sends a booby-trapped pickle by name.
        trap = tmp_path / "unpickled"
        payload = msgspec.msgpack.encode(Ext(_codec._PICKLE, pickle.dumps(Trap(trap))))
        frame = wire.encode_frame(wire.Tell("sink", payload))
        async with intruder(int(system.address.rpartition(":")[2]), "trapper") as trapper:
            await trapper.send_frames([frame])
        letter = await letters.expect(DeadLetter)
        assert letter.recipient == f"{system.address}/sink" and letter.message == payload
        assert "pickling is switched off" in letter.reason
        assert not trap.exists()
        await sink.expect_no_message(0.05)
        assert await control.ask(("members",), timeout=2.0)  # the link stayed up


# -- TLS --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (the cluster's CA and every node's)."""
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


def mutual_tls(cert: Path, key: Path, *, with_cert: bool = True) -> tuple[Any, Any]:
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(cert))
    server.load_cert_chain(cert, key)
    server.verify_mode = ssl.CERT_REQUIRED
    client = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(cert))
    if with_cert:
        client.load_cert_chain(cert, key)
    return server, client


@pytest.mark.anyio
async def test_nodes_link_over_mutual_tls(
    anyio_backend: str, certificates: tuple[Path, Path]
) -> None:
    tls = mutual_tls(*certificates)
    async with (
        open_node("tls-a", ssl_context=tls) as a,
        open_node("tls-b", ssl_context=tls, check_tasks=False) as b,
    ):
        probe = TestProbe(a, name="probe")
        assert await b.cluster.join(a.address) == a.address
        remote = await b.lookup("probe", node=a.address)
        assert remote is not None
        remote.tell("over TLS")
        assert await probe.expect("over TLS") == "over TLS"
        assert all(link.stream.extra(TLSAttribute.ssl_object, None) is not None
                   for node in (a, b) for link in node.cluster.links.values())

        # A node without a client certificate does not get past TLS, let alone the
        # cookie: the listener drops it (under TLS 1.3, once the client has finished its
        # side of the TLS handshake, so the joiner sees the link close in the cookie's
        # handshake: to it, the node closed on it, as a node that is down would).
        no_cert = mutual_tls(*certificates, with_cert=False)
        async with open_node("tls-c", ssl_context=no_cert, check_tasks=False) as c:
            with pytest.raises(NodeDownError, match="closed during the handshake"):
                await c.cluster.join(a.address)
            assert c.cluster.members == {c.address}


def test_one_tls_context_for_one_side_is_refused_early(certificates: tuple[Path, Path]) -> None:
    server, client = mutual_tls(*certificates)
    with pytest.raises(ValueError, match=r"ssl_context=\(server_context, client_context\).*"
                       r"got only a server context"):
        ActorSystem("x", listen="127.0.0.1:0", cookie="c", ssl_context=server)
    with pytest.raises(ValueError, match="got them the other way round"):
        ActorSystem("x", listen="127.0.0.1:0", cookie="c", ssl_context=(client, server))
