"""The message codec: values come back as what they were, refs come back as refs,
nothing else is pickled unless allowed, and a hostile payload names only classes it
may (Struct, dataclass, enum, exception) and fails only with `SerializationError`."""

from __future__ import annotations

import contextlib
import dataclasses
import pickle
import sys
import types
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec.msgpack import Ext

from actors import ActorRef
from actors.errors import NodeDownError, SerializationError
from actors.messages import Terminated
from runtime._wire import codec as _codec
from runtime._wire.codec import Codec
from tests.cluster.apps import Color, Opaque, Order, Point

SIDE_EFFECTS = "tests.runtime.wire.side_effects"


class FakeRef(ActorRef[Any]):
    """A ref as the cluster would rebuild it: identity is (node, uid)."""

    __slots__ = ("_id", "_name")

    def __init__(self, node: str, uid: int, name: str | None = None) -> None:
        self._id = (node, uid)
        self._name = name

    def _identity(self) -> tuple[str, int]:
        return self._id

    @property
    def name(self) -> str | None:
        return self._name


def make_codec(*, allow_pickle: bool = False, **options: Any) -> Codec:
    def encode_ref(ref: ActorRef[Any]) -> tuple[str, int, str | None]:
        node, uid = ref._identity()
        return node, uid, ref.name

    return Codec(
        allow_pickle=allow_pickle, ref_encoder=encode_ref, ref_decoder=FakeRef, **options
    )


def typed(value: Any) -> Any:
    """`value` as a hashable form that keeps every type: equal forms, equal values of
    the same types all the way down (so 1, 1.0 and True, or a tuple and a list, differ)."""
    kind = type(value).__qualname__
    if isinstance(value, (list, tuple)):
        return kind, tuple(typed(item) for item in value)
    if isinstance(value, (set, frozenset)):
        return kind, frozenset(typed(item) for item in value)
    if isinstance(value, dict):
        return kind, frozenset((typed(k), typed(v)) for k, v in value.items())
    if isinstance(value, msgspec.Struct):
        return kind, tuple(typed(getattr(value, f)) for f in value.__struct_fields__)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return kind, tuple(typed(getattr(value, f.name)) for f in dataclasses.fields(value))
    if isinstance(value, bytearray):
        return kind, bytes(value)
    return kind, value


def round_trip(value: Any, codec: Codec | None = None) -> Any:
    codec = codec or make_codec()
    return codec.decode(codec.encode(value))


# Values that can be set members and dict keys, then everything built from them.
scalars = (
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False) | st.text(max_size=20) | st.binary(max_size=20)
)
hashables = st.recursive(
    scalars
    | st.builds(Point, st.integers(-(2**63), 2**63 - 1), st.integers(-(2**63), 2**63 - 1))
    | st.sampled_from(Color)
    | st.builds(Order, st.text(max_size=10), st.integers(0, 99),
                st.frozensets(st.text(max_size=5), max_size=3)),
    lambda inner: st.lists(inner, max_size=4).map(tuple) | st.frozensets(inner, max_size=4),
    max_leaves=8,
)
values = st.recursive(
    hashables | st.builds(FakeRef, st.text(min_size=1, max_size=10), st.integers(0, 2**62))
    | st.binary(max_size=20).map(bytearray),
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.lists(inner, max_size=5).map(tuple)
        | st.sets(hashables, max_size=5)
        | st.dictionaries(scalars, inner, max_size=5)
        | st.dictionaries(hashables, inner, max_size=5)
    ),
    max_leaves=20,
)


@settings(max_examples=150)
@given(values)
def test_nested_values_come_back_with_their_types(value: Any) -> None:
    assert typed(round_trip(value)) == typed(value)


def test_refs_come_back_as_refs_inside_structs_and_containers() -> None:
    ref = FakeRef("b@127.0.0.1:4002", 7, "cart")
    back = round_trip({"who": [ref, (ref,)], "event": Terminated(ref, None)})
    assert back["who"][0] == ref and isinstance(back["who"][0], FakeRef)
    assert back["who"][1] == (ref,) and back["event"] == Terminated(ref, None)
    assert back["who"][0].name == "cart"


def test_an_exception_in_a_message_travels_without_pickle() -> None:
    back = round_trip(Terminated(FakeRef("n", 1), NodeDownError("n", "gone")))
    assert isinstance(back.reason, NodeDownError) and str(back.reason) == str(
        NodeDownError("n", "gone")
    )
    assert type(round_trip(KeyError("k"))) is KeyError


