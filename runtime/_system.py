"""`ActorSystem`: one node, the owner of every actor, task and timer in it."""

from __future__ import annotations

import itertools
import logging
import secrets
import ssl
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, overload

import anyio
from anyio.abc import TaskGroup

from actors import Actor, ActorFactory, ActorRef, SpawnSpec
from actors.errors import ActorCrashedError, ActorError, AskTimeoutError, NodeDownError
from actors.mailbox import Mailbox
from runtime._cluster.cluster import Cluster, cookie_bytes
from runtime._directory.deadletters import DeadLetters
from runtime._directory.registry import Registry, Topics, check_name
from runtime._engine.cell import Cell
from runtime._engine.crashes import CrashLog
from runtime._engine.dispatch import Dispatcher
from runtime._engine.kernel import Kernel, current_kernel
from runtime._engine.lifecycle import (
    START,
    STOPPED,
    STOPPING,
    construct,
    kill,
    request_stop,
    terminate,
)
from runtime._engine.local_ref import LocalRef
from runtime._engine.snapshot import ActorInfo, describe
from runtime._engine.timers import Timers
from runtime._start_stop import Outcome, StartWaiters, Stopping, StopWatcher
from runtime._streams import Streams
from runtime._wire.listener import ConnectionLimits

if TYPE_CHECKING:
    from actors.routing import Exchange, ExchangeKind, PoolRef, Routing
    from runtime._directory.exchanges import Exchanges

__all__ = ("ActorSystem",)

log = logging.getLogger("repertory")
_START = (START,)  # one tuple for every spawn
M = TypeVar("M")
R = TypeVar("R")


