"""The command line's connection to a running node: one link for a whole command."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from runtime._system import ActorSystem
from runtime.cli.errors import parse_hostport, read_cookie

__all__ = ("Connection", "connect")


class Connection:
    """A short-lived node of our own, linked to the node being looked at."""

    def __init__(self, system: ActorSystem, node: str) -> None:
        self.system = system
        self.node = node

    async def call(self, service: str, timeout: float = 5.0) -> Any:
        """Ask the node's system service (``$snapshot``, ``$members``)."""
        return await self.system.cluster.call(self.node, service, None, timeout)


@asynccontextmanager
async def connect(address: str, cookie_file: str) -> AsyncIterator[Connection]:
    """Join the node at `address` once; leave when the block ends."""
    parse_hostport("ADDRESS", address)
    cookie = read_cookie(cookie_file)
    async with ActorSystem("repertory-cli", listen="127.0.0.1:0", cookie=cookie,
                           shutdown_timeout=2.0) as system:
        node = await system.cluster.join(address)
        yield Connection(system, node)
