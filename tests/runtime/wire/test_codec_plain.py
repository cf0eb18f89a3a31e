"""`Codec.plain`, the one-call encoders a remote tell's hot path uses: for every value
they take, they give `Codec.encode`'s bytes or fail where it fails, and what they give
decodes back to the value with its type."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.errors import SerializationError
from tests.runtime.wire.test_codec import make_codec, typed

# Plain values, with the edges of what msgpack holds: ints past 64 bits, lone
# surrogates (not UTF-8), NaN and infinities, empty and large strings and bytes.
PLAIN_VALUES = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**64), max_value=2**65),
    st.text(),
    st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1),
    st.binary(),
    st.binary(min_size=60, max_size=200),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
)


def plain_or_general(codec: Any, value: Any) -> bytes | None:
    """What `RemoteRef.tell`'s hot path would take: the plain encoder's bytes when it
    succeeds within the limit, else None (the general path then decides)."""
    encode = codec.plain[type(value)]
    try:
        data: bytes = encode(value)
    except Exception:
        return None
    return data if len(data) <= codec.payload_limit else None


@pytest.mark.parametrize("max_size", [None, 100, 1])
@given(value=PLAIN_VALUES)
def test_a_plain_encoder_gives_encodes_bytes_or_leaves_the_value_to_encode(
    max_size: int | None, value: Any
) -> None:
    codec = make_codec(max_size=max_size)
    fast = plain_or_general(codec, value)
    try:
        general = codec.encode(value)
    except SerializationError:
        assert fast is None  # where encode refuses, the hot path takes nothing
        return
    assert fast == general
    back = codec.decode(general)
    assert typed(back) == typed(value) or (isinstance(value, float) and math.isnan(back))


def test_only_types_that_encode_to_plain_msgpack_are_plain() -> None:
    # A tuple, set, struct, enum or dataclass needs `encode`'s Ext records: none of
    # them, nor a subclass of a plain type (an IntEnum, a str subclass), is plain.
    codec = make_codec()
    assert set(codec.plain) == {int, str, bytes, float, bool, type(None)}


def test_what_msgspec_refuses_fails_in_encode_with_a_serialization_error() -> None:
    codec = make_codec()
    with pytest.raises(SerializationError, match=r"cannot serialize int: .*ints < -2\*\*63"):
        codec.encode(2**64)
    with pytest.raises(SerializationError, match=r"cannot serialize str: .*surrogate"):
        codec.encode("\udc80")


@pytest.mark.parametrize("message", [2**64, -(2**63) - 1, (1, 2**70), {"n": 2**64}])
def test_an_int_past_64_bits_is_refused_with_advice_that_fits(message: Any) -> None:
    with pytest.raises(SerializationError, match=r"ints < -2\*\*63.*send a larger one as a"
                       r" str or bytes") as caught:
        make_codec().encode(message)
    assert "msgspec.Struct" not in str(caught.value)  # the general advice would mislead
