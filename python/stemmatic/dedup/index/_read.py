"""An opened index: its releases memory-mapped, with the lookups a dedup against it needs.

Part of :mod:`stemmatic.dedup.index`.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from stemmatic import _core
from stemmatic._atomic import FileRecord
from stemmatic.dedup.index._format import (
    _ARRAYS,
    _ROWS,
    IndexInfo,
    _check_exact_config,
    _crc32,
    _differences,
    _info,
    _parameters,
    _read_manifest,
)
from stemmatic.dedup.params import DedupParams
from stemmatic.exceptions import InvalidInputError, ParameterError
from stemmatic.io._remote import RemotePath, is_url


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
    >>> from stemmatic.dedup.index import build_index
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


def _ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(start, end)`` for each pair, vectorised."""
    lengths = ends - starts
    total = int(lengths.sum())
    if not total:
        return np.zeros(0, np.int64)
    return np.repeat(starts - (np.cumsum(lengths) - lengths), lengths) + np.arange(total)


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


def index_info(index: str | os.PathLike[str], *, verify: bool = False) -> IndexInfo:
    """Describe an index (``verify``: also check every file's checksum)."""
    opened = DedupIndex.open(index, verify=verify)
    try:
        return _info(os.fspath(index), opened.manifests[0])
    finally:
        opened.close()
