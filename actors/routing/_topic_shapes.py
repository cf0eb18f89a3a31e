"""The shape index: topic patterns grouped by where their wildcards stand.

Patterns such as ``orders.*.paid`` and ``audit.*.*`` differ in their words but share
a *shape* (which positions are literal, which are ``*``, and whether a ``#`` stands
between a prefix and a suffix). A key can only match a pattern of a shape that fits
its length, and within one shape it matches exactly the pattern whose literal words
are the key's words at those positions: one dict lookup per shape, whatever the
number of patterns. Plain patterns (no wildcard) are one dict keyed by the pattern.

This answers the patterns real bindings use (any number of ``*``, at most one ``#``
run) at a cost that grows with the number of shapes, not of bindings. `TopicTrie`
keeps the trie walk of `actors.routing._topic_walk` for what it cannot answer: two
``#`` with a literal word between them, and key lengths that more than
`MAX_LOOKUPS` shapes fit (where the walk is cheaper). Use `TopicTrie`, not this.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from operator import itemgetter
from typing import Any, Generic, TypeVar

from actors.routing._topic_walk import NOTHING

__all__ = ("MAX_LOOKUPS", "ShapeIndex")

T = TypeVar("T", bound=Hashable)

# Above this many shapes for one key length, `ShapeIndex.match` declines and the trie
# walk answers instead: measured, one lookup costs about a tenth of the walk over a
# pattern set as mixed as 10,000 bindings of five shapes (bench/routing.py).
MAX_LOOKUPS = 12
_MAX_PLANS = 64  # key lengths whose plan is kept; more start over (rare: lengths vary little)

# (has a `#`, the `*` mask of the words before it, the `*` mask of the words after it)
_ShapeKey = tuple[bool, tuple[bool, ...], tuple[bool, ...]]


class _Entry(Generic[T]):
    """The values of one pattern (or of the patterns one literal key stands for)."""

    __slots__ = ("always", "frozen", "values", "with_always")

    def __init__(self) -> None:
        self.values: set[T] = set()
        self.frozen: frozenset[T] | None = None  # `values`, made on first use
        # `values | always` for the plan whose `always` set is `self.always`: a key
        # that matches one pattern besides the catch-alls builds no set.
        self.always: frozenset[T] | None = None
        self.with_always: frozenset[T] = NOTHING

    def changed(self) -> None:
        self.frozen = None
        self.always = None


class _Shape(Generic[T]):
    """Patterns of one shape: their literal words (as a key) -> their entry."""

    __slots__ = ("entries", "getter", "hashed", "words")

    def __init__(self, hashed: bool, words: int, positions: list[int]) -> None:
        self.hashed = hashed  # a `#` run: fits keys of `words` words or more
        self.words = words  # without one: exactly this many
        # The key's words at the literal positions, in one C call (a word alone, not a
        # 1-tuple, for one position); None when every position is a wildcard.
        self.getter: Callable[[list[str]], Any] | None = (
            itemgetter(*positions) if positions else None)
        self.entries: dict[Any, _Entry[T]] = {}

    def fits(self, length: int) -> bool:
        return length >= self.words if self.hashed else length == self.words


class _Plan(Generic[T]):
    """What to look up for keys of one length, and what every such key reaches."""

    __slots__ = ("always", "lookups")

    def __init__(self, lookups: tuple[tuple[Callable[[list[str]], Any],
                                            dict[Any, _Entry[T]]], ...],
                 always: frozenset[T]) -> None:
        self.lookups = lookups
        self.always = always


_DECLINED: _Plan[Any] = _Plan((), NOTHING)


def shape_of(words: list[str]) -> tuple[_ShapeKey, Any, int, list[int]] | None:
    """A pattern's shape, its literal key, the words it needs and its literal positions
    (from the end, negative, after a `#`); None if two `#` runs have a word between."""
    normal = _normalised(words)
    if normal.count("#") > 1:
        return None
    if "#" in normal:
        cut = normal.index("#")
        before, after = normal[:cut], normal[cut + 1:]
    else:
        before, after = normal, []
    positions = [i for i, w in enumerate(before) if w != "*"]
    positions += [i - len(after) for i, w in enumerate(after) if w != "*"]
    literals = [w for w in before if w != "*"] + [w for w in after if w != "*"]
    key = literals[0] if len(literals) == 1 else tuple(literals)
    shape = ("#" in normal, tuple(w == "*" for w in before), tuple(w == "*" for w in after))
    return shape, key, len(before) + len(after), positions


def _normalised(words: list[str]) -> list[str]:
    """`words` with each run of wildcards holding a `#` as its `*`s then one `#`: the
    run matches "at least as many words as it has `*`" either way (``#.#`` is ``#``,
    ``#.*`` is ``*.#``)."""
    out: list[str] = []
    index = 0
    while index < len(words):
        if words[index] not in ("*", "#"):
            out.append(words[index])
            index += 1
            continue
        end = index
        while end < len(words) and words[end] in ("*", "#"):
            end += 1
        run = words[index:end]
        out += ["*"] * run.count("*") + (["#"] if "#" in run else [])
        index = end
    return out


class ShapeIndex(Generic[T]):
    """Bindings by shape; `match` answers a key with one lookup per fitting shape.

    The caller keeps the bindings as a set: `add` and `remove` are told of real
    changes only, and say whether the pattern is one this index holds.
    """

    __slots__ = ("_exact", "_plans", "_shapes")

    def __init__(self) -> None:
        self._exact: dict[str, _Entry[T]] = {}  # patterns without wildcards, as given
        self._shapes: dict[_ShapeKey, _Shape[T]] = {}
        self._plans: dict[int, _Plan[T]] = {}  # by key length, made on first use

    def is_empty(self) -> bool:
        return not (self._exact or self._shapes)

    def add(self, pattern: str, words: list[str], value: T) -> bool:
        """Bind `value` to `pattern`; False (and nothing bound) if it is not indexable."""
        if "*" not in words and "#" not in words:
            entry = self._exact.get(pattern)
            if entry is None:
                entry = self._exact[pattern] = _Entry()
        else:
            found = shape_of(words)
            if found is None:
                return False
            shape_key, key, length, positions = found
            shape = self._shapes.get(shape_key)
            if shape is None:
                shape = self._shapes[shape_key] = _Shape(shape_key[0], length, positions)
                self._plans.clear()  # plans list the shapes
            entry = shape.entries.get(key)
            if entry is None:
                entry = shape.entries[key] = _Entry()
            if shape.getter is None:
                self._plans.clear()  # plans hold the catch-alls' values
        entry.values.add(value)
        entry.changed()
        return True

    def remove(self, pattern: str, words: list[str], value: T) -> bool:
        """Unbind `value` from `pattern`; False if it is not a pattern this index holds."""
        if "*" not in words and "#" not in words:
            entry = self._exact[pattern]
            entry.values.discard(value)
            entry.changed()
            if not entry.values:
                del self._exact[pattern]
            return True
        found = shape_of(words)
        if found is None:
            return False
        shape_key, key, _, _ = found
        shape = self._shapes[shape_key]
        entry = shape.entries[key]
        entry.values.discard(value)
        entry.changed()
        if shape.getter is None:
            self._plans.clear()
        if not entry.values:
            del shape.entries[key]
            if not shape.entries:
                del self._shapes[shape_key]
                self._plans.clear()
        return True

    def match(self, key: str, words: list[str]) -> frozenset[T] | None:
        """The values `key` (split into `words`) reaches, or None when more than
        `MAX_LOOKUPS` shapes fit its length (ask the trie walk instead)."""
        plan = self._plans.get(len(words))
        if plan is None:
            plan = self._plan(len(words))
        if plan is _DECLINED:
            return None
        single = self._exact.get(key)
        found: set[T] | None = None
        for getter, entries in plan.lookups:  # the hot loop: one C call and a lookup each
            entry = entries.get(getter(words))
            if entry is not None:
                if single is None:
                    single = entry
                elif found is None:
                    found = single.values | entry.values
                else:
                    found |= entry.values
        always = plan.always
        if found is not None:
            return frozenset(found | always if always else found)
        if single is None:
            return always
        if not always:
            frozen = single.frozen
            if frozen is None:
                frozen = single.frozen = frozenset(single.values)
            return frozen
        if single.always is not always:
            single.with_always = always | single.values
            single.always = always
        return single.with_always

    def _plan(self, length: int) -> _Plan[T]:
        lookups = []
        always: set[T] = set()
        for shape in self._shapes.values():
            if not shape.fits(length):
                continue
            if shape.getter is None:  # all wildcards: every key of this length matches
                for entry in shape.entries.values():
                    always |= entry.values
            else:
                lookups.append((shape.getter, shape.entries))
        plan = _Plan(tuple(lookups), frozenset(always)) if len(lookups) <= MAX_LOOKUPS \
            else _DECLINED
        if len(self._plans) >= _MAX_PLANS:
            self._plans.clear()
        self._plans[length] = plan
        return plan
