"""`ActorSystem`: one node, the owner of every actor, task and timer in it."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Awaitable, Callable
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, overload

import anyio
from anyio.abc import TaskGroup

from actors import ActorFactory, ActorRef, SpawnSpec
from actors.mailbox import Mailbox
from runtime._cluster.cluster import Cluster, cookie_bytes
from runtime._engine.lifecycle import request_stop
from runtime._engine.snapshot import ActorInfo
from runtime._engine.threads import release_idle_threads
from runtime._host import SystemHost
from runtime._start_stop import Stopping
from runtime._starting import (
    lookup_anywhere,
    lookup_on,
    start_local,
    start_remote,
    stop_remote,
)
from runtime._streams import Streams
from runtime._streams.options import Fsync
from runtime._wire.listener import ConnectionLimits

if TYPE_CHECKING:
    from actors.routing import Exchange, ExchangeKind, PoolRef, Routing
    from runtime._directory.deadletters import DeadLetters
    from runtime._directory.registry import Registry, Topics
    from runtime._engine.crashes import CrashLog

__all__ = ("ActorSystem",)

log = logging.getLogger("repertory")
M = TypeVar("M")
R = TypeVar("R")


def _module_names(given: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    if isinstance(given, str) or not all(
        isinstance(name, str) and name and all(part.isidentifier() for part in name.split("."))
        for name in given
    ):
        raise ValueError(
            "message_modules must be a list of module names such as ['shop.messages'],"
            f" got {given!r}"
        )
    return tuple(given)


class ActorSystem:
    """One node: spawns actors, runs them, and stops them all on exit.

    Use it as an async context manager under anyio (asyncio or trio). Leaving the block
    stops every actor, children before parents (each parent stops its children last
    started first), running `on_stop`; after `shutdown_timeout` seconds (5 by default)
    whatever still runs is cancelled, and the actors are done within one more second
    however much mail is queued: what is still queued is dead-lettered, not processed.
    No task outlives the block, and no blocking actor's thread keeps the process alive.

    >>> # async with ActorSystem("demo") as system:
    >>> #     counter = system.spawn(Counter, 10, name="counter")
    >>> #     counter.tell(5)
    >>> #     assert await counter.ask("get", timeout=1.0) == 15
    """

    def __init__(
        self,
        name: str,
        *,
        listen: str | None = None,
        advertise: str | None = None,
        cookie: str | bytes | None = None,
        seeds: tuple[str, ...] | list[str] = (),
        data_dir: str | None = None,
        shutdown_timeout: float = 5.0,
        allow_pickle: bool = False,
        message_modules: tuple[str, ...] | list[str] = (),
        max_pending_handshakes: int = 256,
        max_pending_handshakes_per_address: int = 32,
        max_members: int = 1000,
        ssl_context: ssl.SSLContext | tuple[ssl.SSLContext, ssl.SSLContext] | None = None,
        heartbeat_interval: float = 0.5,
        phi_threshold: float = 8.0,
        max_frame_size: int = 64 * 1024 * 1024,
        fsync: Fsync = "interval",
        flush_interval: float = 0.05,
    ) -> None:
        if not isinstance(name, str) or not name or "/" in name or "@" in name:
            raise ValueError(
                f"a system name must be a non-empty str without '/' or '@'; got {name!r}"
            )
        if shutdown_timeout <= 0:
            raise ValueError(f"shutdown_timeout must be > 0 seconds, got {shutdown_timeout!r}")
        if seeds and listen is None:
            raise ValueError("seeds= needs listen= (and cookie=): only a node can join others")
        self.name = name
        self._shutdown_timeout = shutdown_timeout
        # Modules (and packages) whose classes peers may name besides those imported:
        # the codec imports a listed one when a peer names it, never any other.
        modules = _module_names(message_modules)
        # Connections that have not proved the cookie yet, at most, in all and from one
        # peer address: more are closed at once (see runtime._wire.listener).
        limits = ConnectionLimits(max_pending_handshakes, max_pending_handshakes_per_address)
        # Everything engine-facing lives in the host, which the layers are given.
        self._host = host = SystemHost(
            self, name, random_ids=listen is not None, data_dir=data_dir,
            allow_pickle=allow_pickle,
        )
        self.registry: Registry = host.registry
        self.topics: Topics = host.topics
        self.dead_letters: DeadLetters = host.dead_letters
        self._cluster: Cluster | None = None
        if listen is not None:
            self._cluster = Cluster(
                host, name=name, listen=listen, cookie=cookie_bytes(cookie),
                seeds=tuple(seeds), ssl_context=ssl_context,
                heartbeat_interval=heartbeat_interval, phi_threshold=phi_threshold,
                max_frame_size=max_frame_size, allow_pickle=allow_pickle,
                message_modules=modules, connection_limits=limits,
                advertise=advertise, max_members=max_members,
            )
            host.attach_cluster(self._cluster)
        # Streams: `fsync` and `flush_interval` are the defaults of every stream.
        self.streams = Streams(host, fsync=fsync, flush_interval=flush_interval)
        host.on_terminated(lambda cell: self.streams.forget(cell.ref))
        self._task_group: TaskGroup | None = None

    # -- lifetime -------------------------------------------------------------------

    async def __aenter__(self) -> ActorSystem:
        if self._task_group is not None:
            raise RuntimeError(f"ActorSystem {self.name!r} can be entered only once")
        self.streams.open()  # first: the data_dir lock, before anything runs
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        self._host.enter(task_group)
        if self._cluster is not None:
            try:
                self._host.node = await self._cluster.start(task_group)
            except BaseException:
                task_group.cancel_scope.cancel()
                await task_group.__aexit__(None, None, None)
                self.streams.close()
                raise
        self._host.start_guardian()
        self.streams.serve()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        task_group = self._task_group
        assert task_group is not None, "ActorSystem exited without being entered"
        self._host.closing.set()
        try:
            with anyio.CancelScope(shield=True):
                await self._host.stop_everything(self._shutdown_timeout)
                if self._cluster is not None:
                    await self._cluster.close()
        finally:
            self._host.closed = True
            task_group.cancel_scope.cancel()
            try:
                # Not passing the body's exception on: the task group would wrap it in an
                # ExceptionGroup, and the body's own error should reach the caller as it is.
                await task_group.__aexit__(None, None, None)
            finally:
                self.streams.close()  # last: no actor is left to append or commit
                release_idle_threads()  # idle blocking-actor threads end with the system
        return None

    def _start_service(
        self, run: Callable[[anyio.Event], Awaitable[None]], name: str
    ) -> None:
        """Run `run(closing)` in this system's task group (the web view does); see
        `SystemHost.start_service`."""
        self._host.start_service(run, name)

    def snapshot(self) -> list[ActorInfo]:
        """Every live actor (not the root guardian), parents before children."""
        return self._host.snapshot()

    # -- spawning and stopping -----------------------------------------------------------

    @overload
    def spawn(
        self, factory: SpawnSpec[R], *, name: str | None = None,
        mailbox: Mailbox | None = None, node: str | None = None,
    ) -> R: ...

    @overload
    def spawn(
        self,
        factory: ActorFactory[M],
        *args: Any,
        name: str | None = None,
        mailbox: Mailbox | None = None,
        node: str | None = None,
        **kwargs: Any,
    ) -> ActorRef[M]: ...

    def spawn(
        self,
        factory: Any,
        *args: Any,
        name: str | None = None,
        mailbox: Mailbox | None = None,
        node: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Start an actor (or a supervision tree, or a pool) and return its ref at once.

        Messages sent before its `on_start()` has run wait in its mailbox. `name`
        registers it (`NameTakenError` if a live actor holds the name). `factory` is an
        `Actor` subclass (built as ``factory(*args, **kwargs)``), a callable returning an
        actor, or a spec (`Supervisor`, `Pool`). Typed: an `Actor[M]` class or a factory
        returning one gives an `ActorRef[M]`; mypy checks the constructor's arguments
        only in the factory form, ``spawn(lambda: Counter(1, step=2))``.
        """
        if node is not None and node != self._host.node:
            return self.cluster.spawn_remote(node, factory, args, kwargs, name, None)
        host = self._host
        return host.spawn_child(host.root, factory, args, kwargs, name=name, mailbox=mailbox)

    @overload
    async def start(
        self, factory: SpawnSpec[R], *, name: str | None = None,
        mailbox: Mailbox | None = None, node: str | None = None, timeout: float = 5.0,
    ) -> R: ...

    @overload
    async def start(
        self,
        factory: ActorFactory[M],
        *args: Any,
        name: str | None = None,
        mailbox: Mailbox | None = None,
        node: str | None = None,
        timeout: float = 5.0,
        **kwargs: Any,
    ) -> ActorRef[M]: ...

    async def start(
        self,
        factory: Any,
        *args: Any,
        name: str | None = None,
        mailbox: Mailbox | None = None,
        node: str | None = None,
        timeout: float = 5.0,
        **kwargs: Any,
    ) -> Any:
        """`spawn`, then wait until the actor has run `on_start()`; returns its ref.

        For a supervisor it returns once every child has started in order (as OTP's
        `start_link`), for a pool once every worker has; on `node` (another node) once it
        has started there. Raises what prevented it: `NameTakenError`,
        `ActorCrashedError` when `__init__` or `on_start` raised (the original is its
        `__cause__`; for a tree, the error of the child that gave up), `NodeDownError`,
        `SerializationError`, or `AskTimeoutError` when it has not started within
        `timeout` seconds. An actor that timed out, or whose caller was cancelled while
        waiting, is stopped: nobody holds its ref.
        """
        if node is not None and node != self._host.node:
            return await start_remote(self.cluster, node, factory, args, kwargs, name, timeout)
        return await start_local(
            self._host, lambda: self.spawn(factory, *args, name=name, mailbox=mailbox, **kwargs),
            timeout,
        )

    def exchange(
        self, name: str, kind: ExchangeKind | None = None, *, alternate: str | None = None
    ) -> Exchange:
        """The exchange called `name`, created on first use.

        `kind` is ``"direct"``, ``"fanout"``, ``"topic"`` or ``"headers"``; asking again
        with another kind raises `ValueError`, and leaving it out returns the existing
        exchange whatever its kind (or creates a direct one). `alternate` names an
        existing exchange that gets what this one cannot route. See `actors.routing`.
        """
        return self._host.exchanges().get(name, kind, alternate)

    def spawn_pool(
        self,
        factory: ActorFactory[M],
        *args: Any,
        size: int = 4,
        routing: Routing = "round_robin",
        key: Callable[[Any], Any] | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> PoolRef[M]:
        """Start `size` workers under a pool supervisor; return one ref for them all.

        The same as ``spawn(Pool(factory, *args, size=..., routing=..., key=...,
        **kwargs), name=name)``. Routing happens in the caller (no hop through a
        router's mailbox). A crashed worker is restarted in place, so the pool's ref
        keeps working. A named pool's name resolves to this ref; its workers are named
        ``name-1`` .. ``name-N``. See `actors.routing` for the routings.
        """
        from actors.routing import Pool

        return self.spawn(Pool(factory, *args, size=size, routing=routing, key=key, **kwargs),
                          name=name)

    def stop(self, ref: ActorRef[Any]) -> Stopping:
        """Ask `ref` to stop after its current message; returns at once.

        ``await system.stop(ref)`` also waits until it has stopped (here or on its
        node) and gives the reason it stopped with (None for a normal stop); not
        awaiting the result is fine. For a remote actor it raises `NodeDownError` when
        its node is not linked, and gives a `NodeDownError` as the reason when the node
        went down before the actor had stopped.
        """
        cell = self._host.local_cell(ref)
        if cell is not None:
            request_stop(cell, None)
            return Stopping(ref, partial(self._host.stopped, cell))
        return stop_remote(self._host, ref)

    def fail(self, error: BaseException, what: str) -> None:
        """Something the system cannot run without failed: stop every actor.

        `failure` keeps the error; `await wait_stopped()` returns once all stopped.
        """
        self._host.fail(error, what)

    @property
    def failure(self) -> BaseException | None:
        """The error that stopped the system (`fail`, a root supervisor that gave up)."""
        return self._host.failure

    async def wait_stopped(self) -> BaseException | None:
        """Wait until every actor has stopped (after `fail`, or a stop of the root);
        returns the failure that stopped the system, if any."""
        await self._host.guardian_done.wait()
        return self._host.failure

    # -- the cluster's side -----------------------------------------------------------------

    @property
    def cluster(self) -> Cluster:
        """This node's `Cluster` (members, join, subscribe); needs listen= and cookie=."""
        return self._host.require_cluster()

    @property
    def clustered(self) -> bool:
        return self._cluster is not None

    async def lookup(
        self, name: str, node: str | None = None, *, timeout: float = 5.0
    ) -> ActorRef[Any] | None:
        """The actor registered as `name`, on `node` or (``node=None``) anywhere.

        With ``node=None`` it looks here first (local names, then cluster-wide names),
        then asks every linked node at once and takes the answer of the first node in
        name order that has one, so every caller agrees. None when no node has it;
        a node that does not answer within `timeout` seconds counts as not having it.
        """
        if node is not None and node != self._host.node:
            return await lookup_on(self.cluster, node, name, timeout)
        found = self.registry.whereis(name)
        if found is not None or node == self._host.node or self._cluster is None:
            return found
        return await lookup_anywhere(self._cluster, name, timeout)

    @property
    def address(self) -> str:
        """This node's name: ``name`` alone, or ``name@host:port`` when it listens
        (with the port it got, for ``listen="127.0.0.1:0"``)."""
        return self._host.node

    def __repr__(self) -> str:
        return f"<ActorSystem {self._host.node}>"

    # -- for the web view's metrics -------------------------------------------------------

    @property
    def _crashes(self) -> CrashLog:
        return self._host.crashes

    @property
    def _asks_timed_out(self) -> int:
        """Asks that ran out of time (local and remote)."""
        return self._host.kernel.asks_timed_out
