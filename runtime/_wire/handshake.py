"""The cookie handshake that opens every link between two nodes, and TLS helpers.

Four frames, before anything else is read from the connection::

    connecting side                          listening side
    Hello(version, node, nonce_c)     --->
                                      <---   Challenge(version, node, nonce_s)
    Proof(mac "client")               --->
                                      <---   Welcome(mac "server")

Each mac is HMAC-SHA256 keyed with the shared cookie over a direction label, the
version, both node names and both fresh 32-byte nonces. A handshake that passes also
yields the connection's session keys (`PeerInfo.keys`, derived from the cookie, both
nonces and both names): from then on every record is tagged (`runtime._wire.records`),
so a peer that merely relayed the four frames between two real nodes holds a
connection it cannot write anything on. The listening side proves
nothing until the connecting side has; fresh nonces on both sides make a recorded
handshake useless for a replay; the direction label keeps one side's proof from being
reflected back as the other's. Macs are compared in constant time. Before success only
these frames are decoded (each step accepts just the frame it expects, at most
`HANDSHAKE_MAX_FRAME_SIZE` bytes), and a deadline bounds a silent peer.

Use `client_handshake` / `server_handshake` on a fresh stream (plain TCP or TLS from
`runtime._wire.listener`'s `connect` / `listen`), or `serve_authenticated` there to run
a listener that handshakes every connection within its limits. The handshake reads
exactly its own bytes, so a `FrameReader` made afterwards (with `keys.opener()`) starts
on the peer's first record.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import anyio
import anyio.abc
import msgspec
from anyio.abc import ByteStream, SocketAttribute
from anyio.streams.tls import TLSAttribute

from runtime._wire.encoding import DECODE_ERRORS, HEADER
from runtime._wire.framing import (
    PROTOCOL_VERSION,
    Challenge,
    Goodbye,
    Hello,
    Proof,
    TransportError,
    Welcome,
    encode_frame,
)
from runtime._wire.records import SessionKeys, derive_keys

__all__ = (
    "HANDSHAKE_MAX_FRAME_SIZE",
    "HANDSHAKE_TIMEOUT",
    "HandshakeClosedError",
    "HandshakeError",
    "PeerInfo",
    "client_handshake",
    "peer_address",
    "server_handshake",
)

HANDSHAKE_TIMEOUT = 5.0
# A Hello with a 255-character name is under 350 bytes; anything much larger is not ours.
HANDSHAKE_MAX_FRAME_SIZE = 1024
_NONCE_SIZE = 32
_MAC_LABEL = "repertory-handshake"

# The handshake takes `timeout=` rather than leaving the deadline to the caller's
# `fail_after`, because the bound is part of its guarantee: a listener that forgot to
# wrap it would let a silent peer hold a connection open for ever.

_F = TypeVar("_F")
_hello_decoder: msgspec.msgpack.Decoder[Hello] = msgspec.msgpack.Decoder(Hello)
_challenge_decoder: msgspec.msgpack.Decoder[Challenge | Goodbye] = msgspec.msgpack.Decoder(
    Challenge | Goodbye
)
_proof_decoder: msgspec.msgpack.Decoder[Proof | Goodbye] = msgspec.msgpack.Decoder(Proof | Goodbye)
_welcome_decoder: msgspec.msgpack.Decoder[Welcome | Goodbye] = msgspec.msgpack.Decoder(
    Welcome | Goodbye
)


class HandshakeError(TransportError):
    """A link could not be opened: wrong cookie, version or name, a malformed frame, a
    silent peer or a connection closed mid-handshake. The stream has been closed.

    `peer` is the remote address ("host:port"), `reason` what went wrong.
    """

    def __init__(self, peer: str, reason: str) -> None:
        super().__init__(peer, reason)  # args keep both, so the error survives pickling
        self.peer = peer
        self.reason = reason

    def __str__(self) -> str:
        return f"handshake with {self.peer} failed: {self.reason}"


class HandshakeClosedError(HandshakeError):
    """The peer closed, reset or went silent during the handshake: it is down or busy,
    not refused (nothing here says the cookie was wrong)."""


@dataclass(frozen=True)
class PeerInfo:
    """The other side of an authenticated link."""

    node: str
    """The peer's node name, as it announced it (proved by the cookie, not by TLS)."""
    version: int
    """The protocol version both sides speak."""
    address: str
    """The peer's socket address, "host:port"."""
    tls: bool
    """Whether the link runs over TLS."""
    keys: SessionKeys = field(repr=False, compare=False)
    """This side's session keys: `keys.sealer()` for the writer, `keys.opener()` for
    the reader of this connection, and of no other."""


