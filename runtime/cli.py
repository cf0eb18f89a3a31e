"""The `repertory` command line: run a node, look into running nodes, run the sample.

    repertory node --name NAME --listen HOST:PORT --cookie-file FILE [--seed ADDR]... --app MOD:ATTR
    repertory tree ADDR --cookie-file FILE [--format text|dot|mermaid]
    repertory top ADDR --cookie-file FILE [--interval S] [--once]
    repertory sample shop

Errors are one clear line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio

from runtime._run import run

__all__ = ("main",)


class CommandError(Exception):
    """A mistake the user can fix; printed as one line."""


def _read_cookie(path: str) -> str:
    try:
        cookie = Path(path).read_text().strip()
    except OSError as error:
        raise CommandError(f"cannot read the cookie file {path}: {error.strerror}") from None
    if not cookie:
        raise CommandError(f"the cookie file {path} is empty; put the cluster's secret in it")
    return cookie


def _load_app(spec: str) -> Any:
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise CommandError(f"--app takes 'module:attribute', got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise CommandError(f"cannot import {module_name!r} for --app: {error}") from None
    try:
        app = getattr(module, attribute)
    except AttributeError:
        raise CommandError(f"module {module_name!r} has no {attribute!r} for --app") from None
    return app


def _app_modules(spec: str | None) -> tuple[str, ...]:
    """The --app's package (its module, if top-level): peers may name its types."""
    if not spec:
        return ()
    module_name = spec.partition(":")[0]
    return (module_name.rpartition(".")[0] or module_name,)


async def _run_node(args: argparse.Namespace) -> None:
    from runtime import ActorSystem

    app = _load_app(args.app) if args.app else None
    cookie = _read_cookie(args.cookie_file)
    # Signals are caught from before the node listens: a SIGTERM right after the ready
    # line must stop it gracefully, not kill it with the default handler.
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with ActorSystem(
            args.name, listen=args.listen, cookie=cookie, seeds=tuple(args.seed),
            shutdown_timeout=args.shutdown_timeout, allow_pickle=args.allow_pickle,
            message_modules=_app_modules(args.app),
            max_pending_handshakes=args.max_pending_handshakes,
            max_pending_handshakes_per_address=args.max_pending_handshakes_per_address,
        ) as system:
            if app is not None:
                tree = app(system) if callable(app) and not hasattr(app, "spawn_under") and not (
                    isinstance(app, type)
                ) else app
                if tree is not None:
                    system.spawn(tree)
            print(f"node {system.address} ready", flush=True)
            async with anyio.create_task_group() as tasks:

                async def stop_on_failure() -> None:
                    await system.wait_stopped()
                    tasks.cancel_scope.cancel()

                tasks.start_soon(stop_on_failure)
                async for signum in signals:
                    print(f"node {system.address} stopping ({signal.Signals(signum).name})",
                          flush=True)
                    tasks.cancel_scope.cancel()
                    break
    print(f"node {args.name} stopped", flush=True)


async def _fetch_snapshot(address: str, cookie_file: str) -> list[Any]:
    from runtime import ActorSystem

    cookie = _read_cookie(cookie_file)
    async with ActorSystem("repertory-cli", listen="127.0.0.1:0", cookie=cookie,
                           shutdown_timeout=2.0) as system:
        node = await system.cluster.join(address)
        snapshot: list[Any] = await system.cluster.call(node, "$snapshot", None, 5.0)
        return snapshot


async def _tree(args: argparse.Namespace) -> None:
    # The CLI is an application of all three packages, so it may draw with supervisors.
    from supervisors import graph_from_snapshot, render_text, to_dot, to_mermaid

    snapshot = await _fetch_snapshot(args.address, args.cookie_file)
    graph = graph_from_snapshot(snapshot)
    draw = {"text": render_text, "dot": to_dot, "mermaid": to_mermaid}[args.format]
    print(draw(graph))


async def _top(args: argparse.Namespace) -> None:
    from runtime._top import render_top

    previous: dict[str, int] = {}
    while True:
        snapshot = await _fetch_snapshot(args.address, args.cookie_file)
        print(render_top(snapshot, previous, args.interval), flush=True)
        if args.once:
            return
        await anyio.sleep(args.interval)


def _sample(args: argparse.Namespace) -> int:
    try:
        runner = importlib.import_module(f"samples.{args.name}.run")
    except ImportError:
        raise CommandError(f"no sample named {args.name!r}; try: repertory sample shop") from None
    code: int = runner.main(args.quick)
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="repertory", description="Run and inspect Repertory actor nodes."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    node = commands.add_parser("node", help="run one node with an app until SIGINT/SIGTERM")
    node.add_argument("--name", required=True, help="the node's name (unique in the cluster)")
    node.add_argument("--listen", required=True, help="HOST:PORT to listen on (port 0: any)")
    node.add_argument("--cookie-file", required=True, help="file holding the shared secret")
    node.add_argument("--seed", action="append", default=[], help="a node to join (repeatable)")
    node.add_argument("--app", help="MODULE:ATTR: a supervision tree, or a function of the "
                      "system that returns one")
    node.add_argument("--allow-pickle", action="store_true",
                      help="carry any object by cloudpickle between nodes (off by default:"
                      " a peer that holds the cookie could then run code here)")
    node.add_argument("--max-pending-handshakes", type=int, default=256, metavar="N",
                      help="connections still handshaking, at most; more are closed at once")
    node.add_argument("--max-pending-handshakes-per-address", type=int, default=32,
                      metavar="N", help="of those, from one peer address")
    node.add_argument("--shutdown-timeout", type=float, default=10.0,
                      help="seconds to let actors stop before cancelling them")

    tree = commands.add_parser("tree", help="draw a running node's live supervision tree")
    tree.add_argument("address", help="the node, NAME@HOST:PORT or HOST:PORT")
    tree.add_argument("--cookie-file", required=True)
    tree.add_argument("--format", choices=("text", "dot", "mermaid"), default="text")

    top = commands.add_parser("top", help="a refreshing table of a node's actors")
    top.add_argument("address")
    top.add_argument("--cookie-file", required=True)
    top.add_argument("--interval", type=float, default=1.0)
    top.add_argument("--once", action="store_true", help="print one table and exit")

    sample = commands.add_parser("sample", help="run a sample (shop: the 3-node cluster)")
    sample.add_argument("name", choices=("shop",))
    sample.add_argument("--quick", action="store_true", help="a shorter scenario")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.command == "node" else logging.ERROR,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.command == "sample":
            return _sample(args)
        command = {"node": _run_node, "tree": _tree, "top": _top}[args.command]
        # runtime.run: uvloop when it is installed (pip install 'repertory[fast]').
        run(command, args)
    except CommandError as error:
        print(f"repertory {args.command}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # one clear line, not a traceback
        print(f"repertory {args.command}: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
