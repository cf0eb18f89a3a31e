"""What the local suite measures, how many times, and in which child processes.

Kept apart from `bench.local` because that module imports the runtime: the table must
still print (with "n/a (reason)" cells) when the runtime does not import.
"""

from __future__ import annotations

from typing import Any

from bench._harness import REPEATS, Result, collect

__all__ = ("BACKENDS", "DEADLINE", "LOCAL_COUNTS", "run_local")

BACKENDS = ("asyncio", "trio")
LOCAL_COUNTS = {"tell": 300_000, "ask": 20_000, "spawn": 50_000, "memory": 50_000}
# A deadline per run, so that a lost message fails the figure instead of hanging it.
DEADLINE = 60.0

# figure: (function in bench.local, extra kwargs, count key, keys it reports)
# Rates come with the same-process baseline runs taken in turn with ours (bench.local).
_FIGURES: dict[str, tuple[str, dict[str, Any], str, tuple[str, ...]]] = {
    "tell": ("tell", {}, "tell", ("tell", "tell_baseline")),
    "ask": ("ask", {"handler": "sync"}, "ask", ("ask", "ask_baseline")),
    "ask_async": ("ask", {"handler": "async"}, "ask", ("ask_async", "ask_async_baseline")),
    "spawn": ("spawn", {}, "spawn", ("spawn", "spawn_baseline")),
    "memory": ("memory", {}, "memory", ("idle_bytes", "idle_rss")),
}


def run_local(
    quick: bool = False, backends: tuple[str, ...] = BACKENDS
) -> dict[str, dict[str, Result | str]]:
    """Every local figure on every backend, by backend then key, each in its own child."""
    out: dict[str, dict[str, Result | str]] = {}
    for backend in backends:
        figures: dict[str, Result | str] = {}
        for function, extra, count_key, keys in _FIGURES.values():
            n = LOCAL_COUNTS[count_key] // (10 if quick else 1)
            kwargs = {"n": n, "backend": backend, **extra}
            figures.update(collect("bench.local", function, kwargs, keys,
                                   timeout=DEADLINE * REPEATS + 30))
        out[backend] = figures
    return out
