"""Supervision specs: `Child`, `Supervisor` and `DynamicSupervisor` are plain values.

A spec says what to start and how to treat its failures; nothing runs until
`system.spawn(spec)`. Specs are validated when built, so a typo fails at once with the
valid choices listed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, Never, get_args

from actors.lowlevel import children
from actors.routing import Pool
from supervisors._backoff import Backoff
from supervisors._dynamic import DynamicSupervisorActor, DynamicSupervisorRef
from supervisors._graph import spec_graph
from supervisors._supervisor import SupervisorActor

if TYPE_CHECKING:
    import networkx

    from actors import ActorRef, Context
    from actors.mailbox import Mailbox

__all__ = ("Child", "DynamicSupervisor", "Restart", "Strategy", "Supervisor")

Strategy = Literal["one_for_one", "one_for_all", "rest_for_one"]
Restart = Literal["permanent", "transient", "temporary"]
_STRATEGIES: tuple[str, ...] = get_args(Strategy)
_RESTARTS: tuple[str, ...] = get_args(Restart)


def _choice(what: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(
            f"{what} must be one of {', '.join(map(repr, choices))}; got {value!r}"
        )


def _positive(what: str, value: float | None, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"{what} must be a positive number of seconds, got {value!r}")


class Child:
    """One supervised actor: what to build and how to restart it.

    - `restart`: ``"permanent"`` (always restarted), ``"transient"`` (only after a
      failure; a normal stop ends it), ``"temporary"`` (never restarted).
    - `critical=False`: the child never takes its supervisor down. Past the restart
      budget it keeps retrying on its back-off; while it is down, asks to it fail at
      once with `ActorUnavailableError` and tells go to dead letters.
    - `backoff`: delays its restarts (`Backoff`); None restarts at once.
    - `shutdown`: seconds its stop may take before it is cancelled (None: no bound).

    `factory` is an actor class, a callable returning an actor, or a `Pool` spec: a
    pool is a child like any other, ``Child(Pool(Worker, size=4), name="pricers")``;
    its name then resolves to the pool's routing ref.

    >>> # Child(Points, name="points", restart="transient", critical=False)
    """

    __slots__ = ("args", "backoff", "critical", "factory", "kwargs", "mailbox", "name",
                 "restart", "shutdown")

    def __init__(
        self,
        factory: Any,
        *args: Any,
        name: str | None = None,
        restart: Restart = "permanent",
        critical: bool = True,
        backoff: Backoff | None = None,
        shutdown: float | None = 5.0,
        mailbox: Mailbox | None = None,
        **kwargs: Any,
    ) -> None:
        if not callable(factory) and not isinstance(factory, Pool):
            raise TypeError(f"Child needs an Actor class, a factory or a Pool, got {factory!r}")
        if isinstance(factory, Pool) and (args or kwargs):
            raise TypeError(
                f"Child({factory!r}) takes the workers' arguments in the Pool itself; "
                f"got {args!r}, {kwargs!r}"
            )
        _choice("Child restart", restart, _RESTARTS)
        _positive("Child shutdown", shutdown, allow_none=True)
        if backoff is not None and not isinstance(backoff, Backoff):
            raise TypeError(f"Child backoff takes a Backoff, got {backoff!r}")
        self.factory = factory
        self.args = args
        self.kwargs = kwargs
        self.name = name
        self.restart: Restart = restart
        self.critical = critical
        self.backoff = backoff
        self.shutdown = shutdown
        self.mailbox = mailbox

    @property
    def label(self) -> str:
        return self.name or str(getattr(self.factory, "__name__", "child"))

    def start(
        self, context: Context, before: ActorRef[Any] | None = None, *, held: bool = False
    ) -> ActorRef[Any]:
        """Spawn this child under `context` (a supervisor's), ahead of sibling `before`;
        `held` keeps its `on_start` until `children(context).start_child(ref)`."""
        factory, args, kwargs = self.factory, self.args, self.kwargs
        if isinstance(factory, Pool):  # each start builds a new pool, with its own PoolRef
            factory, args = factory.start_args()
        return children(context).spawn_child(
            factory, args, kwargs, name=self.name, mailbox=self.mailbox,
            shutdown=self.shutdown, before=before, start=not held,
        )

    def __repr__(self) -> str:
        return f"Child({self.label}, restart={self.restart!r}, critical={self.critical!r})"


class Supervisor:
    """A supervisor spec: a strategy, a restart intensity and children in start order.

    Children start in list order and stop in reverse. When one fails, `strategy` says
    which restart: ``"one_for_one"`` just it, ``"one_for_all"`` every child (the others
    stop in reverse start order, then all start again in order), ``"rest_for_one"`` it
    and those started after it. More than `max_restarts` restarts within `within`
    seconds stop the children and fail the supervisor upward, to its own supervisor;
    at the root that stops the system. Non-critical children never count toward that.

    A `Supervisor` can be a child of another. `system.spawn(spec)` starts the tree.

    >>> shop = Supervisor("shop", strategy="one_for_one", children=[])
    >>> shop.name, shop.strategy
    ('shop', 'one_for_one')
    """

    kind = "supervisor"
    name: str

    def __init__(
        self,
        name: str,
        *,
        strategy: Strategy = "one_for_one",
        max_restarts: int = 3,
        within: float = 5.0,
        children: Sequence[Child | Supervisor | DynamicSupervisor] = (),
        restart: Restart = "permanent",
        critical: bool = True,
        backoff: Backoff | None = None,
        shutdown: float | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"a Supervisor needs a non-empty name, got {name!r}")
        _choice(f"Supervisor {name!r} strategy", strategy, _STRATEGIES)
        _choice(f"Supervisor {name!r} restart", restart, _RESTARTS)
        if not isinstance(max_restarts, int) or max_restarts < 0:
            raise ValueError(
                f"Supervisor {name!r} max_restarts must be an int >= 0, got {max_restarts!r}"
            )
        _positive(f"Supervisor {name!r} within", within)
        _positive(f"Supervisor {name!r} shutdown", shutdown, allow_none=True)
        seen: set[str] = set()
        for child in children:
            if not isinstance(child, Child | Supervisor | DynamicSupervisor):
                raise TypeError(
                    f"Supervisor {name!r} children must be Child, Supervisor or "
                    f"DynamicSupervisor specs; got {child!r}"
                )
            child_name: str | None = child.name
            if child_name is not None:
                if child_name in seen:
                    raise ValueError(
                        f"Supervisor {name!r} has two children named {child_name!r}; "
                        "child names must be unique"
                    )
                seen.add(child_name)
        self.name = name
        self.strategy: Strategy = strategy
        self.max_restarts = max_restarts
        self.within = within
        self.children = list(children)
        self.restart: Restart = restart
        self.critical = critical
        self.backoff = backoff
        self.shutdown = shutdown

    @property
    def label(self) -> str:
        return self.name

    def _actor_class(self) -> type[Any]:
        return SupervisorActor

    def start(
        self, context: Context, before: ActorRef[Any] | None = None, *, held: bool = False
    ) -> ActorRef[Any]:
        return children(context).spawn_child(
            self._actor_class(), (self,), {}, name=self.name, mailbox=None,
            shutdown=self.shutdown, before=before, start=not held,
        )

    def spawn_under(
        self, parent: Context, name: str | None = None, mailbox: Mailbox | None = None
    ) -> ActorRef[Never]:
        """Start this tree under `parent` (what `system.spawn(spec)` calls).

        The ref takes no messages of yours (`ActorRef[Never]`): stop it, watch it, or
        reach the children by name.
        """
        if name is not None and name != self.name:
            raise ValueError(
                f"a Supervisor is registered under its own name {self.name!r}; "
                f"spawn it without name= (got {name!r})"
            )
        ref: ActorRef[Never] = parent.spawn(
            self._actor_class(), self, name=self.name, mailbox=mailbox
        )
        return ref

    def graph(self) -> networkx.DiGraph[str]:
        """The tree as a `networkx.DiGraph` (nodes are paths like ``shop/cart``)."""
        return spec_graph(self)

    def __repr__(self) -> str:
        return (
            f"Supervisor({self.name!r}, strategy={self.strategy!r}, "
            f"{len(self.children)} children)"
        )


class DynamicSupervisor(Supervisor):
    """A one_for_one supervisor whose children are added at run time.

    `system.spawn(DynamicSupervisor("jobs"))` returns a `DynamicSupervisorRef`: use
    `await ref.start_child(Child(...))`, `await ref.terminate_child(child_ref)` and
    `await ref.which_children()`. `max_children` bounds how many run at once.
    """

    kind = "dynamic_supervisor"

    def __init__(
        self,
        name: str,
        *,
        max_children: int | None = None,
        max_restarts: int = 3,
        within: float = 5.0,
        restart: Restart = "permanent",
        critical: bool = True,
        backoff: Backoff | None = None,
        shutdown: float | None = None,
    ) -> None:
        super().__init__(
            name, strategy="one_for_one", max_restarts=max_restarts, within=within,
            restart=restart, critical=critical, backoff=backoff, shutdown=shutdown,
        )
        if max_children is not None and (not isinstance(max_children, int) or max_children < 1):
            raise ValueError(
                f"DynamicSupervisor {name!r} max_children must be a positive int or None, "
                f"got {max_children!r}"
            )
        self.max_children = max_children

    def _actor_class(self) -> type[Any]:
        return DynamicSupervisorActor

    def start(
        self, context: Context, before: ActorRef[Any] | None = None, *, held: bool = False
    ) -> ActorRef[Any]:
        return DynamicSupervisorRef(super().start(context, before, held=held))

    def spawn_under(
        self, parent: Context, name: str | None = None, mailbox: Mailbox | None = None
    ) -> DynamicSupervisorRef:
        return DynamicSupervisorRef(super().spawn_under(parent, name, mailbox))
