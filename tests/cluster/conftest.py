"""Fixtures of the multi-process cluster tests: node processes and the in-test node.

Every test here gets at most 20 s. A test that starts nodes through `nodes` has them
killed and reaped at teardown, and fails if any child process is still there after.
`peer` is one node process shared by the tests that neither kill it nor depend on its
membership; tests that do start their own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from runtime import ActorSystem
from tests.cluster.nodes import NodeProcess, Nodes, child_pids, open_node

TEST_TIMEOUT = 20.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/cluster/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.timeout(TEST_TIMEOUT))


@pytest.fixture(scope="session")
def shared_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nodes]:
    nodes = Nodes(tmp_path_factory.mktemp("shared-nodes"))
    try:
        yield nodes
    finally:
        nodes.close()


@pytest.fixture(scope="session")
def peer(shared_nodes: Nodes) -> NodeProcess:
    """A node process running the test app, shared by the whole session."""
    node = shared_nodes.launch("peer")
    return node


@pytest.fixture
def nodes(tmp_path_factory: pytest.TempPathFactory, shared_nodes: Nodes) -> Iterator[Nodes]:
    """Node processes for one test; none may outlive it."""
    started = Nodes(tmp_path_factory.mktemp("nodes"))
    try:
        yield started
    finally:
        started.close()
    left = child_pids() - shared_nodes.pids
    if left:
        pytest.fail(f"child processes left after the test: {sorted(left)}")


@pytest.fixture
async def system(anyio_backend: str) -> AsyncIterator[ActorSystem]:
    """The in-test node, on this test's backend, listening on 127.0.0.1."""
    async with open_node() as node:
        yield node
