"""Generated hostile input against a real node process while a legitimate peer keeps
being served: before the handshake (bytes, truncated and oversized frames, forged
proofs) and after it, from a peer that holds the cookie and seals every record with
valid tags, so the frames reach the decoder and the node's handlers (plus records
it forged, tampered with or left bare, which must close only their own link).

Throughout, a legitimate node in a thread of its own asks the target's echo once
every few milliseconds; each ask must be answered. At the end the target is alive
and serves a fresh peer.

``make test`` runs `EXAMPLES` examples of each of the two fuzzers; ``make fuzz`` sets
``REPERTORY_FUZZ_EXAMPLES=10000`` and ``-s``, and each fuzzer prints what it tried:
the kinds of input and how many of each.
"""

from __future__ import annotations

import os
import pickle
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import anyio
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msgspec.msgpack import Ext

from runtime._wire import codec as _codec
from runtime._wire import framing as wire
from runtime._wire.records import TAG_SIZE
from tests.cluster.hostile import intruder, still_serving
from tests.cluster.nodes import NodeProcess, Nodes, open_node

EXAMPLES = int(os.environ.get("REPERTORY_FUZZ_EXAMPLES", "100"))
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 100,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# The cluster tests' 20 s budget covers the default count; a long run gets its time.
TIMEOUT = max(60.0, EXAMPLES * 0.1)


# -- the legitimate peer ------------------------------------------------------------------


class LegitimatePeer:
    """A node in its own thread and event loop that asks the target's echo over and
    over while the fuzzer runs; counts answers, keeps the first failure."""

    def __init__(self, target: NodeProcess) -> None:
        self.target = target
        self.answered = 0
        self.failure: BaseException | None = None
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: anyio.run(self._run), daemon=True)

    async def _run(self) -> None:
        try:
            async with open_node("legit", check_tasks=False) as system:
                await system.cluster.join(self.target.address)
                echo = await system.lookup("echo", node=self.target.address)
                assert echo is not None
                self.ready.set()
                n = 0
                while not self._stop.is_set():
                    n += 1
                    assert await echo.ask(n, timeout=5.0) == n
                    self.answered += 1
                    await anyio.sleep(0.005)
        except BaseException as error:  # reported to the test by `check`
            self.failure = error
            self.ready.set()

    @contextmanager
    def asking(self) -> Iterator[LegitimatePeer]:
        self._thread.start()
        try:
            assert self.ready.wait(15), "the legitimate peer did not link to the target"
            yield self
        finally:
            self._stop.set()
            self._thread.join(15)

    def check(self, before: int) -> None:
        assert self.failure is None, f"the legitimate peer was not served: {self.failure!r}"
        assert self.answered > before, "the legitimate peer got no answer meanwhile"


def report(name: str, tried: Counter[str]) -> None:
    total = sum(tried.values())
    kinds = ", ".join(f"{kind} {count}" for kind, count in tried.most_common())
    print(f"\n{name}: {total} inputs tried: {kinds}")


# -- before the handshake ------------------------------------------------------------------


def hello(node: str = "fuzzer", version: int = wire.PROTOCOL_VERSION) -> bytes:
    return wire.encode_frame(wire.Hello(version=version, node=node, nonce=b"\1" * 32))


def _whole_msgpack(data: bytes) -> bool:
    try:
        msgspec.msgpack.decode(data, type=msgspec.Raw)
    except msgspec.DecodeError:
        return False
    return True


def encode_body(items: list[object]) -> bytes:
    """A frame (prefix and body) whose body is `items` as msgpack, whatever they say."""
    body = msgspec.msgpack.encode(items)
    return struct.pack(">I", len(body)) + body


def labelled(label: str, strategy: st.SearchStrategy[bytes]) -> st.SearchStrategy[
    tuple[str, bytes]
]:
    return strategy.map(lambda data: (label, data))


