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
from actors.errors import ActorCrashedError, ActorError, AskTimeoutError, NodeDownError
from actors.mailbox import Mailbox
from runtime._cluster.cluster import Cluster, cookie_bytes
from runtime._engine.lifecycle import request_stop
from runtime._engine.snapshot import ActorInfo
from runtime._host import SystemHost
from runtime._start_stop import Outcome, Stopping, StopWatcher
from runtime._streams import Streams
from runtime._streams.options import Fsync
from runtime._wire.listener import ConnectionLimits

if TYPE_CHECKING:
    from actors.routing import Exchange, ExchangeKind, PoolRef, Routing
    from runtime._directory.deadletters import DeadLetters
    from runtime._directory.exchanges import Exchanges
    from runtime._directory.registry import Registry, Topics
    from runtime._engine.cell import Cell
    from runtime._engine.crashes import CrashLog
    from runtime._engine.kernel import Kernel
    from runtime._engine.timers import Timers

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
    started first), running `on_stop`; after `shutdown_timeout` seconds whatever still
    runs is cancelled. No task outlives the block.

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
        shutdown_timeout: float = 10.0,
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
        self.node = name
        self.listen = listen
        self.cookie = cookie
        self.seeds = tuple(seeds)
        self.data_dir = data_dir
        self.shutdown_timeout = shutdown_timeout
        self.allow_pickle = allow_pickle
        # Modules (and packages) whose classes peers may name besides those imported:
        # the codec imports a listed one when a peer names it, never any other.
        self.message_modules = _module_names(message_modules)
        # Connections that have not proved the cookie yet, at most, in all and from one
        # peer address: more are closed at once (see runtime._wire.listener).
        self.connection_limits = ConnectionLimits(
            max_pending_handshakes, max_pending_handshakes_per_address
        )
        # Everything engine-facing lives in the host, which the layers are given.
        self._host = host = SystemHost(self, name, random_ids=listen is not None)
        self.registry: Registry = host.registry
        self.topics: Topics = host.topics
        self.dead_letters: DeadLetters = host.dead_letters
        self._cluster: Cluster | None = None
        if listen is not None:
            self._cluster = host.cluster = Cluster(
                _ClusterHost(self), name=name, listen=listen, cookie=cookie_bytes(cookie),
                seeds=self.seeds, ssl_context=ssl_context,
                heartbeat_interval=heartbeat_interval, phi_threshold=phi_threshold,
                max_frame_size=max_frame_size, allow_pickle=allow_pickle,
                message_modules=self.message_modules, connection_limits=self.connection_limits,
                advertise=advertise, max_members=max_members,
            )
            host.on_terminated(self._cluster.local_terminated)
            self._cluster.on_node_down(self._forget_node)
        # Streams: `fsync` and `flush_interval` are the defaults of every stream.
        self.streams = Streams(self, fsync=fsync, flush_interval=flush_interval)
        host.on_terminated(lambda cell: self.streams.forget(cell.ref))
        self._task_group: TaskGroup | None = None
        # Set when the system begins to exit: services (`_start_service`) stop then.
        self._closing = anyio.Event()

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
                self.node = self._host.node = await self._cluster.start(task_group)
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
        self._closing.set()
        try:
            with anyio.CancelScope(shield=True):
                await self._host.stop_everything(self.shutdown_timeout)
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
        return None

    def _start_service(
        self, run: Callable[[anyio.Event], Awaitable[None]], name: str
    ) -> None:
        """Run `run(closing)` in this system's task group (the web view does).

        `closing` is set when the system begins to exit: the service should return
        soon after; whatever still runs when the actors have stopped is cancelled. An
        error of the service is logged and ends the service only, not the system.
        """
        if self._task_group is None or self._closing.is_set():
            raise RuntimeError(
                f"system {self.node} is not running; start {name} inside its `async with`"
            )

        async def guarded() -> None:
            try:
                await run(self._closing)
            except Exception:
                log.exception("system %s: %s failed; the system goes on without it",
                              self.node, name)

        self._task_group.start_soon(guarded, name=name)

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
        if node is not None and node != self.node:
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
        if node is not None and node != self.node:
            return await self._start_remote(node, factory, args, kwargs, name, timeout)
        host = self._host
        outcome = Outcome()
        host.construct_failure = None
        try:
            ref = self.spawn(factory, *args, name=name, mailbox=mailbox, **kwargs)
        except Exception as error:
            failure, host.construct_failure = host.construct_failure, None
            if failure is not None and failure[1] is error:
                raise ActorCrashedError.from_error(failure[0], error, "starting") from error
            raise
        cell = host.local_cell(ref)
        assert cell is not None, "a local spawn gives a local ref"
        host.starts.add(cell, lambda error: outcome.set(ref, error))
        try:
            with anyio.move_on_after(timeout):
                await outcome.settled()
                if outcome.error is not None:
                    await host.stopped(cell)  # the failed actor is gone when start raises
        finally:
            if not outcome.done:  # timed out or cancelled: nobody will hold the ref
                host.starts.discard(cell)
                request_stop(cell, None)
        if not outcome.done:
            raise AskTimeoutError(cell.label, timeout, "start")
        return await outcome.wait()

    async def _start_remote(
        self, node: str, factory: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
        name: str | None, timeout: float,
    ) -> ActorRef[Any]:
        outcome = Outcome()
        ref = self.cluster.spawn_remote(
            node, factory, args, kwargs, name, lambda error: outcome.set(None, error)
        )
        try:
            with anyio.fail_after(timeout):
                await outcome.wait()
        except TimeoutError:
            raise AskTimeoutError(ref.address, timeout, "start") from None
        finally:
            if not outcome.done:
                self.stop(ref)
        return ref

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
        return self._stop_remote(ref)

    def _stop_remote(self, ref: ActorRef[Any]) -> Stopping:
        outcome = Outcome()
        node = getattr(ref._unwrap(), "node", None)  # a RemoteRef's node
        if node is None or self._cluster is None or node not in self._cluster.links:
            outcome.set(error=NodeDownError(
                str(node), f"not linked: cannot stop {ref.address}; join the node first"
            ))
        else:
            # Watch first: frames keep their order, so the peer answers the watch before
            # it handles the stop, and its Terminated comes once the actor has stopped.
            host = self._host
            watcher = host.start_cell(host.root, StopWatcher, (outcome,), {}, None, None)
            watcher.watch(ref)
            host.stop_remote(ref)
        return Stopping(ref, outcome.wait)

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
        if node is not None and node != self.node:
            return await self._lookup_on(node, name, timeout)
        found = self.registry.whereis(name)
        if found is not None or node == self.node or self._cluster is None:
            return found
        peers = sorted(self._cluster.links)
        answers: dict[str, ActorRef[Any] | None] = {}

        async def ask(peer: str) -> None:
            try:
                answers[peer] = await self._lookup_on(peer, name, timeout)
            except ActorError:
                answers[peer] = None  # down, or too slow: it does not have the name

        async with anyio.create_task_group() as asks:
            for peer in peers:
                asks.start_soon(ask, peer)
        return next((answers[p] for p in peers if answers.get(p) is not None), None)

    async def _lookup_on(self, node: str, name: str, timeout: float) -> ActorRef[Any] | None:
        ref: ActorRef[Any] | None = await self.cluster.call(node, "$lookup", name, timeout)
        return ref

    # -- what the streams need of their host (runtime._streams.host.StreamHost) -------

    def is_local(self, ref: ActorRef[Any]) -> bool:
        """Whether `ref`'s actor runs in this system."""
        return self.local_cell(ref) is not None

    def plain_ref(self, ref: ActorRef[Any]) -> ActorRef[Any]:
        """The plain ref under a wrapping one (a pool's), as `forget` reports it."""
        return ref._unwrap()

    @property
    def address(self) -> str:
        """This node's name: ``name`` alone, or ``name@host:port`` when it listens
        (with the port it got, for ``listen="127.0.0.1:0"``)."""
        return self.node

    def __repr__(self) -> str:
        return f"<ActorSystem {self.node}>"

    # -- for the cluster and streams layers, which take the host in point 4 of issue 9 --

    @property
    def kernel(self) -> Kernel:
        return self._host.kernel

    @property
    def timers(self) -> Timers:
        return self._host.timers

    @property
    def threads(self) -> int:
        return self._host.kernel.threads

    def on_foreign_thread(self) -> bool:
        return self._host.kernel.on_foreign_thread()

    def local_cell(self, ref: ActorRef[Any]) -> Cell | None:
        return self._host.local_cell(ref)

    def dead_letter(self, message: Any, recipient: str, reason: str) -> None:
        self._host.dead_letter(message, recipient, reason)

    def spawn_for_peer(
        self, factory: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
        name: str | None, uid: int, then: Callable[[BaseException | None], None],
    ) -> Cell:
        return self._host.spawn_for_peer(factory, args, kwargs, name, uid, then)

    @property
    def _exchanges(self) -> Exchanges | None:
        return self._host.existing_exchanges

    def _forget_node(self, node: str) -> None:
        """A node went down: no publish may route to its actors from now on."""
        exchanges = self._host.existing_exchanges
        if exchanges is not None:
            exchanges.forget_node(node)

    # -- for the web view's metrics -------------------------------------------------------

    @property
    def _crashes(self) -> CrashLog:
        return self._host.crashes

    @property
    def _asks_timed_out(self) -> int:
        """Asks that ran out of time (local and remote)."""
        return self._host.kernel.asks_timed_out


class _ClusterHost:
    """The system as its cluster sees it (`runtime._cluster.host.ClusterHost`)."""

    __slots__ = ("_system",)

    def __init__(self, system: ActorSystem) -> None:
        self._system = system

    @property
    def kernel(self) -> Kernel:
        return self._system.kernel

    def local_cell(self, ref: ActorRef[Any]) -> Cell | None:
        return self._system.local_cell(ref)

    def whereis(self, name: str) -> ActorRef[Any] | None:
        return self._system.registry.whereis(name)

    def dead_letter(self, message: Any, recipient: str, reason: str) -> None:
        self._system.dead_letter(message, recipient, reason)

    def spawn_for_peer(
        self, factory: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
        name: str | None, uid: int, then: Callable[[BaseException | None], None],
    ) -> Cell:
        return self._system.spawn_for_peer(factory, args, kwargs, name, uid, then)

    def stop(self, ref: ActorRef[Any]) -> object:
        return self._system.stop(ref)

    def snapshot(self) -> list[Any]:
        return list(self._system.snapshot())

    def local_topics(self) -> list[str]:
        return self._system.topics.local_topics()

    def publish_local(self, topic: str, message: Any) -> int:
        return self._system.topics.publish_local(topic, message)
