"""The link table: accepting and dialling connections, one live link per peer.

`Links` listens, runs the handshake both ways, keeps `table` (peer name -> the link in
use), and runs the node's one timer for every link's heartbeats and failure checks
(`_keep_alive`), which closes links whose failure detector gives up. It decides nothing
about which nodes to dial (that is `runtime._cluster.membership`); it tells the cluster
when a peer comes up (`on_up`) and goes down (`on_down`).
"""

from __future__ import annotations

import logging
import math
import socket
import ssl
import time
import zlib
from collections.abc import Callable
from typing import Any

import anyio
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


# The heartbeat ticks of all nodes fall in this many groups per interval (by name).
# One group would read every peer's heartbeat in the fewest wake-ups, but on a
# machine that runs many nodes their ticks then come as one burst of work, and a peer
# killed just before it is seen late: measured with 40 nodes on 2 cores, one group
# cost 0.37-0.45% of a core per idle node and let 4 of 24 kills take over 0.1 s to
# be seen by all; four groups cost 0.70-0.78% and the slowest of 24 took 0.06 s.
TICK_PHASES = 4


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
        # Retired connections still in their grace, by peer: one takes over (no
        # NodeDown) if the link in use ends first (see `closed`).
        self.retired: dict[str, set[Link]] = {}
        # Dials under way, by (host, port): a second dial to that address waits for
        # the first and uses its link (see `dial`).
        self._dialling: dict[tuple[str, int], anyio.Event] = {}
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
        One dial per address at a time: a dial to an address already being dialled
        (a seed by "host:port" and the same node by name, say, or a `join` beside the
        membership's own dial) waits for that one, and uses its link if it reached the
        node expected. Two connections dialled by the same node at once could be
        adopted in different orders by the two sides (each side keeps the newer of
        two such connections, and the sides see their handshakes end in different
        orders), and then each would retire the connection the other uses.
        """
        address = (host, port)
        while (under_way := self._dialling.get(address)) is not None:
            await under_way.wait()
            reached = self._reached(host, port, expect)
            if reached is not None:
                return reached
        self._dialling[address] = done = anyio.Event()
        try:
            return await self._dial(host, port, expect)
        finally:
            del self._dialling[address]
            done.set()

    def _reached(self, host: str, port: int, expect: str | None) -> Link | None:
        """The link in use to the node at `host:port` (named `expect`, if given)."""
        if expect is not None:
            return self.table.get(expect)
        suffix = f"@{_host_text(host)}:{port}"
        for peer, link in self.table.items():
            if peer.endswith(suffix):
                return link
        return None

    async def _dial(self, host: str, port: int, expect: str | None) -> Link:
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
                self._retire(link, "a connection dialled by the smaller node exists")
                return link
            self._retire(existing, "replaced by a newer connection")
        self.table[peer] = link
        if self._alarm is not None:  # the timer may sleep past this link's first check
            self._alarm.due(detector.suspected_at())
        if existing is None:
            self._on_up(link)
        return link

    def _take_spare(self, peer: str, ended: Link) -> Link | None:
        """Forget `ended` among the peer's retired links; if `ended` was the link in
        use, take out and return a retired one still open (None if there is none)."""
        spares = self.retired.get(peer)
        if spares is None:
            return None
        spares.discard(ended)
        spare = None
        if self.table.get(peer) is ended:
            spare = next((each for each in spares if each.is_open), None)
            if spare is not None:
                spares.discard(spare)
        if not spares:
            del self.retired[peer]
        return spare

    def _retire(self, link: Link, reason: str) -> None:
        link.retire(reason)
        self.retired.setdefault(link.peer, set()).add(link)

    def closed(self, link: Link, reason: str) -> None:
        """A link ended: if it was the one in use, its peer is down, unless a retired
        connection to it is still open: that one is taken back into use instead.

        So a connection the peer retired and closed, while this side still used it
        (the two sides disagreed on which of two to keep), costs no NodeDown: the
        one this side retired is the one the peer uses, and it is still in its grace.
        """
        peer = link.peer
        spare = self._take_spare(peer, link)
        if self.table.get(peer) is not link:
            return  # replaced by a newer connection: the peer is still up
        # Not when the peer said goodbye or this node is leaving: then it is down.
        if spare is not None and not (link.peer_left or self.closing):
            spare.reinstate()
            self.table[peer] = spare
            log.info("%s: link to %s ended (%s); a second connection to it took over",
                     self.node, peer, reason)
            if self._alarm is not None:
                self._alarm.due(spare.detector.suspected_at())
            return
        del self.table[peer]
        self._on_down(link, reason)

    async def _keep_alive(self) -> None:
        """The node's one timer for every link's heartbeats and failure checks.

        Once per heartbeat interval it calls each link's `keep_alive` (a heartbeat on
        each link that sent nothing since the last tick; see `Link.keep_alive`). Its
        ticks fall on a grid of the wall clock, at one of `TICK_PHASES` offsets chosen
        by the node's name, so that nodes whose clocks agree (every process of one
        machine, NTP-synced hosts) send in a few groups and each reads its peers'
        heartbeats in a few wake-ups rather than one per peer. Between ticks it wakes
        only when a link's failure detector would give up (`suspected_at`), and then
        closes that link; with no links it sleeps until one comes.
        """
        kernel = self.handler.kernel
        alarm = self._alarm = Alarm(kernel)
        interval = self.heartbeat_interval
        phase = (zlib.crc32(self.node.encode()) % TICK_PHASES) / TICK_PHASES
        next_tick = math.inf
        while True:
            now = kernel.now()
            if not self.table:
                next_tick = math.inf
            elif next_tick == math.inf:  # the first link since there were none
                next_tick = now + _until_tick(interval, phase)
            elif now >= next_tick:
                for link in list(self.table.values()):
                    link.keep_alive(now)
                next_tick = now + _until_tick(interval, phase)
            await alarm.sleep_until(min(next_tick, self._check_detectors(now)))

    def _check_detectors(self, now: float) -> float:
        """Close the links whose detector gave up by `now`; when the next one would."""
        earliest = math.inf
        for link in list(self.table.values()):
            at = link.detector.suspected_at()
            if at > now:
                earliest = min(earliest, at)
            elif link.is_open:
                silence = now - (link.detector.last_heartbeat or now)
                link.close(f"no heartbeat for {silence:.1f} s (failure detector)")
        return earliest


def _until_tick(interval: float, phase: float) -> float:
    """Seconds to the next point of the `interval` grid of the wall clock, offset by
    `phase` intervals, that is at least half an interval away (never a second tick
    right after one)."""
    delay = interval - (time.time() - phase * interval) % interval
    return delay if delay >= interval / 2 else delay + interval
