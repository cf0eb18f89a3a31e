"""The link table: accepting and dialling connections, one live link per peer.

`Links` listens, runs the handshake both ways, keeps `table` (peer name -> the link in
use), and runs the node's one timer for every link's heartbeats and failure checks
(`_keep_alive`), which closes links whose failure detector gives up. It decides nothing about which
nodes to dial (that is `runtime._cluster.membership`); it tells the cluster when a peer
comes up (`on_up`) and goes down (`on_down`).
"""

from __future__ import annotations

import logging
import math
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any

from anyio.abc import ByteStream, SocketAttribute, TaskGroup

from actors.errors import AuthenticationError, NodeDownError
from runtime._cluster.alarm import Alarm
from runtime._cluster.link import Link, LinkHandler
from runtime._cluster.phi import PhiAccrualDetector
from runtime._wire.handshake import (
    HandshakeClosedError,
    HandshakeError,
    PeerInfo,
    client_handshake,
)
from runtime._wire.listener import ConnectionLimits, connect, listen, serve_authenticated

__all__ = ("DialFailure", "Links", "parse_address")

log = logging.getLogger("repertory.cluster")


def parse_address(address: str) -> tuple[str | None, str, int]:
    """``name@host:port`` or ``host:port`` -> (node name or None, host, port)."""
    name, _, hostport = address.rpartition("@")
    host, sep, port = hostport.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(
            f"a node address is 'host:port' or 'name@host:port', got {address!r}"
        )
    return (address if name else None), host.strip("[]"), int(port)


_ANY_ADDRESS = frozenset({"0.0.0.0", "::", ""})


def node_name(name: str, host: str, port: int, advertise: str | None) -> str:
    """A node's name: ``name@advertise``, else ``name@host:port`` of where it listens
    (port 0 in `advertise` means the port it got). Listening on every address without
    `advertise` logs a warning: that name is no address another host can dial."""
    if advertise is not None:
        _, advertised_host, advertised_port = parse_address(advertise)
        return f"{name}@{_host_text(advertised_host)}:{advertised_port or port}"
    if host in _ANY_ADDRESS:
        log.warning(
            "%s listens on %s:%d without advertise=: it is named %s@%s:%d, which no peer"
            " on another host can dial; pass advertise='HOST:PORT' (repertory node"
            " --advertise) with the address peers should use", name, host or "*", port,
            name, host, port,
        )
    return f"{name}@{_host_text(host)}:{port}"


