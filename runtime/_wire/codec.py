"""The message codec: Python values to msgpack bytes and back, types kept.

What a node sends arrives as what it was: tuples stay tuples, sets stay sets,
`msgspec.Struct`s, dataclasses and enums come back as themselves (by qualified name,
resolved against code both nodes share), refs come back as working refs. Builtins and
these types never touch pickle. Anything else goes through cloudpickle, and only when
the codec allows it (authenticated links, `allow_pickle=True`); otherwise encoding
fails with `SerializationError` at the sender.

Decoding never imports a module because a peer named it: a type name resolves only
to a class of a module this node has already imported (it is in `sys.modules`) or
listed in `message_modules` (the node's own choice; a listed package covers its
submodules), and only to a Struct, dataclass, enum or exception class: a peer cannot
make this node run a module's code or call an arbitrary function by naming it.
Attributes are looked up in the module's and classes' own namespaces, so a module's
`__getattr__` never runs either. Whatever goes wrong while decoding (even a class
whose constructor raises `SystemExit`) comes out as `SerializationError`.

A message over `max_size` encoded bytes fails at the sender, with `SerializationError`
naming the limit, before anything is queued.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import pickle
import sys
import traceback
from collections.abc import Callable, Iterable
from typing import Any

import msgspec
from msgspec.msgpack import Ext

from actors import ActorRef
from actors.errors import ActorCrashedError, ActorError, SerializationError
from runtime._wire.frames import RemoteError, TellMany

__all__ = ("Codec", "TypeResolver", "qualified_name")

# Ext codes (0-127 are ours; msgspec reserves -1 for timestamps).
(_TUPLE, _SET, _FROZENSET, _STRUCT, _DATACLASS, _ENUM, _REF, _PICKLE, _ERROR, _BYTEARRAY,
 _PAIRS) = range(1, 12)
_SCALARS: frozenset[type] = frozenset({int, str, float, bool, bytes, type(None)})


def qualified_name(cls: type) -> str:
    """``module:QualName``: how a class is named on the wire."""
    return f"{cls.__module__}:{cls.__qualname__}"


# What a failure while decoding hostile bytes may raise, turned into SerializationError.
# Not cancellation (decoding never waits, so none can arise inside) and not
# GeneratorExit: SystemExit and KeyboardInterrupt because a class's __init__ or
# __post_init__ may raise them, and they must not pass every handler up to the node.
_DECODE_FAILURES = (Exception, SystemExit, KeyboardInterrupt)


class TypeResolver:
    """Turns a ``module:QualName`` from the wire into a class, never by importing.

    A name resolves when its module is in `sys.modules` already, or is in
    `message_modules` (or under a package listed there: then it is imported, because
    this node's configuration says so, not the peer); the attribute path is looked up
    in `__dict__`s only (no module `__getattr__`, no descriptors), and the result must
    be a class that `accept` takes. Anything else raises `SerializationError` saying
    what to do.
    """

    def __init__(self, message_modules: Iterable[str] = ()) -> None:
        self.message_modules = tuple(message_modules)

    def resolve(self, name: str, kind: str, accept: Callable[[type], bool]) -> type:
        """The class `name` names, if it is a `kind` (for messages) that `accept` takes."""
        module_name, colon, qualname = name.partition(":")
        what = f"{_article(kind)} {kind} named {name}"
        if not colon or not module_name or not qualname:
            raise SerializationError(what, "a class is named 'module:QualName' on the wire")
        module = sys.modules.get(module_name)
        if module is None:
            if not self._listed(module_name):
                raise SerializationError(
                    what,
                    f"module {module_name!r} is not imported on this node, and a peer"
                    " never makes a node import one; import it in the app, or list it"
                    " (or its package) in message_modules=",
                )
            try:
                module = importlib.import_module(module_name)
            except _DECODE_FAILURES as error:
                raise SerializationError(
                    what, f"importing listed module failed: {error!r}"
                ) from None
        target: object = module
        for part in qualname.split("."):
            try:
                found = vars(target).get(part, _MISSING)
            except TypeError:  # an attribute without a namespace of its own
                found = _MISSING
            if found is _MISSING:
                raise SerializationError(
                    what, f"{module_name} has no {qualname}; both nodes must run the same code"
                )
            target = found
        if not isinstance(target, type) or not accept(target):
            raise SerializationError(what, f"it is not {_article(kind)} {kind} class")
        return target

    def _listed(self, module_name: str) -> bool:
        return any(
            module_name == listed or module_name.startswith(listed + ".")
            for listed in self.message_modules
        )


_MISSING = object()


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


class Codec:
    """Encodes messages for one node; `ref_encoder`/`ref_decoder` map refs.

    `ref_encoder(ref) -> (node, uid, name)` and `ref_decoder(node, uid, name) -> ref`
    come from the cluster, which knows which refs are local. `message_modules` are the
    modules (and packages) whose classes may be named on the wire besides those already
    imported (see `TypeResolver`); `max_size` bounds one encoded message, in bytes.
    """

    def __init__(
        self,
        *,
        allow_pickle: bool,
        ref_encoder: Callable[[ActorRef[Any]], tuple[str, int, str | None]],
        ref_decoder: Callable[[str, int, str | None], ActorRef[Any]],
        message_modules: Iterable[str] = (),
        max_size: int | None = None,
    ) -> None:
        self.allow_pickle = allow_pickle
        self.max_size = max_size
        self.resolver = TypeResolver(message_modules)
        self._ref_encoder = ref_encoder
        self._ref_decoder = ref_decoder
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(ext_hook=self._ext_hook)
        self._classes: dict[str, type] = {}
        # For a hot path that makes the call itself (remote tells): per type whose
        # values msgspec writes exactly as `encode` would (plain msgpack, no Ext
        # record), the one msgspec call that encodes them. Its result equals
        # `encode`'s when that succeeds and fits `max_size`; the caller must check the
        # size, and take `encode` (which raises saying why) when the call raises.
        encode = self._encoder.encode
        self.plain: dict[type, Callable[[Any], bytes]] = dict.fromkeys(_SCALARS, encode)
        self.payload_limit = sys.maxsize if max_size is None else max_size

    # -- encoding ---------------------------------------------------------------------

    def encode(self, message: Any) -> bytes:
        """Bytes for `message`; raises `SerializationError` if it cannot travel (a type
        the codec cannot carry, or more than `max_size` bytes)."""
        try:
            if type(message) in _SCALARS:
                data = self._encoder.encode(message)
            else:
                data = self._encoder.encode(self._wire(message))
        except SerializationError:
            raise
        except OverflowError as error:  # an int past 64 bits, anywhere in the message
            raise SerializationError(
                type(message).__qualname__, str(error),
                "msgpack carries ints from -2**63 to 2**64 - 1: send a larger one as a str"
                " or bytes (str(n), n.to_bytes(...)) and convert it back on receipt",
            ) from error
        except Exception as error:
            raise SerializationError(type(message).__qualname__, str(error)) from error
        if self.max_size is not None and len(data) > self.max_size:
            raise SerializationError(
                f"a {type(message).__qualname__} of {len(data)} bytes",
                f"over the {self.max_size}-byte limit of one message between nodes"
                " (max_frame_size=)", "send it in parts, or raise the limit on both nodes",
            )
        return data

    def _pack(self, code: int, value: Any) -> Ext:
        return Ext(code, self._encoder.encode(value))

    def _wire(self, value: Any) -> Any:
        """`value` with everything msgpack cannot say turned into Ext records."""
        kind = type(value)
        if kind in _SCALARS:
            return value
        if kind is list:
            return [self._wire(item) for item in value]
        if kind is dict:
            if all(type(key) in _SCALARS for key in value):
                return {key: self._wire(item) for key, item in value.items()}
            # msgpack map keys must be hashable once decoded, and Ext records are not:
            # a dict with tuple or other keys travels as a list of pairs.
            return self._pack(_PAIRS, [[self._wire(k), self._wire(v)] for k, v in value.items()])
        if kind is tuple:
            return self._pack(_TUPLE, [self._wire(item) for item in value])
        if kind is set or kind is frozenset:
            code = _SET if kind is set else _FROZENSET
            return self._pack(code, [self._wire(item) for item in value])
        if isinstance(value, ActorRef):
            return self._pack(_REF, list(self._ref_encoder(value)))
        if isinstance(value, msgspec.Struct):
            fields = {
                name: self._wire(getattr(value, name)) for name in value.__struct_fields__
            }
            return self._pack(_STRUCT, [qualified_name(kind), fields])
        if isinstance(value, enum.Enum):
            return self._pack(_ENUM, [qualified_name(kind), self._wire(value.value)])
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            fields = {
                field.name: self._wire(getattr(value, field.name))
                for field in dataclasses.fields(value)
            }
            return self._pack(_DATACLASS, [qualified_name(kind), fields])
        if kind is bytearray:
            return Ext(_BYTEARRAY, bytes(value))
        if self.allow_pickle:
            return Ext(_PICKLE, self._pickle(value))
        if isinstance(value, BaseException):
            return self._error_ext(value)
        raise SerializationError(
            f"a {qualified_name(kind)}",
            "pickling is off (allow_pickle=False, the default), and only builtins,"
            " Structs, dataclasses, enums, exceptions and refs travel without it; make"
            f" {kind.__qualname__} a msgspec.Struct or a dataclass, or start both nodes"
            " with allow_pickle=True (repertory node --allow-pickle)",
        )

    def _error_ext(self, error: BaseException) -> Ext:
        """The one way an exception crosses the wire: its class by name and its
        arguments, as pickle would (an error that builds its message in __str__ from
        structured fields, as `ActorError`s do, gets the fields back)."""
        try:
            args = [self._wire(arg) for arg in error.args]
        except SerializationError:
            args = [str(error)]
        return self._pack(_ERROR, [qualified_name(type(error)), args])

    def error_to_wire(self, error: BaseException) -> RemoteError:
        """An error as a `Reply`, `Terminated` or `Spawned` frame carries it.

        Repertory's own errors (`actors.errors`) travel as themselves (`value`, the
        codec's exception encoding) and come back with their class and fields. Any
        other error travels as its type name, text and traceback, and reaches the
        other side as `ActorCrashedError` (see `error_from_wire`).
        """
        if isinstance(error, ActorError) and type(error).__module__ == "actors.errors":
            try:
                value = self._encoder.encode(self._error_ext(error))
            except Exception:
                value = b""
            if value:
                return RemoteError(type(error).__name__, str(error), "", value)
        text = "".join(traceback.format_exception(error))
        return RemoteError(type(error).__qualname__, str(error), text)

    def error_from_wire(self, actor: str, error: RemoteError) -> Exception:
        """The exception a caller on this node sees for `error`, raised by `actor`."""
        if error.value:
            try:
                rebuilt = self.decode(error.value)
            except SerializationError:
                rebuilt = None
            if isinstance(rebuilt, ActorError):
                return rebuilt
        return ActorCrashedError(actor, error.type_name, error.message, error.traceback)

    @staticmethod
    def _pickle(value: Any) -> bytes:
        import cloudpickle

        try:
            data: bytes = cloudpickle.dumps(value)
        except Exception as error:
            raise SerializationError(type(value).__qualname__, f"cloudpickle: {error}") from error
        return data

    # -- decoding ---------------------------------------------------------------------

    def decode(self, data: bytes) -> Any:
        """The message in `data`; raises `SerializationError` if it makes no sense."""
        try:
            return self._decoder.decode(data)
        except SerializationError:
            raise
        except _DECODE_FAILURES as error:
            raise SerializationError("a received message", repr(error)) from None

    def decode_each(
        self,
        payloads: Iterable[bytes],
        deliver: Callable[[Any], object],
        failed: Callable[[bytes, SerializationError], object],
    ) -> None:
        """`decode` each of `payloads` in order and hand the message to `deliver`, or
        the payload and its `SerializationError` to `failed`: a batch's messages for
        the cost of one call, not one per message (the hot loop of remote tells)."""
        decode = self._decoder.decode
        for payload in payloads:
            try:
                message = decode(payload)
            except SerializationError as error:
                failed(payload, error)
                continue
            except _DECODE_FAILURES as error:
                failed(payload, SerializationError("a received message", repr(error)))
                continue
            deliver(message)

    def decode_batch(
        self, frame: TellMany, failed: Callable[[bytes, SerializationError], object]
    ) -> list[Any]:
        """The messages of a `TellMany`, in order, decoded in one call (the hot path of
        remote tells). If any one does not decode, each is decoded on its own, so that
        only the bad ones are left out, each handed with its `SerializationError` to
        ``failed(payload, error)``."""
        try:
            messages: list[Any] = self._decoder.decode(frame.messages)  # an array: see TellMany
        except (SerializationError, *_DECODE_FAILURES):
            messages = []
            self.decode_each(frame.payloads(), messages.append, failed)
        return messages

    def _ext_hook(self, code: int, data: memoryview) -> Any:
        if code == _BYTEARRAY:
            return bytearray(data)
        if code == _PICKLE:
            if not self.allow_pickle:
                raise SerializationError(
                    "a pickled message", "pickling is switched off on this node"
                )
            # Only authenticated links ever reach here (the handshake comes first).
            return pickle.loads(data)
        value = self._decoder.decode(data)
        if code == _TUPLE:
            return tuple(value)
        if code == _SET:
            return set(value)
        if code == _PAIRS:
            return {key: item for key, item in value}
        if code == _FROZENSET:
            return frozenset(value)
        if code == _REF:
            node, uid, name = value
            return self._ref_decoder(node, uid, name)
        if code == _STRUCT:
            name, fields = value
            return self._class(name, "struct")(**fields)
        if code == _DATACLASS:
            name, fields = value
            return self._class(name, "dataclass")(**fields)
        if code == _ENUM:
            name, enum_value = value
            return self._class(name, "enum")(enum_value)
        if code == _ERROR:
            name, args = value
            try:
                return self._class(name, "error")(*args)
            except _DECODE_FAILURES:
                return RuntimeError(f"{name}: {', '.join(map(str, args))}")
        raise SerializationError("a received message", f"unknown ext code {code}")

    def _class(self, name: str, kind: str) -> Any:
        key = f"{kind}/{name}"
        cls = self._classes.get(key)
        if cls is None:
            cls = self.resolver.resolve(name, kind, _ACCEPT[kind])
            self._classes[key] = cls
        return cls


def _is_exception(cls: type) -> bool:
    return issubclass(cls, BaseException)


_ACCEPT: dict[str, Callable[[type], bool]] = {
    "struct": lambda cls: issubclass(cls, msgspec.Struct),
    "enum": lambda cls: issubclass(cls, enum.Enum),
    "error": _is_exception,
    "dataclass": dataclasses.is_dataclass,
}
