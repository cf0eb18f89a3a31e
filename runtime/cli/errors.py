"""Mistakes the user can fix, found before anything starts, each said in one line.

Every check names the option it is about and what to do, so that
``repertory node --listen 127.0.0.1:99999`` says which port is wrong and why, instead
of a traceback from deep inside a socket call.
"""

from __future__ import annotations

import errno
import importlib
import ipaddress
import socket
import sys
from pathlib import Path
from typing import Any

__all__ = (
    "CommandError", "check_bind", "describe_os_error", "load_app", "parse_hostport",
    "positive_seconds", "read_cookie",
)


class CommandError(Exception):
    """A mistake the user can fix; printed as one line, exit status 2."""


def parse_hostport(option: str, value: str, *, resolve: bool = True) -> tuple[str, int]:
    """``HOST:PORT`` (or ``NAME@HOST:PORT``) for `option`, with the port in range and the
    host resolvable; raises `CommandError` saying which part is wrong."""
    hostport = value.rpartition("@")[2]
    host, sep, port_text = hostport.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text:
        raise CommandError(f"{option} takes HOST:PORT (e.g. 127.0.0.1:4070), got {value!r}")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise CommandError(
            f"{option} {value}: the port must be a number from 0 to 65535 (0: any free "
            f"port), got {port_text!r}"
        )
    if resolve:
        try:
            socket.getaddrinfo(host, int(port_text), type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            raise CommandError(
                f"{option} {value}: cannot resolve the host {host!r}; give an IP address "
                "(e.g. 127.0.0.1) or a name this machine resolves"
            ) from None
    return host, int(port_text)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(option: str, value: str, token: str | None) -> tuple[str, int]:
    """An HTTP bind address; beyond loopback it needs a token (`--http-token`)."""
    host, port = parse_hostport(option, value)
    if not is_loopback(host) and not token:
        raise CommandError(
            f"{option} {value} serves beyond this machine: give --http-token TOKEN (then "
            "required on every request), or bind 127.0.0.1"
        )
    return host, port


def positive_seconds(text: str) -> float:
    """An argparse type: seconds > 0 (`top --interval 0` would divide by zero)."""
    import argparse

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes seconds, e.g. 1 or 0.5; got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {text!r}")
    return value


def positive_count(text: str) -> int:
    """An argparse type: a whole number > 0 (a limit of connections, say)."""
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes a whole number, e.g. 32; got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


def read_cookie(path: str) -> str:
    try:
        cookie = Path(path).read_text().strip()
    except OSError as error:
        raise CommandError(
            f"--cookie-file: cannot read the cookie file {path}: {error.strerror}"
        ) from None
    if not cookie:
        raise CommandError(
            f"--cookie-file: the cookie file {path} is empty; put the cluster's secret in it"
        )
    return cookie


def load_app(spec: str) -> Any:
    """What ``--app MODULE:ATTR`` names: a supervision tree, an actor class, or a
    function of the system returning one. Modules in the current directory are found
    (as ``python -m`` would find them)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise CommandError(f"--app takes MODULE:ATTRIBUTE (e.g. myapp:tree), got {spec!r}")
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise CommandError(
            f"--app {spec}: cannot import {module_name!r} for --app: {error} (run from the "
            "directory that holds it, or install it)"
        ) from None
    try:
        app = getattr(module, attribute)
    except AttributeError:
        raise CommandError(
            f"--app {spec}: module {module_name!r} has no {attribute!r}"
        ) from None
    if not callable(app) and not hasattr(app, "spawn_under"):
        raise CommandError(
            f"--app {spec} is a {type(app).__qualname__}, not a supervision tree, an actor "
            "class or a function of the system; point --app at one of those"
        )
    return app


def describe_os_error(option: str, address: str, error: OSError) -> CommandError | None:
    """A one-line `CommandError` for a bind that failed, or None if it is not one."""
    if error.errno == errno.EADDRINUSE:
        return CommandError(
            f"{option} {address}: the address is already in use; stop what listens there "
            "or pick another port (0: any free port)"
        )
    if error.errno == errno.EADDRNOTAVAIL:
        return CommandError(
            f"{option} {address}: this machine has no such address; bind one of its own "
            "(e.g. 127.0.0.1, or 0.0.0.0 for all)"
        )
    if error.errno == errno.EACCES:
        return CommandError(
            f"{option} {address}: not allowed to bind that port; use one above 1023"
        )
    return None
