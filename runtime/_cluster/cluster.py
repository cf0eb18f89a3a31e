"""The cluster: this node's links to the others, and membership (delivery: `_cluster_remote`).

Links form a full mesh: joining one member teaches a node the others (`Members`
gossip), and the node with the smaller name dials each pair. Heartbeats on every link
feed a phi-accrual failure detector; a link that closes or a peer the detector gives
up on is a `NodeDown`: asks to it fail at once with `NodeDownError`, watchers of its
actors get `Terminated`, its names and topic interests leave this node. Known peers
are dialled again with back-off, so a node that comes back rejoins.
"""

from __future__ import annotations

import logging
import ssl
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import ByteStream, TaskGroup

from actors.errors import AuthenticationError, NodeDownError
from actors.messages import NodeDown, NodeUp
from runtime._cluster.link import Link
from runtime._cluster.phi import PhiAccrualDetector
from runtime._cluster.remote import ClusterRemote
from runtime._wire import framing as wire
from runtime._wire.codec import Codec
from runtime._wire.handshake import HandshakeClosedError, HandshakeError, PeerInfo, client_handshake
from runtime._wire.listener import connect, listen, serve_authenticated

if TYPE_CHECKING:
    from runtime._system import ActorSystem

__all__ = ("Cluster", "parse_address")

log = logging.getLogger("repertory.cluster")

_SEED = (0.0, 0.1)  # due now; dialled whichever name is smaller


def parse_address(address: str) -> tuple[str | None, str, int]:
    """``name@host:port`` or ``host:port`` -> (node name or None, host, port)."""
    name, _, hostport = address.rpartition("@")
    host, sep, port = hostport.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(
            f"a node address is 'host:port' or 'name@host:port', got {address!r}"
        )
    return (address if name else None), host.strip("[]"), int(port)


