"""`SystemHost`: the engine's `Host`, owned by one `ActorSystem`.

What the system's parts need of each other and nothing users see: the kernel, the
dispatcher and the timers, building cells, finding a local ref's cell, the root
guardian, dead letters, the hooks that forget a terminated actor, and the remote
side of watch and stop. `ActorSystem` composes it with the directory, the cluster and
the streams; its own public surface is the documented API only.
"""

from __future__ import annotations

import itertools
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup

from actors import ActorRef
from actors.errors import NameTakenError
from actors.lowlevel import Parent, children, unwrap
from actors.mailbox import Mailbox
from runtime._cluster.refs import RemoteRef
from runtime._directory.deadletters import DeadLetters
from runtime._directory.registry import Registry, Topics, check_name
from runtime._engine import turn
from runtime._engine.backends import current_kernel
from runtime._engine.cell import Cell, new_cell
from runtime._engine.crashes import CrashLog
from runtime._engine.dispatch import Dispatcher
from runtime._engine.kernel import Kernel
from runtime._engine.lifecycle import abort, request_stop
from runtime._engine.local_ref import cell_of
from runtime._engine.shutdown import stop_tree, walk
from runtime._engine.snapshot import ActorInfo, describe
from runtime._engine.state import CellState, Phase, cell_label
from runtime._engine.timers import Timers
from runtime._start_stop import Outcome, StartWaiters

if TYPE_CHECKING:
    from actors.lowlevel import System
    from runtime._cluster.cluster import Cluster
    from runtime._directory.exchanges import Exchanges

__all__ = ("SystemHost",)

log = logging.getLogger("repertory")

# What a part of the system runs when a local actor terminates (see `on_terminated`).
TerminationHook = Callable[[CellState], None]


class _Guardian(Parent[Any]):
    """The root of the tree: parent of every actor spawned by `system.spawn`.

    A failed top-level actor stops with its error as reason. A failed top-level
    supervisor has given up on its whole tree: that stops the system, unless it failed
    while `system.start` waited for it (the caller gets the error instead).
    """

    def __init__(self, host: SystemHost) -> None:
        self.host = host

    def receive(self, message: Any) -> None:
        return None

    def on_child_started(self, child: ActorRef[Any]) -> None:
        cell = self.host.local_cell(child)
        if cell is not None:
            self.host.starts.started(cell)

    def on_child_failed(self, child: ActorRef[Any], error: BaseException) -> None:
        cell = self.host.local_cell(child)
        actor = cell.actor if cell is not None else None
        stops_system = isinstance(actor, Parent) and actor.stops_system_on_failure
        if cell is not None:  # reported as nobody's decision: the guardian is not an actor
            self.host.crashes.decided(cell, error, "escalate" if stops_system else "stop", None)
        children(self.context).stop_child(child, error)
        if cell is not None and self.host.starts.failed(cell, error):
            return
        if stops_system:
            self.host.fail(error, f"root supervisor {child.address} failed")


