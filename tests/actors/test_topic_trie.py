"""TopicTrie against RabbitMQ's topic rules: explicit edge cases and a reference matcher."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from actors.routing import _topic_shapes, _topic_walk
from actors.routing._topic import TopicTrie, split_words


def words_of(key: str) -> tuple[str, ...]:
    # RabbitMQ's split: the empty string is zero words, anything else splits on each dot.
    return tuple(key.split(".")) if key else ()


@cache
def reference_words(pattern: tuple[str, ...], key: tuple[str, ...]) -> bool:
    """The AMQP rule as plain recursion: `*` eats one word, `#` eats zero or more."""
    if not pattern:
        return not key
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return reference_words(rest, key) or (bool(key) and reference_words(pattern, key[1:]))
    if not key:
        return False
    return (head == "*" or head == key[0]) and reference_words(rest, key[1:])


def reference(pattern: str, key: str) -> bool:
    return reference_words(words_of(pattern), words_of(key))


def trie_of(*bindings: tuple[str, int]) -> TopicTrie[int]:
    trie: TopicTrie[int] = TopicTrie()
    for pattern, value in bindings:
        trie.add(pattern, value)
    return trie


EDGE_CASES = [
    # (pattern, key, matches)
    ("#", "", True),
    ("*", "", False),
    ("", "", True),
    ("", "a", False),
    ("a.#", "a", True),
    ("a.#", "a.b.c", True),
    ("a.#", "b", False),
    ("#.a", "a", True),
    ("#.*", "", False),
    ("#.*", "a", True),
    ("#.*", "a.b.c", True),
    ("*.#", "a", True),
    ("*.*", "a", False),
    ("*.*", "a.b", True),
    ("a.*.c", "a.b.c", True),
    ("a.*.c", "a.c", False),
    ("a..b", "a..b", True),
    ("a.*.b", "a..b", True),
    ("a.b", "a..b", False),
    ("*", ".", False),  # "." is two empty words
    ("*.*", ".", True),
    ("a.*", "a.", True),  # a trailing dot adds an empty word
    ("a", "a.", False),
    ("#.#.#", "", True),
    ("#.#.#", "a.b", True),
    ("a.#.b", "a.b", True),
    ("a.#.b", "a.x.y.b", True),
    ("a.#.b", "a.x.y.c", False),
    ("a*", "ab", False),  # `*` inside a word is a plain character
    ("a*", "a*", True),
    ("#b", "b", False),
    ("*", "*", True),  # `*` and `#` in a key are plain words
    ("a", "*", False),
    ("#", "#.#", True),
    # runs of wildcards holding a `#` match "at least as many words as their `*`s"
    ("#.*.#", "", False),
    ("#.*.#", "a", True),
    ("*.#.*", "a", False),
    ("*.#.*", "a.b", True),
    ("a.#.*", "a", False),
    ("a.#.*", "a.b.c", True),
    ("#.#", "a.b", True),
    # two `#` runs with a word between them
    ("#.a.#", "a", True),
    ("#.a.#", "x.a.y.z", True),
    ("#.a.#", "x.b.y", False),
    ("a.#.b.#.c", "a.b.c", True),
    ("a.#.b.#.c", "a.c", False),
    ("*.a.#.b", "x.a.b", True),
    ("#.a.*", "a", False),
    ("#.a.*", "x.a.y", True),
]


@pytest.mark.parametrize(("pattern", "key", "expected"), EDGE_CASES)
def test_edge_cases_follow_rabbitmq(pattern: str, key: str, expected: bool) -> None:
    assert reference(pattern, key) is expected  # the reference agrees with the table
    assert (trie_of((pattern, 1)).match(key) == {1}) is expected
    with walk_only():
        assert (trie_of((pattern, 1)).match(key) == {1}) is expected


def test_split_words_treats_empty_key_as_zero_words_and_keeps_empty_words() -> None:
    assert split_words("") == []
    assert split_words(".") == ["", ""]
    assert split_words("a..b") == ["a", "", "b"]
    assert split_words("a.") == ["a", ""]


def test_a_value_matched_by_several_patterns_is_returned_once() -> None:
    trie = trie_of(("a.*", 1), ("#", 1), ("a.b", 1), ("a.b", 2))
    assert trie.match("a.b") == frozenset({1, 2})


def test_len_counts_distinct_bindings_and_duplicates_bind_once() -> None:
    trie = trie_of(("a", 1), ("a", 1), ("a", 2), ("b.#", 1))
    assert len(trie) == 3
    assert trie.patterns() == ["a", "b.#"]
    assert sorted(trie.bindings()) == [("a", 1), ("a", 2), ("b.#", 1)]


def test_remove_reports_whether_the_binding_existed_and_keeps_the_others() -> None:
    trie = trie_of(("a.*", 1), ("a.*", 2), ("#", 3))
    assert trie.remove("a.*", 1) is True
    assert trie.remove("a.*", 1) is False
    assert trie.remove("never.bound", 1) is False
    assert trie.remove("#", 1) is False  # pattern bound, but not to this value
    assert len(trie) == 2
    assert trie.match("a.b") == {2, 3}


def test_removing_every_binding_prunes_the_trie_to_an_empty_root() -> None:
    patterns = ["a.b.c", "a.*", "#.x", "#.#", "*.#.*", ""]
    trie = trie_of(*((p, i) for i, p in enumerate(patterns)))
    for i, pattern in enumerate(patterns):
        assert trie.remove(pattern, i)
    assert len(trie) == 0 and trie.patterns() == []
    # white-box: no trie node nor index entry outlives its bindings
    assert trie._all is None and not trie._rest and trie._index.is_empty()
    with walk_only():
        trie = trie_of(*((p, i) for i, p in enumerate(patterns)))
        assert trie.match("a.b.c") == {0, 3, 4}  # answered by the walk, built for it
        for i, pattern in enumerate(patterns):
            assert trie.remove(pattern, i)
        assert trie._all is not None and trie._all.root.is_empty()


def test_remove_value_unbinds_it_from_every_pattern() -> None:
    trie = trie_of(("a", 1), ("b.#", 1), ("b.#", 2))
    assert trie.remove_value(1) == 2
    assert trie.remove_value(1) == 0
    assert trie.match("b.c") == {2} and trie.match("a") == frozenset()
    assert len(trie) == 1


def test_a_non_str_pattern_is_rejected() -> None:
    trie: TopicTrie[int] = TopicTrie()
    with pytest.raises(TypeError, match="must be a str; got b'a'"):
        trie.add(b"a", 1)  # type: ignore[arg-type]


@pytest.mark.timeout(10)
def test_many_hashes_match_without_exponential_blowup() -> None:
    # Backtracking over 30 `#`s and 40 words would try ~C(70, 30) splits; the state-set
    # walk visits each (node, word) pair once, so this answers at once.
    pattern = "#." * 30 + "x"
    trie = trie_of((pattern, 1))
    assert trie.match(".".join(["a"] * 40)) == frozenset()
    assert trie.match(".".join(["a"] * 40 + ["x"])) == {1}


def test_the_cache_never_serves_a_result_from_before_a_change() -> None:
    trie = trie_of(("a.b", 1))
    assert trie.match("a.b") == {1}
    trie.add("a.*", 2)
    assert trie.match("a.b") == {1, 2}
    trie.remove("a.b", 1)
    assert trie.match("a.b") == {2}
    trie.remove_value(2)
    assert trie.match("a.b") == frozenset()


def test_the_cache_is_bounded_and_starts_over_when_full() -> None:
    trie: TopicTrie[int] = TopicTrie(cache_size=2)
    trie.add("#", 1)
    for key in ("k1", "k2", "k1"):
        trie.match(key)
    assert list(trie._cache) == ["k1", "k2"]  # white-box: a hit adds nothing
    trie.match("k3")
    assert list(trie._cache) == ["k3"]
    for i in range(100):
        assert trie.match(f"k.{i}") == {1}
    assert len(trie._cache) <= 2


def test_a_zero_cache_still_matches_and_a_negative_one_is_rejected() -> None:
    trie: TopicTrie[int] = TopicTrie(cache_size=0)
    trie.add("a.*", 1)
    assert trie.match("a.b") == {1} and trie.match("a.b") == {1}
    assert len(trie._cache) == 0
    with pytest.raises(ValueError, match="cache_size must be 0 or more; got -1"):
        TopicTrie(cache_size=-1)


# Small alphabets, so wildcards, empty words and literal `*`/`#` in keys meet often.
PATTERN_WORDS = st.sampled_from(["a", "b", "", "*", "#"])
KEY_WORDS = st.sampled_from(["a", "b", "", "*", "#"])
patterns = st.lists(PATTERN_WORDS, max_size=5).map(".".join)
keys = st.lists(KEY_WORDS, max_size=6).map(".".join)


@settings(max_examples=300)
@given(
    bindings=st.lists(st.tuples(patterns, st.integers(0, 5)), max_size=12),
    removals=st.lists(st.integers(0, 11), max_size=6),
    probe=st.lists(keys, min_size=1, max_size=8),
)
def test_matches_the_reference_after_adds_and_removals(
    bindings: list[tuple[str, int]], removals: list[int], probe: list[str]
) -> None:
    # The index alone, the index for some key lengths and the walk for the others,
    # and the walk alone.
    for most in (_topic_shapes.MAX_LOOKUPS, 1, -1):
        with max_lookups(most):
            check_against_reference(bindings, removals, probe)


@contextmanager
def max_lookups(most: int) -> Iterator[None]:
    """White-box: the shape index declines key lengths that more than `most` shapes
    fit, and the trie walk answers them (-1: it declines every key)."""
    saved, _topic_shapes.MAX_LOOKUPS = _topic_shapes.MAX_LOOKUPS, most
    try:
        yield
    finally:
        _topic_shapes.MAX_LOOKUPS = saved


@contextmanager
def walk_only() -> Iterator[None]:
    with max_lookups(-1):
        yield


def check_against_reference(
    bindings: list[tuple[str, int]], removals: list[int], probe: list[str]
) -> None:
    trie = trie_of(*bindings)
    live = set(bindings)
    for index in removals:
        if index < len(bindings):
            binding = bindings[index]
            assert trie.remove(*binding) is (binding in live)
            live.discard(binding)
    assert len(trie) == len(live)
    for key in probe:
        assert trie.match(key) == {v for p, v in live if reference(p, key)}


class TrieAgainstModel(RuleBasedStateMachine):
    """Interleaves changes and (cached) matches, so a stale cache entry would show."""

    def __init__(self) -> None:
        super().__init__()
        self.trie: TopicTrie[int] = TopicTrie(cache_size=3)
        self.model: set[tuple[str, int]] = set()

    @rule(pattern=patterns, value=st.integers(0, 3))
    def add(self, pattern: str, value: int) -> None:
        self.trie.add(pattern, value)
        self.model.add((pattern, value))

    @rule(pattern=patterns, value=st.integers(0, 3))
    def remove(self, pattern: str, value: int) -> None:
        assert self.trie.remove(pattern, value) is ((pattern, value) in self.model)
        self.model.discard((pattern, value))

    @rule(value=st.integers(0, 3))
    def remove_value(self, value: int) -> None:
        bound = {(p, v) for p, v in self.model if v == value}
        assert self.trie.remove_value(value) == len(bound)
        self.model -= bound

    @rule(key=keys)
    def match(self, key: str) -> None:
        assert self.trie.match(key) == {v for p, v in self.model if reference(p, key)}

    @invariant()
    def sizes_agree(self) -> None:
        assert len(self.trie) == len(self.model)
        assert sorted(self.trie.patterns()) == sorted({p for p, _ in self.model})


TestTrieAgainstModel = TrieAgainstModel.TestCase
TestTrieAgainstModel.settings = settings(max_examples=150, stateful_step_count=40)


class IndexAndWalkAgainstModel(TrieAgainstModel):
    """The same, with the shape index declining every key length that two shapes fit,
    so that changes move lengths between the index and the walk as shapes come and go."""

    def __init__(self) -> None:
        super().__init__()
        self.saved, _topic_shapes.MAX_LOOKUPS = _topic_shapes.MAX_LOOKUPS, 1

    def teardown(self) -> None:
        _topic_shapes.MAX_LOOKUPS = self.saved


TestIndexAndWalkAgainstModel = IndexAndWalkAgainstModel.TestCase
TestIndexAndWalkAgainstModel.settings = settings(max_examples=100, stateful_step_count=40)


@settings(max_examples=60, deadline=None)
@given(bindings=st.lists(st.tuples(patterns, st.integers(0, 5)), max_size=12),
       probe=st.lists(keys, min_size=1, max_size=30))
def test_a_full_prefix_memo_still_matches_the_reference(
    bindings: list[tuple[str, int]], probe: list[str]
) -> None:
    """Past its bound the prefix memo stops growing; walks it cannot hold stay right."""
    bound, _topic_walk.MIN_REMEMBERED = _topic_walk.MIN_REMEMBERED, 0
    try:
        with walk_only():
            trie: TopicTrie[int] = TopicTrie(cache_size=0)
            for pattern, value in bindings:
                trie.add(pattern, value)
            for key in probe + probe:  # the second pass walks what the memo kept
                assert trie.match(key) == {v for p, v in bindings if reference(p, key)}
            assert trie._all is not None and trie._all.remembered <= len(trie.patterns())
    finally:
        _topic_walk.MIN_REMEMBERED = bound


def test_shapes_that_read_the_same_words_share_one_lookup_and_stay_current() -> None:
    """For 3-word keys, ``*.b.c`` and ``#.b.c`` read words 2 and 3, ``a.b.*`` and
    ``a.b.#`` words 1 and 2: two lookups (white-box), kept right as bindings change."""
    trie = trie_of(("*.b.c", 1), ("#.b.c", 2), ("a.b.*", 3), ("a.b.#", 4))
    assert trie.match("x.b.c") == {1, 2} and trie.match("a.b.x") == {3, 4}
    assert len(trie._index._plans[3].lookups) == 2
    trie.add("#.b.c", 5)
    trie.add("*.q.c", 6)  # a new key in a merged shape
    assert trie.match("x.b.c") == {1, 2, 5} and trie.match("x.q.c") == {6}
    trie.remove("*.b.c", 1)
    trie.remove("#.b.c", 2)
    assert trie.match("x.b.c") == {5} and trie.match("b.c") == {5}
    trie.remove("#.b.c", 5)
    assert trie.match("x.b.c") == frozenset() and trie.match("a.b.c") == {3, 4}


def test_patterns_written_apart_that_mean_the_same_stay_apart() -> None:
    """``#.#`` is ``#`` and ``#.*`` is ``*.#`` to the index; unbinding one keeps the other."""
    trie = trie_of(("#", 4), ("#.#", 4), ("#.*", 5), ("*.#", 5))
    assert trie.remove("#.#", 4) and trie.match("") == {4}
    assert trie.remove("#.*", 5) and trie.match("a") == {4, 5}
    assert trie.remove("*.#", 5) and trie.match("a") == {4}


def test_binding_a_catch_all_keeps_the_plans() -> None:
    """``#`` bound by one actor after another (as each starts) changes what every key
    reaches, but not which lookups a key needs: the plan stays (white-box)."""
    trie = trie_of(("a.*", 1), ("#", 2))
    assert trie.match("a.b") == {1, 2}
    plan = trie._index._plans[2]
    for value in range(3, 20):
        trie.add("#", value)
        assert trie.match("a.b") == {1, *range(2, value + 1)}
    trie.remove("#", 2)
    assert trie.match("x.y") == set(range(3, 20))
    assert trie._index._plans[2] is plan
