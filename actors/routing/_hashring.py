"""Consistent hashing: map keys to members so that a change of members moves few keys.

Use :class:`HashRing` when the same key should keep reaching the same member (a
``consistent_hash`` pool sends all messages about one cart to one worker) and members
come and go. When any member will do, round-robin is cheaper and spreads load evenly.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Hashable, Iterable, Iterator
from typing import Generic, TypeVar
from zlib import crc32

__all__ = ["BUCKET_BITS", "HashRing", "key_bytes", "key_position"]

T = TypeVar("T", bound=Hashable)

DEFAULT_VNODES = 100
# `HashRing.buckets` cuts the ring into 2**BUCKET_BITS equal arcs: 16 KB of table, and
# with 100 points per member about 0.6% of the arcs per member hold a point (and so
# need the binary search).
BUCKET_BITS = 14


def key_bytes(key: object) -> bytes:
    """The bytes a key (or member) hashes as: the same in every process and run.

    ``str`` is its UTF-8, ``bytes`` itself, ``int`` its decimal text (so ``42`` and
    ``"42"`` land together); anything else its ``repr``, which must therefore be
    stable across processes (an ``ActorRef``'s is its address). ``bool`` goes by
    ``repr`` too, so ``True`` and ``1`` are different keys.
    """
    if isinstance(key, str):
        return key.encode("utf-8")
    if isinstance(key, bytes):
        return key
    if isinstance(key, int) and not isinstance(key, bool):
        return str(key).encode("ascii")
    return repr(key).encode("utf-8")


def key_position(key: object) -> int:
    """Where `key` sits on the ring (0 to 2**32 - 1): the CRC-32 of its `key_bytes`.

    Not ``hash()``: str hashes are salted per process, and the ring must map a key to
    the same member on every node and after every restart. CRC-32, not a cryptographic
    hash, because this runs for every message a pool routes by key; it spreads keys
    evenly, and members' points (made once) come from blake2b, so that no structure
    in CRC-32 lines keys up with members.
    """
    kind = type(key)  # the common kinds without key_bytes' isinstance tests
    if kind is str:
        return crc32(key.encode("utf-8"))  # type: ignore[attr-defined]
    if kind is bytes:
        return crc32(key)  # type: ignore[arg-type]
    return crc32(key_bytes(key))


def _point(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=4).digest(), "big")


class HashRing(Generic[T]):
    """Members placed at ``vnodes`` pseudo-random points each on a 64-bit ring.

    A key belongs to the member owning the first point at or after the key's position
    (`key_position`), wrapping around. A lookup costs a CRC-32 and a binary search
    over the points, whatever the number of distinct keys. Guarantees:

    * Deterministic: the mapping depends only on the set of members (by their
      :func:`key_bytes`) and ``vnodes``, not on the order they were added, the process
      or the run.
    * Stable: while the members do not change, a key always maps to the same member.
    * Minimal movement: adding a member to ``n`` moves only keys that now belong to the
      new member (about ``1/(n+1)`` of them); removing one moves only its own keys.

    >>> ring: HashRing[str] = HashRing(["a", "b", "c"])
    >>> ring.lookup("cart-17") == ring.lookup("cart-17")
    True
    """

    __slots__ = ("_by_identity", "_members", "_owners", "_points", "_vnodes")

    def __init__(self, members: Iterable[T] = (), *, vnodes: int = DEFAULT_VNODES) -> None:
        if not isinstance(vnodes, int) or vnodes < 1:
            raise ValueError(f"vnodes must be a positive int; got {vnodes!r}")
        self._vnodes = vnodes
        self._members: dict[T, bytes] = {}  # member -> the bytes its points derive from
        self._by_identity: dict[bytes, T] = {}
        self._points: list[int] = []  # sorted; _owners[i] owns _points[i]
        self._owners: list[T] = []
        for member in members:
            self._enter(member)
        self._rebuild()

    def __len__(self) -> int:
        """The number of members."""
        return len(self._members)

    def __contains__(self, member: object) -> bool:
        return member in self._members

    def __iter__(self) -> Iterator[T]:
        """The members, in the order they were added."""
        return iter(list(self._members))

    def __repr__(self) -> str:
        return f"<HashRing {len(self._members)} members x {self._vnodes} points>"

    def add(self, member: T) -> None:
        """Put ``member`` on the ring; adding a member already there changes nothing."""
        if member in self._members:
            return
        self._enter(member)
        self._rebuild()

    def remove(self, member: T) -> None:
        """Take ``member`` off the ring; raises KeyError if it is not a member."""
        if member not in self._members:
            raise KeyError(f"{member!r} is not a member of this hash ring")
        del self._by_identity[self._members.pop(member)]
        self._rebuild()

    def lookup(self, key: object) -> T:
        """The member ``key`` maps to; raises LookupError when the ring is empty."""
        points = self._points
        if not points:
            raise LookupError(f"cannot map key {key!r}: the hash ring has no members; add one")
        index = bisect_left(points, key_position(key))
        return self._owners[index if index < len(points) else 0]

    def table(self) -> tuple[list[int], list[T]]:
        """The sorted points and their owners, for a caller that maps many keys itself:
        ``owners[bisect_left(points, key_position(key))]`` is `lookup(key)`. `owners`
        has one entry more than `points` (the first owner again, for keys past the
        last point). Both are rebuilt, not changed, when members change; raises
        LookupError when the ring is empty."""
        if not self._points:
            raise LookupError("the hash ring has no members; add one")
        return self._points, [*self._owners, self._owners[0]]

    def buckets(self, bits: int = BUCKET_BITS) -> tuple[bytes, tuple[T | None, ...]]:
        """A table that maps most keys without a binary search, for a caller that maps
        many keys itself while the members stay the same.

        ``table[key_position(key) >> (32 - bits)]`` indexes `owners`: the ring cut
        into ``2**bits`` equal arcs, each arc's byte naming the member owning all of
        it, or, for an arc that holds a point (two owners), the last entry of
        `owners`, None, where `lookup`'s binary search decides. At most 255 members
        (one byte each); raises ValueError beyond, LookupError when the ring is empty.
        """
        if not self._points:
            raise LookupError("the hash ring has no members; add one")
        members = list(self._members)
        if len(members) > 255:
            raise ValueError(f"buckets() names members in one byte: at most 255, got "
                             f"{len(members)}; use lookup() or table()")
        index_of = {member: i for i, member in enumerate(members)}
        points, owners = self.table()
        mixed = len(members)
        shift = 32 - bits
        table = bytearray(1 << bits)
        start = 0  # bisect_left(points, the arc's first position), kept as arcs advance
        count = len(points)
        for arc in range(1 << bits):
            first, last = arc << shift, ((arc + 1) << shift) - 1
            while start < count and points[start] < first:
                start += 1
            # Every position of the arc bisects to `start` unless a point lies inside
            # it, short of its last position.
            inside = start < count and points[start] < last
            table[arc] = mixed if inside else index_of[owners[start]]
        return bytes(table), (*members, None)

    def _enter(self, member: T) -> None:
        if member in self._members:
            return
        identity = key_bytes(member)
        other = self._by_identity.get(identity)
        if other is not None:
            # Two members on the same points would make ownership depend on luck.
            raise ValueError(
                f"hash ring members {other!r} and {member!r} hash as the same bytes; "
                "give members distinct str/repr forms"
            )
        self._members[member] = identity
        self._by_identity[identity] = member

    def _rebuild(self) -> None:
        # Rebuilt whole on every change: membership changes are rare next to lookups.
        # Sorting (point, identity, index) breaks ties between equal points the same
        # way whatever the insertion order, without comparing members themselves.
        placed = sorted(
            (_point(identity + b"#" + str(i).encode("ascii")), identity, i)
            for identity in self._by_identity
            for i in range(self._vnodes)
        )
        self._points = [point for point, _, _ in placed]
        self._owners = [self._by_identity[identity] for _, identity, _ in placed]
