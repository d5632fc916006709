"""Files in object stores and other remote file systems, standing where local paths stand.

A URL (``s3://bucket/data``, ``gs://…``, ``hf://datasets/…``, ``memory://…``,
``az://…``, ``http(s)://…``) names a file system and a path in it. S3 and GCS
are pyarrow's own file systems (credentials from the usual environment:
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_REGION``, and
``AWS_ENDPOINT_URL`` for an S3-compatible server); any other scheme goes
through fsspec (its implementations, e.g. ``huggingface_hub`` for ``hf://``,
``adlfs`` for ``az://``, must be installed). :class:`RemotePath` is the remote
counterpart of :class:`pathlib.Path` for what the readers need (its ``str``
is the URL, so messages name it), and :func:`open_stream` /
:func:`open_random` open either kind.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from stemmatic.exceptions import InvalidInputError

_URL = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://(.*)$")


def is_url(text: str | os.PathLike[str]) -> bool:
    """Whether ``text`` names a remote file (a URL whose scheme is not ``file``)."""
    match = _URL.match(os.fspath(text)) if isinstance(text, str) else None
    return bool(match) and match.group(1).lower() != "file"  # type: ignore[union-attr]


def filesystem_of(url: str) -> tuple[pafs.FileSystem, str]:
    """The file system a URL lives on, and the path within it."""
    scheme = url.split("://", 1)[0].lower()
    if scheme == "s3":
        # Honour AWS_ENDPOINT_URL (S3-compatible servers: MinIO, Ceph, moto) the way the AWS CLI does.
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        bucket_path = url.split("://", 1)[1]
        options: dict[str, Any] = {}
        if endpoint:
            scheme_part, _, host = endpoint.partition("://")
            options = {"endpoint_override": host or endpoint, "scheme": scheme_part if host else "https"}
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if region:
            options["region"] = region
        return pafs.S3FileSystem(**options), bucket_path.rstrip("/")
    if scheme in ("gs", "gcs"):
        fs, path = pafs.FileSystem.from_uri(url)
        return fs, path.rstrip("/")
    try:
        import fsspec
    except ImportError:  # pragma: no cover - fsspec comes with pyarrow's usual companions
        raise InvalidInputError(f"{url}: reading {scheme}:// needs fsspec (pip install fsspec)") from None
    try:
        fs, path = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as err:
        raise InvalidInputError(f"{url}: no file system for {scheme}:// ({err})") from None
    return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), path.rstrip("/")


@dataclass(frozen=True)
class _Stat:
    """What ``os.stat_result`` gives that the pipeline reads: size and modification time."""

    st_size: int
    st_mtime_ns: int


class RemotePath:
    """A path on a remote file system; ``str()`` is its URL. Sorted, hashed and named like a Path."""

    __slots__ = ("filesystem", "pure", "scheme")

    def __init__(self, scheme: str, path: str | PurePosixPath, filesystem: pafs.FileSystem) -> None:
        self.scheme = scheme
        self.pure = PurePosixPath(path)
        self.filesystem = filesystem

    @classmethod
    def from_url(cls, url: str) -> RemotePath:
        fs, path = filesystem_of(url)
        return cls(url.split("://", 1)[0].lower(), path, fs)

    def __str__(self) -> str:
        return f"{self.scheme}://{self.pure.as_posix()}"

    def __repr__(self) -> str:
        return f"RemotePath({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RemotePath) and (self.scheme, self.pure) == (other.scheme, other.pure)

    def __hash__(self) -> int:
        return hash((self.scheme, self.pure))

    def __lt__(self, other: RemotePath) -> bool:
        return str(self) < str(other)

    def __truediv__(self, name: str) -> RemotePath:
        return RemotePath(self.scheme, self.pure / name, self.filesystem)

    def _with(self, pure: PurePosixPath) -> RemotePath:
        return RemotePath(self.scheme, pure, self.filesystem)

    name = property(lambda self: self.pure.name)
    suffix = property(lambda self: self.pure.suffix)
    suffixes = property(lambda self: self.pure.suffixes)
    stem = property(lambda self: self.pure.stem)
    parts = property(lambda self: self.pure.parts)
    parent = property(lambda self: self._with(self.pure.parent))

    def with_name(self, name: str) -> RemotePath:
        return self._with(self.pure.with_name(name))

    def relative_to(self, other: RemotePath | PurePosixPath) -> PurePosixPath:
        return self.pure.relative_to(other.pure if isinstance(other, RemotePath) else other)

    def resolve(self) -> RemotePath:
        return self

    def as_posix(self) -> str:
        return str(self)

    def _info(self) -> pafs.FileInfo:
        try:
            return self.filesystem.get_file_info(self.pure.as_posix())
        except (OSError, pa.ArrowException) as err:
            raise InvalidInputError(f"{self}: cannot be read: {err}") from None

    def exists(self) -> bool:
        return bool(self._info().type != pafs.FileType.NotFound)

    def is_dir(self) -> bool:
        return bool(self._info().type == pafs.FileType.Directory)

    def is_file(self) -> bool:
        return bool(self._info().type == pafs.FileType.File)

    def stat(self) -> _Stat:
        info = self._info()
        return _Stat(info.size or 0, info.mtime_ns or 0)

    def files_under(self) -> list[RemotePath]:
        """Every file below this directory, sorted."""
        try:
            infos = self.filesystem.get_file_info(pafs.FileSelector(self.pure.as_posix(), recursive=True))
        except (OSError, pa.ArrowException) as err:
            raise InvalidInputError(f"{self}: cannot list: {err}") from None
        return sorted(self._with(PurePosixPath(i.path)) for i in infos if i.type == pafs.FileType.File)

    def glob(self, pattern: str) -> list[RemotePath]:
        """Files whose path matches ``pattern`` (``*``, ``?``, ``[..]`` within a name; ``**`` across directories)."""
        parts = PurePosixPath(pattern).parts
        fixed = next((i for i, part in enumerate(parts) if re.search(r"[*?\[]", part)), len(parts))
        base = self._with(PurePosixPath(*parts[:fixed])) if fixed else self
        regex = re.compile(_glob_regex(pattern))
        return [f for f in base.files_under() if regex.fullmatch(f.pure.as_posix())]


def _glob_regex(pattern: str) -> str:
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and (end := pattern.find("]", i + 1)) > i:
            out.append("[" + pattern[i + 1 : end].replace("!", "^", 1) + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


AnyPath = Path | RemotePath


def open_stream(path: AnyPath, compression: str | None = None) -> pa.NativeFile:
    """A sequential input stream of a local or remote file, decompressed."""
    if isinstance(path, RemotePath):
        try:
            raw = path.filesystem.open_input_stream(path.pure.as_posix())
        except (OSError, pa.ArrowException) as err:
            raise InvalidInputError(f"{path}: cannot be read: {err}") from None
        return pa.CompressedInputStream(raw, compression) if compression else raw
    return pa.input_stream(str(path), compression=compression)


def open_random(path: AnyPath) -> Any:
    """A random-access file (Parquet footers, Arrow IPC files), memory-mapped when local."""
    if isinstance(path, RemotePath):
        try:
            return path.filesystem.open_input_file(path.pure.as_posix())
        except (OSError, pa.ArrowException) as err:
            raise InvalidInputError(f"{path}: cannot be read: {err}") from None
    return pa.memory_map(str(path))
