"""Segments: reads from any offset, reopening, retention by size and age."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors import StreamEntry
from actors.testkit import TestProbe
from runtime import ActorSystem
from runtime._streams.log import SegmentedLog
from runtime._streams.options import StreamOptions
from tests.runtime.streams.test_corruption import Msgpack, message, segments

COUNT = 9000
OPTIONS = StreamOptions(segment_bytes=128 * 1024, fsync="never")


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("big") / "s"
    log = SegmentedLog.open("s", directory, Msgpack(), OPTIONS, 0)
    for offset in range(COUNT):
        log.append(message(offset))
    log.close()
    return directory


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=st.integers(0, COUNT), length=st.integers(0, 3000), limit=st.integers(1, 4000))
def test_a_read_from_any_offset_gets_exactly_those_entries(
    big: Path, start: int, length: int, limit: int
) -> None:
    log = SegmentedLog.open("s", big, Msgpack(), OPTIONS, 0)
    try:
        stop = min(COUNT, start + length)
        got = log.read(start, stop, limit)
        expected = list(range(start, min(stop, start + limit)))
        assert [offset for offset, _ in got] == expected
        assert all(entry == message(offset) for offset, entry in got)
    finally:
        log.close()


def test_segments_are_named_by_base_offset_and_sized(big: Path) -> None:
    files = segments(big)
    assert len(files) >= 3
    bases = [int(path.stem) for path in files]
    assert bases[0] == 0 and bases == sorted(bases)
    assert all(path.stat().st_size <= OPTIONS.segment_bytes for path in files)
    assert all(path.with_suffix(".idx").exists() for path in files)


def test_retention_by_size_drops_whole_old_segments_and_offsets_keep_counting(
    tmp_path: Path,
) -> None:
    options = StreamOptions(segment_bytes=8192, fsync="never", retention_bytes=32 * 1024)
    log = SegmentedLog.open("s", tmp_path / "s", Msgpack(), options, 0)
    try:
        for offset in range(3000):
            assert log.append(message(offset)) == offset
        assert sum(path.stat().st_size for path in segments(tmp_path / "s")) <= 40 * 1024
        assert 0 < log.start == int(segments(tmp_path / "s")[0].stem)
        assert [offset for offset, _ in log.read(0, 3000, 5)] == list(
            range(log.start, log.start + 5)
        )
    finally:
        log.close()
    log = SegmentedLog.open("s", tmp_path / "s", Msgpack(), options, 0)
    try:
        assert log.append("next") == 3000
    finally:
        log.close()


def test_retention_by_age_drops_segments_whose_newest_entry_is_old(tmp_path: Path) -> None:
    directory = tmp_path / "s"
    options = StreamOptions(segment_bytes=8192, fsync="never", retention_age=3600.0)
    log = SegmentedLog.open("s", directory, Msgpack(), options, 0)
    for offset in range(1000):
        log.append(message(offset))
    log.close()
    old = segments(directory)[:3]
    a_day_ago = time.time() - 86400
    for path in old:
        os.utime(path, (a_day_ago, a_day_ago))  # as if written a day ago
    log = SegmentedLog.open("s", directory, Msgpack(), options, 0)
    try:
        assert log.start == int(segments(directory)[0].stem)
        assert not any(path.exists() for path in old)
        assert log.end == 1000
    finally:
        log.close()


@pytest.mark.anyio
async def test_a_consumer_behind_the_retained_start_goes_on_from_it(
    anyio_backend: str, tmp_path: Path
) -> None:
    async with ActorSystem("node", data_dir=str(tmp_path)) as system:
        stream = system.streams.stream("s", segment_bytes=4096, retention_bytes=12 * 1024)
        probe = TestProbe(system)
        stream.subscribe(probe.ref, group="slow", start="earliest", max_in_flight=1)
        for n in range(2000):
            stream.append(n)
        assert (await probe.expect(StreamEntry)).offset == 0  # and it never commits
        assert stream.start > 0
        with pytest.raises(ValueError, match="retention dropped the entries below"):
            stream.subscribe(TestProbe(system).ref, start=0)
        late = TestProbe(system)
        stream.subscribe(late.ref, start="earliest")
        assert (await late.expect(StreamEntry)).offset == stream.start
    async with ActorSystem("node", data_dir=str(tmp_path)) as system:
        stream = system.streams.stream("s", segment_bytes=4096, retention_bytes=12 * 1024)
        member = TestProbe(system)
        stream.subscribe(member.ref, group="slow")
        # It had committed nothing; what it missed is gone: it goes on from the start.
        assert (await member.expect(StreamEntry)).offset == stream.start
