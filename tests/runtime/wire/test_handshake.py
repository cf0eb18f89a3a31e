"""The cookie handshake over real sockets on 127.0.0.1: who gets in, who does not, and
that hostile input never hangs or crashes the listening side."""

from __future__ import annotations

import contextlib
import logging
import pickle
import secrets
import ssl
import struct
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import msgspec
import pytest
from anyio.abc import SocketAttribute
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from runtime._wire.framing import (
    PROTOCOL_VERSION,
    Challenge,
    FrameReader,
    Goodbye,
    Hello,
    Proof,
    Tell,
    Welcome,
    encode_frame,
)
from runtime._wire.handshake import (
    HANDSHAKE_MAX_FRAME_SIZE,
    HandshakeError,
    PeerInfo,
    client_handshake,
    server_handshake,
)
from runtime._wire.listener import connect, listen, serve_authenticated
from tests.cluster.faultproxy import FaultProxy
from tests.tls import self_signed_certificate

pytestmark = pytest.mark.anyio
COOKIE = b"the shared cookie"
Outcome = PeerInfo | HandshakeError


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class Server:
    """Runs `server_handshake` on each connection and reports each outcome in order.

    After a success it sends one session frame at once and records the first frame the
    client sends, to show that no session byte is lost to the handshake.
    """

    def __init__(self, port: int, **options: Any) -> None:
        self.port = port
        self.options = {"cookie": COOKIE, "node": "server", "timeout": 2.0, **options}
        self._send, self._receive = anyio.create_memory_object_stream[Outcome](100)
        self.session_frames: list[object] = []
        self.session_frame_arrived = anyio.Event()

    async def handle(self, stream: anyio.abc.ByteStream) -> None:
        try:
            peer = await server_handshake(stream, **self.options)
        except HandshakeError as exc:
            await self._send.send(exc)
            return
        async with stream:  # first, so that a cancelled test closes it too
            await self._send.send(peer)
            # Clients that leave without reading the greeting reset the connection.
            with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError):
                greeting = encode_frame(Tell(target="greeting", payload=b"from server"))
                await stream.send(peer.keys.sealer().seal(greeting))
                reader = FrameReader(stream, opener=peer.keys.opener())
                self.session_frames.append(await reader.receive())
                self.session_frame_arrived.set()

    async def outcome(self) -> Outcome:
        with anyio.fail_after(3):
            return await self._receive.receive()

    def close(self) -> None:
        self._send.close()
        self._receive.close()


@asynccontextmanager
async def handshake_server(
    ssl_context: ssl.SSLContext | None = None, **options: Any
) -> AsyncIterator[Server]:
    listener = await listen("127.0.0.1", 0, ssl_context=ssl_context)
    server = Server(listener.extra(SocketAttribute.local_port), **options)
    try:
        async with listener, anyio.create_task_group() as task_group:
            task_group.start_soon(listener.serve, server.handle)
            yield server
            task_group.cancel_scope.cancel()
    finally:
        server.close()


async def join(port: int, **options: Any) -> tuple[PeerInfo, anyio.abc.ByteStream]:
    stream = await anyio.connect_tcp("127.0.0.1", port)
    settings = {"cookie": COOKIE, "node": "client", "timeout": 2.0, **options}
    return await client_handshake(stream, **settings), stream


async def drain(stream: anyio.abc.ByteStream) -> bytes:
    """Read until the peer closes; a reset counts as closed too."""
    data = bytearray()
    with anyio.fail_after(3):
        try:
            async for chunk in stream:
                data += chunk
        except anyio.BrokenResourceError:
            pass
    return bytes(data)


async def read_frame(stream: anyio.abc.ByteStream) -> bytes:
    (size,) = struct.unpack(">I", await receive_exactly(stream, 4))
    return await receive_exactly(stream, size)


async def receive_exactly(stream: anyio.abc.ByteReceiveStream, nbytes: int) -> bytes:
    data = bytearray()
    while len(data) < nbytes:
        data += await stream.receive(nbytes - len(data))
    return bytes(data)


async def test_nodes_with_the_same_cookie_authenticate_each_other() -> None:
    async with handshake_server() as server:
        peer, stream = await join(server.port)
        async with stream:
            assert (peer.node, peer.version, peer.address, peer.tls) == (
                "server", PROTOCOL_VERSION, f"127.0.0.1:{server.port}", False
            )
            accepted = await server.outcome()
            assert isinstance(accepted, PeerInfo)
            assert accepted.node == "client"
            assert accepted.address.startswith("127.0.0.1:")
            # One key per direction, the same on both sides, and never in a repr.
            assert peer.keys.send == accepted.keys.receive != peer.keys.receive
            assert peer.keys.receive == accepted.keys.send
            assert peer.keys.send.hex() not in repr(peer) and "keys" not in repr(peer)


