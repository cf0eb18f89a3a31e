"""Each control of the fault proxy does what it says, against a tiny echo server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import pytest
from anyio.abc import SocketAttribute

from tests.cluster.faultproxy import FaultProxy

pytestmark = pytest.mark.anyio
QUIET = 0.2  # how long "nothing arrives" is watched for


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class EchoServer:
    """Echoes every chunk back and records what it received."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.streams: list[anyio.abc.SocketStream] = []
        self._changed = anyio.Event()

    async def handle(self, stream: anyio.abc.SocketStream) -> None:
        self.streams.append(stream)
        async with stream:
            try:
                async for chunk in stream:
                    self.received += chunk
                    self._changed.set()
                    self._changed = anyio.Event()
                    await stream.send(chunk)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                pass  # the proxy cut the connection: what some tests do on purpose

    async def wait_received(self, nbytes: int) -> None:
        while len(self.received) < nbytes:
            await self._changed.wait()


@asynccontextmanager
async def echo_behind_proxy() -> AsyncIterator[tuple[EchoServer, FaultProxy]]:
    server = EchoServer()
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as task_group:
        task_group.start_soon(listener.serve, server.handle)
        async with FaultProxy("127.0.0.1", port) as proxy:
            yield server, proxy
        task_group.cancel_scope.cancel()


async def receive_exactly(stream: anyio.abc.ByteReceiveStream, nbytes: int) -> bytes:
    data = bytearray()
    while len(data) < nbytes:
        data += await stream.receive(nbytes - len(data))
    return bytes(data)


async def nothing_arrives(stream: anyio.abc.ByteReceiveStream) -> bool:
    with anyio.move_on_after(QUIET):
        await stream.receive()
        return False
    return True


async def test_bytes_pass_unchanged_both_ways() -> None:
    async with echo_behind_proxy() as (server, proxy):
        async with await anyio.connect_tcp("127.0.0.1", proxy.port) as client:
            await client.send(b"hello through the proxy")
            assert await receive_exactly(client, 23) == b"hello through the proxy"
        assert server.received == b"hello through the proxy"


async def test_delay_holds_bytes_in_each_direction() -> None:
    async with (
        echo_behind_proxy() as (_server, proxy),
        await anyio.connect_tcp("127.0.0.1", proxy.port) as client,
    ):
        proxy.delay(0.15)
        started = anyio.current_time()
        await client.send(b"slow")
        assert await receive_exactly(client, 4) == b"slow"
        assert anyio.current_time() - started >= 0.3  # 0.15 s each way
        proxy.heal()
        await client.send(b"fast")
        assert await receive_exactly(client, 4) == b"fast"


async def test_drop_swallows_bytes_and_keeps_the_socket_open() -> None:
    async with (
        echo_behind_proxy() as (server, proxy),
        await anyio.connect_tcp("127.0.0.1", proxy.port) as client,
    ):
        await proxy.wait_connections(1)
        proxy.drop()
        await client.send(b"lost")
        await proxy.wait_received("to_target", 4)
        assert proxy.swallowed["to_target"] == 4
        assert server.received == b""
        assert await nothing_arrives(client)
        assert proxy.connections == 1
        proxy.heal()
        await client.send(b"back")  # the same socket still carries bytes
        assert await receive_exactly(client, 4) == b"back"


async def test_drop_hides_the_other_side_closing() -> None:
    async with (
        echo_behind_proxy() as (server, proxy),
        await anyio.connect_tcp("127.0.0.1", proxy.port) as client,
    ):
        await client.send(b"hi")
        assert await receive_exactly(client, 2) == b"hi"
        proxy.drop()
        await server.streams[0].aclose()  # a partitioned peer's FIN never arrives
        assert await nothing_arrives(client)
        assert proxy.connections == 1


async def test_cut_closes_current_connections_and_accepts_new_ones() -> None:
    async with echo_behind_proxy() as (_server, proxy):
        async with await anyio.connect_tcp("127.0.0.1", proxy.port) as client:
            await client.send(b"one")
            assert await receive_exactly(client, 3) == b"one"
            proxy.cut()
            with anyio.fail_after(2), pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
                await client.receive()
        await proxy.wait_connections(0)
        async with await anyio.connect_tcp("127.0.0.1", proxy.port) as client:
            await client.send(b"two")
            assert await receive_exactly(client, 3) == b"two"


async def test_half_open_silences_one_direction_only() -> None:
    async with (
        echo_behind_proxy() as (server, proxy),
        await anyio.connect_tcp("127.0.0.1", proxy.port) as client,
    ):
        proxy.half_open("to_client")
        await client.send(b"ping")
        await server.wait_received(4)  # the way to the server still flows
        await proxy.wait_received("to_client", 4)  # the echo reached the proxy...
        assert proxy.swallowed["to_client"] == 4  # ...and went no further
        assert await nothing_arrives(client)

        proxy.half_open("to_target")
        await client.send(b"x")
        await proxy.wait_received("to_target", 5)
        assert server.received == b"ping"  # the way to the server is silent now
        await server.streams[0].send(b"push")  # while the way back flows again
        assert await receive_exactly(client, 4) == b"push"


async def test_slice_bytes_forwards_one_byte_per_send() -> None:
    message = bytes(range(32))
    async with (
        echo_behind_proxy() as (server, proxy),
        await anyio.connect_tcp("127.0.0.1", proxy.port) as client,
    ):
        proxy.slice_bytes(True)
        await client.send(message)
        assert await receive_exactly(client, 32) == message
        assert proxy.sends == {"to_target": 32, "to_client": 32}
        assert server.received == message


async def test_end_of_stream_is_passed_on() -> None:
    async with (
        echo_behind_proxy() as (_server, proxy),
        await anyio.connect_tcp("127.0.0.1", proxy.port) as client,
    ):
        await client.send(b"bye")
        await client.send_eof()
        assert await receive_exactly(client, 3) == b"bye"
        with anyio.fail_after(2), pytest.raises(anyio.EndOfStream):
            await client.receive()  # the server saw our end and closed its side


def test_refuses_a_target_that_is_not_loopback() -> None:
    with pytest.raises(ValueError, match=r"loopback only .* got '10\.0\.0\.1'"):
        FaultProxy("10.0.0.1", 80)
