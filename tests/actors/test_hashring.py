"""HashRing: deterministic, stable, and moving only the keys a membership change must move."""

from __future__ import annotations

import os
import subprocess
import sys
from bisect import bisect_left
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.routing._hashring import HashRing, key_bytes, key_position

KEYS = [f"key-{i}" for i in range(20_000)]


def mapping(ring: HashRing[str], keys: list[str] = KEYS) -> dict[str, str]:
    return {key: ring.lookup(key) for key in keys}


def test_an_empty_ring_says_so() -> None:
    with pytest.raises(LookupError, match="the hash ring has no members"):
        HashRing[str]().lookup("k")


def test_membership_add_remove_len_contains() -> None:
    ring: HashRing[str] = HashRing()
    ring.add("a")
    ring.add("a")  # adding again changes nothing
    ring.add("b")
    assert len(ring) == 2 and "a" in ring and list(ring) == ["a", "b"]
    ring.remove("a")
    assert len(ring) == 1 and "a" not in ring
    assert ring.lookup("anything") == "b"
    with pytest.raises(KeyError, match="'a' is not a member"):
        ring.remove("a")


def test_vnodes_must_be_positive() -> None:
    with pytest.raises(ValueError, match="vnodes must be a positive int; got 0"):
        HashRing(vnodes=0)


def test_members_that_hash_as_the_same_bytes_are_rejected() -> None:
    ring: HashRing[object] = HashRing([42])
    with pytest.raises(ValueError, match="42 and '42' hash as the same bytes"):
        ring.add("42")


def test_key_bytes_rules() -> None:
    assert key_bytes("é") == "é".encode()
    assert key_bytes(b"\x00k") == b"\x00k"
    assert key_bytes(42) == b"42" and key_bytes(-7) == b"-7"
    assert key_bytes(True) == b"True"  # not 1
    assert key_bytes(("a", 1)) == b"('a', 1)"


def test_int_and_its_decimal_text_land_on_the_same_member() -> None:
    ring = HashRing([f"m{i}" for i in range(7)])
    assert all(ring.lookup(i) == ring.lookup(str(i)) for i in range(500))


@settings(max_examples=50, deadline=None)
@given(
    members=st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=8, unique=True),
    data=st.data(),
)
def test_the_mapping_depends_on_the_members_not_their_order(
    members: list[str], data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(members))
    keys = KEYS[:500]
    ring = HashRing(members)
    assert mapping(ring, keys) == mapping(HashRing(shuffled), keys)
    assert mapping(ring, keys) == mapping(ring, keys)  # and repeat lookups agree


def test_the_mapping_is_the_same_in_another_process_with_another_hash_seed() -> None:
    code = (
        "from actors.routing._hashring import HashRing\n"
        "ring = HashRing(['alpha', 'beta', 'gamma', 'delta'])\n"
        "print(','.join(ring.lookup(f'key-{i}') for i in range(300)))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    ring = HashRing(["alpha", "beta", "gamma", "delta"])
    assert out.split(",") == [ring.lookup(f"key-{i}") for i in range(300)]


@pytest.mark.parametrize("n", [1, 3, 9, 19])
def test_adding_a_member_moves_about_one_in_n_plus_one_keys_all_to_it(n: int) -> None:
    ring = HashRing([f"node-{i}" for i in range(n)])
    before = mapping(ring)
    ring.add("newcomer")
    after = mapping(ring)
    moved = [key for key in KEYS if before[key] != after[key]]
    assert all(after[key] == "newcomer" for key in moved)  # nothing moves between old ones
    expected = 1 / (n + 1)
    # 100 points per member spread the share with roughly 10% relative deviation.
    assert 0.6 * expected < len(moved) / len(KEYS) < 1.4 * expected


def test_removing_a_member_moves_only_its_keys() -> None:
    members = [f"node-{i}" for i in range(8)]
    ring = HashRing(members)
    before = mapping(ring)
    ring.remove("node-3")
    after = mapping(ring)
    for key in KEYS:
        if before[key] != "node-3":
            assert after[key] == before[key]
        else:
            assert after[key] != "node-3"


def test_keys_spread_evenly_enough_over_members() -> None:
    members = [f"node-{i}" for i in range(10)]
    shares = Counter(mapping(HashRing(members)).values())
    assert set(shares) == set(members)
    assert all(0.6 / 10 < count / len(KEYS) < 1.4 / 10 for count in shares.values())


@settings(max_examples=60, deadline=None)
@given(
    members=st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=12, unique=True),
    vnodes=st.integers(min_value=1, max_value=200),
    bits=st.integers(min_value=1, max_value=14),
    keys=st.lists(st.one_of(st.text(max_size=12), st.integers(), st.binary(max_size=8)),
                  max_size=60),
    positions=st.lists(st.integers(min_value=0, max_value=2**32 - 1), max_size=60),
)
def test_the_arc_table_maps_every_key_as_lookup_does(
    members: list[str], vnodes: int, bits: int, keys: list[object], positions: list[int]
) -> None:
    """`buckets()`: an arc's member, or the binary search for an arc holding a point,
    is `lookup`'s answer for every key, and for positions at and around the points
    (where arcs change hands)."""
    ring: HashRing[str] = HashRing(members, vnodes=vnodes)
    table, owners = ring.buckets(bits)
    points, by_point = ring.table()
    assert len(table) == 2**bits and owners[-1] is None

    def through_table(position: int) -> str:
        owner = owners[table[position >> (32 - bits)]]
        return by_point[bisect_left(points, position)] if owner is None else owner

    near_points = [p + d for p in points[:40] for d in (-1, 0, 1) if 0 <= p + d < 2**32]
    for position in [*positions, *near_points, 0, 2**32 - 1]:
        assert through_table(position) == by_point[bisect_left(points, position)]
    for key in keys:
        assert through_table(key_position(key)) == ring.lookup(key)


def test_the_arc_table_names_at_most_255_members() -> None:
    ring: HashRing[int] = HashRing(range(256), vnodes=1)
    with pytest.raises(ValueError, match="at most 255, got 256; use lookup"):
        ring.buckets()
    with pytest.raises(LookupError, match="the hash ring has no members"):
        HashRing[str]().buckets()