async def test_session_records_right_after_the_handshake_are_kept() -> None:
    async with handshake_server() as server:
        peer, stream = await join(server.port)
        async with stream:
            reader = FrameReader(stream, opener=peer.keys.opener())
            assert await reader.receive() == Tell(target="greeting", payload=b"from server")
            reply = encode_frame(Tell(target="reply", payload=b"from client"))
            await stream.send(peer.keys.sealer().seal(reply))
            assert isinstance(await server.outcome(), PeerInfo)
        with anyio.fail_after(2):
            await server.session_frame_arrived.wait()
        assert server.session_frames == [Tell(target="reply", payload=b"from client")]


async def test_a_wrong_cookie_is_refused_on_both_sides() -> None:
    async with handshake_server() as server:
        with pytest.raises(HandshakeError, match="the peer refused: the cookie proof does not"):
            await join(server.port, cookie=b"another cookie")
        refused = await server.outcome()
        assert isinstance(refused, HandshakeError)
        assert refused.reason.startswith("the cookie proof does not match")


async def test_the_client_refuses_a_server_that_cannot_prove_the_cookie() -> None:
    goodbye: list[Goodbye] = []
    told = anyio.Event()

    async def impostor(stream: anyio.abc.ByteStream) -> None:
        async with stream:
            msgspec.msgpack.decode(await read_frame(stream), type=Hello)
            nonce = secrets.token_bytes(32)
            challenge = Challenge(version=PROTOCOL_VERSION, node="impostor", nonce=nonce)
            await stream.send(encode_frame(challenge))
            msgspec.msgpack.decode(await read_frame(stream), type=Proof)
            await stream.send(encode_frame(Welcome(mac=b"\0" * 32)))
            goodbye.append(msgspec.msgpack.decode(await read_frame(stream), type=Goodbye))
            told.set()

    listener = await listen("127.0.0.1", 0)
    async with listener, anyio.create_task_group() as task_group:
        task_group.start_soon(listener.serve, impostor)
        with pytest.raises(HandshakeError, match="failed: the cookie proof does not match"):
            await join(listener.extra(SocketAttribute.local_port))
        with anyio.fail_after(3):
            await told.wait()  # the client told the impostor why before closing
        task_group.cancel_scope.cancel()
    assert len(goodbye) == 1
    assert goodbye[0].reason.startswith("the cookie proof does not match")


class RecordingStream(anyio.abc.ByteStream):
    """Passes bytes through and keeps what was sent and received."""

    def __init__(self, inner: anyio.abc.ByteStream) -> None:
        self.inner = inner
        self.sent: list[bytes] = []
        self.received = bytearray()

    async def send(self, item: bytes) -> None:
        self.sent.append(bytes(item))
        await self.inner.send(item)

    async def receive(self, max_bytes: int = 65536) -> bytes:
        chunk = await self.inner.receive(max_bytes)
        self.received += chunk
        return chunk

    async def send_eof(self) -> None:
        await self.inner.send_eof()

    async def aclose(self) -> None:
        await self.inner.aclose()

    @property
    def extra_attributes(self) -> Mapping[Any, Any]:
        return self.inner.extra_attributes


async def test_a_replayed_handshake_fails_because_the_server_nonce_is_fresh() -> None:
    async with handshake_server() as server:
        recorded = RecordingStream(await anyio.connect_tcp("127.0.0.1", server.port))
        async with recorded:
            await client_handshake(recorded, cookie=COOKIE, node="client")
            assert isinstance(await server.outcome(), PeerInfo)
        hello, proof = recorded.sent  # exactly the two frames a good client sends
        (size,) = struct.unpack_from(">I", recorded.received)
        first_challenge = msgspec.msgpack.decode(recorded.received[4 : 4 + size], type=Challenge)

        async with await anyio.connect_tcp("127.0.0.1", server.port) as attacker:
            await attacker.send(hello)
            challenge = msgspec.msgpack.decode(await read_frame(attacker), type=Challenge)
            assert challenge.nonce != first_challenge.nonce  # a fresh nonce...
            await attacker.send(proof)  # ...so the recorded proof is worthless
            answer = msgspec.msgpack.decode(await read_frame(attacker), type=Goodbye)
            assert answer.reason.startswith("the cookie proof does not match")
            assert await drain(attacker) == b""
        refused = await server.outcome()
        assert isinstance(refused, HandshakeError)
        assert "cookie proof does not match" in refused.reason


