"""`kill -9` of a process in the middle of appending takes nothing it acknowledged.

A real child process appends as fast as it can and prints each offset once `append`
has returned; the test kills it with SIGKILL at a random moment, many times over one
data directory (so each run also recovers from the last one's crash), and checks
that every acknowledged entry is there, in order, and that no offset is given twice.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from actors import ActorRef
from runtime._streams.log import SegmentedLog
from runtime._streams.options import StreamOptions
from runtime._wire.codec import Codec

ROOT = Path(__file__).resolve().parents[3]
RUNS = 9


def append_then_kill(data_dir: Path, fsync: str, after: int) -> list[int]:
    """Run the appender until it has acknowledged `after` entries, then SIGKILL it;
    the offsets it acknowledged."""
    errors = data_dir / "appender.log"
    with errors.open("ab") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.runtime.streams.appender", str(data_dir), fsync],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
            stderr=log,
        )
    assert child.stdout is not None
    acknowledged: list[int] = []
    deadline = time.monotonic() + 20.0
    try:
        while len(acknowledged) < after and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            acknowledged.append(int(line))
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10.0)
        # What it printed before the kill was acknowledged too (read through the same
        # buffered reader: communicate() would skip what it holds already).
        # A line the kill cut short is left out: its offset cannot be read back.
        acknowledged += [int(line) for line in child.stdout.read().split(b"\n")[:-1]]
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10.0)
        child.stdout.close()
    assert acknowledged, f"the appender acknowledged nothing: {errors.read_text()[-2000:]}"
    return acknowledged


def no_refs(*args: object) -> ActorRef[object]:
    raise AssertionError("the appender stores no refs")


def test_kill_9_takes_nothing_acknowledged(tmp_path: Path) -> None:
    # Not on both backends: nothing here runs on an event loop but the child's.
    rng = random.Random(12)
    acknowledged: list[int] = []
    for run in range(RUNS):
        fsync = ("always", "interval", "never")[run % 3]
        got = append_then_kill(tmp_path, fsync, rng.randint(50, 1500))
        # No offset handed out twice: each run goes on past everything acknowledged.
        assert not acknowledged or got[0] > acknowledged[-1]
        assert got == sorted(got) == list(range(got[0], got[-1] + 1))
        acknowledged += got
    codec = Codec(allow_pickle=False, ref_encoder=no_refs, ref_decoder=no_refs)
    log = SegmentedLog.open("s", tmp_path / "streams" / "s", codec, StreamOptions(), 0)
    try:
        assert log.end >= acknowledged[-1] + 1 and not log.damaged
        entries = dict(log.read(0, log.end, log.end))
        for offset in acknowledged:
            assert entries[offset] == {"offset": offset, "pad": "p" * (offset % 50)}
        assert list(entries) == sorted(entries)
    finally:
        log.close()
