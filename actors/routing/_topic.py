"""AMQP topic matching: which bindings a routing key reaches, by RabbitMQ's rules.

Use :class:`TopicTrie` wherever bindings with ``*`` / ``#`` wildcards meet routing keys:
the topic exchange keeps one per exchange. It is pure data (no actors, no I/O). For an
exact-key lookup (a direct exchange) a plain ``dict`` is faster; use that instead.

The rules, as in RabbitMQ's topic exchange:

* A routing key and a binding pattern are lists of words split on ``.``. The empty string
  is zero words; every other string has one word more than it has dots, so ``"a..b"`` is
  ``["a", "", "b"]`` and ``"a."`` is ``["a", ""]``. Empty words are ordinary words.
* In a pattern, a word that is exactly ``*`` matches exactly one word, and a word that is
  exactly ``#`` matches zero or more words. ``a*`` or ``#b`` are plain words. In a routing
  key, ``*`` and ``#`` are plain words (a pattern's ``*`` or ``#`` still matches them).
* So ``#`` matches every key including ``""``; ``*`` never matches ``""``; ``a.#`` matches
  ``a``; ``#.*`` matches any key of one or more words.

How it matches: a shape index (`actors.routing._topic_shapes`) answers most keys with
one dict lookup per pattern *shape* that fits the key's length; a trie walk
(`actors.routing._topic_walk`) answers the rest. Both are checked against a plain
recursive matcher by hypothesis (tests/actors/test_topic_trie.py).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import Generic, TypeVar

from actors.routing._topic_shapes import ShapeIndex
from actors.routing._topic_walk import WordTrie

__all__ = ["TopicTrie", "split_words"]

T = TypeVar("T", bound=Hashable)

_DEFAULT_CACHE_SIZE = 1024


def split_words(key: str) -> list[str]:
    """Split a routing key or binding pattern into words, as RabbitMQ does.

    ``""`` is zero words (not one empty word); otherwise split on every ``.``.
    """
    return key.split(".") if key else []


class TopicTrie(Generic[T]):
    """Bindings of ``(pattern, value)`` that answer "which values does this key reach?".

    Guarantees:

    * :meth:`match` returns each bound value at most once, however many of its patterns
      match; the result is exactly what RabbitMQ's topic exchange would route to.
    * Matching costs do not grow with the number of bindings: a key costs one dict
      lookup per pattern shape that fits its length (``a.*.c`` and ``x.*.z`` are one
      shape), or, where many shapes fit or a pattern has two ``#`` apart, a walk of
      the trie as a set of states, which grows with the words of the key (times the
      wildcard paths alive at once) and keeps ``#.#.#`` patterns linear.
    * Repeated keys are answered from a bounded cache (``cache_size`` keys, 0 turns it
      off; when full it starts over). :meth:`add` and :meth:`remove` clear it, and every
      memo behind it, whenever they change anything: a match never sees stale bindings.
    * Bindings are a set: adding the same ``(pattern, value)`` twice binds it once.

    Not thread-safe: call it from one thread (the exchange that owns it).

    >>> trie: TopicTrie[str] = TopicTrie()
    >>> trie.add("orders.*.paid", "billing")
    >>> trie.add("orders.#", "audit")
    >>> sorted(trie.match("orders.eu.paid"))
    ['audit', 'billing']
    >>> sorted(trie.match("orders"))
    ['audit']
    """

    __slots__ = ("_all", "_bound", "_by_value", "_cache", "_cache_size", "_count", "_index",
                 "_rest")

    def __init__(self, *, cache_size: int = _DEFAULT_CACHE_SIZE) -> None:
        if cache_size < 0:
            raise ValueError(f"cache_size must be 0 or more; got {cache_size!r}")
        # pattern -> its values, in first-bound order: the bindings as a set
        self._bound: dict[str, set[T]] = {}
        # value -> its patterns, so that remove_value costs its own bindings, not a pass
        # over every pattern (an exchange calls it each time a bound actor stops)
        self._by_value: dict[T, set[str]] = {}
        self._count = 0
        self._cache: dict[str, frozenset[T]] = {}
        self._cache_size = cache_size
        self._index: ShapeIndex[T] = ShapeIndex()
        self._rest: WordTrie[T] = WordTrie()  # what the index cannot hold
        # Every binding, for key lengths the index declines: built the first time one
        # is (most binding sets never need it, and it doubles what they take).
        self._all: WordTrie[T] | None = None

    def __len__(self) -> int:
        """The number of distinct ``(pattern, value)`` bindings."""
        return self._count

    def __repr__(self) -> str:
        return f"<TopicTrie {self._count} bindings, {len(self._bound)} patterns>"

    def patterns(self) -> list[str]:
        """The distinct patterns that have at least one value, in first-bound order."""
        return list(self._bound)

    def bindings(self) -> Iterator[tuple[str, T]]:
        """Every ``(pattern, value)`` binding, patterns in first-bound order."""
        for pattern, values in list(self._bound.items()):
            for value in list(values):
                yield pattern, value

    def add(self, pattern: str, value: T) -> None:
        """Bind ``value`` to ``pattern``; binding the same pair again changes nothing."""
        values = self._bound.get(pattern)
        if values is None:
            if not isinstance(pattern, str):
                raise TypeError(f"a topic pattern must be a str; got {pattern!r}")
            values = self._bound[pattern] = set()
        elif value in values:
            return
        values.add(value)
        self._by_value.setdefault(value, set()).add(pattern)
        self._count += 1
        self._cache.clear()
        words = split_words(pattern)
        if self._all is not None:
            self._all.add(words, value)
        if not self._index.add(pattern, words, value):
            self._rest.add(words, value)

    def remove(self, pattern: str, value: T) -> bool:
        """Unbind ``value`` from ``pattern``; return whether that binding existed.

        What is left without bindings is dropped, so a trie that churns does not keep
        growing or slow down its matches.
        """
        values = self._bound.get(pattern)
        if values is None or value not in values:
            return False
        values.discard(value)
        if not values:
            del self._bound[pattern]
        patterns = self._by_value[value]
        patterns.discard(pattern)
        if not patterns:
            del self._by_value[value]
        self._count -= 1
        self._cache.clear()
        words = split_words(pattern)
        if self._all is not None:
            self._all.remove(words, value)
        if not self._index.remove(pattern, words, value):
            self._rest.remove(words, value)
        return True

    def remove_value(self, value: T) -> int:
        """Unbind ``value`` from every pattern (for example when its actor stops).

        Returns how many bindings were removed. Costs as much as removing each of the
        value's bindings with :meth:`remove`, whatever the number of other bindings.
        """
        patterns = list(self._by_value.get(value, ()))
        for pattern in patterns:
            self.remove(pattern, value)
        return len(patterns)

    def match(self, key: str) -> frozenset[T]:
        """The values bound to any pattern that matches routing key ``key``.

        Each value appears once. The result is immutable because it may be shared with
        the cache; copy it with ``set(...)`` to change it.
        """
        cache = self._cache
        hit = cache.get(key)
        if hit is not None:
            return hit
        words = key.split(".") if key else []  # split_words, inlined
        result = self._index.match(key, words)
        if result is None:  # too many shapes fit this length: the walk is cheaper
            result = self._walk_all(words)
        elif self._rest.patterns:
            rest = self._rest.walk(words)
            if rest:
                result = result | rest
        if self._cache_size:
            # A dict that starts over when full, not an LRU: a miss (every publish of
            # distinct keys) then costs one insert, not an insert and a reordering.
            if len(cache) >= self._cache_size:
                cache.clear()
            cache[key] = result
        return result

    def _walk_all(self, words: list[str]) -> frozenset[T]:
        every = self._all
        if every is None:
            every = self._all = WordTrie()
            for pattern, value in self.bindings():
                every.add(split_words(pattern), value)
        return every.walk(words)
