"""A process that appends to a stream until it is killed: ``python -m
tests.runtime.streams.appender DATA_DIR FSYNC``.

After each `append` returns it writes the offset to stdout (one line, flushed), so
the test that kills it knows exactly which entries were acknowledged.
"""

from __future__ import annotations

import sys

import anyio
import anyio.lowlevel

from runtime import ActorSystem


async def main(data_dir: str, fsync: str) -> None:
    async with ActorSystem("appender", data_dir=data_dir) as system:
        stream = system.streams.stream("s", fsync=fsync, segment_bytes=16 * 1024)  # type: ignore[arg-type]
        out = sys.stdout
        while True:
            offset = len(stream)
            acknowledged = stream.append({"offset": offset, "pad": "p" * (offset % 50)})
            out.write(f"{acknowledged}\n")
            out.flush()
            if acknowledged % 64 == 0:
                await anyio.lowlevel.checkpoint()  # let the flush timer run now and then


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], sys.argv[2])
