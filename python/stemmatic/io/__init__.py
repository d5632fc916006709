"""Reading and writing sharded corpora: the input/output conventions every command shares.

Inputs are Parquet or JSONL files (JSONL optionally ``.gz``/``.zst``), given
as files, directories (searched recursively) or globs. They are taken in the
order given, each directory or glob expanded in sorted path order: that order
defines the default row id (the row's position in the ordered inputs).

Reading streams Arrow record batches (:func:`iter_chunks`), never a whole
corpus. A malformed JSONL line is an :class:`~stemmatic.InvalidInputError`
naming the file and line, or, with ``on_error="skip"``, a :class:`Rejected`
record that commands write to ``OUT/rejected/`` and count in their report.

Outputs mirror the input shards: ``OUT/kept/<shard>`` and ``OUT/removed/<shard>``
have one file per input file, with the same relative name (see
:attr:`InputFile.shard_name`) and the same schema.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "a.jsonl").write_text('{"text": "x"}\\n{"text": "y"}\\n')
>>> files = resolve_inputs([d])
>>> [c.batch.num_rows for c in iter_chunks(files)]
[2]
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from stemmatic._arrow import empty_table
from stemmatic.exceptions import ParameterError, StemmaticError

__all__ = [
    "JSONL_BLOCK_BYTES",
    "JSONL_MAX_DEPTH",
    "LOCK_NAME",
    "Chunk",
    "InputFile",
    "MirroredWriter",
    "OnError",
    "OutputFormat",
    "Rejected",
    "RejectedWriter",
    "StageTimer",
    "check_columns",
    "current_rss_bytes",
    "iter_chunks",
    "output_dir",
    "parse_size",
    "peak_rss_bytes",
    "prefetch",
    "read_table",
    "resolve_inputs",
    "source_files",
    "stage_table",
    "table_source",
    "write_parquet",
    "write_report",
]


from stemmatic._run import StageTimer, current_rss_bytes, peak_rss_bytes, write_report
from stemmatic.io._listing import _GLOB_CHARS
from stemmatic.io._prefetch import prefetch
from stemmatic.io._remote import RemotePath, is_url
from stemmatic.io._sinks import MirroredWriter, RejectedWriter, write_parquet
from stemmatic.io._sources import (
    JSONL_BLOCK_BYTES,
    JSONL_MAX_DEPTH,
    Chunk,
    InputFile,
    OnError,
    OutputFormat,
    Rejected,
    check_columns,
    iter_chunks,
    resolve_inputs,
    source_files,
    stage_table,
    table_source,
)


def read_table(inputs: Iterable[str | os.PathLike[str]], columns: Sequence[str] | None = None) -> pa.Table:
    """Read (small) inputs into one table. Prefer :func:`iter_chunks` for corpora."""
    files = resolve_inputs(inputs)
    batches = [c.batch for c in iter_chunks(files, columns=columns)]
    if not batches:
        return empty_table(pa.schema([(c, pa.string()) for c in (columns or [])]))
    return (
        pa.Table.from_batches(batches)
        if len({b.schema for b in batches}) == 1
        else pa.concat_tables([pa.Table.from_batches([b]) for b in batches], promote_options="permissive")
    )


#: The file in an output directory that a run holds locked while it writes there.
LOCK_NAME = ".stemmatic.lock"


@contextlib.contextmanager
def output_dir(
    out: str | os.PathLike[str],
    *,
    inputs: Iterable[InputFile | str | os.PathLike[str]],
    overwrite: bool = False,
    resume: bool = False,
) -> Iterator[Path]:
    """Create ``out`` and hold it for one run; refuse what could lose data.

    Refused, with a :class:`ParameterError`: an output that is, contains or
    lies inside an input (``--overwrite`` would delete the input; outputs
    inside an input directory would be read as input by the next run), an
    existing non-empty directory unless ``resume`` or ``overwrite``, and a
    directory another run is writing into (it holds ``out/.stemmatic.lock``;
    the lock is released when the run ends, also when it dies).

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "a.jsonl").write_text('{"text": "x"}\\n')
    >>> with output_dir(d / "out", inputs=resolve_inputs([d / "a.jsonl"])) as out:
    ...     out.name
    'out'
    >>> with output_dir(d, inputs=resolve_inputs([d / "a.jsonl"]), overwrite=True):
    ...     pass
    Traceback (most recent call last):
    stemmatic.exceptions.ParameterError: ...: the output directory contains the input ...
    """
    if is_url(os.fspath(out)):
        with _remote_output_dir(os.fspath(out), inputs=inputs, overwrite=overwrite, resume=resume) as staging:
            yield staging
        return
    path = Path(out)
    check_output_apart(path, inputs)
    if path.exists() and not path.is_dir():
        raise ParameterError(f"{path}: output path exists and is not a directory")
    path.mkdir(parents=True, exist_ok=True)
    with _DirLock(path):
        existing = [p for p in path.iterdir() if p.name != LOCK_NAME]
        if existing and not (overwrite or resume):
            raise ParameterError(
                f"{path}: output directory exists and is not empty; pass --resume or --overwrite"
            )
        if overwrite and not resume:
            import shutil

            for child in existing:
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        yield path


@contextlib.contextmanager
def _remote_output_dir(
    url: str, *, inputs: Iterable[InputFile | str | os.PathLike[str]], overwrite: bool, resume: bool
) -> Iterator[Path]:
    """An output on a remote file system: the run writes into a local staging directory, uploaded when it succeeds.

    A failed run uploads nothing. ``resume`` needs a local directory (its
    checkpoints are local files), and no lock is taken on the remote side.
    """
    import tempfile

    import pyarrow.fs as pafs

    if resume:
        raise ParameterError(f"{url}: --resume needs a local output directory")
    remote = RemotePath.from_url(url)
    for item in inputs:
        for target in _input_paths(item):
            if not isinstance(target, RemotePath) or target.scheme != remote.scheme:
                continue
            a, b = target.pure.as_posix(), remote.pure.as_posix()
            if a == b or a.startswith(b + "/") or b.startswith(a + "/"):
                raise ParameterError(
                    f"{url}: the output directory overlaps the input {target}; choose an output outside the inputs"
                )
    if remote.is_file():
        raise ParameterError(f"{url}: output path exists and is not a directory")
    if remote.is_dir() and remote.files_under() and not overwrite:
        raise ParameterError(f"{url}: output directory exists and is not empty; pass --overwrite")
    with tempfile.TemporaryDirectory(prefix="stemmatic-upload-") as staging:
        yield Path(staging)
        try:
            if remote.is_dir():
                remote.filesystem.delete_dir_contents(remote.pure.as_posix())
            pafs.copy_files(
                staging,
                remote.pure.as_posix(),
                source_filesystem=pafs.LocalFileSystem(),
                destination_filesystem=remote.filesystem,
            )
        except (OSError, pa.ArrowException) as err:
            raise StemmaticError(f"{url}: could not upload the outputs: {err}") from None


def _input_paths(item: InputFile | str | os.PathLike[str]) -> list[Any]:
    """The paths an input names, for the overlap checks: the file and the directory it came from."""
    if isinstance(item, InputFile):
        return [item.path] + ([item.root] if item.root is not None else [])
    text = os.fspath(item)
    if is_url(text):
        return [RemotePath.from_url(text)]
    matches = [Path(p) for p in glob.glob(text, recursive=True)] if _GLOB_CHARS.search(text) else []
    return matches or [Path(text)]


def check_output_apart(out: Path, inputs: Iterable[InputFile | str | os.PathLike[str]]) -> None:
    """Raise :class:`ParameterError` if ``out`` is, contains or lies inside an input.

    Compared by file identity (device and inode) as well as by resolved path,
    so symlinks, ``..`` and case-insensitive file systems cannot hide an overlap.
    """
    out_chain = _identity_chain(out)  # out and its existing ancestors
    out_id = _identity(out)
    parent_chains: dict[Path, frozenset[tuple[int, int]]] = {}  # many shards share a directory
    for item in inputs:
        targets = [t for t in _input_paths(item) if not isinstance(t, RemotePath)]
        for target in targets:
            if not target.exists():
                continue
            target_id = _identity(target)
            if target.is_dir() and target_id in out_chain:
                relation = "is" if target_id == out_id else "lies inside"
                raise ParameterError(
                    f"{out}: the output directory {relation} the input directory {target}; "
                    "choose an output outside the inputs"
                )
            if target.parent not in parent_chains:
                parent_chains[target.parent] = _identity_chain(target.parent)
            if out_id is not None and out_id in parent_chains[target.parent]:
                raise ParameterError(
                    f"{out}: the output directory contains the input {target}; choose an output outside the inputs"
                )


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _identity_chain(path: Path) -> frozenset[tuple[int, int]]:
    """Identities of ``path`` and of every existing ancestor."""
    resolved = path.resolve()
    return frozenset(i for p in (resolved, *resolved.parents) if (i := _identity(p)) is not None)


class _DirLock:
    """An exclusive, non-blocking lock on ``directory/.stemmatic.lock`` (released on exit or process death)."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK_NAME
        self._fh: Any = None

    def __enter__(self) -> _DirLock:
        fh = self.path.open("a+", encoding="ascii")
        try:
            if os.name == "nt":
                import msvcrt

                fh.seek(0)
                msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
            else:
                import fcntl

                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            fh.close()
            raise ParameterError(
                f"{self.path.parent}: another stemmatic run (process {holder}) is writing into this "
                "directory; wait for it to end or choose another output"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()
        self._fh.close()  # closing the file releases the lock


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)


def parse_size(text: str | int) -> int:
    """Parse a memory size such as ``"4GB"``, ``"512MiB"``, ``"100k"`` into bytes.

    >>> parse_size("4GB"), parse_size("1.5MiB"), parse_size(1024)
    (4000000000, 1572864, 1024)
    """
    if isinstance(text, int):
        return text
    match = _SIZE.match(text)
    if not match:
        raise ParameterError(f"invalid size {text!r}; expected e.g. 4GB, 512MiB, 100MB")
    number, unit = float(match.group(1)), (match.group(2) or "").lower()
    base = 1024 if "i" in unit else 1000
    power = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4}[unit[:1] if unit[:1] in "kmgt" else ""]
    return int(number * base**power)
