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
from collections.abc import Collection, Hashable, Iterable, Iterator
from typing import Generic, Never, TypeVar

__all__ = ["TopicTrie", "split_words"]

T = TypeVar("T", bound=Hashable)

_DEFAULT_CACHE_SIZE = 1024
# Transitions (prefix, word) -> prefix the prefix memo stores, at most: this many, or
# one per pattern when there are more. Each costs a dict entry and at most one new
# prefix, about 600 bytes in all: no more than the trie's nodes take themselves.
_MIN_REMEMBERED = 4096
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
    __slots__ = ("children", "frozen", "hash_child", "is_hash", "star_child", "values")

    def __init__(self, is_hash: bool) -> None:
        self.children: dict[str, _Node[T]] = {}
        self.star_child: _Node[T] | None = None
        self.hash_child: _Node[T] | None = None
        self.is_hash = is_hash  # reached by a `#` edge: may absorb further words
        self.values: set[T] = set()
        # `values` as the frozenset a match returns, made on first use and dropped when
        # `values` changes: a match that ends on one node then builds no set.
        self.frozen: frozenset[T] | None = None

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
      it off), and keys that share a prefix walk it once: a bounded memo remembers the
      live nodes after each prefix. :meth:`add` and :meth:`remove` clear both whenever
      they change anything, so a match never sees stale bindings.
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

    __slots__ = ("_by_value", "_cache", "_cache_size", "_count", "_patterns", "_prefixes",
                 "_remembered", "_root", "_start")

    def __init__(self, *, cache_size: int = _DEFAULT_CACHE_SIZE) -> None:
        if cache_size < 0:
            raise ValueError(f"cache_size must be 0 or more; got {cache_size!r}")
        self._root: _Node[T] = _Node(is_hash=False)
        # pattern -> its node, in first-bound order; gives patterns() and a fast add path
        self._patterns: dict[str, _Node[T]] = {}
        # value -> its patterns, so that remove_value costs its own bindings, not a pass
        # over every pattern (an exchange calls it each time a bound actor stops)
        self._by_value: dict[T, set[str]] = {}
        self._count = 0
        self._cache: OrderedDict[str, frozenset[T]] = OrderedDict()
        self._cache_size = cache_size
        # The prefix memo (see `_walk`): the empty prefix, and every prefix by its nodes.
        self._start: _Prefix[T] | None = None
        self._prefixes: dict[frozenset[_Node[T]], _Prefix[T]] = {}
        self._remembered = 0  # transitions stored in the memo

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
            node.frozen = None
            self._by_value.setdefault(value, set()).add(pattern)
            self._count += 1
            self._changed()

    def remove(self, pattern: str, value: T) -> bool:
        """Unbind ``value`` from ``pattern``; return whether that binding existed.

        Nodes left without bindings or children are pruned, so a trie that churns
        does not keep growing or slow down its matches.
        """
        node = self._patterns.get(pattern)
        if node is None or value not in node.values:
            return False
        node.values.discard(value)
        node.frozen = None
        patterns = self._by_value[value]
        patterns.discard(pattern)
        if not patterns:
            del self._by_value[value]
        self._count -= 1
        self._changed()
        if not node.values:
            del self._patterns[pattern]
            self._prune(split_words(pattern))
        return True

    def _changed(self) -> None:
        # Every memo describes the old bindings: drop them all.
        self._cache.clear()
        if self._start is not None:
            self._forget_prefixes()

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
            cache.move_to_end(key)
            return hit
        result = self._walk(key.split(".") if key else [])  # split_words, inlined
        if self._cache_size:
            cache[key] = result
            if len(cache) > self._cache_size:
                cache.popitem(last=False)
        return result

    def _walk(self, words: list[str]) -> frozenset[T]:
        # Words but the last follow the prefix memo: each `_Prefix` is a set of live
        # trie nodes and remembers where each next word leads, so keys that share a
        # prefix ("order.eu.paid", "order.eu.failed") walk it once. The last word is
        # stepped fresh and not remembered: distinct keys would make the memo grow
        # with every key instead of with the prefixes.
        prefix = self._start
        if prefix is None:
            prefix = self._start = _Prefix(frozenset(_advance((self._root,), None)))
        last = len(words) - 1
        for index, word in enumerate(words):
            if index == last:
                return _last_step(prefix.nodes, word)
            nxt = prefix.next.get(word)
            if nxt is None:
                nxt = self._remember(prefix, word)
            prefix = nxt
            if not prefix.nodes:
                return _NOTHING
        return _values(prefix.nodes)  # the empty key: the root and its `#` chain

    def _remember(self, prefix: _Prefix[T], word: str) -> _Prefix[T]:
        advanced = _advance(prefix.nodes, word)
        if self._remembered >= max(_MIN_REMEMBERED, len(self._patterns)):
            # Full: serve this walk without remembering. The memo keeps what it has
            # (still right: bindings did not change) rather than start over, which
            # would thrash when a workload has more prefixes than it holds.
            return _Prefix(advanced)
        nodes = frozenset(advanced)
        nxt = self._prefixes.get(nodes)
        if nxt is None:
            nxt = self._prefixes[nodes] = _Prefix(nodes)
        self._remembered += 1
        prefix.next[word] = nxt
        return nxt

    def _forget_prefixes(self) -> None:
        self._start = None
        self._prefixes = {}
        self._remembered = 0

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


