"""What the chaos run's nodes write down, and how the driver reads it back.

Each node incarnation appends JSON lines to two files in the run's directory:
``<node>.<incarnation>.events`` (every send, tell, ask, append and receipt) and
``<node>.<incarnation>.members`` (links up and down, pumps stopped, the stream's
committed offset: the few records the driver polls while the run goes on). Every
record is one ``write`` of a whole line, so a ``kill -9`` loses none that was written.
Times are ``time.monotonic()``, which is the same clock in every process of a machine.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import msgspec

__all__ = ("ChaosEnv", "Journal", "Seq", "read_records")

_encoder = msgspec.json.Encoder()


class Seq(msgspec.Struct, frozen=True):
    """A numbered message from incarnation `inc` of node `src`: `n` counts 1, 2, ... per
    (sender incarnation, receiving node)."""

    src: str
    inc: int
    n: int


@dataclass(frozen=True)
class ChaosEnv:
    """What the driver tells a node through its environment."""

    directory: Path
    node: str  # the short name, "n1"
    inc: int  # 0 for the first start, 1 for the first restart, ...
    peers: dict[str, str]  # short name -> node address, every node but this one
    stream_host: str  # the short name of the node that holds the stream
    rate: float  # a scale for every pump's pace: 1.0 is the default load

    @classmethod
    def from_environ(cls) -> ChaosEnv:
        try:
            addresses = dict(
                pair.split("=", 1) for pair in os.environ["CHAOS_NODES"].split(",")
            )
            node = os.environ["CHAOS_NODE"]
            return cls(
                directory=Path(os.environ["CHAOS_DIR"]),
                node=node,
                inc=int(os.environ["CHAOS_INC"]),
                peers={name: address for name, address in addresses.items() if name != node},
                stream_host=os.environ["CHAOS_STREAM_HOST"],
                rate=float(os.environ.get("CHAOS_RATE", "1.0")),
            )
        except (KeyError, ValueError) as error:
            raise RuntimeError(
                "samples.chaos.app runs on nodes that `python -m samples.chaos` starts: "
                f"its environment is missing or bad ({error!r})"
            ) from None

    def address(self, name: str) -> str:
        return self.peers[name]

    @property
    def stopping(self) -> bool:
        """Whether the driver has asked the pumps to stop (it creates ``stop``)."""
        return (self.directory / "stop").exists()


class Journal:
    """The two record files of one node incarnation (line-buffered, append-only)."""

    def __init__(self, env: ChaosEnv) -> None:
        stem = env.directory / f"{env.node}.{env.inc}"
        self._events: TextIO = open(f"{stem}.events", "a", buffering=1)  # noqa: SIM115
        self._members: TextIO = open(f"{stem}.members", "a", buffering=1)  # noqa: SIM115

    def event(self, kind: str, *fields: Any) -> None:
        self._events.write(_encoder.encode([time.monotonic(), kind, *fields]).decode() + "\n")

    def member(self, kind: str, *fields: Any) -> None:
        self._members.write(_encoder.encode([time.monotonic(), kind, *fields]).decode() + "\n")


def read_records(path: Path) -> Iterator[list[Any]]:
    """The records of one file; a last line cut short by a kill is skipped."""
    decoder = msgspec.json.Decoder(list[Any])
    with path.open("rb") as file:
        for line in file:
            if not line.endswith(b"\n"):
                return
            yield decoder.decode(line)
