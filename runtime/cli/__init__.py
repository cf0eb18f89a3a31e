"""The `repertory` command line: run a node, look into running nodes, run the sample.

    repertory node --name NAME --listen HOST:PORT --cookie-file FILE [--seed ADDR]...
                   --app MOD:ATTR [--http HOST:PORT [--http-token TOKEN]]
    repertory members ADDR --cookie-file FILE
    repertory tree ADDR --cookie-file FILE [--format text|dot|mermaid]
    repertory top ADDR --cookie-file FILE [--interval S] [--once]
    repertory sample shop [--quick] [--linger]

Every command takes ``--log-level`` and ``--log-format text|json``. Mistakes are one
line on stderr naming the option and what to do, exit status 2; a failure of the
command itself (a node that does not answer) is one line too, exit status 1. Output
cut short by a closed pipe (``repertory tree ... | head``) ends quietly.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from runtime._run import run
from runtime.cli.errors import CommandError, positive_count, positive_seconds
from runtime.cli.logs import LEVELS, configure

__all__ = ("main",)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("repertory")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown (not installed)"


def _sample(args: argparse.Namespace) -> int:
    try:
        runner = importlib.import_module(f"samples.{args.name}.run")
    except ImportError:
        raise CommandError(f"no sample named {args.name!r}; try: repertory sample shop") from None
    code: int = runner.main(args.quick, linger=args.linger)
    return code


def _logging_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--log-level", choices=LEVELS, default=None,
                         help="log records at this level and above (node: info; others: "
                         "error)")
    options.add_argument("--log-format", choices=("text", "json"), default="text",
                         help="text lines, or one JSON object per line")
    return options


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="repertory", description="Run and inspect Repertory actor nodes."
    )
    parser.add_argument("--version", action="version", version=f"repertory {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    common = [_logging_options()]

    node = commands.add_parser("node", parents=common,
                               help="run one node with an app until SIGINT/SIGTERM")
    node.add_argument("--name", required=True, help="the node's name (unique in the cluster)")
    node.add_argument("--listen", required=True, help="HOST:PORT to listen on (port 0: any)")
    node.add_argument("--cookie-file", required=True, help="file holding the shared secret")
    node.add_argument("--seed", action="append", default=[], help="a node to join (repeatable)")
    node.add_argument("--app", help="MODULE:ATTR: a supervision tree, or a function of the "
                      "system that returns one (modules in the current directory are found)")
    node.add_argument("--advertise", metavar="HOST:PORT",
                      help="the address peers dial, which names the node (default: --listen;"
                      " needed when listening on 0.0.0.0)")
    node.add_argument("--allow-pickle", action="store_true",
                      help="carry any object by cloudpickle between nodes (off by default:"
                      " with it, a peer that holds the cookie can run code on this node)")
    node.add_argument("--max-pending-handshakes", type=positive_count, default=256,
                      metavar="N", help="connections still handshaking, at most (default"
                      " 256); more are closed at once")
    node.add_argument("--max-pending-handshakes-per-address", type=positive_count,
                      default=32, metavar="N",
                      help="of those, from one peer address (default 32)")
    node.add_argument("--shutdown-timeout", type=positive_seconds, default=5.0,
                      help="seconds to let actors stop before cancelling them (default 5)")
    node.add_argument("--data-dir", metavar="DIR",
                      help="where the node keeps its streams (ActorSystem data_dir=)")
    node.add_argument("--http", metavar="HOST:PORT",
                      help="serve the web view and /metrics there (127.0.0.1 unless told)")
    node.add_argument("--http-token", metavar="TOKEN",
                      help="required on every HTTP request; needed to bind beyond 127.0.0.1")

    members = commands.add_parser("members", parents=common,
                                  help="list the cluster as a node sees it, with each peer's "
                                  "phi and link age")
    members.add_argument("address", help="the node, NAME@HOST:PORT or HOST:PORT")
    members.add_argument("--cookie-file", required=True)

    tree = commands.add_parser("tree", parents=common,
                               help="draw a running node's live supervision tree")
    tree.add_argument("address", help="the node, NAME@HOST:PORT or HOST:PORT")
    tree.add_argument("--cookie-file", required=True)
    tree.add_argument("--format", choices=("text", "dot", "mermaid"), default="text")

    top = commands.add_parser("top", parents=common,
                              help="a table of a node's actors, redrawn in place")
    top.add_argument("address", help="the node, NAME@HOST:PORT or HOST:PORT")
    top.add_argument("--cookie-file", required=True)
    top.add_argument("--interval", type=positive_seconds, default=1.0,
                     help="seconds between refreshes (and the --once sample)")
    top.add_argument("--once", action="store_true",
                     help="sample over one interval, print one table and exit")

    sample = commands.add_parser("sample", parents=common,
                                 help="run a sample (shop: the 3-node cluster)")
    sample.add_argument("name", choices=("shop",))
    sample.add_argument("--quick", action="store_true", help="a shorter scenario")
    sample.add_argument("--linger", action="store_true",
                        help="keep the cluster and its web view up until Ctrl-C")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    level = args.log_level or ("info" if args.command == "node" else "error")
    configure(level, args.log_format)
    try:
        if args.command == "sample":
            return _sample(args)
        from runtime.cli.members import run_members
        from runtime.cli.node import run_node
        from runtime.cli.top import run_top
        from runtime.cli.tree import run_tree

        command = {"node": run_node, "members": run_members, "tree": run_tree,
                   "top": run_top}[args.command]
        # runtime.run: uvloop when it is installed (pip install 'repertory[fast]').
        run(command, args)
    except CommandError as error:
        print(f"repertory {args.command}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        _quiet_stdout()
        return 0
    except Exception as error:  # one clear line, not a traceback
        if _is_broken_pipe(error):
            _quiet_stdout()
            return 0
        print(f"repertory {args.command}: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return 0


def _is_broken_pipe(error: BaseException) -> bool:
    if isinstance(error, BrokenPipeError):
        return True
    if isinstance(error, BaseExceptionGroup):
        return any(_is_broken_pipe(e) for e in error.exceptions)
    return False


def _quiet_stdout() -> None:
    """The reader of our output went away: Python would complain again at exit, when
    it flushes stdout; point stdout at /dev/null first (as the Python docs advise)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
