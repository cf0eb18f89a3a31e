"""The frames two nodes exchange: a tagged union of `msgspec.Struct`s.

Each frame encodes as a msgpack array whose first item is its short tag. User messages
travel inside frames as opaque `bytes` payloads encoded by the message codec, so a frame
decodes without importing or touching any user type. `runtime._wire.framing` reads and
writes these on a byte stream; `runtime._wire.handshake` uses the handshake frames.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

# For `TellMany`: its array of encoded messages, built from and split into the items.
_encoder = msgspec.msgpack.Encoder()
_items = msgspec.msgpack.Decoder(list[msgspec.Raw])

__all__ = (
    "Ask",
    "Challenge",
    "Credit",
    "Frame",
    "Goodbye",
    "HandshakeFrame",
    "Heartbeat",
    "Hello",
    "Member",
    "Members",
    "Proof",
    "RegistryEntry",
    "RegistryUpdate",
    "RemoteError",
    "Reply",
    "Send",
    "SendMany",
    "SessionFrame",
    "Spawn",
    "Spawned",
    "Target",
    "Tell",
    "TellMany",
    "Terminated",
    "TopicInterest",
    "TopicPublish",
    "Unwatch",
    "Watch",
    "Welcome",
)


# Field types shared by several frames. An actor is addressed on its own node by id
# (an int, compact on the wire) or by registered name.
Target = int | str
_NodeName = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
_Nonce = Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]
_Mac = Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]


# array_like: no field names on the wire; gc=False: frames hold only scalars, bytes and
# lists of other frames' parts, never a cycle, so the collector need not track them.
# Subclasses inherit both.
class _Frame(msgspec.Struct, array_like=True, gc=False):
    pass


class RemoteError(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """An exception raised on another node: its type name, message and traceback.

    `value` is the exception itself as the message codec encodes it (class name and
    arguments), set for errors the receiver can rebuild as they were (Repertory's own);
    see `runtime._wire.codec.Codec.error_to_wire`.
    """

    type_name: str
    message: str
    traceback: str = ""
    value: bytes = b""


# --- handshake frames (see runtime._wire.handshake) -------------------------------------


class Hello(_Frame, tag="hello"):
    """First frame from the connecting side: its version, node name and fresh nonce."""

    version: int
    node: _NodeName
    nonce: _Nonce


class Challenge(_Frame, tag="challenge"):
    """The listening side's answer to `Hello`: its version, node name and fresh nonce."""

    version: int
    node: _NodeName
    nonce: _Nonce


class Proof(_Frame, tag="proof"):
    """The connecting side's HMAC over both nonces and names (label "client")."""

    mac: _Mac


class Welcome(_Frame, tag="welcome"):
    """The listening side accepts and proves the cookie in turn (label "server")."""

    mac: _Mac


class Goodbye(_Frame, tag="bye"):
    """The sender is closing the link (orderly shutdown or a rejected handshake)."""

    reason: str = ""


# --- session frames ----------------------------------------------------------------


class Heartbeat(_Frame, tag="hb"):
    """Sent on every link at a fixed interval; `sent` is the sender's monotonic time."""

    seq: int
    sent: float


class Tell(_Frame, tag="t"):
    """One message for `target`; `sender` is the sending actor's address, if any."""

    target: Target
    payload: bytes
    sender: str | None = None


class TellMany(_Frame, tag="tm"):
    """Several messages for one target, delivered in array order: `messages` is one
    msgpack array whose items are the messages as the message codec encodes them (so
    a batch is encoded, and decoded, in one call). A frame whose `messages` is not an
    array does not decode."""

    target: Target
    messages: msgspec.Raw
    sender: str | None = None

    def __post_init__(self) -> None:
        # msgspec has checked that `messages` is one whole msgpack object; its first
        # byte says whether it is an array (fixarray, array 16, array 32).
        view = memoryview(self.messages)
        if not view or not (0x90 <= view[0] <= 0x9F or view[0] in (0xDC, 0xDD)):
            raise ValueError("a TellMany's messages must be one msgpack array")
        # Decoded, `messages` is a view into the reader's buffer, which must stay free
        # to be compacted: one copy per frame (a `Raw` of its own bytes is not copied).
        view.release()
        self.messages = self.messages.copy()

    @classmethod
    def of(cls, target: Target, payloads: list[bytes], sender: str | None = None) -> TellMany:
        """The frame for messages already encoded one by one (each one whole msgpack
        object, as the message codec gives), in order."""
        messages = _encoder.encode([msgspec.Raw(payload) for payload in payloads])
        return cls(target, msgspec.Raw(messages), sender)

    def payloads(self) -> list[bytes]:
        """Each message's encoded bytes, in order (what a `Tell` would carry)."""
        return [bytes(item) for item in _items.decode(self.messages)]


class Send(_Frame, tag="s"):
    """One message from `await ref.send()`: the receiver delivers it once the target's
    mailbox has room (never dropping it) and answers with `Credit`."""

    target: Target
    payload: bytes


class SendMany(_Frame, tag="sm"):
    """Several `Send`s for one target, delivered in list order; each is one `Send` to
    the receiver (taken in when there is room, one credit each)."""

    target: Target
    payloads: list[bytes]


class Credit(_Frame, tag="cr"):
    """The receiver took `count` more `Send`s for `target` into its mailbox: the
    sender may send that many more."""

    target: Target
    count: int


class Ask(_Frame, tag="a"):
    """A request that expects a `Reply` with the same `corr`.

    `timeout` is the time left on the asker's deadline, in seconds when sent: relative,
    because two nodes' clocks need not agree. None means no deadline.
    """

    corr: int
    target: Target
    payload: bytes
    timeout: float | None = None
    sender: str | None = None


class Reply(_Frame, tag="r"):
    """The answer to `Ask` `corr`: a payload when `ok`, otherwise `error`."""

    corr: int
    ok: bool
    payload: bytes = b""
    error: RemoteError | None = None


class Watch(_Frame, tag="w"):
    """`watcher` (an address on the sending node) watches `target` on the receiver."""

    target: Target
    watcher: str


class Unwatch(_Frame, tag="uw"):
    """Undo a `Watch`."""

    target: Target
    watcher: str


class Terminated(_Frame, tag="term"):
    """Watched actor `target` stopped; `error` is set when it failed."""

    target: Target
    reason: str = "normal"
    error: RemoteError | None = None


class Spawn(_Frame, tag="spawn"):
    """Start an actor on the receiver and answer with `Spawned` `corr`.

    The class comes by import path (`cls_path`, "module:QualName") or by value
    (`cls_pickle`, only where pickle is allowed); `args` holds the codec-encoded
    positional and keyword arguments.
    """

    corr: int
    cls_path: str
    args: bytes
    name: str | None = None
    cls_pickle: bytes | None = None
    uid: int = 0


class Spawned(_Frame, tag="spawned"):
    """The answer to `Spawn` `corr`: the new actor's address, or the error."""

    corr: int
    actor: str = ""
    error: RemoteError | None = None


class RegistryEntry(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """One cluster-wide name: `actor` is None when the name was dropped. `stamp`
    orders competing claims so that every node settles on the same winner."""

    name: str
    actor: str | None
    stamp: int = 0


class RegistryUpdate(_Frame, tag="reg"):
    """Changes to the sender's cluster names; `full` replaces everything known of it."""

    entries: list[RegistryEntry]
    full: bool = False


class TopicInterest(_Frame, tag="topics"):
    """Topics that now have (`subscribe`) or no longer have subscribers on the sender;
    `full` replaces the whole set, so a node sends a topic only where it is wanted."""

    subscribe: list[str] = []
    unsubscribe: list[str] = []
    full: bool = False


class TopicPublish(_Frame, tag="pub"):
    """One message for every subscriber of `topic` on the receiving node."""

    topic: str
    payload: bytes
    sender: str | None = None


class Member(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """A node as gossiped: `incarnation` grows each time the node restarts."""

    node: str
    incarnation: int = 0
    status: Literal["up", "leaving", "down"] = "up"


class Members(_Frame, tag="members"):
    """The sender's view of the cluster's members, for a full mesh."""

    members: list[Member]


HandshakeFrame = Hello | Challenge | Proof | Welcome | Goodbye
SessionFrame = (
    Heartbeat
    | Tell
    | TellMany
    | Send
    | SendMany
    | Credit
    | Ask
    | Reply
    | Watch
    | Unwatch
    | Terminated
    | Spawn
    | Spawned
    | RegistryUpdate
    | TopicInterest
    | TopicPublish
    | Members
    | Goodbye
)
Frame = HandshakeFrame | SessionFrame