class SystemHost:
    """The engine's `Host` for one system (see `runtime._engine.host.Host`)."""

    kernel: Kernel
    dispatcher: Dispatcher[CellState]
    timers: Timers

    def __init__(
        self, system: System, name: str, *, random_ids: bool, data_dir: str | None,
        allow_pickle: bool,
    ) -> None:
        self.system = system
        self.name = name
        self.node = name  # name@host:port once the cluster listens
        self.data_dir = data_dir
        self.allow_pickle = allow_pickle
        self._cluster: Cluster | None = None
        self._terminated: list[TerminationHook] = []
        self.registry = Registry(self)
        self.topics = Topics(self)
        self.dead_letters = DeadLetters(self.topics)
        self._exchanges: Exchanges | None = None
        self.on_terminated(lambda cell: self.registry.forget(cell.ref))
        self.on_terminated(lambda cell: self.topics.forget(cell.ref))
        self.crashes = CrashLog()
        self.on_terminated(self.crashes.forget)
        # A clustered node numbers its actors from a random start, so that a ref held
        # across a restart of its node cannot reach a new actor that got the same id.
        self._uids = itertools.count(secrets.randbits(40) + 1 if random_ids else 1)
        self._guardian: Cell | None = None
        self.guardian_done = anyio.Event()
        # Set when the system begins to exit: services (`start_service`) stop then.
        self.closing = anyio.Event()
        self._task_group: TaskGroup | None = None
        self.closed = False
        self.failure: BaseException | None = None
        # What `system.start` and `await system.stop(ref)` wait for.
        self.starts = StartWaiters()
        self.stop_waiters: dict[CellState, Outcome] = {}
        # The first error an actor's constructor raised in the spawn under way (see
        # `system.start`): the actor it names is the innermost one, not its supervisor.
        self.construct_failure: tuple[str, BaseException] | None = None

    def on_terminated(self, hook: TerminationHook) -> None:
        """Run `hook(cell)` whenever a local actor terminates (names, subscriptions,
        bindings, remote watches: each part registers its own)."""
        self._terminated.append(hook)

    # -- lifetime -----------------------------------------------------------------------

    def enter(self, task_group: TaskGroup) -> None:
        """The system is entered: the kernel, dispatcher and timers start."""
        self._task_group = task_group
        self.kernel = current_kernel()
        self.dispatcher = Dispatcher(self.kernel, task_group, turn.run, abort)
        self.timers = Timers(self.kernel)
        self.kernel.attach_timers(self.timers)
        task_group.start_soon(self.timers.run, name="repertory-timers")

    def start_service(self, run: Callable[[anyio.Event], Awaitable[None]], name: str) -> None:
        """Run `run(closing)` in the system's task group (the web view does).

        `closing` is set when the system begins to exit: the service should return
        soon after; whatever still runs when the actors have stopped is cancelled. An
        error of the service is logged and ends the service only, not the system.
        """
        if self._task_group is None or self.closing.is_set():
            raise RuntimeError(
                f"system {self.node} is not running; start {name} inside its `async with`"
            )

        async def guarded() -> None:
            try:
                await run(self.closing)
            except Exception:
                log.exception("system %s: %s failed; the system goes on without it",
                              self.node, name)

        self._task_group.start_soon(guarded, name=name)

    def start_guardian(self) -> None:
        self._guardian = self.start_cell(None, _Guardian, (self,), {}, None, None)

    @property
    def root(self) -> Cell:
        if self._guardian is None:
            raise RuntimeError(
                f"system {self.node} is not running; spawn inside `async with ActorSystem(...)`"
            )
        return self._guardian

    def fail(self, error: BaseException, what: str) -> None:
        """Something the system cannot run without failed: stop every actor."""
        if self.failure is None:
            self.failure = error
            log.error("system %s is stopping: %s: %r", self.node, what, error)
        if self._guardian is not None:
            request_stop(self._guardian, error)

    async def stop_everything(self, shutdown_timeout: float) -> None:
        await stop_tree(self.root, self.guardian_done, shutdown_timeout)

    def snapshot(self) -> list[ActorInfo]:
        return [describe(cell) for cell in walk(self._guardian)[1:] if cell.state != Phase.STOPPED]

    # -- Host: what cells ask -------------------------------------------------------

    def dead_letter(self, message: Any, recipient: str, reason: str) -> None:
        self.dead_letters.add(message, recipient, reason)

    def dead_letters_many(self, messages: list[Any], recipient: str, reason: str) -> None:
        self.dead_letters.add_many(messages, recipient, reason)

    def forget(self, cell: CellState) -> None:
        for hook in self._terminated:
            hook(cell)
        self.starts.gone(cell)
        if self.stop_waiters:
            outcome = self.stop_waiters.pop(cell, None)
            if outcome is not None:
                outcome.set()
        if cell is self._guardian:
            self.guardian_done.set()

    def local_cell(self, ref: ActorRef[Any]) -> Cell | None:
        cell = cell_of(ref)
        if isinstance(cell, Cell) and cell.host is self:
            return cell
        return None

    def start_cell(
        self,
        parent: CellState | None,
        factory: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        name: str | None,
        mailbox: Mailbox | None,
        *,
        supervised: bool = False,
        start: bool = True,
        uid: int | None = None,
    ) -> Cell:
        if self.closed or (parent is not None and parent.state >= Phase.STOPPING):
            what = "shut down" if self.closed else f"stopping ({parent.label if parent else ''})"
            raise RuntimeError(
                f"cannot spawn on system {self.node}: it is {what}; spawn inside its `async with`"
            )
        if name is not None:
            check_name(name)
            holder = self.registry.whereis(name)
            if holder is not None:
                raise NameTakenError(name, holder.address)
        if mailbox is not None and not isinstance(mailbox, Mailbox):
            raise TypeError(f"mailbox= takes a Mailbox, got {type(mailbox).__qualname__}")
        uid = uid if uid is not None else next(self._uids)
        try:
            cell = new_cell(
                self, parent, factory, args, kwargs, name, mailbox, uid,
                supervised=supervised, start=start,
            )
        except Exception as error:
            if self.construct_failure is None:
                self.construct_failure = (cell_label(self.node, name, uid), error)
            raise
        if name is not None:
            self.registry.register(name, cell.ref)
        return cell

    def spawn_child(
        self,
        parent: CellState,
        factory: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        name: str | None = None,
        mailbox: Mailbox | None = None,
    ) -> Any:
        # A spec (`SpawnSpec`: a supervisor tree, a pool) starts itself. An actor class
        # is tested first: a missing attribute costs getattr a failed lookup per spawn.
        spawn_under = None if isinstance(factory, type) else getattr(factory, "spawn_under", None)
        if spawn_under is not None:
            if args or kwargs:
                raise TypeError(
                    f"{factory!r} is a spec: its arguments go in the spec itself, and "
                    f"spawn takes only name= and mailbox= with it; got {args!r}, {kwargs!r}"
                )
            return spawn_under(parent, name, mailbox)
        return self.start_cell(parent, factory, args, kwargs, name, mailbox).ref

    async def stopped(self, cell: CellState) -> BaseException | None:
        """Wait until `cell` has terminated; the reason it stopped with."""
        if cell.state != Phase.STOPPED:
            outcome = self.stop_waiters.get(cell)
            if outcome is None:
                outcome = self.stop_waiters[cell] = Outcome()
            await outcome.wait()
        return cell.stop_reason

    def spawn_for_peer(
        self, factory: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
        name: str | None, uid: int, then: Callable[[BaseException | None], None],
    ) -> Cell:
        """Start an actor that another node asked for, with the id it chose; `then`
        hears once it has started (None) or why it could not (the cluster has
        checked that `uid` is free)."""
        cell = self.start_cell(self.root, factory, args, kwargs, name, None, uid=uid or None)
        self.starts.add(cell, then)
        return cell

    def stop_remote(self, ref: ActorRef[Any]) -> None:
        if not isinstance(unwrap(ref), RemoteRef):
            raise ValueError(f"{ref!r} does not belong to system {self.node}")
        self.require_cluster().stop_remote(ref)

    def watch_remote(self, watcher: CellState, ref: ActorRef[Any]) -> None:
        self.require_cluster().watch_remote(watcher, ref)

    def unwatch_remote(self, watcher: CellState, ref: ActorRef[Any]) -> None:
        if self._cluster is not None:
            self._cluster.unwatch_remote(watcher, ref)

    # -- Site: what the directory asks ---------------------------------------------------

    @property
    def cluster_directory(self) -> Cluster | None:
        return self._cluster

    def is_local(self, ref: ActorRef[Any]) -> bool:
        return self.local_cell(ref) is not None

    def spawn_top(self, factory: Any, *args: Any) -> ActorRef[Any]:
        return self.start_cell(self.root, factory, args, {}, None, None).ref

    def exchanges(self) -> Exchanges:
        """The system's exchanges, created on first use."""
        if self._exchanges is None:
            # Imported on first use: a system that routes nothing does not load routing.
            from runtime._directory.exchanges import Exchanges

            self._exchanges = exchanges = Exchanges(self)
            self.on_terminated(lambda cell: exchanges.forget(cell.ref))
        return self._exchanges

    @property
    def existing_exchanges(self) -> Exchanges | None:
        """The exchanges if any was created (the cluster unbinds a node that went down)."""
        return self._exchanges

    def require_cluster(self) -> Cluster:
        if self._cluster is None:
            raise RuntimeError(
                f"system {self.node} is not a cluster node: give ActorSystem listen="
                "'host:port' and cookie= to link it with others"
            )
        return self._cluster

    def attach_cluster(self, cluster: Cluster) -> None:
        """This system is a node: `cluster` links it with others."""
        self._cluster = cluster
        self.on_terminated(cluster.local_terminated)
        cluster.on_node_down(self._forget_node)

    def _forget_node(self, node: str) -> None:
        """A node went down: no publish may route to its actors from now on."""
        if self._exchanges is not None:
            self._exchanges.forget_node(node)

    # -- ClusterHost and StreamHost: what the cluster and the streams ask -----------------

    @property
    def cluster(self) -> Cluster:
        return self.require_cluster()

    @property
    def clustered(self) -> bool:
        return self._cluster is not None

    @property
    def threads(self) -> int:
        return self.kernel.threads

    def on_foreign_thread(self) -> bool:
        return self.kernel.on_foreign_thread()

    def whereis(self, name: str) -> ActorRef[Any] | None:
        return self.registry.whereis(name)

    def stop(self, ref: ActorRef[Any]) -> object:
        return self.system.stop(ref)

    def local_topics(self) -> list[str]:
        return self.topics.local_topics()

    def publish_local(self, topic: str, message: Any) -> int:
        return self.topics.publish_local(topic, message)

    def spawn(self, cls_or_spec: Any, /, *args: Any, name: str | None = None) -> ActorRef[Any]:
        """A top-level actor (a watcher the streams need)."""
        ref: ActorRef[Any] = self.spawn_child(self.root, cls_or_spec, args, {}, name=name)
        return ref

    def plain_ref(self, ref: ActorRef[Any]) -> ActorRef[Any]:
        """The plain ref under a wrapping one (a pool's), as `forget` reports it."""
        return unwrap(ref)

    async def lookup(
        self, name: str, node: str | None = None, *, timeout: float = 5.0
    ) -> ActorRef[Any] | None:
        return await self.system.lookup(name, node, timeout=timeout)
