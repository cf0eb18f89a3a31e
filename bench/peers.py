"""Peers doing the local benchmarks' work: pykka, thespian and xoscar.

Each peer's measurement runs in its own child process with a deadline, so a peer that
hangs, crashes or is not installed costs one "n/a (reason)" cell, never the run. The
slow peers get smaller counts (listed in `COUNTS`); every figure is a rate or a
per-actor cost, so the counts change the run time, not what the figures mean.

Run alone with ``python -m bench.peers``.
"""

from __future__ import annotations

import importlib.util

from bench._harness import Result, collect

__all__ = ("COUNTS", "MODULES", "run")

# The library each peer module needs, to report "not installed" without a child process.
MODULES = {
    "pykka": ("bench._peer_pykka", "pykka"),
    "thespian": ("bench._peer_thespian", "thespian"),
    "xoscar": ("bench._peer_xoscar", "xoscar"),
}

# Operations per measurement. pykka starts a thread per actor (~1-2k/s here) and xoscar
# sends every call through its pool's message router (~15k/s): full counts would take
# minutes, so they get fewer.
COUNTS: dict[str, dict[str, int]] = {
    "pykka": {"tell": 50_000, "ask": 5_000, "spawn": 1_000, "memory": 1_000},
    "thespian": {"tell": 100_000, "ask": 20_000, "spawn": 10_000, "memory": 10_000},
    "xoscar": {"tell": 10_000, "ask": 5_000, "spawn": 5_000, "memory": 5_000},
}

# Keys each measurement reports; a failed measurement marks all of them n/a.
_KEYS = {"tell": ("tell",), "ask": ("ask",), "spawn": ("spawn",),
         "memory": ("idle_bytes", "idle_rss")}


def run_peer(peer: str, quick: bool = False, timeout: float = 60.0) -> dict[str, Result | str]:
    """Every figure for one peer, each from its own child process."""
    module, library = MODULES[peer]
    if importlib.util.find_spec(library) is None:
        return {key: f"n/a ({library} not installed)" for keys in _KEYS.values() for key in keys}
    figures: dict[str, Result | str] = {}
    for measurement, count in COUNTS[peer].items():
        n = max(100, count // 10) if quick else count
        figures.update(collect(module, measurement, {"n": n}, _KEYS[measurement], timeout))
    return figures


def run(quick: bool = False) -> dict[str, dict[str, Result | str]]:
    """Every peer's figures, by peer name then figure key."""
    return {peer: run_peer(peer, quick=quick, timeout=30.0 if quick else 60.0)
            for peer in MODULES}


if __name__ == "__main__":
    for peer, figures in run().items():
        for key, value in figures.items():
            shown = f"{value.value:14,.0f}  n={value.n:,}" if isinstance(value, Result) else value
            print(f"{peer:9} {key:11} {shown}")