@pytest.mark.parametrize("value", [Opaque(1), lambda: 1, object(), {"deep": [Opaque(2)]}])
def test_other_types_fail_at_the_sender_without_pickle(value: Any) -> None:
    with pytest.raises(SerializationError, match=r"pickling is off \(allow_pickle=False, the"
                       r" default\).*make \w+ a msgspec.Struct or a dataclass"):
        make_codec().encode(value)


def test_other_types_travel_by_pickle_where_allowed() -> None:
    back = round_trip({"o": Opaque(5)}, make_codec(allow_pickle=True))
    assert isinstance(back["o"], Opaque) and back["o"].value == 5


def test_what_msgpack_cannot_hold_fails_with_serialization_error() -> None:
    with pytest.raises(SerializationError, match=r"cannot serialize int"):
        make_codec(allow_pickle=True).encode(2**64)


# -- decoding what a peer sent ---------------------------------------------------------


def payload(code: int, *parts: Any) -> bytes:
    body = msgspec.msgpack.encode(list(parts) if len(parts) > 1 else parts[0])
    return msgspec.msgpack.encode(Ext(code, body))


@pytest.mark.parametrize(
    ("code", "name", "fields", "kind"),
    [
        (_codec._STRUCT, "os:system", {}, "struct"),
        (_codec._STRUCT, "tests.cluster.apps:Order", {"item": "x", "quantity": 1}, "struct"),
        (_codec._DATACLASS, "subprocess:Popen", {"args": ["true"]}, "dataclass"),
        (_codec._DATACLASS, "tests.cluster.apps:Point", {"x": 1, "y": 2}, "dataclass"),
        (_codec._ENUM, "builtins:print", "hello", "enum"),
        (_codec._ENUM, "tests.cluster.apps:Point", 1, "enum"),
    ],
)
def test_names_resolve_only_to_their_kind_of_class(
    code: int, name: str, fields: Any, kind: str
) -> None:
    with pytest.raises(SerializationError, match=rf"{name}.*it is not an? {kind} class"):
        make_codec().decode(payload(code, name, fields))


def test_an_error_name_that_is_not_an_exception_is_never_called() -> None:
    back = make_codec().decode(payload(_codec._ERROR, "os:system", ["echo owned"]))
    assert type(back) is RuntimeError and str(back) == "os:system: echo owned"
    back = make_codec().decode(payload(_codec._ERROR, "builtins:ValueError", ["fine"]))
    assert type(back) is ValueError and str(back) == "fine"


def test_a_class_of_a_module_not_imported_here_is_refused_not_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mark = tmp_path / "mark"
    monkeypatch.setenv("REPERTORY_SIDE_EFFECT_MARK", str(mark))
    monkeypatch.setenv("REPERTORY_SIDE_EFFECT_EXIT", "1")
    monkeypatch.delitem(sys.modules, SIDE_EFFECTS, raising=False)
    for code in (_codec._STRUCT, _codec._DATACLASS, _codec._ENUM):
        with pytest.raises(SerializationError, match=rf"module '{SIDE_EFFECTS}' is not imported"
                           r" on this node.*list it \(or its package\) in message_modules="):
            make_codec().decode(payload(code, f"{SIDE_EFFECTS}:Listed", {"value": 1}))
    error = make_codec().decode(payload(_codec._ERROR, f"{SIDE_EFFECTS}:Boom", ["x"]))
    assert type(error) is RuntimeError  # an error value it cannot rebuild, as text
    with pytest.raises(SerializationError, match="is not imported on this node"):
        make_codec().decode(payload(_codec._STRUCT, "no_such_module_here:Thing", {}))
    assert SIDE_EFFECTS not in sys.modules and not mark.exists()


def test_a_module_listed_in_message_modules_is_imported_by_this_nodes_choice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REPERTORY_SIDE_EFFECT_MARK", str(tmp_path / "mark"))
    monkeypatch.delitem(sys.modules, SIDE_EFFECTS, raising=False)
    package = SIDE_EFFECTS.rpartition(".")[0]  # a listed package covers its modules
    codec = make_codec(message_modules=(package,))
    back = codec.decode(payload(_codec._DATACLASS, f"{SIDE_EFFECTS}:Listed", {"value": 3}))
    assert type(back).__name__ == "Listed" and back.value == 3
    assert (tmp_path / "mark").read_text() == "imported\n"
    # A listed module that fails to import (here: it raises SystemExit) is an error.
    monkeypatch.setenv("REPERTORY_SIDE_EFFECT_EXIT", "1")
    monkeypatch.delitem(sys.modules, SIDE_EFFECTS)
    with pytest.raises(SerializationError, match=r"importing listed module failed: SystemExit"):
        make_codec(message_modules=(SIDE_EFFECTS,)).decode(
            payload(_codec._DATACLASS, f"{SIDE_EFFECTS}:Listed", {"value": 3})
        )


