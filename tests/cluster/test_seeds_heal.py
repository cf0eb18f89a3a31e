"""A cluster that heals: seeds are dialled again however they left, and a node that
cannot dial says why, once per reason."""

from __future__ import annotations

import logging
import socket

import pytest

from runtime import ActorSystem
from tests.cluster.nodes import Nodes, eventually, open_node

pytestmark = pytest.mark.anyio


async def test_a_seed_that_left_gracefully_is_linked_again_when_it_restarts(
    anyio_backend: str, nodes: Nodes
) -> None:
    seed = await nodes.start("seed")
    other = await nodes.start("other", seeds=[seed.address])
    async with open_node("watcher", seeds=[seed.address]) as system:
        await eventually(lambda: {seed.address, other.address} <= system.cluster.members,
                         what="the mesh of three")
        assert seed.stop() == 0  # SIGTERM: a goodbye, as Ctrl-C gives
        await eventually(lambda: seed.address not in system.cluster.members,
                         what="the seed's goodbye")
        again = await nodes.start("seed", listen=f"127.0.0.1:{seed.port}")
        assert again.address == seed.address
        # Everyone that seeds it dials it again: this node and the other process.
        await eventually(lambda: seed.address in system.cluster.members, timeout=5.0,
                         what="the watcher linked to the restarted seed")
        control = await system.lookup("control", node=other.address)
        assert control is not None

        async def other_relinked() -> bool:
            return seed.address in await control.ask(("members",), timeout=2.0)

        await eventually(other_relinked, timeout=5.0, what="the other node relinked")


async def test_a_seed_that_refuses_is_reported_once(
    anyio_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # closed again before the node dials it
    seed = f"127.0.0.1:{port}"
    caplog.set_level(logging.WARNING, logger="repertory.cluster")
    async with open_node("lonely", seeds=[seed]) as system:

        def warned() -> list[str]:
            return [r.getMessage() for r in caplog.records if "cannot link" in r.getMessage()]

        target = system.cluster.membership.targets[seed]
        # Dialled again and again with back-off (0.1, 0.2, 0.4 s...): a back-off of
        # 1.6 s means four attempts have failed by now, and still there is one line.
        await eventually(lambda: target.backoff >= 1.6, what="four failed dials")
        assert len(warned()) == 1
        assert f"127.0.0.1:{port}" in warned()[0] and "refused" in warned()[0]


async def test_a_seed_with_another_cookie_is_reported_as_cookie_rejected(
    anyio_backend: str, nodes: Nodes, caplog: pytest.LogCaptureFixture
) -> None:
    stranger = await nodes.start("stranger", cookie="another-cookie")
    caplog.set_level(logging.WARNING, logger="repertory.cluster")
    async with open_node("hopeful", seeds=[stranger.address]) as system:
        await eventually(
            lambda: any("cookie rejected" in r.getMessage() for r in caplog.records),
            what="a cookie warning",
        )
        assert stranger.address not in system.cluster.members


async def test_a_seed_with_another_name_is_reported_as_name_mismatch(
    system: ActorSystem, nodes: Nodes, caplog: pytest.LogCaptureFixture
) -> None:
    real = await nodes.start("real")
    wrong = f"impostor@127.0.0.1:{real.port}"
    caplog.set_level(logging.WARNING, logger="repertory.cluster")
    async with open_node("checker", seeds=[wrong], check_tasks=False):
        await eventually(
            lambda: any("name mismatch" in r.getMessage() for r in caplog.records),
            what="a name warning",
        )
