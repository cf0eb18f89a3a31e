"""The files beside a stream's segments: the `data_dir` lock, committed offsets, names.

Layout under ``data_dir/streams/``:

- ``.lock``: held (``flock``) from the moment a system opens until it exits, holding
  that process's pid, so two systems never append to one log and the second one's
  error names the first.
- ``<name>/``: one directory per stream: its segments and indexes (see
  `runtime._streams.segment`), and ``offsets.json``:
  ``{"version": 1, "groups": {"<group>": <next offset>}}``, replaced atomically (temp
  file, fsync, rename, fsync of the directory).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from actors import ActorRef
from actors.errors import SerializationError
from runtime._wire.codec import Codec

if TYPE_CHECKING:
    from runtime._streams.host import StreamHost

__all__ = (
    "DirLock", "check_stream_name", "disk_codec", "load_offsets", "save_offsets",
    "sync_directory",
)

log = logging.getLogger("repertory.streams")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}")


def check_stream_name(name: object) -> str:
    """`name` if it can name a stream (and its file), else a `ValueError` saying why."""
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        raise ValueError(
            "a stream name must be 1-200 characters of letters, digits, '_', '.' and '-', "
            f"not starting with '.' or '-' (it names a file); got {name!r}"
        )
    return name


def disk_codec(system: StreamHost) -> Codec:
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
    """An exclusive lock on a directory, held by one system at a time; it holds the
    holder's pid, for the error of whoever comes second."""

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
            holder = os.pread(self._fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(self._fd)
            self._fd = None
            raise RuntimeError(
                f"data_dir {directory.parent} is in use by another ActorSystem (process "
                f"{holder} holds {self.path}); give each system its own data_dir, or stop "
                "that process first"
            ) from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.ftruncate(fd, 0)
            os.close(fd)  # closing the descriptor drops the flock


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


def save_offsets(path: Path, groups: dict[str, int], *, sync: bool = True) -> None:
    """Replace the offsets at `path` atomically: a reader sees the old or the new file
    (after a power loss too, with `sync`)."""
    temp = path.with_name(path.name + ".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, _offsets_encoder.encode(_OffsetsFile(groups=groups)))
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, path)
    if sync:
        sync_directory(path.parent)


def sync_directory(directory: Path) -> None:
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