async def client_handshake(
    stream: ByteStream,
    *,
    cookie: bytes,
    node: str,
    expect_node: str | None = None,
    timeout: float = HANDSHAKE_TIMEOUT,
    version: int = PROTOCOL_VERSION,
) -> PeerInfo:
    """Open a link as the connecting side; return who is on the other end.

    `expect_node`, when given, is the name the peer must announce. Raises
    `HandshakeError` (after closing `stream`) when the peer rejects this node, fails to
    prove the cookie, speaks another version, is not `expect_node`, sends anything else
    than the expected frame, or has not finished within `timeout` seconds. On
    cancellation the stream is closed too.
    """
    _check_options(cookie, node, timeout)
    address = peer_address(stream)

    async def steps() -> PeerInfo:
        nonce = secrets.token_bytes(_NONCE_SIZE)
        await stream.send(encode_frame(Hello(version=version, node=node, nonce=nonce)))
        challenge = _accepted(await _receive(stream, _challenge_decoder, address), address)
        if challenge.version != version:
            await _refuse(stream, address, _version_mismatch(version, challenge.version))
        if expect_node is not None and challenge.node != expect_node:
            await _refuse(stream, address, _name_mismatch(expect_node, challenge.node))
        server_nonce = challenge.nonce
        mac = _mac(cookie, "client", version, node, challenge.node, nonce, server_nonce)
        await stream.send(encode_frame(Proof(mac=mac)))
        welcome = _accepted(await _receive(stream, _welcome_decoder, address), address)
        expected = _mac(cookie, "server", version, node, challenge.node, nonce, server_nonce)
        if not hmac.compare_digest(welcome.mac, expected):
            await _refuse(stream, address, _WRONG_COOKIE)
        keys = derive_keys(
            cookie, client=True, version=version, client_node=node,
            server_node=challenge.node, client_nonce=nonce, server_nonce=server_nonce,
        )
        return PeerInfo(challenge.node, version, address, _is_tls(stream), keys)

    return await _guarded(stream, address, timeout, steps)


async def server_handshake(
    stream: ByteStream,
    *,
    cookie: bytes,
    node: str,
    timeout: float = HANDSHAKE_TIMEOUT,
    version: int = PROTOCOL_VERSION,
) -> PeerInfo:
    """Accept a link as the listening side; return who connected.

    Raises `HandshakeError` (after telling the peer why where that is safe and closing
    `stream`) for a wrong version, a peer using this node's own name, a proof that does
    not match the cookie, a frame other than the one expected, or a handshake not done
    within `timeout` seconds. On cancellation the stream is closed too.
    """
    _check_options(cookie, node, timeout)
    address = peer_address(stream)

    async def steps() -> PeerInfo:
        hello = await _receive(stream, _hello_decoder, address)
        if hello.version != version:
            await _refuse(stream, address, _version_mismatch(hello.version, version))
        if hello.node == node:
            reason = f"both nodes are named {node!r}; node names must be unique in a cluster"
            await _refuse(stream, address, reason)
        nonce = secrets.token_bytes(_NONCE_SIZE)
        await stream.send(encode_frame(Challenge(version=version, node=node, nonce=nonce)))
        proof = _accepted(await _receive(stream, _proof_decoder, address), address)
        expected = _mac(cookie, "client", version, hello.node, node, hello.nonce, nonce)
        if not hmac.compare_digest(proof.mac, expected):
            await _refuse(stream, address, _WRONG_COOKIE)
        mac = _mac(cookie, "server", version, hello.node, node, hello.nonce, nonce)
        await stream.send(encode_frame(Welcome(mac=mac)))
        keys = derive_keys(
            cookie, client=False, version=version, client_node=hello.node, server_node=node,
            client_nonce=hello.nonce, server_nonce=nonce,
        )
        return PeerInfo(hello.node, version, address, _is_tls(stream), keys)

    return await _guarded(stream, address, timeout, steps)


_WRONG_COOKIE = "the cookie proof does not match; both nodes must be given the same cookie="


def _name_mismatch(expected: str, reached: str) -> str:
    return (
        f"the connecting node expected {expected!r} but reached {reached!r}; a node is named"
        " name@host:port after its advertise= address (or its listen= address without"
        " one): dial the name it has, or start it with advertise= set to the address"
        " others dial"
    )


