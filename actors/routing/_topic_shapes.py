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

# Above this many lookups for one key length (shapes that read the same words count
# once), `ShapeIndex.match` declines and the trie walk answers instead. Measured with
# bench/routing_rules.py's workloads: with 10,000 bindings the index still beat the
# walk at 30 lookups (1.1x on "spread", where ~16 wildcard paths stay alive per word;
# 1.8x on "crowded"); with 10 it lost by ~20% at 3 lookups, a few hundred ns.
MAX_LOOKUPS = 32
_MAX_PLANS = 64  # key lengths whose plan is kept; more start over (rare: lengths vary little)

# (has a `#`, the `*` mask of the words before it, the `*` mask of the words after it)
_ShapeKey = tuple[bool, tuple[bool, ...], tuple[bool, ...]]


class _Entry(Generic[T]):
    """The values of one pattern (or of the patterns one literal key stands for)."""

    __slots__ = ("always", "extra", "frozen", "values", "with_always")

    def __init__(self) -> None:
        self.values: set[T] = set()
        # Patterns that are written apart but mean the same (``#`` and ``#.#``, ``*.#``
        # and ``#.*``) share an entry: value -> how many more than one bind it here.
        self.extra: dict[T, int] | None = None
        self.frozen: frozenset[T] | None = None  # `values`, made on first use
        # `values | always` for the plan whose `always` set is `self.always`: a key
        # that matches one pattern besides the catch-alls builds no set.
        self.always: frozenset[T] | None = None
        self.with_always: frozenset[T] = NOTHING

    def changed(self) -> None:
        self.frozen = None
        self.always = None

    def bind(self, value: T) -> None:
        if value in self.values:
            extra = self.extra = self.extra or {}
            extra[value] = extra.get(value, 0) + 1
        else:
            self.values.add(value)
            self.changed()

    def unbind(self, value: T) -> None:
        extra = self.extra
        if extra and value in extra:
            extra[value] -= 1
            if not extra[value]:
                del extra[value]
        else:
            self.values.discard(value)
            self.changed()


class _Shape(Generic[T]):
    """Patterns of one shape: their literal words (as a key) -> their entry."""

    __slots__ = ("entries", "feeds", "getter", "hashed", "positions", "words")

    def __init__(self, hashed: bool, words: int, positions: list[int]) -> None:
        self.hashed = hashed  # a `#` run: fits keys of `words` words or more
        self.words = words  # without one: exactly this many
        self.positions = tuple(positions)  # after a `#`: negative, from the end
        # The key's words at the literal positions, in one C call (a word alone, not a
        # 1-tuple, for one position); None when every position is a wildcard.
        self.getter: Callable[[list[str]], Any] | None = (
            itemgetter(*positions) if positions else None)
        self.entries: dict[Any, _Entry[T]] = {}
        # Plans' merged tables this shape is part of, each with all its parts: for a
        # given key length, ``*.b.c`` and ``#.b.c`` read the same words, so a plan
        # looks them up in one table that holds both (kept up to date from here).
        self.feeds: list[tuple[dict[Any, _Entry[T]], tuple[_Shape[T], ...]]] = []

    def fits(self, length: int) -> bool:
        return length >= self.words if self.hashed else length == self.words


_Lookup = tuple[Callable[[list[str]], Any], dict[Any, "_Entry[T]"]]


class _Plan(Generic[T]):
    """What to look up for keys of one length, and what every such key reaches."""

    __slots__ = ("always", "catchalls", "lookups", "version")

    def __init__(self, lookups: tuple[_Lookup[T], ...], catchalls: tuple[_Entry[T], ...]
                 ) -> None:
        self.lookups = lookups
        # The entries of all-wildcard patterns that fit (``#``, ``*.*``): every key
        # of this length reaches them. Their union is `always`, remade when the
        # index's catch-all version moves on (a bind of ``#`` keeps the plan).
        self.catchalls = catchalls
        self.always: frozenset[T] = NOTHING
        self.version = -1


