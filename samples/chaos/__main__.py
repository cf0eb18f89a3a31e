"""``python -m samples.chaos [--duration S] [--seed N]``: one chaos run (see the package)."""

from __future__ import annotations

import argparse
import sys

import anyio

from samples.chaos.run import Options, chaos


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m samples.chaos",
        description="Five nodes, random faults from a seed, then a table of invariants.",
    )
    parser.add_argument("--duration", type=float, default=60.0,
                        help="seconds of faults (default 60)")
    parser.add_argument("--seed", type=int, default=None,
                        help="the RNG seed of the faults (default: a fresh one, printed)")
    parser.add_argument("--rate", type=float, default=1.0,
                        help="a scale for the load the nodes put on each other (default 1)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the journals and node logs even when every check holds")
    parser.add_argument("--verbose", action="store_true", help="say what each phase does")
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.rate <= 0:
        parser.error(f"--duration and --rate must be > 0, got {args.duration} and {args.rate}")
    seed = args.seed if args.seed is not None else int.from_bytes(__import__("os").urandom(3))
    options = Options(duration=args.duration, seed=seed, rate=args.rate, keep=args.keep,
                      verbose=args.verbose)
    return anyio.run(chaos, options)


if __name__ == "__main__":
    sys.exit(main())
