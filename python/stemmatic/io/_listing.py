"""Input listing and format detection: files, directories, globs and URLs as ordered input shards.

:func:`resolve_inputs` expands what the user gave into :class:`InputFile`
records (format and compression told by the file's extensions), leaves
dataset metadata out of directory scans, and names each shard's mirrored
output (:attr:`InputFile.shard_name`).
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from stemmatic.exceptions import InvalidInputError
from stemmatic.io._remote import RemotePath, is_url

OutputFormat = Literal["parquet", "jsonl"]


_FORMATS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    # A .json file holds JSON lines or one JSON array of objects (told apart by its first byte).
    ".json": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
    ".arrow": "arrow",
    ".feather": "arrow",
    ".ipc": "arrow",
}


_COMPRESSIONS = {".gz": "gzip", ".zst": "zstd", ".zstd": "zstd", ".bz2": "bz2"}

#: Files a directory scan leaves out: dataset metadata written beside the data
#: (Hugging Face ``save_to_disk``, Spark/Hadoop), never rows.
_METADATA_NAMES = frozenset({"state.json", "dataset_info.json", "dataset_dict.json", "_SUCCESS", "_metadata"})


_GLOB_CHARS = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class InputFile:
    """One input shard."""

    path: Path
    format: Literal["parquet", "jsonl", "csv", "tsv", "arrow"]
    compression: str | None
    #: Name of the mirrored output shard, relative to ``OUT/kept`` (no extension).
    shard_name: str
    #: The directory given as input that this file was found in (the file
    #: itself for a file or glob input): outputs may not overlap it.
    root: Path | None = None

    def output_name(self, fmt: OutputFormat) -> str:
        return f"{self.shard_name}.{fmt}"


def _classify(path: Path) -> tuple[str, str | None] | None:
    suffixes = [s.lower() for s in path.suffixes]
    compression = None
    if suffixes and suffixes[-1] in _COMPRESSIONS:
        compression = _COMPRESSIONS[suffixes[-1]]
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] in _FORMATS:
        return _FORMATS[suffixes[-1]], compression
    return None


class InputFiles(list[InputFile]):
    """The ordered input shards, and what a directory scan left out (``skipped``: path, reason)."""

    skipped: list[tuple[Path, str]]
    #: The name of the table-like object the one shard was staged from (:func:`source_files`), else None.
    table: str | None = None


_DATA_TYPES = ".parquet, .jsonl/.ndjson/.json, .csv/.tsv or .arrow/.feather (optionally .gz/.zst/.bz2)"


def resolve_inputs(inputs: Iterable[str | os.PathLike[str]]) -> InputFiles:
    """Expand files, directories and globs into the ordered list of input shards.

    A directory is searched recursively; it leaves out dataset metadata
    (``state.json``, ``dataset_info.json`` of a Hugging Face ``save_to_disk``
    folder, Spark's ``_SUCCESS`` and ``.crc`` files, anything under a name
    starting with ``.`` or ``_``) and files of other types, and lists them in
    the result's ``skipped``.

    Raises:
        InvalidInputError: an input does not exist, a file has an unknown
            extension, a directory or glob matches no data file, or nothing
            was given.
    """
    paths: list[tuple[Path, Path]] = []  # (file, root)
    skipped: list[tuple[Path, str]] = []
    for item in inputs:
        text = os.fspath(item)
        if is_url(text):
            _resolve_remote(text, paths, skipped)
            continue
        path = Path(text)
        if path.is_dir():
            found = []
            for p in sorted(path.rglob("*")):
                if not p.is_file():
                    continue
                why = _skip_reason(p.relative_to(path))
                if why is None:
                    found.append(p)
                else:
                    skipped.append((p, why))
            if not found:
                raise InvalidInputError(f"{path}: directory contains no data files ({_DATA_TYPES})")
            root = path.resolve()
            paths.extend((p, root) for p in found)
        elif path.is_file():
            if _classify(path) is None:
                raise InvalidInputError(f"{path}: unknown file type; expected {_DATA_TYPES}")
            paths.append((path, path.resolve()))
        elif _GLOB_CHARS.search(text):
            found = sorted(Path(p) for p in glob.glob(text, recursive=True) if _classify(Path(p)) is not None)
            if not found:
                raise InvalidInputError(f"{text}: glob matches no data files ({_DATA_TYPES})")
            paths.extend((p, p.resolve()) for p in found)
        else:
            raise InvalidInputError(f"{text}: no such file or directory")
    if not paths:
        raise InvalidInputError("no input files given")
    seen: set[Path] = set()
    unique = []
    for p, root in paths:
        resolved = p.resolve()
        if resolved not in seen:
            seen.add(resolved)
            unique.append((resolved, root))
    files = InputFiles(_with_shard_names(unique))
    files.skipped = skipped
    return files


def _resolve_remote(url: str, paths: list[tuple[Any, Any]], skipped: list[tuple[Any, str]]) -> None:
    """The files a URL names (a file, a directory searched recursively, or a glob), as :class:`RemotePath`."""
    scheme, rest = url.split("://", 1)
    if _GLOB_CHARS.search(rest):
        base = RemotePath.from_url(f"{scheme}://{rest.split('/', 1)[0]}")
        pattern = RemotePath.from_url(url).pure.as_posix()
        found = [p for p in base.glob(pattern) if _classify(Path(p.name)) is not None]
        if not found:
            raise InvalidInputError(f"{url}: glob matches no data files ({_DATA_TYPES})")
        paths.extend((p, p) for p in found)
        return
    path = RemotePath.from_url(url)
    if path.is_file():
        if _classify(Path(path.name)) is None:
            raise InvalidInputError(f"{url}: unknown file type; expected {_DATA_TYPES}")
        paths.append((path, path))
    elif path.is_dir():
        found = []
        for p in path.files_under():
            why = _skip_reason(Path(*p.relative_to(path).parts))
            if why is None:
                found.append(p)
            else:
                skipped.append((p, why))
        if not found:
            raise InvalidInputError(f"{url}: directory contains no data files ({_DATA_TYPES})")
        paths.extend((p, path) for p in found)
    else:
        raise InvalidInputError(f"{url}: no such file or directory")


def _skip_reason(relative: Path) -> str | None:
    """Why a directory scan leaves out the file at ``relative`` (None: it is data)."""
    if any(part.startswith((".", "_")) for part in relative.parts):
        return "hidden or metadata (name starts with . or _)"
    if relative.name in _METADATA_NAMES or relative.suffix == ".crc":
        return "dataset metadata"
    if _classify(relative) is None:
        return "not a data file"
    return None


def _below_root(path: Any, root: Any, stemmed: Any) -> str:
    """The shard name of ``path`` (``stemmed``: without its extensions) found under the input ``root``."""
    if root is None or root == path:
        return str(stemmed.name)
    if isinstance(path, RemotePath):
        parts = path.pure.relative_to(root.pure).parts
    else:
        parts = Path(path).relative_to(root).parts
    return PurePosixPath(*parts[:-1], stemmed.name).as_posix()


def _with_shard_names(found: list[tuple[Path, Path]]) -> list[InputFile]:
    paths = [p for p, _ in found]

    def stem(p: Any) -> Any:
        name = p.name
        for suffix in reversed(p.suffixes):
            if suffix.lower() in _COMPRESSIONS or suffix.lower() in _FORMATS:
                name = name[: -len(suffix)]
            else:
                break
        return p.with_name(name)

    # Names are taken from the path within its file system (a URL's host/bucket included).
    stems = [PurePosixPath(f"{p.scheme}/{p.pure}") if isinstance(p, RemotePath) else stem(p) for p in paths]
    stems = [stem(s) if isinstance(p, RemotePath) else s for p, s in zip(paths, stems, strict=True)]
    # A file found in a directory input keeps its path below that directory
    # (hive layouts such as lang=en/part-0 survive); other files keep their name.
    names = [_below_root(p, root, s) for (p, root), s in zip(found, stems, strict=True)]
    if len(set(names)) != len(names):
        common = PurePosixPath(os.path.commonpath([s.parent.as_posix() for s in stems]))
        names = [PurePosixPath(s.as_posix()).relative_to(common).as_posix() for s in stems]
    if len(set(names)) != len(names):
        # Same stem in one directory with two formats (a.parquet and a.jsonl).
        names = [f"{n}-{i:05d}" for i, n in enumerate(names)]
    out = []
    for (p, root), name in zip(found, names, strict=True):
        fmt, compression = _classify(Path(p.name)) or ("parquet", None)
        out.append(InputFile(p, fmt, compression, name, root))  # type: ignore[arg-type]
    return out


def check_columns(file: InputFile, names: Sequence[str], columns: Sequence[str] | None) -> None:
    """Raise :class:`InvalidInputError` naming ``file`` if a column of ``columns`` is not in ``names``."""
    if columns is None:
        return
    missing = [c for c in columns if c not in names]
    if missing:
        raise InvalidInputError(
            f"{file.path}: column {missing[0]!r} not found; columns are {', '.join(map(repr, names)) or '(none)'}"
        )