handshakes = st.one_of(
    labelled("garbage", st.binary(max_size=2048)),
    labelled("truncated hello", st.integers(0, len(hello()) - 1).map(lambda cut: hello()[:cut])),
    labelled("oversized length", st.builds(
        lambda size, tail: struct.pack(">I", size) + tail,
        st.integers(1025, 2**32 - 1), st.binary(max_size=64),
    )),
    labelled("sized junk", st.binary(max_size=1024).map(
        lambda body: struct.pack(">I", len(body)) + body
    )),
    labelled("wrong first frame", st.sampled_from([
        wire.Proof(mac=b"\0" * 32), wire.Welcome(mac=b"\0" * 32), wire.Goodbye("x"),
        wire.Challenge(version=wire.PROTOCOL_VERSION, node="x", nonce=b"\0" * 32),
    ]).map(wire.encode_frame)),
    labelled("forged proof", st.builds(
        lambda version, node, mac: hello(node, version) + wire.encode_frame(wire.Proof(mac=mac)),
        st.integers(0, 2**32), st.text(min_size=1, max_size=300),
        st.binary(min_size=32, max_size=32),
    )),
    labelled("frames before any handshake", st.builds(
        lambda n: wire.encode_frame(wire.Tell("echo", b"\x01")) * n, st.integers(1, 5)
    )),
)


def send_and_wait_for_close(port: int, data: bytes) -> None:
    """Send `data` and our end of stream; the node must close within 5 s."""
    with socket.create_connection(("127.0.0.1", port), timeout=5.0) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(4096):
                pass
        except (ConnectionResetError, BrokenPipeError):
            pass  # it closed on us first: fine


@pytest.mark.timeout(TIMEOUT)
def test_generated_handshakes_never_stop_a_node_or_its_service(nodes: Nodes) -> None:
    target = nodes.launch("target")
    tried: Counter[str] = Counter()
    with LegitimatePeer(target).asking() as legit:
        before = legit.answered

        @FUZZ
        @given(handshakes)
        def abuse(example: tuple[str, bytes]) -> None:
            kind, data = example
            tried[kind] += 1
            send_and_wait_for_close(target.port, data)

        abuse()
        legit.check(before)
    report("handshakes", tried)
    assert "rejected a connection" in target.log()
    anyio.run(still_serving, target)


# -- after the handshake -------------------------------------------------------------------

