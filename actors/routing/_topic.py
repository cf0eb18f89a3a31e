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
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterator
from typing import Generic, Never, TypeVar

__all__ = ["TopicTrie", "split_words"]

T = TypeVar("T", bound=Hashable)

_DEFAULT_CACHE_SIZE = 1024
# frozenset is covariant, so one empty frozenset[Never] serves as every frozenset[T].
_NOTHING: frozenset[Never] = frozenset()


def split_words(key: str) -> list[str]:
    """Split a routing key or binding pattern into words, as RabbitMQ does.

    ``""`` is zero words (not one empty word); otherwise split on every ``.``.
    """
    return key.split(".") if key else []


class _Node(Generic[T]):
    """One trie node: the pattern prefix spelled by the edges from the root to here."""

    # Literal words live in `children`; `*` and `#` edges get their own slots so the
    # matcher reaches them without a dict lookup and a key word "*" or "#" cannot be
    # mistaken for a wildcard edge.
    __slots__ = ("children", "hash_child", "is_hash", "star_child", "values")

    def __init__(self, is_hash: bool) -> None:
        self.children: dict[str, _Node[T]] = {}
        self.star_child: _Node[T] | None = None
        self.hash_child: _Node[T] | None = None
        self.is_hash = is_hash  # reached by a `#` edge: may absorb further words
        self.values: set[T] = set()

    def is_empty(self) -> bool:
        return not (self.values or self.children or self.star_child or self.hash_child)


class TopicTrie(Generic[T]):
    """Bindings of ``(pattern, value)`` that answer "which values does this key reach?".

    Guarantees:

    * :meth:`match` returns each bound value at most once, however many of its patterns
      match; the result is exactly what RabbitMQ's topic exchange would route to.
    * Matching costs grow with the number of words in the key (times the number of
      wildcard paths alive at once), not with the number of bindings: it walks the trie
      as a set of states, so ``#.#.#`` patterns stay linear instead of exponential.
    * Repeated keys are answered from a bounded LRU cache (``cache_size`` keys, 0 turns
      it off) that :meth:`add` and :meth:`remove` clear whenever they change anything,
      so a match never sees stale bindings.
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

    __slots__ = ("_cache", "_cache_size", "_count", "_patterns", "_root")

    def __init__(self, *, cache_size: int = _DEFAULT_CACHE_SIZE) -> None:
        if cache_size < 0:
            raise ValueError(f"cache_size must be 0 or more; got {cache_size!r}")
        self._root: _Node[T] = _Node(is_hash=False)
        # pattern -> its node, in first-bound order; gives patterns() and a fast add path
        self._patterns: dict[str, _Node[T]] = {}
        self._count = 0
        self._cache: OrderedDict[str, frozenset[T]] = OrderedDict()
        self._cache_size = cache_size

    def __len__(self) -> int:
        """The number of distinct ``(pattern, value)`` bindings."""
        return self._count

    def __repr__(self) -> str:
        return f"<TopicTrie {self._count} bindings, {len(self._patterns)} patterns>"

    def patterns(self) -> list[str]:
        """The distinct patterns that have at least one value, in first-bound order."""
        return list(self._patterns)

    def bindings(self) -> Iterator[tuple[str, T]]:
        """Every ``(pattern, value)`` binding, patterns in first-bound order."""
        for pattern, node in list(self._patterns.items()):
            for value in list(node.values):
                yield pattern, value

    def add(self, pattern: str, value: T) -> None:
        """Bind ``value`` to ``pattern``; binding the same pair again changes nothing."""
        node = self._patterns.get(pattern)
        if node is None:
            if not isinstance(pattern, str):
                raise TypeError(f"a topic pattern must be a str; got {pattern!r}")
            node = self._root
            for word in split_words(pattern):
                node = _child(node, word)
            self._patterns[pattern] = node
        if value not in node.values:
            node.values.add(value)
            self._count += 1
            self._cache.clear()

    def remove(self, pattern: str, value: T) -> bool:
        """Unbind ``value`` from ``pattern``; return whether that binding existed.

        Nodes left without bindings or children are pruned, so a trie that churns
        does not keep growing or slow down its matches.
        """
        node = self._patterns.get(pattern)
        if node is None or value not in node.values:
            return False
        node.values.discard(value)
        self._count -= 1
        self._cache.clear()
        if not node.values:
            del self._patterns[pattern]
            self._prune(split_words(pattern))
        return True

    def remove_value(self, value: T) -> int:
        """Unbind ``value`` from every pattern (for example when its actor stops).

        Returns how many bindings were removed. Costs one pass over the patterns.
        """
        patterns = [p for p, node in self._patterns.items() if value in node.values]
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
            cache.move_to_end(key)
            return hit
        result = self._walk(split_words(key))
        if self._cache_size:
            cache[key] = result
            if len(cache) > self._cache_size:
                cache.popitem(last=False)
        return result

    def _walk(self, words: list[str]) -> frozenset[T]:
        # A set of live states (trie nodes) advanced one word at a time, like an NFA.
        # The set is the memo of (node, position) visits: a node reached by several
        # wildcard paths is expanded once per word, which keeps `#.#.#` linear.
        # Entering a node also enters its chain of `#` children (a `#` may match zero
        # words); a `#` node stays live on every word it absorbs. The three entries
        # below are unrolled by hand: this is the hot path, and a loop over a tuple
        # of candidates cost a third of the walk.
        states: set[_Node[T]] = set()
        nxt: _Node[T] | None = self._root
        while nxt is not None and nxt not in states:
            states.add(nxt)
            nxt = nxt.hash_child
        for word in words:
            advanced: set[_Node[T]] = set()
            add = advanced.add
            for state in states:
                if state.is_hash:
                    nxt = state
                    while nxt is not None and nxt not in advanced:
                        add(nxt)
                        nxt = nxt.hash_child
                nxt = state.children.get(word)
                while nxt is not None and nxt not in advanced:
                    add(nxt)
                    nxt = nxt.hash_child
                nxt = state.star_child
                while nxt is not None and nxt not in advanced:
                    add(nxt)
                    nxt = nxt.hash_child
            if not advanced:
                return _NOTHING
            states = advanced
        found: set[T] = set()
        for state in states:
            if state.values:
                found.update(state.values)
        return frozenset(found)

    def _prune(self, words: list[str]) -> None:
        # Walk down recording the path, then cut empty nodes from the bottom up.
        path: list[tuple[_Node[T], str]] = []
        node = self._root
        for word in words:
            path.append((node, word))
            node = _existing_child(node, word)
        for parent, word in reversed(path):
            if not node.is_empty():
                return
            _drop_child(parent, word)
            node = parent


def _child(node: _Node[T], word: str) -> _Node[T]:
    """The child of ``node`` along ``word``, created if missing."""
    if word == "*":
        if node.star_child is None:
            node.star_child = _Node(is_hash=False)
        return node.star_child
    if word == "#":
        if node.hash_child is None:
            node.hash_child = _Node(is_hash=True)
        return node.hash_child
    child = node.children.get(word)
    if child is None:
        child = node.children[word] = _Node(is_hash=False)
    return child


def _existing_child(node: _Node[T], word: str) -> _Node[T]:
    if word == "*":
        child = node.star_child
    elif word == "#":
        child = node.hash_child
    else:
        child = node.children.get(word)
    # Only called for a pattern that was bound, so the path must exist.
    assert child is not None, f"trie path for word {word!r} is missing"
    return child


def _drop_child(node: _Node[T], word: str) -> None:
    if word == "*":
        node.star_child = None
    elif word == "#":
        node.hash_child = None
    else:
        del node.children[word]
