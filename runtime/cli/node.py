"""``repertory node``: run one node with an app until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from typing import Any

import anyio

from runtime._system import ActorSystem
from runtime.cli.errors import (
    CommandError,
    check_bind,
    describe_os_error,
    load_app,
    parse_hostport,
    read_cookie,
)

__all__ = ("run_node",)


def check_node_options(args: argparse.Namespace) -> Any:
    """Every option checked before anything starts; returns the app (or None)."""
    parse_hostport("--listen", args.listen)
    if args.advertise is not None:
        parse_hostport("--advertise", args.advertise, resolve=False)
    for seed in args.seed:
        parse_hostport("--seed", seed, resolve=False)
    if args.http is not None:
        check_bind("--http", args.http, args.http_token)
        try:
            import runtime.web  # noqa: F401
        except ImportError as error:
            raise CommandError(
                f"--http needs the web extra ({error.name} is missing): "
                "pip install 'repertory[web]'"
            ) from None
    return load_app(args.app) if args.app else None


async def start_app(system: ActorSystem, app: Any) -> None:
    """A tree or an actor class is started (the node is ready once it has); a function
    of the system may return one."""
    if callable(app) and not hasattr(app, "spawn_under") and not isinstance(app, type):
        app = app(system)
    if app is not None:
        await system.start(app)


def app_modules(spec: str | None) -> tuple[str, ...]:
    """The --app's package (its module, if top-level): peers may name its types."""
    if not spec:
        return ()
    module_name = spec.partition(":")[0]
    return (module_name.rpartition(".")[0] or module_name,)


async def run_node(args: argparse.Namespace) -> None:
    app = check_node_options(args)
    cookie = read_cookie(args.cookie_file)
    # Signals are caught from before the node listens: a SIGTERM right after the ready
    # line must stop it gracefully, not kill it with the default handler.
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with contextlib.AsyncExitStack() as stack:
            try:
                system = await stack.enter_async_context(ActorSystem(
                    args.name, listen=args.listen, advertise=args.advertise, cookie=cookie,
                    seeds=tuple(args.seed),
                    shutdown_timeout=args.shutdown_timeout, data_dir=args.data_dir,
                    allow_pickle=args.allow_pickle, message_modules=app_modules(args.app),
                    max_pending_handshakes=args.max_pending_handshakes,
                    max_pending_handshakes_per_address=args.max_pending_handshakes_per_address,
                ))
            except OSError as error:
                raise describe_os_error("--listen", args.listen, error) or error from None
            await _serve(system, app, args, signals)
    print(f"node {args.name} stopped", flush=True)


async def _serve(system: ActorSystem, app: Any, args: argparse.Namespace, signals: Any) -> None:
    if app is not None:
        await start_app(system, app)
    if args.http is not None:
        from runtime.web import serve

        try:
            url = await serve(system, args.http, token=args.http_token)
        except OSError as error:
            raise describe_os_error("--http", args.http, error) or error from None
        print(f"node {system.address} web view at {url}", flush=True)
    print(f"node {system.address} ready", flush=True)
    async with anyio.create_task_group() as tasks:

        async def stop_on_failure() -> None:
            await system.wait_stopped()
            tasks.cancel_scope.cancel()

        tasks.start_soon(stop_on_failure)
        async for signum in signals:
            exit_on_next_signal(system.address)  # before saying so: a signal may follow
            print(f"node {system.address} stopping ({signal.Signals(signum).name})",
                  flush=True)
            tasks.cancel_scope.cancel()
            break


def exit_on_next_signal(address: str) -> None:
    """While the node stops, a second SIGINT or SIGTERM exits the process at once, with
    status 128 + the signal's number (130, 143) and one line on stderr, no traceback.

    A plain signal handler, not the event loop's receiver: it runs even while the loop
    is busy, and `os._exit` neither waits for threads nor unwinds a stack to print.
    """

    def exit_now(signum: int, frame: object) -> None:
        name = signal.Signals(signum).name
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.write(f"node {address}: second {name} while stopping; exiting now "
                             "without waiting for the actors\n")
            sys.stderr.flush()
        os._exit(128 + signum)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, exit_now)