# Member names that are either not addresses or 127.0.0.1 ones (a node dials members):
# never a name that would make the node dial another host, or resolve one.
safe_nodes = st.text("abcxyz-", min_size=1, max_size=8) | st.integers(1, 65535).map(
    lambda port: f"ghost@127.0.0.1:{port}"
)
texts = st.text(max_size=30)
targets = st.integers(-(2**63), 2**63 - 1) | texts | st.sampled_from(["echo", "control"])
ref_texts = texts | st.builds(lambda n, u: f"{n}|{u}|", safe_nodes, st.integers(0, 2**64))
type_names = st.sampled_from([
    "tests.cluster.apps:Point", "tests.cluster.apps:Order", "tests.cluster.apps:Color",
    "builtins:ValueError", "builtins:SystemExit", "os:system", "venv.__main__:X",
    "tests.runtime.wire.side_effects:Listed", "this:x", ":", "x",
])
payloads = st.one_of(
    st.binary(max_size=64),
    st.builds(lambda code, body: msgspec.msgpack.encode(Ext(code, body)),
              st.integers(0, 127), st.binary(max_size=32)),
    st.builds(lambda code, name, rest: msgspec.msgpack.encode(
        Ext(code, msgspec.msgpack.encode([name, rest]))),
        st.sampled_from([_codec._STRUCT, _codec._DATACLASS, _codec._ENUM, _codec._ERROR]),
        type_names, st.dictionaries(texts, st.integers(-(2**63), 2**63 - 1) | texts, max_size=3)),
    st.just(msgspec.msgpack.encode(Ext(_codec._PICKLE, pickle.dumps(0)))),
)
# A TellMany's messages are one msgpack array: its items are whole msgpack objects
# (any binary junk among them makes the frame itself malformed, as `tm_junk` below).
items = payloads.filter(lambda payload: _whole_msgpack(payload))
errors = st.none() | st.builds(wire.RemoteError, texts, texts, texts)
session_frames = st.one_of(
    st.builds(wire.Tell, targets, payloads, st.none() | ref_texts),
    st.builds(wire.TellMany.of, targets, st.lists(items, max_size=3), st.none() | ref_texts),
    st.builds(wire.Send, targets, payloads),
    st.builds(wire.SendMany, targets, st.lists(payloads, max_size=3)),
    st.builds(wire.Ask, st.integers(0, 2**63), targets, payloads,
              st.none() | st.floats(), st.none() | ref_texts),
    st.builds(wire.Reply, st.integers(0, 2**63), st.booleans(), payloads, errors),
    st.builds(wire.Watch, targets, ref_texts),
    st.builds(wire.Unwatch, targets, ref_texts),
    st.builds(wire.Terminated, targets, texts, errors),
    st.builds(wire.Spawn, st.integers(0, 2**63),
              st.sampled_from(["tests.cluster.apps:Echo", "os:system", "builtins:print",
                               "zz_no_such_module:X", "", ":", "tests.cluster.apps:Point",
                               "tests.runtime.wire.side_effects:Listed"]),
              payloads, st.none() | texts, st.none(), st.integers(0, 2**63)),
    st.builds(wire.Spawned, st.integers(0, 2**63), ref_texts, errors),
    st.builds(wire.RegistryUpdate,
              st.lists(st.builds(wire.RegistryEntry, texts, st.none() | ref_texts,
                                 st.integers(0, 2**63)), max_size=3), st.booleans()),
    st.builds(wire.TopicInterest, st.lists(texts, max_size=3), st.lists(texts, max_size=3),
              st.booleans()),
    st.builds(wire.TopicPublish, texts, payloads, st.none() | ref_texts),
    st.builds(wire.Members, st.lists(st.builds(wire.Member, safe_nodes), max_size=3)),
    st.builds(wire.Heartbeat, st.integers(0, 2**63), st.floats()),
)
# What one authenticated peer writes: frames (most of all), sealed in valid records;
# or a record that fails (a bare frame, a forged tag, a flipped byte).
frames = st.one_of(
    session_frames.map(lambda frame: (type(frame).__name__, wire.encode_frame(frame))),
    labelled("TellMany with junk messages", st.builds(
        lambda target, junk: encode_body(["tm", target, msgspec.Raw(junk)]),
        targets, st.one_of(payloads, st.builds(lambda items: b"\x93" + b"".join(items),
                                                st.lists(payloads, min_size=3, max_size=3))),
    )),
    labelled("junk frame", st.binary(max_size=256).map(
        lambda body: struct.pack(">I", len(body)) + body
    )),
    labelled("oversized frame length", st.integers(
        wire.DEFAULT_MAX_FRAME_SIZE + 1, 2**32 - 1
    ).map(lambda n: struct.pack(">I", n))),
)
breakages = st.sampled_from(["sealed"] * 6 + ["bare", "forged tag", "flipped byte"])


def break_record(how: str, record: bytes, body: bytes) -> bytes:
    if how == "bare":
        return body
    if how == "forged tag":
        return record[:-TAG_SIZE] + bytes(TAG_SIZE)
    flipped = bytearray(record)
    flipped[len(record) // 2] ^= 0x40
    return bytes(flipped)


async def authenticate_and_send(
    port: int, name: str, writes: list[list[tuple[str, bytes]]], how: str
) -> None:
    async with intruder(port, name) as peer:
        for write in writes:
            body = b"".join(data for _, data in write)
            if how == "sealed":
                await peer.send_frames([body])
            else:
                await peer.send_raw(break_record(how, peer.sealer.seal(body), body))
                return  # the node closes this link: nothing more gets through


@pytest.mark.timeout(TIMEOUT)
def test_generated_frames_from_an_authenticated_peer_never_stop_a_node_or_its_service(
    nodes: Nodes,
) -> None:
    target = nodes.launch("target")
    tried: Counter[str] = Counter()
    count = iter(range(10**9))
    with LegitimatePeer(target).asking() as legit:
        before = legit.answered

        @FUZZ
        @given(st.lists(st.lists(frames, min_size=1, max_size=6), min_size=1, max_size=3),
               breakages)
        def abuse(writes: list[list[tuple[str, bytes]]], how: str) -> None:
            tried.update(kind for write in writes for kind, _ in write)
            tried[f"record {how}"] += 1
            anyio.run(authenticate_and_send, target.port, f"fuzzer-{next(count)}", writes, how)

        started = time.monotonic()
        abuse()
        legit.check(before)
    report(f"frames after the handshake ({time.monotonic() - started:.0f} s)", tried)
    assert target.process.poll() is None
    anyio.run(still_serving, target)
