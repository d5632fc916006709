"""Files that appear whole or not at all, and records that tell a whole file from a torn one.

:class:`AtomicFile` writes under a temporary name in the target's directory,
then ``fsync`` + ``os.replace`` + ``fsync`` of the directory: a crash, a full
disk or an exception leaves either the old file or the new one, never a
prefix, and never the temporary file. While writing it counts the bytes and
their CRC-32, so a checkpoint can record what it wrote (:class:`FileRecord`)
and a resumed run can check it (:func:`check_record`) without trusting the
file system.

CRC-32 detects torn, truncated and damaged files (the failures of crashes and
disks), not deliberate tampering.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import zlib
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from stemmatic.exceptions import StemmaticError

__all__ = ["AtomicFile", "FileRecord", "check_record", "write_bytes_atomically"]

_READ_BLOCK = 1 << 22


@dataclass(frozen=True)
class FileRecord:
    """The size and CRC-32 of a file as written; ``crc32`` None: the size alone is checked."""

    size: int
    crc32: int | None = None

    def to_json(self) -> dict[str, int]:
        return {"bytes": self.size} if self.crc32 is None else {"bytes": self.size, "crc32": self.crc32}

    @classmethod
    def from_json(cls, value: Any) -> FileRecord | None:
        """The record stored as ``value``, or None if it is not one."""
        if not isinstance(value, dict):
            return None
        size, crc = value.get("bytes"), value.get("crc32")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            return None
        if crc is not None and (not isinstance(crc, int) or isinstance(crc, bool) or not 0 <= crc < 2**32):
            return None
        return cls(size, crc)


def write_error(path: Path, what: str, err: OSError) -> StemmaticError:
    """A failed write (disk full, read-only, permission...) as one line naming the file."""
    reason = err.strerror or str(err) or type(err).__name__
    return StemmaticError(f"{path}: cannot write the {what}: {reason}")


class AtomicFile:
    """A binary file that replaces ``path`` only when :meth:`commit` succeeds.

    Use it as a context manager (commit on success, discard on an exception)
    or call :meth:`commit` / :meth:`discard` yourself. Any ``OSError`` while
    writing becomes a :class:`~stemmatic.exceptions.StemmaticError` naming
    ``path`` (``what`` says what the file is), and the temporary file is
    removed.

    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "x.bin"
    >>> with AtomicFile(target) as fh:
    ...     _ = fh.write(b"abc")
    >>> target.read_bytes(), fh.record.size
    (b'abc', 3)
    """

    def __init__(self, path: str | os.PathLike[str], what: str = "file", *, durable: bool = True) -> None:
        self.path = Path(path)
        self.what = what
        #: False: no fsync. The file still appears whole or not at all to
        #: other processes and after this one is killed; a power loss may
        #: lose or tear it. For scratch checkpoints whose record (size and
        #: CRC-32) a resume checks before trusting them.
        self.durable = durable
        self.size = 0
        self.crc32 = 0
        self.record: FileRecord | None = None
        # A name no other writer picks; created with the usual permissions (umask applies).
        self.tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            self._fd: int | None = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except OSError as err:
            raise write_error(self.path, what, err) from err

    # File-like enough for np.save, pyarrow and json writers.
    closed = False

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        total = len(view)
        if self._fd is None:
            raise ValueError(f"{self.path}: write to a committed or discarded file")
        self.crc32 = zlib.crc32(view, self.crc32)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError as err:
            self.discard()
            raise write_error(self.path, self.what, err) from err
        self.size += total
        return total

    def flush(self) -> None:
        pass

    def tell(self) -> int:
        return self.size

    def commit(self) -> FileRecord:
        """Make the file durable under its name; the record of what was written."""
        if self._fd is None:
            raise ValueError(f"{self.path}: commit of a discarded file")
        try:
            if self.durable:
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
            self.closed = True
            os.replace(self.tmp, self.path)
            if self.durable:
                _fsync_directory(self.path.parent)
        except OSError as err:
            self.discard()
            raise write_error(self.path, self.what, err) from err
        self.record = FileRecord(self.size, self.crc32)
        return self.record

    def discard(self) -> None:
        """Forget the file: close and remove the temporary file (the target is untouched)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        self.closed = True
        with contextlib.suppress(OSError):
            self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()


def _fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (where the platform allows opening directories)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes_atomically(path: str | os.PathLike[str], data: bytes, what: str = "file") -> FileRecord:
    """Write ``data`` to ``path`` atomically; the record of what was written."""
    with AtomicFile(path, what) as fh:
        fh.write(data)
    assert fh.record is not None
    return fh.record


def check_record(path: Path, record: FileRecord) -> str | None:
    """Why ``path`` is not the file ``record`` describes (missing, other size, other CRC-32), or None."""
    try:
        size = path.stat().st_size
    except OSError:
        return "missing"
    if size != record.size:
        return f"{size} bytes, expected {record.size}"
    if record.crc32 is None:
        return None
    crc = 0
    try:
        with open(path, "rb") as fh:
            while block := fh.read(_READ_BLOCK):
                crc = zlib.crc32(block, crc)
    except OSError as err:
        return f"unreadable ({err.strerror or err})"
    return None if crc == record.crc32 else "damaged (CRC-32 mismatch)"
