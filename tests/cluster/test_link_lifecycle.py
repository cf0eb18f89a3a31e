"""A `Link` closes its stream however its `run` ends, even cancelled before it began."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import pytest
from anyio.abc import SocketAttribute

from runtime._cluster.link import Link
from runtime._cluster.phi import PhiAccrualDetector
from runtime._engine.backends import current_kernel
from runtime._engine.kernel import Kernel
from runtime._wire.records import SessionKeys

pytestmark = pytest.mark.anyio


class _Handler:
    """A `LinkHandler` that ignores every frame and records how the link ended."""

    node = "here"

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.closed: list[str] = []

    def link_closed(self, link: Link, reason: str) -> None:
        self.closed.append(reason)

    def __getattr__(self, name: str) -> Any:
        return lambda *args: None


@asynccontextmanager
async def connected() -> AsyncIterator[anyio.abc.SocketStream]:
    """Our end of a TCP connection on 127.0.0.1 (the other end stays open)."""
    accepted = anyio.Event()

    async def accept(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            accepted.set()
            await anyio.sleep_forever()

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    async with listener, anyio.create_task_group() as tasks:
        tasks.start_soon(listener.serve, accept)
        port = listener.extra(SocketAttribute.local_port)
        stream = await anyio.connect_tcp("127.0.0.1", port)
        await accepted.wait()
        yield stream
        tasks.cancel_scope.cancel()


@pytest.mark.parametrize("cancel_first", [False, True], ids=["cancelled-after", "cancelled-before"])
async def test_a_link_cancelled_before_its_first_step_closes_its_stream(cancel_first: bool) -> None:
    async with connected() as stream:
        handler = _Handler(current_kernel())
        link = Link(handler, stream, "there", True, keys=SessionKeys(b"s" * 32, b"r" * 32),
                    max_frame_size=1 << 20, detector=PhiAccrualDetector())
        async with anyio.create_task_group() as tasks:
            if cancel_first:  # the task group was already cancelled when the link started
                tasks.cancel_scope.cancel()
            tasks.start_soon(link.run)
            tasks.cancel_scope.cancel()  # before its first step
        with pytest.raises(anyio.ClosedResourceError):
            await stream.send(b"after the end")
        assert handler.closed == ["connection closed"]
