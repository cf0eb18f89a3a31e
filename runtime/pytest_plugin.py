"""The pytest plugin of Repertory: the `actor_system` fixture.

pytest loads this module by itself when Repertory is installed (the ``pytest11`` entry
point ``repertory``); nothing else imports it, so programs that use `actors.testkit`
without pytest never need pytest. `running_tasks()` is the check the fixture makes,
for tests that open systems of their own.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest

from runtime import ActorSystem

__all__ = ("actor_system", "is_current", "running_tasks")


def running_tasks() -> set[Any]:
    """The tasks alive on this event loop now (asyncio or trio)."""
    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            root = trio.lowlevel.current_root_task()
        except RuntimeError:
            root = None
        if root is not None:
            tasks: set[Any] = set()
            nurseries = list(root.child_nurseries)
            while nurseries:
                nursery = nurseries.pop()
                for task in nursery.child_tasks:
                    tasks.add(task)
                    nurseries.extend(task.child_nurseries)
            return tasks
    import asyncio

    return set(asyncio.all_tasks())


def is_current(task: Any) -> bool:
    """Whether `task` (from `running_tasks`) is the task running this call."""
    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            return bool(task is trio.lowlevel.current_task())
        except RuntimeError:
            pass
    import asyncio

    return task is asyncio.current_task()


@pytest.fixture
async def actor_system(anyio_backend: Any) -> AsyncIterator[ActorSystem]:
    """An `ActorSystem` named ``test`` for one test; fails the test on leaked tasks."""
    before = running_tasks()
    async with ActorSystem("test", shutdown_timeout=5.0) as system:
        yield system
    # anyio's pytest plugin may start its runner task between setup and teardown; it
    # belongs to the test harness, not to the system.
    leaked = [
        task
        for task in running_tasks() - before
        if not is_current(task) and "TestRunner" not in repr(task)
    ]
    if leaked:
        pytest.fail(f"tasks left running after the ActorSystem closed: {leaked!r}")
