"""The wire's errors: one root, `TransportError`, with a child per layer."""

from __future__ import annotations

__all__ = ("FrameDecodeError", "FrameError", "RecordError", "TransportError")


class TransportError(Exception):
    """Root of the transport's errors (records, frames and handshake)."""


class FrameError(TransportError):
    """The byte stream does not hold valid frames; close the connection.

    Raised for a length prefix over the limit (before any memory is set aside for the
    body), for a stream that ends inside a frame, and for a frame too large to send.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


class FrameDecodeError(FrameError):
    """One frame's body is not a valid frame. The reader stays aligned on the next
    frame, so the caller may log this and go on reading."""


class RecordError(FrameError):
    """A record failed: a bad tag, a sequence out of order, a length over the limit, or
    a stream that ended inside a record. The connection must close; `reason` says why."""