class Cluster(ClusterRemote):
    """This node's view of the cluster (`system.cluster`)."""

    def __init__(
        self,
        system: ActorSystem,
        *,
        listen: str,
        cookie: bytes,
        seeds: tuple[str, ...],
        ssl_context: TLSContexts | None,
        heartbeat_interval: float,
        phi_threshold: float,
        max_frame_size: int,
    ) -> None:
        super().__init__(system)
        self._listen = listen
        self._cookie = cookie
        self._seeds = seeds
        # A node both accepts and dials: the server side and the client side of TLS.
        self._server_ssl, self._client_ssl = tls_contexts(ssl_context)
        self.heartbeat_interval = heartbeat_interval
        self._phi_threshold = phi_threshold
        self._max_frame_size = max_frame_size
        self.links: dict[str, Link] = {}
        self._dialing: set[str] = set()
        # Nodes to keep linked to: name (or "host:port" for a seed not met yet) -> the
        # earliest time to dial again and the back-off so far. A back-off of 0 marks a
        # node learned from others and never lost: of such a pair only the node with
        # the smaller name dials. Seeds start at `_SEED` and are dialled either way.
        self._known: dict[str, tuple[float, float]] = {}
        self._task_group: TaskGroup | None = None
        self._closing = False
        self.codec = Codec(
            allow_pickle=system.allow_pickle,
            ref_encoder=self.export,
            ref_decoder=self.ref_for,
            message_modules=system.message_modules,
        )

    # -- lifetime -----------------------------------------------------------------------

    async def start(self, task_group: TaskGroup) -> str:
        """Listen, and return this node's name (``name@host:port``)."""
        self._task_group = task_group
        self.kernel = self.system.kernel
        _, host, port = parse_address(self._listen)
        listener = await listen(host, port, ssl_context=self._server_ssl)
        from anyio.abc import SocketAttribute

        port = listener.extra(SocketAttribute.local_port)
        self.node = f"{self.system.name}@{host}:{port}"
        task_group.start_soon(self._serve, listener, name="repertory-listener")
        task_group.start_soon(self._maintain, name="repertory-cluster")
        for seed in self._seeds:
            await self._add_seed(seed)
        return self.node

    async def _serve(self, listener: Any) -> None:
        async with listener:
            await serve_authenticated(
                listener, self._accepted, cookie=self._cookie, node=self.node,
                limits=self.system.connection_limits,
            )

    async def _accepted(self, stream: ByteStream, peer: PeerInfo) -> None:
        link = self._adopt(stream, peer, outgoing=False)
        await link.run(self.heartbeat_interval)

    async def close(self) -> None:
        """Say goodbye to every peer (they see this node leave, not fail)."""
        self._closing = True
        for link in list(self.links.values()):
            await link.goodbye("node shutting down")

    # -- joining and linking ---------------------------------------------------------------

    @property
    def members(self) -> frozenset[str]:
        """This node and every node it is linked to now."""
        return frozenset([self.node, *self.links])

    def is_linked(self, node: str) -> bool:
        return node == self.node or node in self.links

    async def join(self, address: str) -> str:
        """Link to the node at `address` (and, through it, to every member).

        Returns the node's name. Raises `AuthenticationError` when the handshake
        fails (wrong cookie or version) and `NodeDownError` when nothing answers.
        """
        expect, host, port = parse_address(address)
        if expect is not None and expect in self.links:
            return expect
        link = await self._dial(host, port, expect)
        self._known.setdefault(link.peer, (0.0, 0.0))
        return link.peer

    async def _add_seed(self, seed: str) -> None:
        if seed.startswith("dns:"):
            _, name, port = seed.split(":", 2)
            try:
                infos = await anyio.getaddrinfo(name, int(port), type=2)
            except OSError as error:
                log.warning("%s: seed %s did not resolve: %s", self.node, seed, error)
                return
            for info in infos:
                host = info[4][0]
                self._known.setdefault(f"{host}:{port}", _SEED)
            return
        parse_address(seed)
        self._known.setdefault(seed, _SEED)

    async def _dial(self, host: str, port: int, expect: str | None) -> Link:
        try:
            stream = await connect(host, port, ssl_context=self._client_ssl)
        except OSError as error:
            raise NodeDownError(expect or f"{host}:{port}", f"cannot connect: {error}") from None
        try:
            peer = await client_handshake(
                stream, cookie=self._cookie, node=self.node, expect_node=expect
            )
        except HandshakeClosedError as error:
            # Closed or silent mid-handshake: down (or busy), not a wrong cookie.
            raise NodeDownError(expect or error.peer, error.reason) from None
        except HandshakeError as error:
            raise AuthenticationError(error.peer, error.reason) from None
        link = self._adopt(stream, peer, outgoing=True)
        assert self._task_group is not None
        self._task_group.start_soon(link.run, self.heartbeat_interval, name=f"link-{link.peer}")
        active = self.links.get(peer.node)
        if active is None:
            raise NodeDownError(peer.node, "the link closed while it was being set up")
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
        link = Link(self, stream, peer, outgoing, keys=info.keys,
                    max_frame_size=self._max_frame_size, detector=detector)
        existing = self.links.get(peer)
        if existing is not None:
            smaller = min(self.node, peer)
            new_by_smaller = (self.node if outgoing else peer) == smaller
            old_by_smaller = (self.node if existing.outgoing else peer) == smaller
            if old_by_smaller and not new_by_smaller:
                link.retire("a connection dialled by the smaller node exists")
                return link
            existing.retire("replaced by a newer connection")
        self.links[peer] = link
        self._known[peer] = (0.0, 0.0)
        if existing is None:
            self._node_up(link)
        return link

    def _node_up(self, link: Link) -> None:
        log.info("%s: node %s is up", self.node, link.peer)
        link.send(wire.Members([wire.Member(node) for node in self.members]))
        # And the others learn of the newcomer: whichever of a pair is to dial the
        # other (the smaller name) must know of it, or the mesh stays incomplete.
        newcomer = wire.Members([wire.Member(link.peer)])
        for other in list(self.links.values()):
            if other is not link:
                other.send(newcomer)
        link.send(self.registry_snapshot())
        link.send(wire.TopicInterest(subscribe=self.local_topics(), full=True))
        self.notify(NodeUp(link.peer))

    def link_closed(self, link: Link, reason: str) -> None:
        if self.links.get(link.peer) is not link:
            return  # replaced by a newer connection: the peer is still up
        del self.links[link.peer]
        graceful = self._closing or link.peer_left
        log.log(logging.INFO if graceful else logging.WARNING,
                "%s: node %s is down: %s", self.node, link.peer, reason)
        if self._closing or link.peer_left or not _dialable(link.peer):
            # A node that said goodbye left on purpose: it is not dialled again (it
            # rejoins by dialling us); one named without an address cannot be.
            self._known.pop(link.peer, None)
        else:
            self._known[link.peer] = (self.kernel.now() + 0.1, 0.1)
        self.node_down(link.peer, reason)
        self.notify(NodeDown(link.peer, reason))

    async def _maintain(self) -> None:
        """Judge every link by its failure detector; dial known nodes that are down."""
        while True:
            now = self.kernel.now()
            for link in list(self.links.values()):
                if not link.detector.available(now):
                    silence = now - (link.detector._last or now)
                    link.close(f"no heartbeat for {silence:.1f} s (failure detector)")
            for target, (due, backoff) in list(self._known.items()):
                if target in self.links or target in self._dialing or due > now:
                    continue
                if "@" in target and target < self.node and backoff == 0.0:
                    continue  # the smaller node dials; we wait for it (unless it failed)
                self._dialing.add(target)
                self._known[target] = (now + max(backoff, 0.1), min(max(backoff * 2, 0.2), 5.0))
                assert self._task_group is not None
                self._task_group.start_soon(self._redial, target)
            await anyio.sleep(self.heartbeat_interval / 2)

    async def _redial(self, target: str) -> None:
        try:
            expect, host, port = parse_address(target)
            link = await self._dial(host, port, expect)
            if "@" not in target:  # a seed: from now on it is known by name
                self._known.pop(target, None)
                self._known[link.peer] = (0.0, 0.0)
        except (NodeDownError, AuthenticationError, OSError) as error:
            log.debug("%s: dialling %s failed: %s", self.node, target, error)
        except Exception as error:  # whatever a bad address does, the node keeps running
            log.warning("%s: dialling %s failed: %r", self.node, target, error)
        finally:
            self._dialing.discard(target)

    def learn_members(self, members: list[wire.Member]) -> None:
        for member in members:
            node = member.node
            if node != self.node and member.status == "up" and _dialable(node):
                self._known.setdefault(node, (0.0, 0.0))


