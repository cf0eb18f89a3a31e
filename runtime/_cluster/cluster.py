"""The cluster: `system.cluster`, a façade over the parts that link this node to others.

Links form a full mesh: joining one member teaches a node the others (`Members`
gossip), and the node with the smaller name dials each pair. Heartbeats on every link
feed a phi-accrual failure detector; a link that closes or a peer the detector gives
up on is a `NodeDown`: asks to it fail at once with `NodeDownError`, watchers of its
actors get `Terminated`, its names and topic interests leave this node. Seeds are
dialled again whenever they are not linked, so a node that comes back rejoins.

The parts, each in its module: `Links` (connections and the link table), `Membership`
(whom to keep linked, gossip, NodeUp/NodeDown), `RemoteDelivery` (tell, ask, send,
exported refs), `RemoteWatches`, `RemoteSpawner`, `ClusterNames` (names and topics
across nodes), `Inbound` (where each incoming frame goes). The system reaches the
cluster only through this class, and the cluster reaches the system only through
`runtime._cluster.host.ClusterHost`.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from anyio.abc import TaskGroup

from actors import ActorRef
from actors.lowlevel import unwrap
from runtime._cluster.delivery import RemoteDelivery
from runtime._cluster.host import ClusterHost, LocalActor
from runtime._cluster.inbound import Inbound
from runtime._cluster.links import Links, parse_address
from runtime._cluster.membership import DEFAULT_MAX_MEMBERS, Membership
from runtime._cluster.names import ClusterNames
from runtime._cluster.refs import RemoteRef
from runtime._cluster.spawning import RemoteSpawner
from runtime._cluster.watches import RemoteWatches
from runtime._engine.kernel import Kernel
from runtime._wire.listener import ConnectionLimits

if TYPE_CHECKING:
    from runtime._cluster.link import Link

__all__ = ("Cluster", "TLSContexts", "cookie_bytes", "parse_address", "tls_contexts")

TLSContexts = ssl.SSLContext | tuple[ssl.SSLContext, ssl.SSLContext]


class Cluster:
    """This node's view of the cluster (`system.cluster`): join, members, subscribe."""

    node: str

    def __init__(
        self,
        host: ClusterHost,
        *,
        name: str,
        listen: str,
        cookie: bytes,
        seeds: tuple[str, ...],
        ssl_context: TLSContexts | None,
        heartbeat_interval: float,
        phi_threshold: float,
        max_frame_size: int,
        allow_pickle: bool,
        message_modules: tuple[str, ...] = (),
        connection_limits: ConnectionLimits | None = None,
        advertise: str | None = None,
        max_members: int = DEFAULT_MAX_MEMBERS,
    ) -> None:
        self._host = host
        self._name = name
        self._listen = listen
        if advertise is not None:
            parse_address(advertise)  # a bad address fails here, before anything starts
        self._advertise = advertise
        # A node both accepts and dials: the server side and the client side of TLS.
        server_ssl, client_ssl = tls_contexts(ssl_context)
        self.connections = Links(
            cookie=cookie, server_ssl=server_ssl, client_ssl=client_ssl,
            heartbeat_interval=heartbeat_interval, phi_threshold=phi_threshold,
            max_frame_size=max_frame_size, on_up=self._node_up, on_down=self._node_down,
            limits=connection_limits or ConnectionLimits(),
        )
        self.delivery = RemoteDelivery(host, self.connections.table, allow_pickle=allow_pickle,
                                       message_modules=message_modules,
                                       max_frame_size=max_frame_size)
        self.watches = RemoteWatches(self.delivery)
        self.spawner = RemoteSpawner(self.delivery, allow_pickle=allow_pickle)
        self.names = ClusterNames(self.delivery)
        self.membership = Membership(self.connections, seeds, max_members=max_members)
        self.inbound = Inbound(self.delivery, self.watches, self.spawner, self.names,
                               self.membership, self.connections.closed)
        self.connections.handler = self.inbound
        self._node_down_hooks: list[Callable[[str], None]] = []

    # -- lifetime -----------------------------------------------------------------------

    async def start(self, task_group: TaskGroup) -> str:
        """Listen, dial the seeds, and return this node's name (``name@host:port``)."""
        self.delivery.kernel = self._host.kernel
        node = await self.connections.start(task_group, self._name, self._listen,
                                            self._advertise)
        self.node = node
        for part in (self.delivery, self.membership, self.inbound):
            part.node = node
        await self.membership.start(task_group)
        return node

    async def close(self) -> None:
        """Say goodbye to every peer (they see this node leave, not fail)."""
        await self.connections.close()

    # -- the public API -------------------------------------------------------------------

    @property
    def members(self) -> frozenset[str]:
        """This node and every node it is linked to now."""
        return self.membership.members

    async def join(self, address: str) -> str:
        """Link to the node at `address` (and, through it, to every member).

        Returns the node's name. Raises `AuthenticationError` when the handshake
        fails (wrong cookie or version) and `NodeDownError` when nothing answers.
        """
        return await self.membership.join(address)

    def subscribe(self, ref: ActorRef[Any]) -> None:
        """Send `ref` a `NodeUp` for each member now, then `NodeUp` / `NodeDown` as
        members come and go."""
        self.membership.subscribe(ref)

    def unsubscribe(self, ref: ActorRef[Any]) -> None:
        self.membership.unsubscribe(ref)

    async def call(self, node: str, target: int | str, message: Any, timeout: float | None) -> Any:
        """Ask `target` (an actor id, a name or a ``$service``) on `node`."""
        return await self.delivery.call(node, target, message, timeout)

    @property
    def kernel(self) -> Kernel:
        """The clock and primitives of the running node (for `describe_members`)."""
        return self.delivery.kernel

    @property
    def links(self) -> dict[str, Link]:
        """The link in use to each peer, by node name (read it; do not change it)."""
        return self.connections.table

    def stats(self) -> dict[str, int]:
        """Counters of remote delivery on this node (see docs/cluster.md)."""
        return self.delivery.stats()

    # -- what the rest of the system calls ----------------------------------------------

    def on_node_down(self, hook: Callable[[str], None]) -> None:
        """Call `hook(node)` when a node goes down (before subscribers hear of it)."""
        self._node_down_hooks.append(hook)

    def local_terminated(self, cell: LocalActor) -> None:
        """A local actor stopped: drop its names, tell remote watchers, drop its watches.

        Names go first: frames on a link keep their order, so a watcher that hears of
        the death finds the name already gone.
        """
        self.names.local_terminated(cell.ref)
        self.delivery.exported.pop(cell.uid, None)
        self.watches.local_terminated(cell)

    def export(self, ref: ActorRef[Any]) -> tuple[str, int, str | None]:
        return self.delivery.export(ref)

    def ref_for(self, node: str, uid: int, name: str | None) -> ActorRef[Any]:
        return self.delivery.ref_for(node, uid, name)

    def ref_to_text(self, ref: ActorRef[Any] | None) -> str | None:
        """`ref` as frames carry it (``node|uid|name``)."""
        return self.delivery.ref_to_text(ref)

    def ref_from_text(self, text: str) -> ActorRef[Any]:
        return self.delivery.ref_from_text(text)

    def spawn_remote(
        self, node: str, factory: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
        name: str | None, then: Callable[[BaseException | None], None] | None,
    ) -> ActorRef[Any]:
        """Spawn on `node`; its ref at once (see `RemoteSpawner.spawn` for `then`)."""
        return self.spawner.spawn(node, factory, args, kwargs, name, then)

    def stop_remote(self, ref: ActorRef[Any]) -> None:
        remote = unwrap(ref)
        if not isinstance(remote, RemoteRef):
            raise ValueError(f"{ref!r} does not belong to system {self.node}")
        self.delivery.stop_remote(remote)

    def watch_remote(self, watcher: LocalActor, ref: ActorRef[Any]) -> None:
        self.watches.watch(watcher, ref)

    def unwatch_remote(self, watcher: LocalActor, ref: ActorRef[Any]) -> None:
        self.watches.unwatch(watcher, ref)

    # cluster-wide names and topics, for the directory
    def register(self, name: str, ref: ActorRef[Any]) -> None:
        self.names.register(name, ref)

    def unregister(self, name: str) -> None:
        self.names.unregister(name)

    def whereis(self, name: str) -> ActorRef[Any] | None:
        return self.names.whereis(name)

    def local_topic_changed(self, topic: str, subscribed: bool) -> None:
        self.names.local_topic_changed(topic, subscribed)

    def publish_remote(self, topic: str, message: Any) -> int:
        return self.names.publish_remote(topic, message)

    # -- links coming and going ----------------------------------------------------------

    def _node_up(self, link: Link) -> None:
        self.membership.node_up(link)
        self.names.node_up(link)

    def _node_down(self, link: Link, reason: str) -> None:
        peer = link.peer
        self.watches.node_down(peer, reason)
        self.names.node_down(peer)
        for hook in self._node_down_hooks:
            hook(peer)  # now, before anything could route there
        self.membership.node_down(link, reason)


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


def cookie_bytes(cookie: str | bytes | None) -> bytes:
    if cookie is None or not cookie:
        raise ValueError(
            "a node that listens needs cookie=: the shared secret every node of the "
            "cluster proves in the handshake (e.g. cookie=open('cookie').read())"
        )
    return cookie.encode() if isinstance(cookie, str) else cookie
