"""Waiting on other actors and nodes: the bodies of `system.start`, `system.stop` (of a
remote actor) and `system.lookup`.

A local start is learned the way a supervisor learns it (see `runtime._start_stop`):
the root guardian hears the child started or failed. A remote start is answered by the
peer once the actor has run `on_start`; a remote stop is learned through a watch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio

from actors import ActorRef
from actors.errors import ActorCrashedError, ActorError, AskTimeoutError, NodeDownError
from runtime._engine.lifecycle import request_stop
from runtime._start_stop import Outcome, Stopping, StopWatcher

if TYPE_CHECKING:
    from runtime._cluster.cluster import Cluster
    from runtime._host import SystemHost

__all__ = ("lookup_anywhere", "lookup_on", "start_local", "start_remote", "stop_remote")


async def start_local(
    host: SystemHost, spawn: Callable[[], ActorRef[Any]], timeout: float
) -> ActorRef[Any]:
    """`spawn()` here, then wait until the actor has run `on_start` (see `system.start`)."""
    outcome = Outcome()
    host.construct_failure = None
    try:
        ref = spawn()
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
    started: ActorRef[Any] = await outcome.wait()
    return started


async def start_remote(
    cluster: Cluster, node: str, factory: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
    name: str | None, timeout: float,
) -> ActorRef[Any]:
    """Spawn on `node` and wait until it has started there."""
    outcome = Outcome()
    ref = cluster.spawn_remote(
        node, factory, args, kwargs, name, lambda error: outcome.set(None, error)
    )
    try:
        with anyio.fail_after(timeout):
            await outcome.wait()
    except TimeoutError:
        raise AskTimeoutError(ref.address, timeout, "start") from None
    finally:
        if not outcome.done:
            cluster.stop_remote(ref)
    return ref


def stop_remote(host: SystemHost, ref: ActorRef[Any]) -> Stopping:
    """Stop an actor of another node; the result waits until it has stopped."""
    outcome = Outcome()
    node = getattr(host.plain_ref(ref), "node", None)  # a RemoteRef's node
    cluster = host.cluster_directory
    if node is None or cluster is None or node not in cluster.links:
        outcome.set(error=NodeDownError(
            str(node), f"not linked: cannot stop {ref.address}; join the node first"
        ))
    else:
        # Watch first: frames keep their order, so the peer answers the watch before
        # it handles the stop, and its Terminated comes once the actor has stopped.
        watcher = host.start_cell(host.root, StopWatcher, (outcome,), {}, None, None)
        watcher.watch(ref)
        host.stop_remote(ref)
    return Stopping(ref, outcome.wait)


async def lookup_on(cluster: Cluster, node: str, name: str, timeout: float) -> ActorRef[Any] | None:
    """The actor registered as `name` on `node` (asked over the link)."""
    ref: ActorRef[Any] | None = await cluster.call(node, "$lookup", name, timeout)
    return ref


async def lookup_anywhere(cluster: Cluster, name: str, timeout: float) -> ActorRef[Any] | None:
    """Ask every linked node at once; the answer of the first node in name order that
    has `name`, so every caller agrees. A node down or too slow does not have it."""
    peers = sorted(cluster.links)
    answers: dict[str, ActorRef[Any] | None] = {}

    async def ask(peer: str) -> None:
        try:
            answers[peer] = await lookup_on(cluster, peer, name, timeout)
        except ActorError:
            answers[peer] = None

    async with anyio.create_task_group() as asks:
        for peer in peers:
            asks.start_soon(ask, peer)
    return next((answers[p] for p in peers if answers.get(p) is not None), None)
