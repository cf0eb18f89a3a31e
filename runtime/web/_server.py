"""Hypercorn in the system's task group, on whichever backend the system runs."""

from __future__ import annotations

import logging
import socket
from typing import Any

import anyio
from hypercorn.config import Config

__all__ = ("bind_socket", "run_server")

log = logging.getLogger("repertory.web")


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket, bound now: the caller learns the port (for port 0) and
    an address in use fails here, before anything is served."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
    return sock


async def run_server(app: Any, sock: socket.socket, closing: anyio.Event, backend: str) -> None:
    """Serve `app` on `sock` until `closing` is set; Hypercorn owns `sock` from here."""
    config = Config()
    config.bind = [f"fd://{sock.detach()}"]
    config.graceful_timeout = 1.0
    config.accesslog = None
    config.errorlog = logging.getLogger("repertory.web.server")
    if backend == "trio":
        from hypercorn.trio import serve as trio_serve

        await trio_serve(app, config, shutdown_trigger=closing.wait)
    else:
        from hypercorn.asyncio import serve as asyncio_serve

        await asyncio_serve(app, config, shutdown_trigger=closing.wait)

