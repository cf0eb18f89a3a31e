"""The on-disk side of `system.streams`: append-only logs and committed offsets.

Layout under ``data_dir/streams/``:

- ``<name>.log``: records, each an 8-byte header (big-endian payload length, CRC-32 of
  the payload) then the payload: the message encoded by the runtime's `Codec`.
- ``<name>.offsets.json``: ``{"version": 1, "groups": {"<group>": <next offset>}}``,
  replaced atomically (temp file, fsync, rename, fsync of the directory).
- ``.lock``: held (``flock``) while a system uses the directory, so two systems never
  append to one log.

Durability: every append reaches the operating system before `append` returns (so it
survives the process dying); `sync` makes it survive the machine dying. A torn last
record, left by a crash in the middle of a write, is cut off on open with a warning;
the cut bytes are kept beside the log, never silently destroyed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import struct
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from actors._ref import ActorRef
from actors.errors import SerializationError
from runtime._wire.codec import Codec

if TYPE_CHECKING:
    from runtime._system import ActorSystem

__all__ = (
    "DirLock", "LogFile", "check_stream_name", "disk_codec", "load_offsets", "save_offsets",
)

log = logging.getLogger("repertory.streams")
_HEADER = struct.Struct(">II")  # payload length, CRC-32 of the payload
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}")


def check_stream_name(name: object) -> str:
    """`name` if it can name a stream (and its file), else a `ValueError` saying why."""
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        raise ValueError(
            "a stream name must be 1-200 characters of letters, digits, '_', '.' and '-', "
            f"not starting with '.' or '-' (it names a file); got {name!r}"
        )
    return name


def disk_codec(system: ActorSystem) -> Codec:
    """The runtime's codec for stored messages: the system's `allow_pickle`; refs as
    the cluster exports them on a clustered node, refused on a lone one."""
    if system.clustered:
        cluster = system.cluster
        return Codec(
            allow_pickle=system.allow_pickle,
            ref_encoder=cluster.export, ref_decoder=cluster.ref_for,
        )
    return Codec(
        allow_pickle=system.allow_pickle,
        ref_encoder=_refuse_ref, ref_decoder=_refuse_stored_ref,
    )


def _refuse_ref(ref: ActorRef[Any]) -> tuple[str, int, str | None]:
    raise SerializationError(
        repr(ref),
        "a stream on disk stores refs only on a clustered node (listen= and cookie=): "
        "a ref of a lone system means nothing after it restarts; store a name instead",
    )


def _refuse_stored_ref(node: str, uid: int, name: str | None) -> ActorRef[Any]:
    raise SerializationError(
        f"a stored ref to {node}/{name or uid}",
        "refs stored by a clustered node can be read back only by a clustered node",
    )


class DirLock:
    """An exclusive lock on a directory, held by one system at a time."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / ".lock"
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock, as the doc says
            return
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._fd)
            self._fd = None
            raise RuntimeError(
                f"{directory} is in use by another ActorSystem (it holds {self.path}); "
                "give each system its own data_dir"
            ) from None

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor drops the flock


class LogFile:
    """One stream's append-only file; `open` reads back what it holds."""

    def __init__(self, path: Path, codec: Codec) -> None:
        self.path = path
        self._codec = codec
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        self._size = 0
        self.unsynced = False

    @classmethod
    def open(cls, path: Path, codec: Codec) -> tuple[LogFile, list[Any]]:
        """The log at `path` (created if missing) and the messages it holds, in order."""
        file = cls(path, codec)
        try:
            messages = file._read_all()
        except BaseException:
            file.close()
            raise
        return file, messages

    def _read_all(self) -> list[Any]:
        data = self.path.read_bytes()
        messages: list[Any] = []
        position = 0
        while position < len(data):
            end = _record_end(data, position)
            if end is None:
                self._cut_tail(data, position, len(messages))
                break
            payload = data[position + _HEADER.size : end]
            try:
                messages.append(self._codec.decode(payload))
            except SerializationError as error:
                # A whole record with a good checksum: not a torn write, so not ours to
                # cut. Most often a message class that can no longer be imported.
                raise SerializationError(
                    f"entry {len(messages)} of {self.path}",
                    f"{error.detail}; make its message type importable again",
                ) from error
            position = end
        self._size = position
        return messages

    def _cut_tail(self, data: bytes, position: int, entries: int) -> None:
        dropped = data[position:]
        keep = self.path.with_name(f"{self.path.name}.{position}.dropped")
        keep.write_bytes(dropped)
        os.ftruncate(self._fd, position)
        os.fsync(self._fd)
        log.warning(
            "stream log %s: dropped %d bytes after entry %d (a record cut short by a crash "
            "mid-write); the log keeps %d entries; the dropped bytes are in %s",
            self.path, len(dropped), entries - 1, entries, keep,
        )

    def append(self, message: Any) -> None:
        """Write one record; raises `SerializationError` (nothing written) or `OSError`
        (whatever part was written is cut off again)."""
        payload = self._codec.encode(message)
        record = _HEADER.pack(len(payload), zlib.crc32(payload)) + payload
        try:
            written = 0
            while written < len(record):
                written += os.write(self._fd, record[written:])
        except BaseException:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)
            raise
        self._size += len(record)
        self.unsynced = True

    def sync(self) -> None:
        """Make every record written so far survive a machine crash."""
        if self.unsynced:
            os.fsync(self._fd)
            self.unsynced = False

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)


def _record_end(data: bytes, position: int) -> int | None:
    """Where the record at `position` ends, or None if it is torn or damaged."""
    if len(data) - position < _HEADER.size:
        return None
    length: int
    checksum: int
    length, checksum = _HEADER.unpack_from(data, position)
    end: int = position + _HEADER.size + length
    # A zero length is never written (an encoded message has at least one byte); it
    # is what a file extended with zeros by a crash looks like.
    if length == 0 or end > len(data):
        return None
    if zlib.crc32(data[position + _HEADER.size : end]) != checksum:
        return None
    return end


class _OffsetsFile(msgspec.Struct):
    version: int = 1
    groups: dict[str, int] = {}


_offsets_decoder = msgspec.json.Decoder(_OffsetsFile)
_offsets_encoder = msgspec.json.Encoder()


def load_offsets(path: Path) -> dict[str, int]:
    """The next offset of each group saved at `path` (empty when there is no file)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    try:
        return dict(_offsets_decoder.decode(data).groups)
    except msgspec.DecodeError as error:
        raise ValueError(
            f"{path} is not a stream offsets file ({error}); restore it or delete it to "
            "have every group start again from its start= position"
        ) from None


def save_offsets(path: Path, groups: dict[str, int]) -> None:
    """Replace the offsets at `path` atomically: a reader sees the old or the new file."""
    temp = path.with_name(path.name + ".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, _offsets_encoder.encode(_OffsetsFile(groups=groups)))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, path)
    _sync_directory(path.parent)


def _sync_directory(directory: Path) -> None:
    # The rename is durable only once the directory itself is synced (POSIX).
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some systems cannot fsync a directory; the rename still happened
    finally:
        os.close(fd)
