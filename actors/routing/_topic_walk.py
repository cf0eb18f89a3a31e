"""The topic trie walk: AMQP patterns as a trie of words, matched as a set of live nodes.

`WordTrie` is the general matcher behind `TopicTrie`: it answers any set of patterns,
however their wildcards mix, at a cost that grows with the words of a key times the
wildcard paths alive at once, never with the number of bindings. `TopicTrie` puts a
faster index in front of it for the common shapes (`actors.routing._topic_shapes`)
and keeps this for the rest; use `TopicTrie`, not this, from other code.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable
from typing import Generic, Never, TypeVar

__all__ = ("NOTHING", "WordTrie")

T = TypeVar("T", bound=Hashable)

# Transitions (prefix, word) -> prefix the prefix memo stores, at most: this many, or
# one per pattern when there are more. Each costs a dict entry and at most one new
# prefix, about 600 bytes in all: no more than the trie's nodes take themselves.
MIN_REMEMBERED = 4096
# frozenset is covariant, so one empty frozenset[Never] serves as every frozenset[T].
NOTHING: frozenset[Never] = frozenset()


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


class _Prefix(Generic[T]):
    """A key prefix's live trie nodes and, by next word, the prefixes it leads to."""

    __slots__ = ("next", "nodes")

    def __init__(self, nodes: Collection[_Node[T]]) -> None:
        self.nodes = nodes
        self.next: dict[str, _Prefix[T]] = {}


class WordTrie(Generic[T]):
    """Patterns (as lists of words) with their values; `walk` finds what a key reaches.

    Keys that share a prefix walk it once: a bounded memo remembers the live nodes
    after each prefix, and any change of bindings drops it. The caller keeps the
    bindings as a set: `add` and `remove` here are told only of real changes.
    """

    __slots__ = ("_prefixes", "_remembered", "_start", "patterns", "root")

    def __init__(self) -> None:
        self.root: _Node[T] = _Node(is_hash=False)
        # Distinct patterns with at least one value: a plain attribute, which a caller
        # tests on every match (`__bool__` would cost a Python call there).
        self.patterns = 0
        # The prefix memo (see `walk`): the empty prefix, and every prefix by its nodes.
        self._start: _Prefix[T] | None = None
        self._prefixes: dict[frozenset[_Node[T]], _Prefix[T]] = {}
        self._remembered = 0  # transitions stored in the memo

    def __bool__(self) -> bool:
        return self.patterns > 0

    @property
    def remembered(self) -> int:
        """Transitions the prefix memo holds (bounded; for tests)."""
        return self._remembered

    def add(self, words: list[str], value: T) -> None:
        """Bind `value` to the pattern `words` (the caller knows it was not bound)."""
        node = self.root
        for word in words:
            node = _child(node, word)
        if not node.values:
            self.patterns += 1
        node.values.add(value)
        node.frozen = None
        self._forget_prefixes()

    def remove(self, words: list[str], value: T) -> None:
        """Unbind `value` from `words` (the caller knows it was bound); prune empty nodes."""
        path: list[tuple[_Node[T], str]] = []
        node = self.root
        for word in words:
            path.append((node, word))
            node = _existing_child(node, word)
        node.values.discard(value)
        node.frozen = None
        self._forget_prefixes()
        if node.values:
            return
        self.patterns -= 1
        for parent, word in reversed(path):  # cut empty nodes from the bottom up
            if not node.is_empty():
                return
            _drop_child(parent, word)
            node = parent

    def walk(self, words: list[str]) -> frozenset[T]:
        """The values of every pattern that matches the key split into `words`."""
        # Words but the last follow the prefix memo: each `_Prefix` is a set of live
        # trie nodes and remembers where each next word leads, so keys that share a
        # prefix ("order.eu.paid", "order.eu.failed") walk it once. The last word is
        # stepped fresh and not remembered: distinct keys would make the memo grow
        # with every key instead of with the prefixes.
        prefix = self._start
        if prefix is None:
            prefix = self._start = _Prefix(frozenset(_advance((self.root,), None)))
        last = len(words) - 1
        for index, word in enumerate(words):
            if index == last:
                return _last_step(prefix.nodes, word)
            nxt = prefix.next.get(word)
            if nxt is None:
                nxt = self._remember(prefix, word)
            prefix = nxt
            if not prefix.nodes:
                return NOTHING
        return _values(prefix.nodes)  # the empty key: the root and its `#` chain

    def _remember(self, prefix: _Prefix[T], word: str) -> _Prefix[T]:
        advanced = _advance(prefix.nodes, word)
        if self._remembered >= max(MIN_REMEMBERED, self.patterns):
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
        # Every memo describes the old bindings: drop them all.
        if self._start is not None:
            self._start = None
            self._prefixes = {}
            self._remembered = 0


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
        return NOTHING
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