class _Guardian(Actor[Any]):
    """The root of the tree: parent of every actor spawned by `system.spawn`.

    A failed top-level actor stops with its error as reason. A failed top-level
    supervisor has given up on its whole tree: that stops the system, unless it failed
    while `system.start` waited for it (the caller gets the error instead).
    """

    def receive(self, message: Any) -> None:
        return None

    def _on_child_started(self, child: ActorRef[Any]) -> None:
        system: ActorSystem = self.context.system
        cell = system.local_cell(child)
        if cell is not None:
            system._starts.started(cell)

    def _on_child_failed(self, child: ActorRef[Any], error: BaseException) -> None:
        system: ActorSystem = self.context.system
        cell = system.local_cell(child)
        stops_system = cell is not None and getattr(cell.actor, "_stops_system_on_failure", False)
        if cell is not None:
            system._crashes.decided(cell, error, "escalate" if stops_system else "stop", None)
        self.context._stop_child(child, error)
        if cell is not None and system._starts.failed(cell, error):
            return
        if stops_system:
            system.fail(error, f"root supervisor {child.address} failed")


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
        cookie: str | bytes | None = None,
        seeds: tuple[str, ...] | list[str] = (),
        data_dir: str | None = None,
        shutdown_timeout: float = 10.0,
        allow_pickle: bool = False,
        message_modules: tuple[str, ...] | list[str] = (),
        max_pending_handshakes: int = 256,
        max_pending_handshakes_per_address: int = 32,
        ssl_context: ssl.SSLContext | tuple[ssl.SSLContext, ssl.SSLContext] | None = None,
        heartbeat_interval: float = 0.5,
        phi_threshold: float = 8.0,
        max_frame_size: int = 64 * 1024 * 1024,
    ) -> None:
        if not isinstance(name, str) or not name or "/" in name or "@" in name:
            raise ValueError(
                f"a system name must be a non-empty str without '/' or '@'; got {name!r}"
            )
        if shutdown_timeout <= 0:
            raise ValueError(f"shutdown_timeout must be > 0 seconds, got {shutdown_timeout!r}")
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
        self._cluster: Cluster | None = None
        if listen is not None:
            self._cluster = Cluster(
                self, listen=listen, cookie=cookie_bytes(cookie), seeds=self.seeds,
                ssl_context=ssl_context, heartbeat_interval=heartbeat_interval,
                phi_threshold=phi_threshold, max_frame_size=max_frame_size,
            )
        elif seeds:
            raise ValueError("seeds= needs listen= (and cookie=): only a node can join others")
        self.registry = Registry(self)
        self.topics = Topics(self)
        self.streams = Streams(self)
        self.dead_letters = DeadLetters(self.topics)
        self._crashes = CrashLog()
        # Asks that ran out of time (local and remote), for metrics.
        self._asks_timed_out = 0
        self._exchanges: Exchanges | None = None
        # Blocking handlers running in worker threads right now: while this is non-zero,
        # `tell` checks which thread it is on.
        self.threads = 0
        # A clustered node numbers its actors from a random start, so that a ref held
        # across a restart of its node cannot reach a new actor that got the same id.
        self._uids = itertools.count(1 if listen is None else secrets.randbits(40) + 1)
        self._task_group: TaskGroup | None = None
        self._guardian: Cell | None = None
        self._guardian_done = anyio.Event()
        self._closed = False
        # Set when the system begins to exit: services (`_start_service`) stop then.
        self._closing = anyio.Event()
        self._starts = StartWaiters()
        self._stop_waiters: dict[Cell, Outcome] = {}
        # The first error an actor's constructor raised in the spawn under way (see
        # `start`): the actor it names is the innermost one, not its supervisor.
        self._construct_failure: tuple[str, BaseException] | None = None
        self.failure: BaseException | None = None
        self.kernel: Kernel
        self.dispatcher: Dispatcher
        self.timers: Timers

    # -- lifetime -------------------------------------------------------------------

    async def __aenter__(self) -> ActorSystem:
        if self._task_group is not None:
            raise RuntimeError(f"ActorSystem {self.name!r} can be entered only once")
        self.kernel = current_kernel()
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        self.dispatcher = Dispatcher(self.kernel, task_group)
        self.timers = Timers(self.kernel)
        self.kernel.attach_timers(self.timers)
        task_group.start_soon(self.timers.run, name="repertory-timers")
        if self._cluster is not None:
            try:
                self.node = await self._cluster.start(task_group)
            except BaseException:
                task_group.cancel_scope.cancel()
                await task_group.__aexit__(None, None, None)
                raise
        self._guardian = self.start_cell(None, _Guardian, (), {}, None, None)
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
                await self._stop_everything()
                if self._cluster is not None:
                    await self._cluster.close()
        finally:
            self._closed = True
            task_group.cancel_scope.cancel()
            try:
                # Not passing the body's exception on: the task group would wrap it in an
                # ExceptionGroup, and the body's own error should reach the caller as it is.
                await task_group.__aexit__(None, None, None)
            finally:
                self.streams.close()  # last: no actor is left to append or commit
        return None

    async def _stop_everything(self) -> None:
        guardian = self._guardian
        assert guardian is not None
        request_stop(guardian, None)
        with anyio.move_on_after(self.shutdown_timeout):
            await self._guardian_done.wait()
            return
        running = [cell.label for cell in self._walk()[1:] if cell.state != STOPPED]
        log.warning(
            "system %s: actors still running %.3g s after shutdown began; cancelling %s",
            self.node, self.shutdown_timeout, ", ".join(running[:10]),
        )
        kill(guardian)
        with anyio.move_on_after(1.0):
            await self._guardian_done.wait()
        if not self._guardian_done.is_set():
            for cell in self._walk():
                if cell.state != STOPPED:
                    terminate(cell)

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
        return [describe(cell) for cell in self._walk()[1:] if cell.state != STOPPED]

    def _walk(self) -> list[Cell]:
        cells: list[Cell] = []
        todo = deque([self._guardian])
        while todo:
            cell = todo.popleft()
            if cell is not None:
                cells.append(cell)
                todo.extend(cell.child_cells or ())
        return cells

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
            return self.spawn_remote(node, factory, args, kwargs, name=name, mailbox=mailbox)
        return self.spawn_child(self._root(), factory, args, kwargs, name=name, mailbox=mailbox)

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
        outcome = Outcome()
        self._construct_failure = None
        try:
            ref = self.spawn(factory, *args, name=name, mailbox=mailbox, **kwargs)
        except Exception as error:
            failure, self._construct_failure = self._construct_failure, None
            if failure is not None and failure[1] is error:
                raise ActorCrashedError.from_error(failure[0], error, "starting") from error
            raise
        cell = self.local_cell(ref)
        assert cell is not None, "a local spawn gives a local ref"
        self._starts.add(cell, lambda error: outcome.set(ref, error))
        try:
            with anyio.move_on_after(timeout):
                await outcome.settled()
                if outcome.error is not None:
                    await self._stopped(cell)  # the failed actor is gone when start raises
        finally:
            if not outcome.done:  # timed out or cancelled: nobody will hold the ref
                self._starts.discard(cell)
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

    def spawn_child(
        self,
        parent: Cell,
        factory: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        name: str | None = None,
        mailbox: Mailbox | None = None,
    ) -> Any:
        spawn_under = getattr(factory, "spawn_under", None)
        if spawn_under is not None and not isinstance(factory, type):
            if args or kwargs:
                raise TypeError(
                    f"{factory!r} is a spec: its arguments go in the spec itself, and "
                    f"spawn takes only name= and mailbox= with it; got {args!r}, {kwargs!r}"
                )
            return spawn_under(parent, name, mailbox)
        return self.start_cell(parent, factory, args, kwargs, name, mailbox).ref

    def start_cell(
        self,
        parent: Cell | None,
        factory: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        name: str | None,
        mailbox: Mailbox | None,
        *,
        supervised: bool = False,
        uid: int | None = None,
        start: bool = True,
    ) -> Cell:
        if self._closed or (parent is not None and parent.state >= STOPPING):
            what = "shut down" if self._closed else f"stopping ({parent.label if parent else ''})"
            raise RuntimeError(
                f"cannot spawn on system {self.node}: it is {what}; spawn inside its `async with`"
            )
        if name is not None:
            check_name(name)
            holder = self.registry.whereis(name)
            if holder is not None:
                from actors.errors import NameTakenError

                raise NameTakenError(name, holder.address)
        if mailbox is not None and not isinstance(mailbox, Mailbox):
            raise TypeError(f"mailbox= takes a Mailbox, got {type(mailbox).__qualname__}")
        cell = Cell(
            self, parent, factory, args, kwargs, name, mailbox,
            uid if uid is not None else next(self._uids),
        )
        cell.supervised = supervised
        try:
            construct(cell)
        except Exception as error:
            if self._construct_failure is None:
                self._construct_failure = (cell.label, error)
            raise
        if name is not None:
            self.registry.register(name, cell.ref)
        if parent is not None:
            if parent.child_cells is None:
                parent.child_cells = {}
            parent.child_cells[cell] = None
        if start:
            cell.post_system(_START)
        else:
            cell.held = True  # its supervisor starts it later (`Cell._start_child`)
        return cell

    def exchange(
        self, name: str, kind: ExchangeKind | None = None, *, alternate: str | None = None
    ) -> Exchange:
        """The exchange called `name`, created on first use.

        `kind` is ``"direct"``, ``"fanout"``, ``"topic"`` or ``"headers"``; asking again
        with another kind raises `ValueError`, and leaving it out returns the existing
        exchange whatever its kind (or creates a direct one). `alternate` names an
        existing exchange that gets what this one cannot route. See `actors.routing`.
        """
        if self._exchanges is None:
            # Imported on first use: a system that routes nothing does not load routing.
            from runtime._directory.exchanges import Exchanges

            self._exchanges = Exchanges(self)
        return self._exchanges.get(name, kind, alternate)

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
        cell = self.local_cell(ref)
        if cell is not None:
            request_stop(cell, None)
            return Stopping(ref, partial(self._stopped, cell))
        return self._stop_remote(ref)

    async def _stopped(self, cell: Cell) -> BaseException | None:
        if cell.state != STOPPED:
            outcome = self._stop_waiters.get(cell)
            if outcome is None:
                outcome = self._stop_waiters[cell] = Outcome()
            await outcome.wait()
        return cell.stop_reason

    def _stop_remote(self, ref: ActorRef[Any]) -> Stopping:
        outcome = Outcome()
        node = getattr(ref._unwrap(), "node", None)
        if node is None or self._cluster is None or node not in self._cluster.links:
            outcome.set(error=NodeDownError(
                str(node), f"not linked: cannot stop {ref.address}; join the node first"
            ))
        else:
            # Watch first: frames keep their order, so the peer answers the watch before
            # it handles the stop, and its Terminated comes once the actor has stopped.
            watcher = self.start_cell(self._root(), StopWatcher, (outcome,), {}, None, None)
            watcher.watch(ref)
            self.stop_remote(ref)
        return Stopping(ref, outcome.wait)

    def _root(self) -> Cell:
        if self._guardian is None:
            raise RuntimeError(
                f"system {self.name} is not running; spawn inside `async with ActorSystem(...)`"
            )
        return self._guardian

    # -- what cells call -------------------------------------------------------------

    def local_cell(self, ref: ActorRef[Any]) -> Cell | None:
        ref = ref._unwrap()
        if isinstance(ref, LocalRef) and ref._cell.system is self:
            return ref._cell
        return None

    def forget(self, cell: Cell) -> None:
        """A cell terminated: drop its names and subscriptions."""
        self.registry.forget(cell.ref)
        self.topics.forget(cell.ref)
        self.streams.forget(cell.ref)
        self._crashes.forget(cell)
        if self._exchanges is not None:
            self._exchanges.forget(cell.ref)
        if self._cluster is not None:
            self._cluster.local_terminated(cell)
        self._starts.gone(cell)
        if self._stop_waiters:
            outcome = self._stop_waiters.pop(cell, None)
            if outcome is not None:
                outcome.set()
        if cell is self._guardian:
            self._guardian_done.set()

    def fail(self, error: BaseException, what: str) -> None:
        """Something the system cannot run without failed: stop every actor.

        `failure` keeps the error; `await wait_stopped()` returns once all stopped.
        """
        if self.failure is None:
            self.failure = error
            log.error("system %s is stopping: %s: %r", self.node, what, error)
        if self._guardian is not None:
            request_stop(self._guardian, error)

    async def wait_stopped(self) -> BaseException | None:
        """Wait until every actor has stopped (after `fail`, or a stop of the root);
        returns the failure that stopped the system, if any."""
        await self._guardian_done.wait()
        return self.failure

    def dead_letter(self, message: Any, recipient: str, reason: str) -> None:
        self.dead_letters.add(message, recipient, reason)

    def on_foreign_thread(self) -> bool:
        return threading.get_ident() != self.kernel.loop_thread

    # -- the cluster's side -----------------------------------------------------------------

    @property
    def cluster(self) -> Cluster:
        """This node's `Cluster` (members, join, subscribe); needs listen= and cookie=."""
        if self._cluster is None:
            raise RuntimeError(
                f"system {self.name} is not a cluster node: give ActorSystem listen="
                "'host:port' and cookie= to link it with others"
            )
        return self._cluster

    @property
    def clustered(self) -> bool:
        return self._cluster is not None

    def spawn_remote(
        self, node: str, factory: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
        *, name: str | None = None, mailbox: Mailbox | None = None,
    ) -> ActorRef[Any]:
        return self.cluster.spawn_remote(node, factory, args, kwargs, name, None)

    def spawn_for_peer(
        self, factory: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
        name: str | None, uid: int, then: Callable[[BaseException | None], None],
    ) -> Cell:
        """Start an actor that another node asked for, with the id it chose; `then`
        hears once it has started (None) or why it could not."""
        if uid and self.cluster.exported.get(uid) is not None:
            raise ValueError(f"actor id {uid} is taken on {self.node}")
        cell = self.start_cell(self._root(), factory, args, kwargs, name, None, uid=uid or None)
        self._starts.add(cell, then)
        return cell

    def stop_remote(self, ref: ActorRef[Any]) -> None:
        from runtime._cluster.refs import RemoteRef

        ref = ref._unwrap()
        if not isinstance(ref, RemoteRef):
            raise ValueError(f"{ref!r} does not belong to system {self.node}")
        link = self.cluster.links.get(ref.node)
        if link is not None:
            from runtime._wire import framing as wire

            link.send(wire.Ask(0, "$stop", self.cluster.codec.encode(ref.uid)))

    def watch_remote(self, watcher: Cell, ref: ActorRef[Any]) -> None:
        self.cluster.watch_remote(watcher, ref)

    def unwatch_remote(self, watcher: Cell, ref: ActorRef[Any]) -> None:
        if self._cluster is not None:
            self._cluster.unwatch_remote(watcher, ref)

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
        from actors.errors import AskTimeoutError
        from runtime._engine.kernel import Expired

        try:
            ref: ActorRef[Any] | None = await self.cluster.call(node, "$lookup", name, timeout)
        except Expired:
            raise AskTimeoutError(f"{node}/$lookup", timeout) from None
        return ref

    @property
    def address(self) -> str:
        """This node's name: ``name`` alone, or ``name@host:port`` when it listens
        (with the port it got, for ``listen="127.0.0.1:0"``)."""
        return self.node

    def __repr__(self) -> str:
        return f"<ActorSystem {self.node}>"