def _host_text(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class DialFailure(Exception):
    """Dialling a node failed; `kind` is one of ``refused``, ``unreachable``,
    ``unresolvable``, ``cookie rejected``, ``name mismatch``, ``version mismatch``,
    ``handshake failed``; `error` is what `join` raises for it."""

    def __init__(self, kind: str, detail: str, error: Exception) -> None:
        super().__init__(kind, detail)
        self.kind = kind
        self.detail = detail
        self.error = error

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"


def _connect_failure(target: str, error: OSError) -> DialFailure:
    # anyio tries every address of a host and raises one OSError for all, with what
    # each attempt raised as its cause (an exception group when there were several).
    cause: BaseException | None = error.__cause__
    found: list[BaseException] = [error]
    if isinstance(cause, BaseExceptionGroup):
        found = list(cause.exceptions)
    elif cause is not None:
        found = [cause]
    if any(isinstance(each, ConnectionRefusedError) for each in found):
        kind = "refused"
    elif any(isinstance(each, socket.gaierror) for each in found):
        kind = "unresolvable"
    else:
        kind = "unreachable"
    detail = "; ".join(str(each) for each in found)
    return DialFailure(kind, detail, NodeDownError(target, f"cannot connect: {error}"))


def _handshake_failure(target: str, error: HandshakeError) -> DialFailure:
    reason = error.reason
    if isinstance(error, HandshakeClosedError):
        # Closed or silent mid-handshake: the node is down (or busy), not refusing us.
        return DialFailure("closed in handshake", str(error), NodeDownError(target, reason))
    if "cookie" in reason:
        kind = "cookie rejected"
    elif "expected" in reason and "reached" in reason:
        # The reason says what to do (advertise=): not the cookie advice.
        return DialFailure("name mismatch", str(error),
                           AuthenticationError(error.peer, reason, advice=""))
    elif "version" in reason:
        kind = "version mismatch"
    else:
        kind = "handshake failed"
    return DialFailure(kind, str(error), AuthenticationError(error.peer, reason))


class Links:
    """This node's links, by peer name."""

    node: str  # set by `start`

    handler: LinkHandler  # set by the cluster once its parts exist

    def __init__(
        self,
        *,
        cookie: bytes,
        server_ssl: ssl.SSLContext | None,
        client_ssl: ssl.SSLContext | None,
        heartbeat_interval: float,
        phi_threshold: float,
        max_frame_size: int,
        on_up: Callable[[Link], None],
        on_down: Callable[[Link, str], None],
        limits: ConnectionLimits,
    ) -> None:
        self.table: dict[str, Link] = {}
        self._limits = limits
        self._cookie = cookie
        self._server_ssl = server_ssl
        self._client_ssl = client_ssl
        self.heartbeat_interval = heartbeat_interval
        self._phi_threshold = phi_threshold
        self._max_frame_size = max_frame_size
        self._on_up = on_up
        self._on_down = on_down
        self._task_group: TaskGroup | None = None
        self._alarm: Alarm | None = None  # the keep-alive timer's, once it runs
        self.closing = False

    async def start(
        self, task_group: TaskGroup, name: str, listen_at: str, advertise: str | None = None
    ) -> str:
        """Listen at `listen_at`; return this node's name (``name@host:port``, with the
        `advertise` address when given)."""
        self._task_group = task_group
        _, host, port = parse_address(listen_at)
        listener = await listen(host, port, ssl_context=self._server_ssl)
        port = listener.extra(SocketAttribute.local_port)
        self.node = node_name(name, host, port, advertise)
        task_group.start_soon(self._serve, listener, name="repertory-listener")
        task_group.start_soon(self._keep_alive, name="repertory-keep-alive")
        return self.node

    async def _serve(self, listener: Any) -> None:
        async with listener:
            await serve_authenticated(
                listener, self._accepted, cookie=self._cookie, node=self.node,
                limits=self._limits,
            )

    async def _accepted(self, stream: ByteStream, peer: PeerInfo) -> None:
        link = self._adopt(stream, peer, outgoing=False)
        await link.run()

    async def close(self) -> None:
        """Say goodbye to every peer (they see this node leave, not fail)."""
        self.closing = True
        for link in list(self.table.values()):
            await link.goodbye("node shutting down")

    async def dial(self, host: str, port: int, expect: str | None) -> Link:
        """Connect, handshake and run a link to the node at `host:port`.

        Returns the link in use for that peer afterwards. Raises `DialFailure`.
        """
        target = expect or f"{host}:{port}"
        try:
            stream = await connect(host, port, ssl_context=self._client_ssl)
        except OSError as error:
            raise _connect_failure(target, error) from None
        try:
            peer = await client_handshake(
                stream, cookie=self._cookie, node=self.node, expect_node=expect
            )
        except HandshakeError as error:
            raise _handshake_failure(target, error) from None
        link = self._adopt(stream, peer, outgoing=True)
        assert self._task_group is not None
        self._task_group.start_soon(link.run, name=f"link-{link.peer}")
        active = self.table.get(peer.node)
        if active is None:
            closed = NodeDownError(peer.node, "the link closed while it was being set up")
            raise DialFailure("refused", str(closed), closed)
        return active

    def _adopt(self, stream: ByteStream, info: PeerInfo, *, outgoing: bool) -> Link:
        """Make a fresh connection the link to `peer`, unless a better one exists.

        Two nodes that dial each other at once end up with two connections; both keep
        the one the smaller-named node dialled (or the newer, if the same side dialled
        both, as after a restart). The other is retired rather than dropped, on both
        sides, so that what is already on its way over it (asks, and their answers)
        still arrives: see `Link.retire`. Run the returned link either way.
        """
        peer = info.node
        detector = PhiAccrualDetector(
            threshold=self._phi_threshold, first_interval=self.heartbeat_interval
        )
        link = Link(self.handler, stream, peer, outgoing, keys=info.keys,
                    max_frame_size=self._max_frame_size, detector=detector)
        existing = self.table.get(peer)
        if existing is not None:
            smaller = min(self.node, peer)
            new_by_smaller = (self.node if outgoing else peer) == smaller
            old_by_smaller = (self.node if existing.outgoing else peer) == smaller
            if old_by_smaller and not new_by_smaller:
                link.retire("a connection dialled by the smaller node exists")
                return link
            existing.retire("replaced by a newer connection")
        self.table[peer] = link
        if self._alarm is not None:  # the timer may sleep past this link's first check
            self._alarm.due(detector.suspected_at())
        if existing is None:
            self._on_up(link)
        return link

    def closed(self, link: Link, reason: str) -> None:
        """A link ended: if it was the one in use, its peer is down."""
        if self.table.get(link.peer) is not link:
            return  # replaced by a newer connection: the peer is still up
        del self.table[link.peer]
        self._on_down(link, reason)

    async def _keep_alive(self) -> None:
        """The node's one timer for every link's heartbeats and failure checks.

        Once per heartbeat interval it calls each link's `keep_alive` (a heartbeat on
        each link that sent nothing since the last tick; see `Link.keep_alive`). Its
        ticks fall on a grid of the wall clock, so that nodes whose clocks agree (every
        process of one machine, NTP-synced hosts) send in step and each reads its peers'
        heartbeats in a few wake-ups rather than one per peer. Between ticks it wakes
        only when a link's failure detector would give up (`suspected_at`), and then
        closes that link; with no links it sleeps until one comes.
        """
        kernel = self.handler.kernel
        alarm = self._alarm = Alarm(kernel)
        interval = self.heartbeat_interval
        next_tick = math.inf
        while True:
            now = kernel.now()
            if not self.table:
                next_tick = math.inf
            elif next_tick == math.inf:  # the first link since there were none
                next_tick = now + _until_tick(interval)
            elif now >= next_tick:
                for link in list(self.table.values()):
                    link.keep_alive(now)
                next_tick = now + _until_tick(interval)
            wake = next_tick
            for link in list(self.table.values()):
                at = link.detector.suspected_at()
                if at <= now:
                    if link.is_open:
                        silence = now - (link.detector.last_heartbeat or now)
                        link.close(f"no heartbeat for {silence:.1f} s (failure detector)")
                elif at < wake:
                    wake = at
            await alarm.sleep_until(wake)


def _until_tick(interval: float) -> float:
    """Seconds to the next point of the `interval` grid of the wall clock that is at
    least half an interval away (never a second tick right after one)."""
    delay = interval - time.time() % interval
    return delay if delay >= interval / 2 else delay + interval