_DECLINED: _Plan[Any] = _Plan((), ())


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

    __slots__ = ("_catchalls_version", "_exact", "_plans", "_shapes")

    def __init__(self) -> None:
        self._exact: dict[str, _Entry[T]] = {}  # patterns without wildcards, as given
        self._shapes: dict[_ShapeKey, _Shape[T]] = {}
        # By key length, made on first use, dropped when a shape comes or goes.
        self._plans: dict[int, _Plan[T]] = {}
        self._catchalls_version = 0  # moves on whenever a catch-all's values change

    def is_empty(self) -> bool:
        return not (self._exact or self._shapes)

    def add(self, pattern: str, words: list[str], value: T) -> bool:
        """Bind `value` to `pattern`; False (and nothing bound) if it is not indexable."""
        if "*" not in words and "#" not in words:
            entry = self._exact.get(pattern)
            if entry is None:
                entry = self._exact[pattern] = _Entry()
            entry.values.add(value)
            entry.changed()
            return True
        found = shape_of(words)
        if found is None:
            return False
        shape_key, key, length, positions = found
        shape = self._shapes.get(shape_key)
        if shape is None:
            shape = self._shapes[shape_key] = _Shape(shape_key[0], length, positions)
            self._forget_plans()  # plans list the shapes
        entry = shape.entries.get(key)
        if entry is None:
            entry = shape.entries[key] = _Entry()
        entry.bind(value)
        if shape.getter is None:
            self._catchalls_version += 1
        for merged, _ in shape.feeds:
            part = merged.get(key)
            if part is None:
                part = merged[key] = _Entry()
            part.values.add(value)
            part.changed()
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
        entry.unbind(value)
        if shape.getter is None:
            self._catchalls_version += 1
        if not entry.values:
            del shape.entries[key]
        for merged, parts in shape.feeds:
            _merge_key(merged, parts, key)
        if not shape.entries:
            del self._shapes[shape_key]
            self._forget_plans()
        return True

    def match(self, key: str, words: list[str]) -> frozenset[T] | None:
        """The values `key` (split into `words`) reaches, or None when more than
        `MAX_LOOKUPS` shapes fit its length (ask the trie walk instead)."""
        plan = self._plans.get(len(words))
        if plan is None:
            plan = self._plan(len(words))
        if plan is _DECLINED:
            return None
        always = plan.always
        if plan.version != self._catchalls_version:
            always = plan.always = frozenset().union(*(e.values for e in plan.catchalls))
            plan.version = self._catchalls_version
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
        if found is not None:  # a set of this match's own, so it may grow in place
            if always:
                found |= always
            return frozenset(found)
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
        if len(self._plans) >= _MAX_PLANS:
            self._forget_plans()
        # Shapes that read the same words of a key this long share one lookup.
        groups: dict[tuple[int, ...], list[_Shape[T]]] = {}
        catchalls: list[_Entry[T]] = []
        for shape in self._shapes.values():
            if not shape.fits(length):
                continue
            if shape.getter is None:  # all wildcards: every key of this length matches
                catchalls += shape.entries.values()
            else:
                where = tuple(p if p >= 0 else length + p for p in shape.positions)
                groups.setdefault(where, []).append(shape)
        if len(groups) > MAX_LOOKUPS:
            plan: _Plan[T] = _DECLINED
        else:
            plan = _Plan(tuple(_lookup(group) for group in groups.values()), tuple(catchalls))
        self._plans[length] = plan
        return plan

    def _forget_plans(self) -> None:
        self._plans.clear()
        for shape in self._shapes.values():
            shape.feeds.clear()


def _lookup(group: list[_Shape[T]]) -> _Lookup[T]:
    """One lookup for shapes that read the same words: a shape's own table, or a table
    merged from theirs that they keep up to date (see `_Shape.feeds`)."""
    getter = group[0].getter
    assert getter is not None
    if len(group) == 1:
        return getter, group[0].entries
    merged: dict[Any, _Entry[T]] = {}
    parts = tuple(group)
    for shape in parts:
        for key in shape.entries:
            if key not in merged:
                _merge_key(merged, parts, key)
        shape.feeds.append((merged, parts))
    return getter, merged


def _merge_key(merged: dict[Any, _Entry[T]], parts: tuple[_Shape[T], ...], key: Any) -> None:
    """Make `merged[key]` the union of the parts' entries for `key` (none: no entry)."""
    values: set[T] = set()
    for shape in parts:
        entry = shape.entries.get(key)
        if entry is not None:
            values |= entry.values
    if not values:
        merged.pop(key, None)
        return
    part = merged.get(key)
    if part is None:
        part = merged[key] = _Entry()
    part.values = values
    part.changed()
