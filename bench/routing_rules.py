"""Topic-matching throughput of `TopicTrie` with 10 and with 10,000 bindings.

A match costs one step per word of the key for every wildcard path still alive, so
what slows it down is the variety of wildcard prefixes in the bindings, not their
number. Three workloads show that:

- typical: keys are ``service.region.event``; each binding is one such key with one
  word turned into ``*`` (25%), its tail into ``#`` (10%), or ``#.event`` (5%); the
  vocabularies grow with the bindings, so a key reaches a few values;
- spread: patterns of 1-5 words, each word 70% plain, 18% ``*``, 12% ``#``, at least
  one plain word; keys of 3-5 words; a vocabulary of max(40, bindings / 4) words.
  With 10,000 bindings nearly every mix of ``*`` and ``#`` is some pattern's prefix,
  so about 16 paths stay alive per word instead of 2;
- crowded: as spread, but a fixed 40-word vocabulary and pure-wildcard patterns, so
  with 10,000 bindings a key reaches hundreds of values and building the answer
  dominates.

Each is timed three ways, as matches per second:

- cold: every key is distinct, so each match misses the LRU cache and walks the trie
  (and pays for filling and evicting the cache, as a real miss does);
- warm: 100 keys repeated, so matches come from the cache;
- baseline (same run): the naive way, one compiled regex per binding tried in turn.

Run alone with ``python -m bench.routing_rules`` (``--quick`` for a smoke run); a full run
stays under the 45 s that ``python -m bench`` gives each extra module.
"""

from __future__ import annotations

import random
import re
import sys
import time

from actors.routing._topic import TopicTrie
from bench._harness import REPEATS, Result, best_rate

__all__ = ("run",)

COLD_KEYS = 50_000
WARM_MATCHES = 200_000
BASELINE_WORK = 100_000  # keys x bindings tried by the regex baseline
WORKLOADS = ("typical", "spread", "crowded")


class _Workload:
    def __init__(self, name: str, n_bindings: int) -> None:
        self.name = name
        self.rng = random.Random(f"{name}-{n_bindings}")
        sizes: tuple[int, ...]
        if name == "typical":
            sizes = (max(4, n_bindings // 250), 8, max(10, n_bindings // 50))
        else:
            sizes = (40 if name == "crowded" else max(40, n_bindings // 4),) * 5
        self.vocabularies = [[f"w{i}" for i in range(size)] for size in sizes]
        # Keys also use words no binding names (at least 100 per position), as real
        # keys do, and so that 200,000 distinct keys exist however few the bindings.
        self.key_vocabularies = [[f"w{i}" for i in range(max(size, 100))] for size in sizes]
        make = self._typical if name == "typical" else self._random
        self.patterns = [make() for _ in range(n_bindings)]

    def _word(self, position: int) -> str:
        return self.rng.choice(self.vocabularies[position])

    def _typical(self) -> str:
        words = [self._word(i) for i in range(3)]
        roll = self.rng.random()
        if roll < 0.25:
            words[self.rng.randrange(3)] = "*"
        elif roll < 0.35:
            words[self.rng.randrange(1, 3):] = ["#"]
        elif roll < 0.40:
            words = ["#", words[2]]
        return ".".join(words)

    def _random(self) -> str:
        while True:
            words = []
            for i in range(self.rng.randint(1, 5)):
                roll = self.rng.random()
                words.append("*" if roll < 0.18 else "#" if roll < 0.30 else self._word(i))
            if self.name == "crowded" or any(w not in ("*", "#") for w in words):
                return ".".join(words)

    def keys(self, n: int) -> list[str]:
        keys: set[str] = set()
        while len(keys) < n:
            size = 3 if self.name == "typical" else self.rng.randint(3, 5)
            keys.add(".".join(self.rng.choice(self.key_vocabularies[i]) for i in range(size)))
        return list(keys)

    def trie(self) -> TopicTrie[int]:
        trie: TopicTrie[int] = TopicTrie()
        for value, pattern in enumerate(self.patterns):
            trie.add(pattern, value)
        return trie


def _regex(pattern: str) -> re.Pattern[str]:
    # AMQP semantics as a regex over the key with a dot put before every word, so that
    # each word is `\.[^.]*` and `#` is any run of those (the empty key has no words).
    words = pattern.split(".") if pattern else []
    return re.compile("".join(
        r"(?:\.[^.]*)*" if w == "#" else r"\.[^.]*" if w == "*" else r"\." + re.escape(w)
        for w in words
    ))


def _time_matches(trie: TopicTrie[int], keys: list[str], rounds: int) -> float:
    match = trie.match
    start = time.perf_counter()
    for _ in range(rounds):
        for key in keys:
            match(key)
    return time.perf_counter() - start


def _cold(work: _Workload, n_keys: int) -> Result:
    trie = work.trie()
    keys = work.keys(n_keys)
    fanout = sum(len(trie.match(k)) for k in keys[:2000]) / 2000

    def once() -> float:
        trie.add("cache.buster", -1)  # a change clears the cache: every key will miss
        trie.remove("cache.buster", -1)
        return _time_matches(trie, keys, 1)

    result = best_rate(n_keys, once)
    result.note = f"distinct keys, {fanout:.1f} values per key"
    return result


def _warm(work: _Workload, n_matches: int) -> Result:
    trie = work.trie()
    keys = work.keys(100)
    _time_matches(trie, keys, 1)  # fill the cache
    result = best_rate(n_matches, lambda: _time_matches(trie, keys, n_matches // 100))
    result.note = "100 keys repeated (cache hits)"
    return result


def _baseline(work: _Workload, work_units: int) -> Result:
    compiled = [(_regex(p), v) for v, p in enumerate(work.patterns)]
    keys = work.keys(max(work_units // len(compiled), 20))

    def once() -> float:
        start = time.perf_counter()
        for key in keys:
            dotted = "." + key if key else ""
            {v for rx, v in compiled if rx.fullmatch(dotted)}
        return time.perf_counter() - start

    result = best_rate(len(keys), once)
    result.note = "baseline: one regex per binding"
    return result


def run(quick: bool = False) -> dict[str, Result]:
    """Measure cold, warm and baseline match rates (matches/s) for 10 and 10k bindings."""
    scale = 10 if quick else 1
    results: dict[str, Result] = {}
    for name in WORKLOADS:
        for n in (10, 10_000):
            work = _Workload(name, n)
            results[f"{name}_cold_{n}"] = _cold(work, COLD_KEYS // scale)
            results[f"{name}_warm_{n}"] = _warm(work, WARM_MATCHES // scale)
            results[f"{name}_regex_{n}"] = _baseline(work, BASELINE_WORK // scale)
    return results


def main(argv: list[str]) -> None:
    results = run(quick="--quick" in argv)
    for key, result in results.items():
        print(f"{key:20} {result.value:12,.0f} matches/s  n={result.n:<7,} {result.note}")
    for name in WORKLOADS:
        ratio = results[f"{name}_cold_10"].value / results[f"{name}_cold_10000"].value
        print(f"{name}: cold matching is {ratio:.2f}x slower with 10,000 bindings than with 10")
    print(f"each rate is the best of {REPEATS} runs")


if __name__ == "__main__":
    main(sys.argv[1:])
