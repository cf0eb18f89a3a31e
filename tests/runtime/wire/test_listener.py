"""The listener's limits before trust, over real sockets on 127.0.0.1: connections over
the handshaking limits are closed at once, running out of descriptors pauses the
listener instead of ending it, and rejections are logged at a bounded rate."""

from __future__ import annotations

import errno
import logging
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import pytest
from anyio.abc import SocketAttribute

from runtime._wire.handshake import HandshakeClosedError, PeerInfo, client_handshake
from runtime._wire.listener import (
    ConnectionLimits,
    RateLimitedLog,
    listen,
    serve_authenticated,
)
from tests.cluster.nodes import ROOT

pytestmark = pytest.mark.anyio
COOKIE = b"the shared cookie"


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class Served:
    """The listening side: who got through the handshake."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.accepted: list[str] = []
        self.arrived = anyio.Event()

    async def handler(self, stream: anyio.abc.ByteStream, peer: PeerInfo) -> None:
        async with stream:
            self.accepted.append(peer.node)
            self.arrived.set()


@asynccontextmanager
async def serving(limits: ConnectionLimits, listener: Any = None) -> AsyncIterator[Served]:
    real = await listen("127.0.0.1", 0)
    served = Served(real.extra(SocketAttribute.local_port))
    async with real, anyio.create_task_group() as tasks:
        tasks.start_soon(lambda: serve_authenticated(
            listener or real, served.handler, cookie=COOKIE, node="server", limits=limits
        ))
        yield served
        tasks.cancel_scope.cancel()


async def join(port: int, node: str = "client") -> PeerInfo:
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        return await client_handshake(stream, cookie=COOKIE, node=node, timeout=3.0)


async def join_when_free(port: int) -> None:
    """Join as soon as the listener has counted the connections it closed (it closes a
    stream, then frees its slot: a join in between is turned away)."""
    with anyio.fail_after(5):
        while True:
            try:
                await join(port)
                return
            except HandshakeClosedError:
                await anyio.sleep(0.02)


async def closed_at_once(port: int) -> bool:
    """Whether a fresh connection is closed by the listener without a word."""
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        with anyio.move_on_after(1.0):  # let in, it would wait for our Hello
            try:
                await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return True
        return False


async def test_connections_over_the_per_address_limit_are_closed_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with serving(ConnectionLimits(per_address=3, timeout=10)) as served:
        idle = [await anyio.connect_tcp("127.0.0.1", served.port) for _ in range(3)]
        try:
            with anyio.fail_after(3):
                while not any("are handshaking" in r.getMessage() for r in caplog.records):
                    assert await closed_at_once(served.port)
            assert "3 connections from 127.0.0.1 are handshaking, the limit" in caplog.text
        finally:
            for stream in idle:
                await stream.aclose()
        # Their slots free up as they close: a proper peer gets in again.
        await join_when_free(served.port)
        assert served.accepted == ["client"]


async def test_connections_over_the_node_limit_are_closed_at_once() -> None:
    async with (
        serving(ConnectionLimits(handshaking=2, timeout=10)) as served,
        await anyio.connect_tcp("127.0.0.1", served.port),
        await anyio.connect_tcp("127.0.0.1", served.port),
    ):
        with anyio.fail_after(5):
            while not await closed_at_once(served.port):
                pass  # the first two were not accepted yet


async def test_a_silent_connection_loses_its_slot_at_the_deadline() -> None:
    async with serving(ConnectionLimits(per_address=1, timeout=0.3)) as served:
        silent = await anyio.connect_tcp("127.0.0.1", served.port)
        async with silent:
            with (
                anyio.fail_after(3),
                pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)),
            ):
                await silent.receive()  # the listener closes it at the deadline
        await join_when_free(served.port)
        assert served.accepted == ["client"]


class Exhausted:
    """A socket listener whose first `failures` accepts fail as with no descriptors."""

    def __init__(self, inner: Any, failures: int, code: int) -> None:
        self.inner = inner
        self.failures = failures
        self.code = code

    async def accept(self) -> Any:
        if self.failures:
            self.failures -= 1
            await anyio.lowlevel.checkpoint()
            raise OSError(self.code, "Too many open files")
        return await self.inner.accept()


@pytest.mark.parametrize("code", [errno.EMFILE, errno.ENFILE, errno.ENOBUFS])
async def test_running_out_of_descriptors_pauses_the_listener_and_it_goes_on(
    code: int, caplog: pytest.LogCaptureFixture
) -> None:
    real = await listen("127.0.0.1", 0)
    flaky = Exhausted(real.listeners[0], failures=4, code=code)  # type: ignore[attr-defined]
    served = Served(real.extra(SocketAttribute.local_port))
    async with real, anyio.create_task_group() as tasks:
        tasks.start_soon(lambda: serve_authenticated(
            flaky, served.handler, cookie=COOKIE, node="server"  # type: ignore[arg-type]
        ))
        await join(served.port)
        tasks.cancel_scope.cancel()
    assert served.accepted == ["client"] and flaky.failures == 0
    lines = [r for r in caplog.records if "cannot accept connections for now" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.ERROR  # 4 errors, 0.4 s: one line


def test_a_burst_of_rejections_is_logged_in_part_and_counted() -> None:
    now = [0.0]
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    log = logging.getLogger("tests.rate_limited")
    log.addHandler(Collect())
    limited = RateLimitedLog(log, burst=10, interval=1.0, clock=lambda: now[0])
    sent = sum(limited.log(logging.WARNING, "rejected %d", n) for n in range(2_500))
    assert sent == 10 and len(records) == 10 and limited.suppressed == 2_490
    now[0] = 1.0
    assert limited.log(logging.WARNING, "rejected %d", 2_500)
    assert records[-1] == "rejected 2500 (and 2490 more like it not logged, over the rate limit)"
    assert limited.suppressed == 0


def test_a_node_raises_its_open_file_limit_to_the_hard_limit() -> None:
    script = textwrap.dedent("""
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(64, hard), hard))
        import anyio
        from runtime._wire.listener import listen
        async def main():
            async with await listen("127.0.0.1", 0):
                pass
        anyio.run(main)
        print(resource.getrlimit(resource.RLIMIT_NOFILE)[0] == hard, hard)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=ROOT, timeout=30, check=True)
    assert result.stdout.split()[0] == "True", result.stdout


def test_limits_are_validated_early() -> None:
    with pytest.raises(ValueError, match="handshaking must be a positive number of"
                       " connections, got 0"):
        ConnectionLimits(handshaking=0)
    with pytest.raises(ValueError, match="per_address must be a positive number"):
        ConnectionLimits(per_address=-1)
    with pytest.raises(ValueError, match="timeout must be a positive number of seconds"):
        ConnectionLimits(timeout=0)