class _Prefix(Generic[T]):
    """A key prefix's live trie nodes and, by next word, the prefixes it leads to."""

    __slots__ = ("next", "nodes")

    def __init__(self, nodes: Collection[_Node[T]]) -> None:
        self.nodes = nodes
        self.next: dict[str, _Prefix[T]] = {}


def _advance(states: Iterable[_Node[T]], word: str | None) -> set[_Node[T]]:
    """The live nodes after `word` (after entering `states` when `word` is None).

    The set is the memo of (node, position) visits: a node reached by several wildcard
    paths is expanded once per word, which keeps `#.#.#` linear. Entering a node also
    enters its chain of `#` children (a `#` may match zero words); a `#` node stays
    live on every word it absorbs. The three entries are unrolled by hand: this is the
    hot path, and a loop over a tuple of candidates cost a third of the walk.
    """
    advanced: set[_Node[T]] = set()
    add = advanced.add
    nxt: _Node[T] | None
    if word is None:
        for nxt in states:
            while nxt is not None and nxt not in advanced:
                add(nxt)
                nxt = nxt.hash_child
        return advanced
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
    return advanced


def _last_step(states: Iterable[_Node[T]], word: str) -> frozenset[T]:
    """The values bound at the nodes `word` leads to from `states`: `_advance` and
    `_values` in one pass, without building the set of nodes (the hot path; measured
    a third faster than the two). A node reached twice adds its values twice to a
    set, which is harmless; a key that ends on one node returns that node's frozen
    values, shared, without building a set."""
    single: _Node[T] | None = None
    found: set[T] | None = None
    for state in states:
        for nxt in (state if state.is_hash else None, state.children.get(word),
                    state.star_child):
            while nxt is not None:
                if nxt.values and nxt is not single:
                    if single is None:
                        single = nxt
                    elif found is None:
                        found = single.values | nxt.values
                    else:
                        found.update(nxt.values)
                nxt = nxt.hash_child
    if found is not None:
        return frozenset(found)
    if single is None:
        return _NOTHING
    frozen = single.frozen
    if frozen is None:
        frozen = single.frozen = frozenset(single.values)
    return frozen


def _values(states: Iterable[_Node[T]]) -> frozenset[T]:
    """The values bound at `states`, each once (for the empty key: not a hot path)."""
    return frozenset(value for state in states for value in state.values)


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
