"""The options of a stream on disk, checked once, with the valid choices in each error."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

__all__ = ("FSYNC_POLICIES", "StreamOptions")

FSYNC_POLICIES = ("always", "interval", "never")
CORRUPTION_POLICIES = ("raise", "skip")
Fsync = Literal["always", "interval", "never"]
OnCorruption = Literal["raise", "skip"]


@dataclasses.dataclass(frozen=True)
class StreamOptions:
    """How one stream stores its entries (see docs/streams.md for what each costs).

    - `fsync`: ``"always"`` syncs each append before `append` returns; ``"interval"``
      within `flush_interval` seconds; ``"never"`` leaves it to the operating system
      (and `sync()` / closing). Every policy writes to the OS before `append` returns.
    - `segment_bytes`: a segment file is closed and a new one begun past this size.
    - `retention_bytes` / `retention_age` (seconds): whole old segments are deleted
      once the stream holds more than this, or once their newest entry is this old.
    - `on_corruption`: ``"raise"`` (opening a damaged stream fails with
      `StreamCorruptError`) or ``"skip"`` (damaged records are skipped and reported).
    """

    fsync: Fsync = "interval"
    flush_interval: float = 0.05
    segment_bytes: int = 64 * 1024 * 1024
    retention_bytes: int | None = None
    retention_age: float | None = None
    on_corruption: OnCorruption = "raise"

    def __post_init__(self) -> None:
        _choice("fsync", self.fsync, FSYNC_POLICIES)
        _choice("on_corruption", self.on_corruption, CORRUPTION_POLICIES)
        _positive("flush_interval", self.flush_interval, float)
        _positive("segment_bytes", self.segment_bytes, int)
        if self.segment_bytes < 4096:
            raise ValueError(f"segment_bytes must be at least 4096, got {self.segment_bytes!r}")
        if self.retention_bytes is not None:
            _positive("retention_bytes", self.retention_bytes, int)
        if self.retention_age is not None:
            _positive("retention_age", self.retention_age, float)

    def with_changes(self, **changes: Any) -> StreamOptions:
        """These options with the ones given (not None) replaced."""
        given = {key: value for key, value in changes.items() if value is not None}
        return dataclasses.replace(self, **given) if given else self

    def differences(self, **asked: Any) -> list[str]:
        """The options in `asked` (not None) that differ from these, as text."""
        return [
            f"{key}={value!r} (open with {getattr(self, key)!r})"
            for key, value in asked.items()
            if value is not None and getattr(self, key) != value
        ]


def _choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        valid = ", ".join(repr(choice) for choice in choices)
        raise ValueError(f"{name}= takes one of {valid}; got {value!r}")


def _positive(name: str, value: object, kind: type) -> None:
    numeric = isinstance(value, (int, float)) if kind is float else isinstance(value, int)
    if isinstance(value, bool) or not numeric or value <= 0:  # type: ignore[operator]
        raise ValueError(f"{name}= takes a {kind.__name__} > 0, got {value!r}")