async def test_a_version_mismatch_is_refused_naming_both_versions() -> None:
    async with handshake_server() as server:
        # Version 1 is a node from before records carried tags.
        expected = (f"the connecting node speaks 1, the listening node {PROTOCOL_VERSION};"
                    " run the same")
        with pytest.raises(HandshakeError, match=f"the peer refused: protocol .*{expected}"):
            await join(server.port, version=1)
        refused = await server.outcome()
        assert isinstance(refused, HandshakeError)
        assert expected in refused.reason


async def test_a_peer_with_the_listeners_own_name_is_refused() -> None:
    async with handshake_server() as server:
        with pytest.raises(HandshakeError, match="both nodes are named 'server'"):
            await join(server.port, node="server")
        assert isinstance(await server.outcome(), HandshakeError)


async def test_a_client_expecting_another_node_gives_up() -> None:
    async with handshake_server() as server:
        with pytest.raises(HandshakeError, match="expected 'cart-node' but reached 'server'"):
            await join(server.port, expect_node="cart-node")
        refused = await server.outcome()
        assert isinstance(refused, HandshakeError)
        assert refused.reason.startswith("the peer refused: the connecting node expected")


async def test_a_silent_client_is_dropped_at_the_deadline() -> None:
    async with (
        handshake_server(timeout=0.3) as server,
        await anyio.connect_tcp("127.0.0.1", server.port) as silent,
    ):
        refused = await server.outcome()
        assert isinstance(refused, HandshakeError)
        assert refused.reason.startswith("not done within 0.3 s")
        assert await drain(silent) == b""


async def test_a_silent_server_is_given_up_on_at_the_deadline() -> None:
    async with handshake_server() as server, FaultProxy("127.0.0.1", server.port) as proxy:
        proxy.drop()
        with pytest.raises(HandshakeError, match=r"not done within 0\.3 s; the peer is silent"):
            await join(proxy.port, timeout=0.3)


async def test_the_handshake_survives_frames_sliced_into_single_bytes() -> None:
    async with handshake_server() as server, FaultProxy("127.0.0.1", server.port) as proxy:
        proxy.slice_bytes(True)
        peer, stream = await join(proxy.port)
        async with stream:
            assert peer.node == "server"
            assert isinstance(await server.outcome(), PeerInfo)
            sent_by_client = len(encode_frame(Hello(version=1, node="client", nonce=b"n" * 32)))
            assert proxy.sends["to_target"] >= sent_by_client  # one byte per send