def test_names_resolve_through_namespaces_only_never_a_module_getattr(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    called: list[str] = []
    module = types.ModuleType("lazy_messages")
    module.__getattr__ = lambda name: called.append(name) or Point  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "lazy_messages", module)
    with pytest.raises(SerializationError, match="lazy_messages has no Point"):
        make_codec().decode(payload(_codec._STRUCT, "lazy_messages:Point", {"x": 1, "y": 2}))
    assert called == []


@dataclasses.dataclass
class Exits:
    """A message type whose constructor raises what passes `except Exception`."""

    code: int

    def __post_init__(self) -> None:
        raise SystemExit(self.code)


@dataclasses.dataclass
class Interrupts:
    code: int

    def __post_init__(self) -> None:
        raise KeyboardInterrupt


@pytest.mark.parametrize(("cls", "raised"), [(Exits, r"SystemExit\(3\)"),
                                             (Interrupts, r"KeyboardInterrupt\(\)")])
def test_a_constructor_that_raises_systemexit_is_a_serialization_error(
    cls: type, raised: str
) -> None:
    data = payload(_codec._DATACLASS, _codec.qualified_name(cls), {"code": 3})
    with pytest.raises(SerializationError, match=rf"a received message: {raised}"):
        make_codec().decode(data)


def test_a_message_over_the_size_limit_fails_at_the_sender_naming_the_limit() -> None:
    codec = make_codec(max_size=1000)
    assert codec.decode(codec.encode(b"x" * 900)) == b"x" * 900
    with pytest.raises(SerializationError, match=r"a bytes of 1\d\d\d bytes.*over the"
                       r" 1000-byte limit of one message"):
        codec.encode(b"x" * 1001)
    with pytest.raises(SerializationError, match="over the 1000-byte limit"):
        codec.encode([Point(1, 2)] * 200)


def test_without_pickle_a_pickled_payload_is_refused_unread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("pickle.loads was called on a node with allow_pickle=False")

    monkeypatch.setattr(pickle, "loads", never)
    data = msgspec.msgpack.encode(Ext(_codec._PICKLE, pickle.dumps(Opaque(1))))
    with pytest.raises(SerializationError, match=r"pickling is switched off on this node"):
        make_codec().decode(data)


@settings(max_examples=300)
@given(
    st.one_of(
        st.binary(max_size=200),
        st.builds(
            lambda code, body: msgspec.msgpack.encode(Ext(code, body)),
            st.integers(0, 127), st.binary(max_size=60),
        ),
        st.builds(
            lambda code, name, rest: payload(code, name, rest),
            st.sampled_from([_codec._STRUCT, _codec._DATACLASS, _codec._ENUM, _codec._ERROR,
                             _codec._REF, _codec._TUPLE, _codec._PAIRS]),
            st.sampled_from(["tests.cluster.apps:Point", "tests.cluster.apps:Order",
                             "tests.cluster.apps:Color", "builtins:ValueError", "os:path",
                             "json:loads", "x", ":", "builtins:", f"{SIDE_EFFECTS}:Listed",
                             _codec.qualified_name(Exits), "builtins:SystemExit"]),
            st.one_of(scalars, st.dictionaries(st.text(max_size=8), scalars, max_size=3)),
        ),
    )
)
def test_hostile_payloads_fail_only_with_serialization_error(data: bytes) -> None:
    with contextlib.suppress(SerializationError):  # anything else fails the test
        make_codec().decode(data)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(
    st.integers(-(2**63), 2**63 - 1).map(lambda n: ("ok", n)),
    st.text(max_size=10).map(lambda text: ("ok", text)),
    st.sampled_from([b"\xc1", b"\x92\x01", b"", msgspec.msgpack.encode(Ext(99, b"x"))]).map(
        lambda junk: ("bad", junk)
    ),
), max_size=20))
def test_decode_each_delivers_in_order_and_fails_only_the_bad_payloads(
    items: list[tuple[str, Any]],
) -> None:
    """A batch decodes as its payloads one by one would: each good one delivered, in
    order, each bad one handed back with the `SerializationError` `decode` raises."""
    codec = make_codec()
    payloads = [msgspec.msgpack.encode(v) if kind == "ok" else v for kind, v in items]
    got: list[Any] = []
    codec.decode_each(payloads, got.append,
                      lambda payload, error: got.append(("failed", payload, type(error))))
    expected: list[Any] = []
    for payload in payloads:
        try:
            expected.append(codec.decode(payload))
        except SerializationError as error:
            expected.append(("failed", payload, type(error)))
    assert got == expected
    assert [kind for kind, _ in items].count("bad") == sum(
        isinstance(g, tuple) and g[:1] == ("failed",) for g in got
    )