def _version_mismatch(connecting: int, listening: int) -> str:
    # Worded for both sides: the same text is the local error and the peer's Goodbye.
    return (
        f"protocol version mismatch: the connecting node speaks {connecting},"
        f" the listening node {listening}; run the same Repertory version on both"
    )


def _mac(
    cookie: bytes,
    direction: str,
    version: int,
    client_node: str,
    server_node: str,
    client_nonce: bytes,
    server_nonce: bytes,
) -> bytes:
    # msgpack of a tuple: every field is length-delimited, so no two different inputs
    # can concatenate to the same message.
    message = msgspec.msgpack.encode(
        (_MAC_LABEL, direction, version, client_node, server_node, client_nonce, server_nonce)
    )
    return hmac.new(cookie, message, hashlib.sha256).digest()


async def _guarded(
    stream: ByteStream,
    address: str,
    timeout: float,
    steps: Callable[[], Awaitable[PeerInfo]],
) -> PeerInfo:
    """Run the handshake steps under the deadline; turn every failure into a closed
    stream and a `HandshakeError`."""
    try:
        with anyio.fail_after(timeout):
            return await steps()
    except HandshakeError:
        await anyio.aclose_forcefully(stream)
        raise
    except TimeoutError:
        await anyio.aclose_forcefully(stream)
        raise HandshakeClosedError(
            address,
            f"not done within {timeout} s; the peer is silent or does not speak this protocol",
        ) from None
    except (
        anyio.EndOfStream,
        anyio.BrokenResourceError,
        anyio.ClosedResourceError,
        ssl.SSLError,
        OSError,
    ) as exc:
        await anyio.aclose_forcefully(stream)
        raise HandshakeClosedError(
            address, f"the connection closed during the handshake ({type(exc).__name__})"
        ) from exc
    except BaseException:
        await anyio.aclose_forcefully(stream)  # cancellation: do not leave it half-open
        raise


async def _receive(stream: ByteStream, decoder: msgspec.msgpack.Decoder[_F], address: str) -> _F:
    """Read one handshake frame, exactly its bytes, and decode it with `decoder`."""
    (size,) = HEADER.unpack(await _receive_exactly(stream, HEADER.size))
    if size > HANDSHAKE_MAX_FRAME_SIZE:
        raise HandshakeError(
            address,
            f"the peer announced a {size}-byte frame, over the {HANDSHAKE_MAX_FRAME_SIZE}-byte"
            " handshake limit; it is not a Repertory node of a compatible version",
        )
    body = await _receive_exactly(stream, size)
    try:
        return decoder.decode(body)
    except DECODE_ERRORS as exc:
        raise HandshakeError(address, f"malformed handshake frame: {exc}") from None


async def _receive_exactly(stream: ByteStream, size: int) -> bytes:
    # Never ask for more than is due: bytes past the handshake belong to the session.
    data = bytearray()
    while len(data) < size:
        data += await stream.receive(size - len(data))
    return bytes(data)


def _accepted(frame: _F | Goodbye, address: str) -> _F:
    if isinstance(frame, Goodbye):
        raise HandshakeError(address, f"the peer refused: {frame.reason or 'no reason given'}")
    return frame


async def _refuse(stream: ByteStream, address: str, reason: str) -> None:
    """Tell the peer why (best effort) and raise `HandshakeError`."""
    # A courtesy to a peer we are dropping anyway: if it cannot be sent, the error
    # raised below still says why.
    with contextlib.suppress(
        anyio.BrokenResourceError, anyio.ClosedResourceError, ssl.SSLError, OSError
    ):
        await stream.send(encode_frame(Goodbye(reason=reason)))
    raise HandshakeError(address, reason)


def _check_options(cookie: bytes, node: str, timeout: float) -> None:
    if not isinstance(cookie, bytes) or not cookie:
        raise ValueError(f"cookie must be non-empty bytes, got {type(cookie).__name__}")
    if not isinstance(node, str) or not 1 <= len(node) <= 255:
        raise ValueError(f"node must be a name of 1 to 255 characters, got {node!r}")
    if not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")


def peer_address(stream: ByteStream) -> str:
    """The remote end of `stream` as "host:port" ("[v6]:port"), for messages."""
    remote = stream.extra(SocketAttribute.remote_address, None)
    if isinstance(remote, tuple):
        host, port = remote[0], remote[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return "an unknown address" if remote is None else str(remote)


def _is_tls(stream: ByteStream) -> bool:
    return stream.extra(TLSAttribute.ssl_object, None) is not None
