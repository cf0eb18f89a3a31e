"""What the streams need of the system that hosts them: the whole contract, in one place.

`ActorSystem` satisfies `StreamHost`; the streams never import it. A reader of this
package learns from these classes everything it asks of the rest of the runtime.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from actors import ActorRef

__all__ = ("ClusterRefs", "StreamHost", "ThreadCount", "TimerHandle", "Timers")


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Timers(Protocol):
    def call_later(self, delay: float, fn: Callable[..., object], *args: Any) -> Any: ...


class ThreadCount(Protocol):
    """The kernel's count of blocking handlers running in worker threads now."""

    threads: int


class ClusterRefs(Protocol):
    """How refs inside stored messages become bytes and back, on a clustered node."""

    def export(self, ref: ActorRef[Any]) -> tuple[str, int, str | None]: ...
    def ref_for(self, node: str, uid: int, name: str | None) -> ActorRef[Any]: ...


class StreamHost(Protocol):
    """The system the streams live in."""

    @property
    def name(self) -> str: ...
    @property
    def node(self) -> str: ...
    @property
    def data_dir(self) -> str | None: ...
    @property
    def allow_pickle(self) -> bool: ...
    @property
    def clustered(self) -> bool: ...
    @property
    def cluster(self) -> ClusterRefs: ...
    @property
    def timers(self) -> Timers: ...
    @property
    def threads(self) -> int: ...
    @property
    def kernel(self) -> ThreadCount:
        """Set once the system is entered (before `Streams.serve`)."""
        ...

    def on_foreign_thread(self) -> bool:
        """Whether the caller runs on a worker thread, not the event loop's."""
        ...

    def spawn(self, cls_or_spec: Any, /, *args: Any, name: str | None = None) -> ActorRef[Any]:
        ...

    def is_local(self, ref: ActorRef[Any]) -> bool:
        """Whether `ref`'s actor runs in this system (its stop reaches `forget`)."""
        ...

    def plain_ref(self, ref: ActorRef[Any]) -> ActorRef[Any]:
        """The plain ref under a wrapping one (a pool's): the one `forget` is given."""
        ...

    async def lookup(
        self, name: str, node: str | None = None, *, timeout: float = 5.0
    ) -> ActorRef[Any] | None: ...