TLSContexts = ssl.SSLContext | tuple[ssl.SSLContext, ssl.SSLContext]


def tls_contexts(
    given: TLSContexts | None,
) -> tuple[ssl.SSLContext | None, ssl.SSLContext | None]:
    """(server side, client side) from ``ssl_context=``: a pair, or one context that can
    take both sides (``ssl.PROTOCOL_TLS``); raises `ValueError` for one that cannot."""
    if given is None:
        return None, None
    if isinstance(given, tuple):
        server, client = given
        if server.protocol == ssl.PROTOCOL_TLS_CLIENT or client.protocol == ssl.PROTOCOL_TLS_SERVER:
            raise ValueError(
                "ssl_context=(server, client): the first context accepts connections and "
                "the second dials them; got them the other way round"
            )
        return server, client
    if given.protocol in (ssl.PROTOCOL_TLS_SERVER, ssl.PROTOCOL_TLS_CLIENT):
        side = "server" if given.protocol == ssl.PROTOCOL_TLS_SERVER else "client"
        raise ValueError(
            "a node both accepts and dials links, so it needs both sides of TLS: give "
            "ssl_context=(server_context, client_context) (for mutual TLS, both with "
            f"load_cert_chain and the cluster's CA); got only a {side} context"
        )
    return given, given


def _dialable(node: str) -> bool:
    """Whether `node` is a name this node can dial again (``name@host:port``)."""
    try:
        name, _, _ = parse_address(node)
    except ValueError:
        return False
    return name is not None


def cookie_bytes(cookie: str | bytes | None) -> bytes:
    if cookie is None or not cookie:
        raise ValueError(
            "a node that listens needs cookie=: the shared secret every node of the "
            "cluster proves in the handshake (e.g. cookie=open('cookie').read())"
        )
    return cookie.encode() if isinstance(cookie, str) else cookie
