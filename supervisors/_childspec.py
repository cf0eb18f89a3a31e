"""What the running supervisors need of the spec values (`supervisors._spec`).

Protocols, so that the actors that run a tree (`_supervisor`, `_dynamic`) and the
graph drawing (`_graph`) do not import the spec classes, which import them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from actors import ActorRef, Context
    from supervisors._backoff import Backoff

__all__ = ("ChildSpec", "DynamicTreeSpec", "TreeSpec")


class ChildSpec(Protocol):
    """A `Child` or a `Supervisor`, as its supervisor sees it."""

    @property
    def name(self) -> str | None: ...
    @property
    def label(self) -> str: ...
    @property
    def restart(self) -> str: ...
    @property
    def critical(self) -> bool: ...
    @property
    def backoff(self) -> Backoff | None: ...

    def start(
        self, context: Context, before: ActorRef[Any] | None = None, *, held: bool = False
    ) -> ActorRef[Any]:
        """Spawn it under `context`, ahead of sibling `before`; `held` keeps its
        `on_start` until the supervisor starts it."""
        ...


class TreeSpec(ChildSpec, Protocol):
    """A `Supervisor` spec: a strategy, a restart intensity and children."""

    @property
    def kind(self) -> str: ...
    @property
    def strategy(self) -> str: ...
    @property
    def max_restarts(self) -> int: ...
    @property
    def within(self) -> float: ...
    @property
    def children(self) -> Sequence[ChildSpec]: ...


class DynamicTreeSpec(TreeSpec, Protocol):
    @property
    def max_children(self) -> int | None: ...
