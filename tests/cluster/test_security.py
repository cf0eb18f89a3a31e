"""Hostile and mistaken peers against real node processes, over real sockets.

A wrong cookie is refused and logged with the peer's address while the node serves
everyone else; garbage, truncated, oversized and replayed handshakes, and hostile
frames from an authenticated peer, leave the node serving; a node with
``allow_pickle=False`` never unpickles what a peer sends.
"""

from __future__ import annotations

import pickle
import re
import socket
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
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msgspec.msgpack import Ext

from actors.errors import AuthenticationError
from actors.messages import DeadLetter
from actors.testkit import TestProbe
from runtime import ActorSystem
from runtime._wire import codec as _codec
from runtime._wire import framing as wire
from runtime._wire.handshake import HandshakeError, client_handshake, connect
from tests.cluster.nodes import COOKIE, ROOT, NodeProcess, Nodes, open_node, wait_for_log
from tests.tls import self_signed_certificate

FUZZ = settings(
    max_examples=80, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


async def still_serving(node: NodeProcess) -> None:
    """A node process that took the abuse: alive, and a proper node can use it."""
    assert node.process.poll() is None, f"{node.name} exited: {node.log()[-2000:]}"
    async with open_node() as system:
        await system.cluster.join(node.address)
        echo = await system.lookup("echo", node=node.address)
        assert echo is not None and await echo.ask("still serving?", timeout=3.0) == (
            "still serving?"
        )


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


def hello(node: str = "fuzzer", version: int = wire.PROTOCOL_VERSION) -> bytes:
    return wire.encode_frame(wire.Hello(version=version, node=node, nonce=b"\1" * 32))


handshakes = st.one_of(
    st.binary(max_size=2048),  # garbage
    st.integers(0, len(hello()) - 1).map(lambda cut: hello()[:cut]),  # truncated
    st.builds(  # a length over the handshake's limit, then whatever
        lambda size, tail: struct.pack(">I", size) + tail,
        st.integers(1025, 2**32 - 1), st.binary(max_size=64),
    ),
    st.binary(max_size=1024).map(lambda body: struct.pack(">I", len(body)) + body),  # sized junk
    st.builds(  # the wrong frame first
        lambda frame: wire.encode_frame(frame),
        st.sampled_from([
            wire.Proof(mac=b"\0" * 32), wire.Welcome(mac=b"\0" * 32), wire.Goodbye("x"),
            wire.Challenge(version=1, node="x", nonce=b"\0" * 32),
        ]),
    ),
    st.builds(  # a Hello of another version or name, then a forged proof
        lambda version, node, mac: hello(node, version) + wire.encode_frame(wire.Proof(mac=mac)),
        st.integers(0, 2**32), st.text(min_size=1, max_size=300), st.binary(min_size=32,
                                                                            max_size=32),
    ),
)


def send_and_wait_for_close(port: int, data: bytes) -> None:
    """Send `data` and our end of stream; the node must close within 3 s."""
    with socket.create_connection(("127.0.0.1", port), timeout=3.0) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(4096):
                pass
        except (ConnectionResetError, BrokenPipeError):
            pass  # it closed on us first: fine


def test_hostile_handshakes_leave_the_node_serving(nodes: Nodes) -> None:
    target = nodes.launch("target")

    @FUZZ
    @given(handshakes)
    def abuse(data: bytes) -> None:
        send_and_wait_for_close(target.port, data)

    abuse()
    assert "rejected a connection" in target.log()
    anyio.run(still_serving, target)


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


# -- hostile frames after a good handshake ----------------------------------------------------

# Member names that are either not addresses or 127.0.0.1 ones (a node dials members):
# never a name that would make the node dial another host, or resolve one.
safe_nodes = st.text("abcxyz-", min_size=1, max_size=8) | st.integers(1, 65535).map(
    lambda port: f"ghost@127.0.0.1:{port}"
)
texts = st.text(max_size=30)
targets = st.integers(-(2**63), 2**63 - 1) | texts | st.sampled_from(["echo", "control"])
ref_texts = texts | st.builds(lambda n, u: f"{n}|{u}|", safe_nodes, st.integers(0, 2**64))
payloads = st.binary(max_size=64) | st.builds(
    lambda code, body: msgspec.msgpack.encode(Ext(code, body)),
    st.integers(0, 127), st.binary(max_size=32),
) | st.just(msgspec.msgpack.encode(Ext(_codec._PICKLE, pickle.dumps(0))))
errors = st.none() | st.builds(wire.RemoteError, texts, texts, texts)
session_frames = st.one_of(
    st.builds(wire.Tell, targets, payloads, st.none() | ref_texts),
    st.builds(wire.TellMany, targets, st.lists(payloads, max_size=3), st.none() | ref_texts),
    st.builds(wire.Ask, st.integers(0, 2**63), targets, payloads,
              st.none() | st.floats(), st.none() | ref_texts),
    st.builds(wire.Reply, st.integers(0, 2**63), st.booleans(), payloads, errors),
    st.builds(wire.Watch, targets, ref_texts),
    st.builds(wire.Unwatch, targets, ref_texts),
    st.builds(wire.Terminated, targets, texts, errors),
    st.builds(wire.Spawn, st.integers(0, 2**63),
              st.sampled_from(["tests.cluster.apps:Echo", "os:system", "builtins:print",
                               "zz_no_such_module:X", "", ":", "tests.cluster.apps:Point"]),
              payloads, st.none() | texts, st.none(), st.integers(0, 2**63)),
    st.builds(wire.Spawned, st.integers(0, 2**63), ref_texts, errors),
    st.builds(wire.RegistryUpdate,
              st.lists(st.builds(wire.RegistryEntry, texts, st.none() | ref_texts,
                                 st.integers(0, 2**63)), max_size=3), st.booleans()),
    st.builds(wire.TopicInterest, st.lists(texts, max_size=3), st.lists(texts, max_size=3),
              st.booleans()),
    st.builds(wire.TopicPublish, texts, payloads, st.none() | ref_texts),
    st.builds(wire.Members, st.lists(st.builds(wire.Member, safe_nodes), max_size=3)),
    st.builds(wire.Heartbeat, st.integers(0, 2**63), st.floats()),
)
raw_frames = st.one_of(
    session_frames.map(wire.encode_frame),
    st.binary(max_size=256).map(lambda body: struct.pack(">I", len(body)) + body),
    # A length over the node's 64 MiB frame limit: refused before any room is made.
    st.integers(wire.DEFAULT_MAX_FRAME_SIZE + 1, 2**32 - 1).map(lambda n: struct.pack(">I", n)),
)


async def authenticate_and_send(port: int, name: str, frames: list[bytes]) -> None:
    stream = await connect("127.0.0.1", port)
    async with stream:
        await client_handshake(stream, cookie=COOKIE.encode(), node=name)
        await stream.send(b"".join(frames))


def test_hostile_frames_from_an_authenticated_peer_leave_the_node_serving(
    nodes: Nodes,
) -> None:
    target = nodes.launch("target")
    count = iter(range(10**6))

    @FUZZ
    @given(st.lists(raw_frames, min_size=1, max_size=8))
    def abuse(frames: list[bytes]) -> None:
        anyio.run(authenticate_and_send, target.port, f"fuzzer-{next(count)}", frames)

    abuse()
    anyio.run(still_serving, target)


# -- pickle -----------------------------------------------------------------------------------


class Trap:
    """Unpickling this creates the file it names: proof that something unpickled."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.path,))


@pytest.mark.anyio
async def test_a_node_without_pickle_dead_letters_pickled_payloads_unread(
    anyio_backend: str, peer: NodeProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("pickle.loads ran on a node with allow_pickle=False")

    monkeypatch.setattr(pickle, "loads", never)
    async with open_node(allow_pickle=False) as system:
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
        await authenticate_and_send(int(system.address.rpartition(":")[2]), "trapper", [frame])
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
        # side of the TLS handshake, so the joiner sees the link close in the cookie's).
        no_cert = mutual_tls(*certificates, with_cert=False)
        async with open_node("tls-c", ssl_context=no_cert, check_tasks=False) as c:
            with pytest.raises(AuthenticationError, match="closed during the handshake"):
                await c.cluster.join(a.address)
            assert c.cluster.members == {c.address}


def test_one_tls_context_for_one_side_is_refused_early(certificates: tuple[Path, Path]) -> None:
    server, client = mutual_tls(*certificates)
    with pytest.raises(ValueError, match=r"ssl_context=\(server_context, client_context\).*"
                       r"got only a server context"):
        ActorSystem("x", listen="127.0.0.1:0", cookie="c", ssl_context=server)
    with pytest.raises(ValueError, match="got them the other way round"):
        ActorSystem("x", listen="127.0.0.1:0", cookie="c", ssl_context=(client, server))
