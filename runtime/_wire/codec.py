"""The message codec: Python values to msgpack bytes and back, types kept.

What a node sends arrives as what it was: tuples stay tuples, sets stay sets,
`msgspec.Struct`s, dataclasses and enums come back as themselves (by qualified name,
resolved against code both nodes share), refs come back as working refs. Builtins and
these types never touch pickle. Anything else goes through cloudpickle, and only when
the codec allows it (authenticated links, `allow_pickle=True`); otherwise encoding
fails with `SerializationError` at the sender.

Decoding resolves names only to Struct, dataclass, enum and exception classes, so a
peer cannot make us call an arbitrary function by naming it.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import pickle
import traceback
from collections.abc import Callable
from typing import Any

import msgspec
from msgspec.msgpack import Ext

from actors import ActorRef
from actors.errors import ActorCrashedError, ActorError, SerializationError
from runtime._wire.frames import RemoteError

__all__ = ("Codec",)

# Ext codes (0-127 are ours; msgspec reserves -1 for timestamps).
(_TUPLE, _SET, _FROZENSET, _STRUCT, _DATACLASS, _ENUM, _REF, _PICKLE, _ERROR, _BYTEARRAY,
 _PAIRS) = range(1, 12)
_SCALARS = frozenset({int, str, float, bool, bytes, type(None)})


def qualified_name(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _resolve(name: str) -> Any:
    module_name, _, qualname = name.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        target = getattr(target, part)
    return target


class Codec:
    """Encodes messages for one node; `ref_encoder`/`ref_decoder` map refs.

    `ref_encoder(ref) -> (node, uid, name)` and `ref_decoder(node, uid, name) -> ref`
    come from the cluster, which knows which refs are local.
    """

    def __init__(
        self,
        *,
        allow_pickle: bool,
        ref_encoder: Callable[[ActorRef[Any]], tuple[str, int, str | None]],
        ref_decoder: Callable[[str, int, str | None], ActorRef[Any]],
    ) -> None:
        self.allow_pickle = allow_pickle
        self._ref_encoder = ref_encoder
        self._ref_decoder = ref_decoder
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(ext_hook=self._ext_hook)
        self._classes: dict[str, type] = {}

    # -- encoding ---------------------------------------------------------------------

    def encode(self, message: Any) -> bytes:
        """Bytes for `message`; raises `SerializationError` if it cannot travel."""
        try:
            if type(message) in _SCALARS:
                return self._encoder.encode(message)
            return self._encoder.encode(self._wire(message))
        except SerializationError:
            raise
        except Exception as error:
            raise SerializationError(type(message).__qualname__, str(error)) from error

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
            kind.__qualname__,
            "it is not a builtin, msgspec.Struct, dataclass or enum, and pickling is "
            "switched off (allow_pickle=False)",
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
        except Exception as error:
            raise SerializationError("a received message", str(error)) from error

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
            except Exception:
                return RuntimeError(f"{name}: {', '.join(map(str, args))}")
        raise SerializationError("a received message", f"unknown ext code {code}")

    def _class(self, name: str, kind: str) -> Any:
        key = f"{kind}/{name}"
        cls = self._classes.get(key)
        if cls is None:
            try:
                found = _resolve(name)
            except Exception as error:
                raise SerializationError(
                    f"a {kind} named {name}",
                    f"{error}; both nodes must be able to import it",
                ) from error
            if not _allowed(found, kind):
                raise SerializationError(f"{name}", f"it is not a {kind} class")
            cls = self._classes[key] = found
        return cls


def _allowed(found: object, kind: str) -> bool:
    if not isinstance(found, type):
        return False
    if kind == "struct":
        return issubclass(found, msgspec.Struct)
    if kind == "enum":
        return issubclass(found, enum.Enum)
    if kind == "error":
        return issubclass(found, BaseException)
    return dataclasses.is_dataclass(found)
