"""Damage to a stream's files is reported and never spreads; a torn tail is the only
thing cut, and what is cut is kept.

The log layer (`SegmentedLog`) is driven directly where hypothesis picks the damage:
opening one needs no event loop. The scenarios of issue 12 run end to end.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors import StreamCorruptError, StreamEntry
from actors.testkit import TestProbe
from runtime import ActorSystem
from runtime._streams.log import SegmentedLog
from runtime._streams.options import StreamOptions

SEGMENT = 40 * 1024
ENTRIES = 4000
OPTIONS = StreamOptions(segment_bytes=SEGMENT, fsync="never")
SKIP = StreamOptions(segment_bytes=SEGMENT, fsync="never", on_corruption="skip")


class Msgpack:
    def encode(self, message: Any) -> bytes:
        return msgspec.msgpack.encode(message)

    def decode(self, data: bytes) -> Any:
        return msgspec.msgpack.decode(data)


def message(offset: int) -> dict[str, Any]:
    return {"n": offset, "pad": "x" * (offset % 37)}


def build(directory: Path, count: int = ENTRIES, options: StreamOptions = OPTIONS) -> None:
    log = SegmentedLog.open("s", directory, Msgpack(), options, 0)
    for offset in range(count):
        assert log.append(message(offset)) == offset
    log.close()


def open_log(directory: Path, options: StreamOptions = SKIP, floor: int = 0) -> SegmentedLog:
    return SegmentedLog.open("s", directory, Msgpack(), options, floor)


def everything(log: SegmentedLog) -> dict[int, Any]:
    return dict(log.read(0, log.end, log.end + 1))


def segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.seg"))


def locate(directory: Path, fraction: float) -> tuple[Path, int]:
    """The segment file and byte position at `fraction` of the whole log."""
    files = segments(directory)
    target = int(fraction * sum(path.stat().st_size for path in files))
    for path in files:
        size = path.stat().st_size
        if target < size:
            return path, target
        target -= size
    return files[-1], files[-1].stat().st_size - 1


def damage(path: Path, position: int, kind: str) -> None:
    data = bytearray(path.read_bytes())
    if kind == "flip":
        data[position] ^= 0x04
    else:  # a zeroed 4 KB page, as a failing disk or file system leaves it
        page = position - position % 4096
        data[page : page + 4096] = bytes(len(data[page : page + 4096]))
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pristine") / "s"
    build(directory)
    assert len(segments(directory)) >= 4  # and several index chunks in each
    return directory


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fraction=st.floats(0.0, 0.999), kind=st.sampled_from(["flip", "zeros"]))
def test_damage_anywhere_is_reported_and_skips_only_what_it_hit(
    pristine: Path, tmp_path_factory: pytest.TempPathFactory, fraction: float, kind: str
) -> None:
    directory = tmp_path_factory.mktemp("damaged") / "s"
    shutil.copytree(pristine, directory)
    path, position = locate(directory, fraction)
    damage(path, position, kind)
    newest = path == segments(directory)[-1]
    try:
        open_log(directory, OPTIONS).close()
        refused: StreamCorruptError | None = None
    except StreamCorruptError as error:
        refused = error
    log = open_log(directory)
    try:
        kept = everything(log)
        for offset, entry in kept.items():
            assert entry == message(offset)  # every entry read is itself, at its offset
        missing = set(range(ENTRIES)) - set(kept)
        covered = {o for e in log.damaged for o in range(e.offsets[0], e.offsets[1] + 1)}
        if refused is not None:
            # Opening refused, naming the file, the position and the offsets hit.
            assert refused.path == str(path)
            assert refused.position <= position + 4096 and refused.offsets[0] <= min(missing)
            assert missing <= covered and log.end == ENTRIES  # nothing else lost
            assert log.damaged[0].offsets == refused.offsets
        else:
            # Only a torn tail of the newest segment is cut, and kept beside it.
            assert newest and not log.damaged
            assert missing == set(range(min(missing, default=ENTRIES), ENTRIES))
            if missing:
                assert list(directory.glob("*.dropped"))
        assert log.append("next") == log.end - 1 >= ENTRIES - len(missing)
    finally:
        log.close()


def test_a_damaged_index_is_rebuilt_and_loses_nothing(tmp_path: Path) -> None:
    directory = tmp_path / "s"
    build(directory)
    indexes = sorted(directory.glob("*.idx"))
    indexes[1].write_bytes(indexes[1].read_bytes()[:30] + b"\xff" * 10)
    indexes[2].unlink()
    log = open_log(directory, OPTIONS)
    try:
        assert everything(log) == {offset: message(offset) for offset in range(ENTRIES)}
        assert not log.damaged
    finally:
        log.close()


def test_the_next_offset_is_past_every_offset_committed(tmp_path: Path) -> None:
    directory = tmp_path / "s"
    build(directory, 10)
    log = open_log(directory, OPTIONS, floor=25)  # a group had committed up to 24
    try:
        assert log.append("x") == 25
    finally:
        log.close()


@pytest.mark.parametrize("cut", [1, 5, 19, 20, 21, 30])
def test_a_torn_tail_is_the_only_thing_cut_and_is_kept(tmp_path: Path, cut: int) -> None:
    directory = tmp_path / "s"
    build(directory, 300)
    newest = segments(directory)[-1]
    data = newest.read_bytes()
    newest.write_bytes(data[:-cut])  # the crash came `cut` bytes before the write's end
    log = open_log(directory, OPTIONS)
    try:
        assert everything(log) == {offset: message(offset) for offset in range(299)}
        assert log.append("again") == 299
    finally:
        log.close()
    (kept,) = directory.glob("*.dropped")
    assert data[:-cut].endswith(kept.read_bytes())


def test_moved_aside_bytes_are_never_overwritten(tmp_path: Path) -> None:
    directory = tmp_path / "s"
    build(directory, 50)
    newest = segments(directory)[-1]
    data = newest.read_bytes()
    for _ in range(3):  # the same torn tail, three times over
        newest.write_bytes(data[:-3])
        open_log(directory, OPTIONS).close()
        newest.write_bytes(data)
    kept = sorted(directory.glob("*.dropped"))
    assert len(kept) == 3
    (torn,) = {path.read_bytes() for path in kept}  # each holds what it was given
    assert torn and data[:-3].endswith(torn)


@pytest.mark.anyio
async def test_one_flipped_bit_in_a_big_log_costs_one_entry_and_nothing_else(
    anyio_backend: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Issue 12's first finding: a flip at 40% of 20,000 entries cut 11,980 of them,
    # let the group's committed offset fall back, and reused offset 8,020.
    async with ActorSystem("node", data_dir=str(tmp_path)) as system:
        stream = system.streams.stream("s", segment_bytes=256 * 1024)
        for n in range(20_000):
            stream.append(n)
        probe = TestProbe(system)
        group = stream.subscribe(probe.ref, group="g", start=15_000, max_in_flight=10)
        first = await probe.expect(StreamEntry)
        group.commit(first.offset)
    path, position = locate(tmp_path / "streams" / "s", 0.4)
    damage(path, position, "flip")
    async with ActorSystem("node", data_dir=str(tmp_path)) as system:
        with pytest.raises(StreamCorruptError, match=rf"position \d+ of {path}.*offset"):
            system.streams.stream("s")
    with caplog.at_level(logging.WARNING, "repertory.streams"):
        async with ActorSystem("node", data_dir=str(tmp_path)) as system:
            stream = system.streams.stream("s", on_corruption="skip")
            assert len(stream) == 20_000
            (hit,) = stream.damaged
            assert hit.offsets[0] == hit.offsets[1]  # one entry
            assert stream.committed("g") == 15_000  # the group keeps its place
            probe = TestProbe(system)
            stream.subscribe(probe.ref, start="earliest", max_in_flight=20_000)
            seen = [(await probe.expect(StreamEntry)).message for _ in range(19_999)]
            assert seen == [n for n in range(20_000) if n != hit.offsets[0]]
            assert stream.append("next") == 20_000
    assert "skipped (on_corruption='skip')" in caplog.text and str(path) in caplog.text