# Hostile input: random bytes, well-framed junk, frames of the wrong kind or with bad
# fields, and length prefixes past the handshake limit.
_junk_bodies = st.one_of(
    st.binary(max_size=80),
    st.builds(
        lambda *fields: msgspec.msgpack.encode(["hello", *fields]),
        st.integers(min_value=-(2**63), max_value=2**64 - 1),
        st.text(max_size=300),
        st.binary(max_size=40),
    ),
    st.sampled_from(
        [
            encode_frame(Proof(mac=b"m" * 32))[4:],
            encode_frame(Welcome(mac=b"m" * 32))[4:],
            encode_frame(Tell(target=1, payload=b""))[4:],
            encode_frame(Challenge(version=1, node="x", nonce=b"n" * 32))[4:],
            encode_frame(Hello(version=1, node="x", nonce=b"n" * 32))[4:],
        ]
    ),
)
_framed = _junk_bodies.map(lambda body: struct.pack(">I", len(body)) + body)
_oversized = st.integers(min_value=HANDSHAKE_MAX_FRAME_SIZE + 1, max_value=2**32 - 1).map(
    lambda size: struct.pack(">I", size)
)
hostile_input = st.one_of(
    st.binary(max_size=200), _framed, _oversized, st.lists(_framed, max_size=3).map(b"".join)
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(garbage=hostile_input)
@example(garbage=b"\x00\x00\x00\x11\x94\xaf" + b"\x00" * 14 + b"\x80")  # bad UTF-8 in the tag
async def test_garbage_gets_a_clear_error_a_closed_connection_and_the_listener_goes_on(
    garbage: bytes,
) -> None:
    async with handshake_server() as server:
        async with await anyio.connect_tcp("127.0.0.1", server.port) as hostile:
            # The server may have closed on the first bad byte, failing these sends.
            with contextlib.suppress(anyio.BrokenResourceError, OSError):
                await hostile.send(garbage)
                await hostile.send_eof()  # so every input ends, even a valid prefix
            refused = await server.outcome()
            assert isinstance(refused, HandshakeError)
            assert str(refused).startswith("handshake with 127.0.0.1:")
            await drain(hostile)  # returns: the server closed the connection
        peer, stream = await join(server.port)
        async with stream:
            assert peer.node == "server"
            assert isinstance(await server.outcome(), PeerInfo)


class EventHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []
        self.logged = anyio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.logged.set()


async def test_serve_authenticated_logs_a_rejection_and_keeps_serving() -> None:
    accepted: list[PeerInfo] = []
    done = anyio.Event()

    async def handler(stream: anyio.abc.ByteStream, peer: PeerInfo) -> None:
        async with stream:
            accepted.append(peer)
            done.set()

    log = EventHandler()
    logging.getLogger("runtime.handshake").addHandler(log)
    try:
        listener = await listen("127.0.0.1", 0)
        port = listener.extra(SocketAttribute.local_port)
        async with listener, anyio.create_task_group() as task_group:
            task_group.start_soon(
                lambda: serve_authenticated(listener, handler, cookie=COOKIE, node="server")
            )
            with pytest.raises(HandshakeError):
                await join(port, cookie=b"wrong")
            with anyio.fail_after(3):
                await log.logged.wait()
            _, stream = await join(port)
            await stream.aclose()
            with anyio.fail_after(3):
                await done.wait()
            task_group.cancel_scope.cancel()
    finally:
        logging.getLogger("runtime.handshake").removeHandler(log)
    message = log.records[0].getMessage()
    assert message.startswith("server: rejected a connection: handshake with 127.0.0.1:")
    assert "cookie proof does not match" in message
    assert [peer.node for peer in accepted] == ["client"]


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (see tests.tls)."""
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


def tls_contexts(cert: Path, key: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(cert))
    server.load_cert_chain(cert, key)
    server.verify_mode = ssl.CERT_REQUIRED  # mutual TLS: clients need a certificate too
    client = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(cert))
    client.load_cert_chain(cert, key)
    return server, client


async def test_the_handshake_runs_over_mutual_tls(tls_files: tuple[Path, Path]) -> None:
    server_context, client_context = tls_contexts(*tls_files)
    async with handshake_server(ssl_context=server_context) as server:
        stream = await connect("127.0.0.1", server.port, ssl_context=client_context)
        peer = await client_handshake(stream, cookie=COOKIE, node="client")
        async with stream:
            assert peer.tls
            accepted = await server.outcome()
            assert isinstance(accepted, PeerInfo)
            assert accepted.tls


async def test_a_tls_client_without_a_certificate_is_refused(
    tls_files: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.CRITICAL, "anyio.streams.tls")  # the expected failure's log
    server_context, _ = tls_contexts(*tls_files)
    anonymous = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(tls_files[0]))
    # TLS 1.3: the client learns of its missing certificate at its first read, that is
    # inside the cookie handshake (TLS 1.2 would fail in connect instead).
    anonymous.minimum_version = ssl.TLSVersion.TLSv1_3
    async with handshake_server(ssl_context=server_context) as server:
        stream = await connect("127.0.0.1", server.port, ssl_context=anonymous)
        with pytest.raises(HandshakeError, match="closed during the handshake"):
            await client_handshake(stream, cookie=COOKIE, node="client", timeout=2.0)
        _, client_context = tls_contexts(*tls_files)
        stream = await connect("127.0.0.1", server.port, ssl_context=client_context)
        async with stream:
            assert (await client_handshake(stream, cookie=COOKIE, node="client")).tls


def test_handshake_errors_survive_pickling() -> None:
    error = HandshakeError("127.0.0.1:4001", "the cookie proof does not match")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.peer, copy.reason) == (error.peer, error.reason)
    assert str(copy) == "handshake with 127.0.0.1:4001 failed: the cookie proof does not match"


async def test_bad_options_are_refused_before_any_io() -> None:
    async with handshake_server() as server:
        stream = await anyio.connect_tcp("127.0.0.1", server.port)
        async with stream:
            with pytest.raises(ValueError, match="cookie must be non-empty bytes, got str"):
                await client_handshake(stream, cookie="text", node="a")  # type: ignore[arg-type]
            with pytest.raises(ValueError, match="node must be a name of 1 to 255 characters"):
                await client_handshake(stream, cookie=COOKIE, node="")
            with pytest.raises(ValueError, match="timeout must be a positive number"):
                await server_handshake(stream, cookie=COOKIE, node="a", timeout=0)
