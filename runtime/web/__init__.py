"""The web view of a running node: a live page of the cluster and Prometheus metrics.

Needs the ``web`` extra (``pip install 'repertory[web]'``: Starlette, Hypercorn,
prometheus-client). `serve` runs it in the system's own task group, on asyncio or
trio, so it stops when the system does::

    async with ActorSystem("shop", listen="127.0.0.1:4001", cookie=cookie) as system:
        url = await runtime.web.serve(system, "127.0.0.1:9100")
        ...  # open url in a browser; Prometheus scrapes url + "metrics"

Use it to watch a node and to scrape it; it is not an API to drive the cluster with
(it changes nothing).
"""

from __future__ import annotations

import ipaddress

import anyio

from runtime._system import ActorSystem
from runtime.web._app import create_app as create_app
from runtime.web._server import bind_socket, run_server

__all__ = ("create_app", "serve")


async def serve(system: ActorSystem, address: str = "127.0.0.1:9100", *,
                token: str | None = None) -> str:
    """Serve `system`'s web view and ``/metrics`` at `address` (``HOST:PORT``; port 0
    picks a free one) until the system exits; returns the page's URL.

    The socket is bound before this returns (an address in use raises `OSError` here).
    Binding beyond loopback needs `token`, which every request must then carry
    (``?token=`` or ``Authorization: Bearer``); without one it raises `ValueError`.
    The URL returned does not hold the token (it would end up in logs).
    """
    host, sep, port = address.rpartition(":")
    host = host.strip("[]")
    if not sep or not port.isdigit():
        raise ValueError(f"serve() takes 'host:port' (e.g. 127.0.0.1:9100), got {address!r}")
    if not _loopback(host) and not token:
        raise ValueError(
            f"serving {address} reaches beyond this machine: give token= (required on "
            "every request) or bind 127.0.0.1"
        )
    sock = bind_socket(host, int(port))
    bound_port = sock.getsockname()[1]
    app = create_app(system, token=token)
    backend = system._host.kernel.name

    async def run(closing: anyio.Event) -> None:
        await run_server(app, sock, closing, backend)

    try:
        system._start_service(run, f"repertory-web {host}:{bound_port}")
    except BaseException:
        sock.close()
        raise
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{bound_port}/"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
