"""A persistent near-duplicate index of released data, for incremental dedup.

``build_index`` sketches a corpus once and stores what a later dedup needs to
decide whether a new row duplicates an indexed one, without reading the old
data again:

* the LSH **band keys** of every row, sorted (one ``uint64`` array, with the
  row of each key beside it in a ``uint32`` array), so a lookup is a binary
  search over a memory-mapped file;
* the **shingle sets** (sorted, distinct ``uint64`` shingle hashes of each
  row, one flat array plus ``offsets``) for exact Jaccard verification;
* each row's **id** and **source file** (``rows.parquet``);
* ``manifest.json``: the parameters (threshold, num_perm, ngram, tokenizer,
  seed, bands, rows), the format version, the stemmatic version, and the size
  and CRC-32 of every file.

An index is a list of **releases**; ``add_to_index`` appends one (a new
directory, then the manifest is replaced atomically) and never rewrites an
older one.

``dedup(NEW, OUT, against=[INDEX])`` decides exactly as a dedup of the indexed
rows followed by NEW would (indexed rows first, ``keep="first"``): the band
records of NEW are merged with the indexed records of the same keys before
buckets become candidate pairs (so a large bucket makes the same star from its
smallest row, an indexed one), candidate pairs with indexed rows are verified
against the stored shingle sets, and indexed rows join the union-find as extra
nodes that always win their cluster. A row of NEW in a cluster with an indexed
row is removed with ``reason = "near_duplicate_of_index"``, ``duplicate_of`` =
that indexed row's id and ``duplicate_source`` = its source file.

>>> import tempfile, pathlib, pyarrow as pa, pyarrow.parquet as pq
>>> from stemmatic.dedup import dedup
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> text = "the quick brown fox jumps over the lazy dog " * 5
>>> pq.write_table(pa.table({"text": [text, "an older text"]}), d / "old.parquet")
>>> pq.write_table(pa.table({"text": [text + "again", "something new"]}), d / "new.parquet")
>>> build_index(d / "old.parquet", d / "index", threshold=0.7).rows
2
>>> result = dedup(d / "new.parquet", d / "out", threshold=0.7, against=[d / "index"])
>>> result.kept_rows, result.report["rows"]["detail"]["removed_against_index"]
(1, 1)
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
import shutil
import tempfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from stemmatic import _core
from stemmatic._atomic import AtomicFile, FileRecord
from stemmatic._run import NoProgress as _NoProgress
from stemmatic._run import Progress, known_rows
from stemmatic.dedup import steps
from stemmatic.dedup.clusters import REASON_EXACT, ClusterDecision
from stemmatic.dedup.config import DedupConfig
from stemmatic.dedup.params import DedupParams
from stemmatic.exceptions import InvalidInputError, ParameterError, StemmaticError
from stemmatic.io import (
    InputFile,
    check_columns,
    iter_chunks,
    output_dir,
    resolve_inputs,
    write_report,
)
from stemmatic.io._remote import RemotePath, is_url
from stemmatic.minhash import RowStatus

__all__ = [
    "FORMAT_VERSION",
    "REASON_INDEX",
    "DedupIndex",
    "IndexInfo",
    "add_to_index",
    "build_index",
    "index_info",
    "reason_names",
]

FORMAT = "stemmatic-dedup-index"
#: The layout this version writes and reads; any other is refused, but for format 1.
FORMAT_VERSION = 2
#: Format 1 is format 2 but for the tokenizer's name: ``auto`` then had today's
#: ``auto-span`` units (before its document rule), so a format-1 index read
#: now names that tokenizer ``auto-span``, which hashes as it was built.
_FORMAT_1_TOKENIZERS = {"auto": "auto-span"}
MANIFEST = "manifest.json"
#: ``why`` code of a row removed as a duplicate of an indexed row (beside clusters.REASON_NEAR/EXACT).
REASON_INDEX = 2
#: The parameters an index is built with; a dedup against it must use the same.
_PARAMETERS = ("threshold", "num_perm", "ngram", "tokenizer", "seed", "bands", "rows", "bits")
#: The arrays of a release: file name -> dtype (little-endian, raw).
_ARRAYS = {"keys.bin": "<u8", "docs.bin": "<u4", "values.bin": "<u8", "offsets.bin": "<u8"}
_ROWS = "rows.parquet"
_RELEASE_NAME = re.compile(r"^release-\d{5}$")
_READ_BLOCK = 1 << 22


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text.split("+")[0])[:3])


def _parameters(config: DedupParams) -> dict[str, Any]:
    banding = config.banding()
    return {
        "threshold": config.threshold,
        "num_perm": config.num_perm,
        "ngram": config.ngram,
        "tokenizer": config.tokenizer,
        "seed": config.seed,
        "bands": banding.bands,
        "rows": banding.rows,
        "bits": config.hasher().bits,
    }


@dataclass(frozen=True)
class IndexInfo:
    """What an index holds (``stemmatic index info``)."""

    path: str
    parameters: dict[str, Any]
    stemmatic_version: str
    format_version: int
    releases: list[dict[str, Any]]
    rows: int
    bytes: int
    text_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format_version": self.format_version,
            "stemmatic_version": self.stemmatic_version,
            "parameters": self.parameters,
            "rows": self.rows,
            "text_bytes": self.text_bytes,
            "bytes": self.bytes,
            "releases": self.releases,
        }


# ---------------------------------------------------------------------------
# Writing


def _write_release(
    directory: Path,
    files: Sequence[InputFile],
    config: DedupConfig,
    parameters: dict[str, Any],
    *,
    workers: int | None,
    progress: Progress,
    kept: np.ndarray | None = None,
) -> dict[str, Any]:
    """Sketch ``files`` (the rows where ``kept`` is true, if given) into the release ``directory``."""
    directory.mkdir(parents=True)
    bands = parameters["bands"]
    sketcher = steps.make_sketcher(
        num_perm=parameters["num_perm"],
        ngram=parameters["ngram"],
        tokenizer=parameters["tokenizer"],
        seed=parameters["seed"],
        bands=bands,
        rows=parameters["rows"],
        keep_sets=True,
        bits=parameters["bits"],
    )
    columns = [config.text_column] + ([config.id_column] if config.id_column else [])
    key_parts: list[np.ndarray] = []
    doc_parts: list[np.ndarray] = []
    offset_parts: list[np.ndarray] = [np.zeros(1, np.uint64)]
    ids: list[pa.Array] = []
    file_of: list[np.ndarray] = []
    total_values = 0
    n_rows = 0
    text_bytes = 0
    rejected = 0

    def count_rejected(_: Any) -> None:
        nonlocal rejected
        rejected += 1

    values_file = AtomicFile(directory / "values.bin", "index")
    progress.start("index", known_rows(files))
    try:
        for chunk in iter_chunks(
            files,
            columns=columns,
            batch_rows=config.batch_rows,
            on_error=config.on_error,
            on_rejected=count_rejected,
            skippable=True,
        ):
            check_columns(chunk.file, chunk.batch.schema.names, columns)
            texts = steps.text_column(chunk.batch, config.text_column, f"{chunk.file.path}: ")
            row_ids = (
                steps.id_values(chunk, config.id_column, ids[0].type if ids else None)
                if config.id_column
                else pa.array(np.arange(chunk.file_row, chunk.file_row + len(texts), dtype=np.int64))
            )
            if kept is not None:
                mask = kept[chunk.global_row : chunk.global_row + len(texts)]
                texts = texts.filter(pa.array(mask))
                row_ids = row_ids.filter(pa.array(mask))
            if not len(texts):
                continue
            batch = steps.sketch(sketcher, texts, workers=workers)
            status, keys = batch.status, batch.band_keys
            values, offsets = batch.set_values, batch.set_offsets
            assert values is not None and offsets is not None  # keep_sets=True
            docs = np.arange(n_rows, n_rows + len(texts), dtype=np.uint64)
            ok = status == RowStatus.OK
            if n_rows + len(texts) > np.iinfo(np.uint32).max:
                raise ParameterError("one release holds at most 4,294,967,295 rows; add the rest as another")
            key_parts.append(keys[ok].ravel())
            doc_parts.append(np.repeat(docs[ok], bands).astype(np.uint32))
            values_file.write(np.ascontiguousarray(values, dtype="<u8").tobytes())
            offset_parts.append(offsets[1:] + np.uint64(total_values))
            total_values += len(values)
            ids.append(row_ids)
            file_of.append(np.full(len(texts), chunk.file_index, np.int32))
            n_rows += len(texts)
            nbytes = int(batch.lengths.sum())
            text_bytes += nbytes
            progress.advance(len(texts), nbytes)
        records: dict[str, FileRecord] = {"values.bin": values_file.commit()}
    except BaseException:
        values_file.discard()
        raise
    finally:
        progress.finish()
    keys = np.concatenate(key_parts) if key_parts else np.zeros(0, np.uint64)
    docs32 = np.concatenate(doc_parts) if doc_parts else np.zeros(0, np.uint32)
    order = np.argsort(keys, kind="stable")
    for name, array in (
        ("keys.bin", keys[order].astype("<u8")),
        ("docs.bin", docs32[order].astype("<u4")),
        ("offsets.bin", np.concatenate(offset_parts).astype("<u8")),
    ):
        with AtomicFile(directory / name, "index") as fh:
            fh.write(array.tobytes())
        assert fh.record is not None
        records[name] = fh.record
    id_type = ids[0].type if ids else pa.int64()
    table = pa.table(
        {
            "id": pa.chunked_array(ids, type=id_type) if ids else pa.array([], id_type),
            "file": pa.array(np.concatenate(file_of) if file_of else np.zeros(0, np.int32)),
        }
    )
    with AtomicFile(directory / _ROWS, "index") as fh:
        pq.write_table(table, fh)
    assert fh.record is not None
    records[_ROWS] = fh.record
    return {
        "name": directory.name,
        "rows": n_rows,
        "rejected": rejected,
        "band_records": len(keys),
        "shingles": total_values,
        "text_bytes": text_bytes,
        "sources": [str(f.path) for f in files],
        "text_column": config.text_column,
        "id_column": config.id_column,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "files": {name: record.to_json() for name, record in sorted(records.items())},
    }


def _write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    with AtomicFile(directory / MANIFEST, "index manifest") as fh:
        fh.write((json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())


def build_index(
    inputs: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    config: DedupConfig | None = None,
    workers: int | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
    **overrides: Any,
) -> IndexInfo:
    """Build a near-duplicate index of ``inputs`` in the directory ``output`` (its first release).

    The dedup parameters (``threshold``, ``num_perm``, ``ngram``,
    ``tokenizer``, ``seed``, ``bands``/``rows``, ``text_column``,
    ``id_column``) come from ``config`` and keyword ``overrides`` as in
    :func:`stemmatic.dedup.dedup`; a dedup against the index must use the same
    ones. Every row is indexed (duplicates among ``inputs`` too).
    ``output`` may be a URL (written locally, uploaded when done).
    """
    config = DedupConfig.build(config, overrides)
    _check_exact_config(config, "build an index")
    parameters = _parameters(config)
    files = resolve_inputs([inputs] if isinstance(inputs, (str, os.PathLike)) else inputs)
    with output_dir(output, inputs=files, overwrite=overwrite) as out:
        release = _write_release(
            out / "release-00000",
            files,
            config,
            parameters,
            workers=workers,
            progress=progress or _NoProgress(),
        )
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "stemmatic_version": _core.__version__,
            "parameters": parameters,
            "releases": [release],
        }
        _write_manifest(out, manifest)
        info = _info(str(output), manifest)
    return info


def _check_exact_config(config: DedupParams, what: str) -> None:
    if config.verify != "exact":
        raise ParameterError(f"cannot {what} with verify={config.verify!r}: an index verifies exactly")


def add_to_index(
    index: str | os.PathLike[str],
    inputs: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    *,
    text_column: str = "text",
    id_column: str | None = None,
    on_error: str = "raise",
    workers: int | None = None,
    progress: Progress | None = None,
) -> IndexInfo:
    """Append ``inputs`` to the local index ``index`` as a new release (older releases are not rewritten).

    The release is sketched with the index's own parameters. The manifest is
    replaced only when the release is complete, so an interrupted ``add``
    leaves the index as it was.
    """
    files = resolve_inputs([inputs] if isinstance(inputs, (str, os.PathLike)) else inputs)
    return _append(index, files, text_column, id_column, on_error, workers, progress, None)


def _append(
    index: str | os.PathLike[str],
    files: Sequence[InputFile],
    text_column: str,
    id_column: str | None,
    on_error: str,
    workers: int | None,
    progress: Progress | None,
    kept: np.ndarray | None,
) -> IndexInfo:
    from stemmatic.io import _DirLock, check_output_apart

    if is_url(os.fspath(index)):
        raise ParameterError(f"{index}: adding to an index needs a local index directory")
    path = Path(index)
    check_output_apart(path, files)
    with _DirLock(path) if path.is_dir() else contextlib.nullcontext():
        manifest = _read_manifest(path)
        opened = DedupIndex.open(path)  # checks every file before anything is added
        opened.close()
        params = manifest["parameters"]
        config = DedupConfig(
            text_column=text_column,
            id_column=id_column,
            threshold=params["threshold"],
            num_perm=params["num_perm"],
            ngram=params["ngram"],
            tokenizer=params["tokenizer"],
            seed=params["seed"],
            bands=params["bands"],
            rows=params["rows"],
            on_error=on_error,  # type: ignore[arg-type]
        )
        config.validate()
        names = [r["name"] for r in manifest["releases"]]
        number = 1 + max(int(n.split("-")[1]) for n in names)
        directory = path / f"release-{number:05d}"
        # Left by an add that was interrupted before its manifest: not part of the index.
        shutil.rmtree(directory, ignore_errors=True)
        try:
            release = _write_release(
                directory,
                files,
                config,
                params,
                workers=workers,
                progress=progress or _NoProgress(),
                kept=kept,
            )
            manifest = {**manifest, "releases": [*manifest["releases"], release]}
            _write_manifest(path, manifest)
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
    return _info(str(index), manifest)


# ---------------------------------------------------------------------------
# Reading


def _read_manifest(path: Path, shown: str | None = None) -> dict[str, Any]:
    """The manifest of the index at ``path``, checked; errors name ``shown`` (the path the user gave)."""
    shown = shown or str(path)
    file = path / MANIFEST
    if not path.is_dir():
        raise InvalidInputError(f"{shown}: no index there (not a directory)")
    try:
        data = json.loads(file.read_bytes())
    except FileNotFoundError:
        raise InvalidInputError(f"{shown}: not a stemmatic index ({MANIFEST} is missing)") from None
    except (OSError, ValueError, RecursionError) as err:
        raise InvalidInputError(f"{shown}/{MANIFEST}: damaged index manifest ({err})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InvalidInputError(f"{shown}/{MANIFEST}: not a stemmatic dedup index manifest")
    version = data.get("format_version")
    written_by = data.get("stemmatic_version")
    if not isinstance(written_by, str) or not _version_tuple(written_by):
        raise InvalidInputError(f"{shown}/{MANIFEST}: field 'stemmatic_version' is missing or not a version")
    if version not in (1, FORMAT_VERSION) or _version_tuple(written_by) > _version_tuple(_core.__version__):
        newer = (isinstance(version, int) and version > FORMAT_VERSION) or _version_tuple(
            written_by
        ) > _version_tuple(_core.__version__)
        hint = "upgrade stemmatic to read it" if newer else "rebuild it with `stemmatic index build`"
        raise InvalidInputError(
            f"{shown}: index format {version!r} written by stemmatic {written_by}; this stemmatic "
            f"({_core.__version__}) reads format {FORMAT_VERSION} of its own version or older: {hint}"
        )
    params = data.get("parameters")
    if not isinstance(params, dict) or set(params) != set(_PARAMETERS):
        raise InvalidInputError(f"{shown}/{MANIFEST}: field 'parameters' must hold {', '.join(_PARAMETERS)}")
    for key in _PARAMETERS:
        value = params[key]
        kind = str if key == "tokenizer" else float if key == "threshold" else int
        if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else kind):
            raise InvalidInputError(f"{shown}/{MANIFEST}: parameter {key!r} is not a {kind.__name__}")
    releases = data.get("releases")
    if not isinstance(releases, list) or not releases:
        raise InvalidInputError(f"{shown}/{MANIFEST}: field 'releases' must be a non-empty list")
    for number, release in enumerate(releases):
        where = f"{shown}/{MANIFEST}: release {number}"
        if not isinstance(release, dict):
            raise InvalidInputError(f"{where} is not an object")
        name = release.get("name")
        if not isinstance(name, str) or not _RELEASE_NAME.match(name):
            raise InvalidInputError(f"{where}: field 'name' must be release-NNNNN")
        for key in ("rows", "band_records", "shingles", "text_bytes"):
            value = release.get(key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidInputError(f"{where}: field {key!r} must be a non-negative integer")
        sources = release.get("sources")
        if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
            raise InvalidInputError(f"{where}: field 'sources' must be a list of paths")
        files = release.get("files")
        if not isinstance(files, dict) or set(files) != {*_ARRAYS, _ROWS}:
            raise InvalidInputError(f"{where}: field 'files' must list {', '.join([*_ARRAYS, _ROWS])}")
        for file_name, record in files.items():
            parsed = FileRecord.from_json(record)
            if parsed is None or parsed.crc32 is None:
                raise InvalidInputError(f"{where}: the record of {file_name} is not valid")
    if len({r["name"] for r in releases}) != len(releases):
        raise InvalidInputError(f"{shown}/{MANIFEST}: two releases have one name")
    if version == 1:
        # Read as format 2 (and written so by the next `index add`).
        params["tokenizer"] = _FORMAT_1_TOKENIZERS.get(params["tokenizer"], params["tokenizer"])
        data["format_version"] = FORMAT_VERSION
    return data


def _crc32(path: Path) -> int:
    crc = 0
    with path.open("rb") as fh:
        while block := fh.read(_READ_BLOCK):
            crc = zlib.crc32(block, crc)
    return crc


@dataclass
class _Release:
    name: str
    base: int
    rows: int
    keys: np.ndarray
    docs: np.ndarray
    values: np.ndarray
    offsets: np.ndarray
    rows_path: Path
    sources: list[str]
    _ids: pa.Array | None = None
    _files: np.ndarray | None = None

    def ids_and_files(self) -> tuple[pa.Array, np.ndarray]:
        if self._ids is None or self._files is None:
            table = pq.read_table(self.rows_path)
            self._ids = table.column("id").combine_chunks()
            self._files = table.column("file").to_numpy()
        return self._ids, self._files


def _memmap(path: Path, dtype: str, count: int) -> np.ndarray:
    if count == 0:
        return np.zeros(0, dtype)
    return np.memmap(path, dtype=dtype, mode="r", shape=(count,))


@dataclass
class DedupIndex:
    """One or more opened indexes (their releases in order), memory-mapped for lookups.

    >>> import tempfile, pathlib, pyarrow as pa, pyarrow.parquet as pq
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> pq.write_table(pa.table({"text": ["a b c d e f g h", "x y z"]}), d / "old.parquet")
    >>> _ = build_index(d / "old.parquet", d / "index")
    >>> index = DedupIndex.open(d / "index")
    >>> index.rows, index.parameters["bands"], len(index.releases)
    (2, 16, 1)
    >>> index.close()
    """

    paths: list[str]
    parameters: dict[str, Any]
    releases: list[_Release]
    manifests: list[dict[str, Any]]
    _staging: list[tempfile.TemporaryDirectory[str]] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(r.rows for r in self.releases)

    @classmethod
    def open(cls, *indexes: str | os.PathLike[str], verify: bool = True) -> DedupIndex:
        """Open indexes (local directories or URLs: a remote index is copied to a temporary directory first).

        Every file's size is checked against the manifest, and with ``verify``
        its CRC-32 too (one sequential read of the index); a damaged,
        truncated, foreign or newer index is refused, as are indexes of
        differing parameters.
        """
        if not indexes:
            raise ParameterError("no index given")
        opened = cls([], {}, [], [])
        try:
            for index in indexes:
                opened._add(os.fspath(index), verify)
        except BaseException:
            opened.close()
            raise
        return opened

    def _add(self, shown: str, verify: bool) -> None:
        if is_url(shown):
            staging = tempfile.TemporaryDirectory(prefix="stemmatic-index-")
            self._staging.append(staging)
            path = Path(staging.name) / "index"
            _download(shown, path)
        else:
            path = Path(shown)
        manifest = _read_manifest(path, shown)
        params = manifest["parameters"]
        if self.parameters and params != self.parameters:
            raise ParameterError(
                f"{shown}: built with other parameters than {self.paths[0]}: {_differences(self.parameters, params)}"
            )
        self.parameters = params
        base = self.rows
        for release in manifest["releases"]:
            directory = path / release["name"]
            where = f"{shown}/{release['name']}"
            for file_name, record_json in release["files"].items():
                record = FileRecord.from_json(record_json)
                assert record is not None
                file = directory / file_name
                try:
                    size = file.stat().st_size
                except OSError:
                    raise InvalidInputError(f"{where}/{file_name}: missing from the index") from None
                if size != record.size:
                    raise InvalidInputError(
                        f"{where}/{file_name}: truncated or damaged index file ({size:,} bytes, "
                        f"the manifest says {record.size:,})"
                    )
                if verify and _crc32(file) != record.crc32:
                    raise InvalidInputError(f"{where}/{file_name}: damaged index file (checksum mismatch)")
            counts = {
                "keys.bin": release["band_records"],
                "docs.bin": release["band_records"],
                "values.bin": release["shingles"],
                "offsets.bin": release["rows"] + 1,
            }
            arrays = {}
            for file_name, dtype in _ARRAYS.items():
                expected = counts[file_name] * np.dtype(dtype).itemsize
                if release["files"][file_name]["bytes"] != expected:
                    raise InvalidInputError(
                        f"{where}/{file_name}: holds {release['files'][file_name]['bytes']:,} bytes, "
                        f"the release's counts need {expected:,}"
                    )
                arrays[file_name] = _memmap(directory / file_name, dtype, counts[file_name])
            offsets = arrays["offsets.bin"]
            if offsets[0] != 0 or int(offsets[-1]) != release["shingles"]:
                raise InvalidInputError(f"{where}/offsets.bin: damaged index file (offsets out of range)")
            self.releases.append(
                _Release(
                    name=where,
                    base=base,
                    rows=release["rows"],
                    keys=arrays["keys.bin"],
                    docs=arrays["docs.bin"],
                    values=arrays["values.bin"],
                    offsets=offsets,
                    rows_path=directory / _ROWS,
                    sources=release["sources"],
                )
            )
            base += release["rows"]
        self.paths.append(shown)
        self.manifests.append(manifest)

    def close(self) -> None:
        self.releases = []
        for staging in self._staging:
            staging.cleanup()
        self._staging = []

    def check_config(self, config: DedupParams) -> None:
        """Refuse a dedup whose parameters differ from the index's: it would decide otherwise."""
        _check_exact_config(config, "dedup against an index")
        if config.exact:
            raise ParameterError(
                "--exact cannot be combined with --against: the index does not hold exact-duplicate keys"
            )
        wanted = _parameters(config)
        if wanted != self.parameters:
            raise ParameterError(
                f"{self.paths[0]}: the index was built with other parameters: "
                f"{_differences(self.parameters, wanted)}; dedup against it with the index's parameters "
                "(see `stemmatic index info`)"
            )

    def fingerprint(self) -> list[Any]:
        """What identifies the opened indexes, for a resumed run's checkpoints."""
        return [[p, m["releases"]] for p, m in zip(self.paths, self.manifests, strict=True)]

    # -- lookups -------------------------------------------------------------

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The indexed ``(key, row)`` records whose key is one of ``keys``; rows numbered across releases."""
        query = np.unique(keys)
        found_keys: list[np.ndarray] = []
        found_rows: list[np.ndarray] = []
        for release in self.releases:
            if not len(release.keys):
                continue
            lo = np.searchsorted(release.keys, query, side="left")
            hi = np.searchsorted(release.keys, query, side="right")
            counts = hi - lo
            total = int(counts.sum())
            if not total:
                continue
            starts = np.repeat(lo - (np.cumsum(counts) - counts), counts)
            positions = starts + np.arange(total)
            found_keys.append(np.asarray(release.keys[positions], dtype=np.uint64))
            found_rows.append(np.asarray(release.docs[positions], dtype=np.uint64) + np.uint64(release.base))
        if not found_keys:
            return np.zeros(0, np.uint64), np.zeros(0, np.uint64)
        return np.concatenate(found_keys), np.concatenate(found_rows)

    def candidate_pairs(
        self, keys: np.ndarray, docs: np.ndarray, *, clique_max: int, workers: int | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Candidate pairs of ``docs`` (band ``keys`` beside them) with the indexed rows first in each bucket.

        Returns the pairs among ``docs``, and the ``(indexed row, doc)``
        pairs: a bucket gives the pairs a dedup of the indexed rows followed
        by ``docs`` would (a large bucket's star is centred on its smallest
        row, an indexed one); pairs of two indexed rows are dropped.
        """
        old_keys, old_rows = self.lookup(keys)
        if not len(old_keys):
            inside = _core.candidate_pairs(keys, docs, clique_max=clique_max, workers=workers)
            return inside, np.zeros((0, 2), np.uint64)
        shift = np.uint64(self.rows)
        found = _core.candidate_pairs(
            np.concatenate([old_keys, keys]),
            np.concatenate([old_rows, docs + shift]),
            clique_max=clique_max,
            workers=workers,
        )
        new_new = found[:, 0] >= shift
        old_new = (found[:, 0] < shift) & (found[:, 1] >= shift)
        external = np.stack([found[old_new, 0], found[old_new, 1] - shift], axis=1)
        return np.ascontiguousarray(found[new_new] - shift), external

    def _locate(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Release number and row within it of global ``rows``."""
        bases = np.array([r.base for r in self.releases], dtype=np.int64)
        which = np.searchsorted(bases, rows.astype(np.int64), side="right") - 1
        return which, rows.astype(np.int64) - bases[which]

    def shingle_sets(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Shingle sets of global ``rows`` as flat ``(values, offsets)``, in the order given."""
        which, local = self._locate(rows)
        parts: list[np.ndarray] = []
        lengths = np.zeros(len(rows), np.uint64)
        for number, release in enumerate(self.releases):
            picked = np.flatnonzero(which == number)
            if not len(picked):
                continue
            starts = release.offsets[local[picked]].astype(np.int64)
            ends = release.offsets[local[picked] + 1].astype(np.int64)
            lengths[picked] = ends - starts
            parts.append(release.values[_ranges(starts, ends)])
        # Rows were grouped by release above; lay the sets out in the order of ``rows``.
        grouped = np.concatenate(parts) if parts else np.zeros(0, np.uint64)
        order = np.argsort(which, kind="stable")
        grouped_offsets = np.concatenate([[0], np.cumsum(lengths[order])]).astype(np.int64)
        position = np.empty(len(rows), np.int64)
        position[order] = np.arange(len(rows))
        starts = grouped_offsets[position]
        ends = grouped_offsets[position + 1]
        values = np.ascontiguousarray(grouped[_ranges(starts, ends)], dtype=np.uint64)
        return values, np.concatenate([[0], np.cumsum(lengths)]).astype(np.uint64)

    def ids_and_sources(self, rows: np.ndarray) -> tuple[pa.Array, list[str]]:
        """Ids and source files of global ``rows``."""
        which, local = self._locate(rows)
        id_parts: list[Any] = [None] * len(rows)
        sources: list[str] = [""] * len(rows)
        for number, release in enumerate(self.releases):
            picked = np.flatnonzero(which == number)
            if not len(picked):
                continue
            ids, files = release.ids_and_files()
            values = ids.take(pa.array(local[picked])).to_pylist()
            for slot, value, file in zip(picked, values, files[local[picked]], strict=True):
                id_parts[slot] = value
                sources[slot] = release.sources[int(file)]
        kinds = {type(v) for v in id_parts}
        return pa.array(id_parts, pa.large_string() if str in kinds else pa.int64()), sources


def reason_names(codes: np.ndarray) -> pa.Array:
    """The ``reason`` of removed rows from their codes (near, exact, duplicate of an indexed row).

    >>> reason_names(np.array([0, 1, 2])).to_pylist()
    ['near_duplicate', 'exact', 'near_duplicate_of_index']
    """
    names = np.where(codes == REASON_EXACT, "exact", "near_duplicate")
    return pa.array(np.where(codes == REASON_INDEX, "near_duplicate_of_index", names), pa.string())


def _ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(start, end)`` for each pair, vectorised."""
    lengths = ends - starts
    total = int(lengths.sum())
    if not total:
        return np.zeros(0, np.int64)
    return np.repeat(starts - (np.cumsum(lengths) - lengths), lengths) + np.arange(total)


def _differences(have: dict[str, Any], want: dict[str, Any]) -> str:
    return ", ".join(
        f"{key} {have.get(key)!r} in the index, {want.get(key)!r} here"
        for key in _PARAMETERS
        if have.get(key) != want.get(key)
    )


def _download(url: str, local: Path) -> None:
    import pyarrow.fs as pafs

    remote = RemotePath.from_url(url)
    if not remote.is_dir():
        raise InvalidInputError(f"{url}: no index there")
    local.mkdir(parents=True)
    try:
        pafs.copy_files(
            remote.pure.as_posix(),
            str(local),
            source_filesystem=remote.filesystem,
            destination_filesystem=pafs.LocalFileSystem(),
        )
    except (OSError, pa.ArrowException) as err:
        raise InvalidInputError(f"{url}: could not read the index: {err}") from None


def _info(path: str, manifest: dict[str, Any]) -> IndexInfo:
    releases = []
    total = 0
    for release in manifest["releases"]:
        size = sum(record["bytes"] for record in release["files"].values())
        total += size
        releases.append({**{k: v for k, v in release.items() if k != "files"}, "bytes": size})
    return IndexInfo(
        path=path,
        parameters=manifest["parameters"],
        stemmatic_version=manifest["stemmatic_version"],
        format_version=manifest["format_version"],
        releases=releases,
        rows=sum(r["rows"] for r in releases),
        bytes=total,
        text_bytes=sum(r["text_bytes"] for r in releases),
    )


def index_info(index: str | os.PathLike[str], *, verify: bool = False) -> IndexInfo:
    """Describe an index (``verify``: also check every file's checksum)."""
    opened = DedupIndex.open(index, verify=verify)
    try:
        return _info(os.fspath(index), opened.manifests[0])
    finally:
        opened.close()


# ---------------------------------------------------------------------------
# The dedup pipeline's side: indexed rows as extra nodes n, n+1, ...


class Against:
    """What :func:`stemmatic.dedup.dedup` does with ``against=``: the pipeline calls it at four points.

    Rows of the run are nodes ``0..n-1``; the indexed rows that share a band
    key with one of them become nodes ``n + j`` (``j`` in the order of their
    global index row, so the smallest indexed row is the smallest extra
    node), listed in ``_work/index_rows.npy``.
    """

    def __init__(self, index: DedupIndex) -> None:
        self.index = index
        self.work = Path()
        self._external: list[np.ndarray] = []
        self._index_rows: np.ndarray | None = None
        #: Set by the write stage: which rows of the run were kept (for ``update_index``).
        self.kept: np.ndarray | None = None
        self._index_ids_integer: set[bool] | None = None

    def attach(self, run: Any) -> None:
        """Take part in ``run`` (a dedup pipeline run): it calls the methods below."""
        run.against = self
        self.work = run.work

    @property
    def index_rows(self) -> np.ndarray:
        if self._index_rows is None:
            self._index_rows = np.load(self.work / "index_rows.npy")
        return self._index_rows

    # candidates stage
    def candidate_pairs(
        self, keys: np.ndarray, docs: np.ndarray, *, clique_max: int, workers: int | None
    ) -> np.ndarray:
        """Candidate pairs among the run's rows as if the indexed rows came first in the same buckets.

        Pairs with an indexed row are kept aside for :meth:`external_pairs`.
        """
        inside, external = self.index.candidate_pairs(keys, docs, clique_max=clique_max, workers=workers)
        self._external.append(external)
        return inside

    def external_pairs(self, n: int, save: Callable[[str, np.ndarray], None]) -> np.ndarray:
        """The pairs (run row, ``n + j``) collected so far; saves ``index_rows.npy``."""
        pairs = np.concatenate(self._external) if self._external else np.zeros((0, 2), np.uint64)
        self._external = []
        rows, nodes = np.unique(pairs[:, 0], return_inverse=True)
        self._index_rows = rows.astype(np.uint64)
        save("index_rows.npy", self._index_rows)
        out = np.empty((len(pairs), 2), np.uint64)
        out[:, 0] = pairs[:, 1]
        out[:, 1] = np.uint64(n) + nodes.astype(np.uint64).ravel()
        return out

    # verify stage
    def verify_pairs(
        self,
        pairs: np.ndarray,
        slots: np.ndarray,
        values: np.ndarray,
        offsets: np.ndarray,
        *,
        n: int,
        workers: int | None,
    ) -> np.ndarray:
        """Exact Jaccard of every pair; a run row's set from ``slots``/``values``/``offsets``, an indexed one's from the index."""
        sims = np.zeros(len(pairs), np.float64)
        external = pairs[:, 1] >= np.uint64(n)
        slots = slots[slots < np.uint64(n)]
        if (~external).any():
            sims[~external] = _core.verify_pairs(
                np.ascontiguousarray(pairs[~external]), slots, values, offsets, workers=workers
            )
        if not external.any():
            return sims
        ext = np.ascontiguousarray(pairs[external])
        run_rows = np.unique(ext[:, 0])
        slot_of = np.searchsorted(slots, run_rows)
        starts = offsets[slot_of].astype(np.int64)
        ends = offsets[slot_of + 1].astype(np.int64)
        run_values = np.asarray(values[_ranges(starts, ends)], dtype=np.uint64)
        nodes = np.unique(ext[:, 1])
        old_values, old_offsets = self.index.shingle_sets(
            self.index_rows[(nodes - np.uint64(n)).astype(np.int64)]
        )
        lengths = np.concatenate([ends - starts, np.diff(old_offsets.astype(np.int64))])
        all_offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.uint64)
        sims[external] = _core.verify_pairs(
            ext,
            np.concatenate([run_rows, nodes]),
            np.concatenate([run_values, old_values]),
            all_offsets,
            workers=workers,
        )
        return sims

    # cluster stage
    def nodes(self, n: int) -> int:
        return n + len(self.index_rows)

    def keep_scores(self, score: np.ndarray | None, n: int) -> np.ndarray:
        """Indexed rows always win their cluster: they are released already."""
        head = np.zeros(n) if score is None else score
        return np.concatenate([head, np.full(len(self.index_rows), np.inf)])

    def restrict(self, decision: ClusterDecision, n: int) -> ClusterDecision:
        """The decision for the run's rows; those kept out by an indexed row say so."""
        removed = decision.removed[:n]
        duplicate_of = decision.duplicate_of[:n]
        reason = decision.reason[:n].copy()
        reason[removed & (duplicate_of >= n)] = REASON_INDEX
        return ClusterDecision(
            removed=removed,
            duplicate_of=duplicate_of,
            cluster_id=decision.cluster_id[:n],
            similarity=decision.similarity[:n],
            reason=reason,
            cluster_size=decision.cluster_size[:n],
        )

    # write stage
    def removed_columns(
        self, duplicate_of: np.ndarray, why: np.ndarray, ids: pa.Array, n: int
    ) -> tuple[pa.Array, pa.Array, pa.Array]:
        """``duplicate_of``, ``reason`` and ``duplicate_source`` of removed rows."""
        external = duplicate_of >= n
        dup_type = self.id_type(ids.type)
        values: list[Any] = [None] * len(duplicate_of)
        sources: list[str | None] = [None] * len(duplicate_of)
        inside = np.flatnonzero(~external)
        for slot, value in zip(inside, ids.take(pa.array(duplicate_of[inside])).to_pylist(), strict=True):
            values[slot] = value
        outside = np.flatnonzero(external)
        if len(outside):
            rows = self.index_rows[duplicate_of[outside] - n]
            old_ids, old_sources = self.index.ids_and_sources(rows)
            for slot, value, source in zip(outside, old_ids.to_pylist(), old_sources, strict=True):
                values[slot] = value
                sources[slot] = source
        if pa.types.is_large_string(dup_type):
            values = [None if v is None else str(v) for v in values]
        return pa.array(values, dup_type), reason_names(why), pa.array(sources, pa.string())

    def id_type(self, run_type: pa.DataType) -> pa.DataType:
        """The ``duplicate_of`` type: the run's id type, or text when the index's ids are of another kind."""
        if self._index_ids_integer is None:
            self._index_ids_integer = {
                pa.types.is_integer(pq.read_schema(release.rows_path).field("id").type)
                for release in self.index.releases
            }
        kinds = {pa.types.is_integer(run_type), *self._index_ids_integer}
        return run_type if len(kinds) == 1 else pa.large_string()

    def removed(self, decision: ClusterDecision) -> int:
        return int((decision.removed & (decision.reason == REASON_INDEX)).sum())

    def report(self) -> dict[str, Any]:
        return {
            "indexes": self.index.paths,
            "indexed_rows": self.index.rows,
            "releases": len(self.index.releases),
        }

    def update(self, run: Any) -> dict[str, Any]:
        """Append the rows ``run`` kept to the (one) index; its report, saying so."""
        if self.kept is None:  # pragma: no cover - the write stage always sets it
            raise StemmaticError("the run's kept rows are unknown; the index was not updated")
        self.index.close()
        config = run.config
        info = _append(
            self.index.paths[0],
            run.files,
            config.text_column,
            config.id_column,
            config.on_error,
            run.workers,
            run.progress,
            self.kept,
        )
        report_path = run.out / "report.json"
        report: dict[str, Any] = json.loads(report_path.read_bytes())
        report["index_update"] = {"index": info.path, "release": info.releases[-1]}
        write_report(report_path, report)
        return report


@contextlib.contextmanager
def opened_against(
    indexes: Sequence[str | os.PathLike[str]], config: DedupParams, *, update_index: bool
) -> Iterator[Against]:
    """The :class:`Against` of a dedup run: indexes opened and checked against ``config``, closed at the end."""
    if update_index and len(indexes) != 1:
        raise ParameterError("--update-index needs exactly one --against index (the one to append to)")
    index = DedupIndex.open(*indexes)
    try:
        index.check_config(config)
        if update_index and is_url(index.paths[0]):
            raise ParameterError(f"{index.paths[0]}: --update-index needs a local index directory")
        yield Against(index)
    finally:
        index.close()
