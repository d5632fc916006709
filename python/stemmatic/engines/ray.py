"""Near-duplicate removal on Ray Data (``pip install 'stemmatic[ray]'``).

The algorithm is :func:`stemmatic.engines._common.run_dedup`, the same for
Ray and Spark and built on the Rust batch functions of the local engine;
this module maps its primitives onto Ray Data: ``map_batches(batch_format=
"pyarrow")`` for per-batch work, ``groupby(...).map_groups`` for the
shuffles by band key and by row, and a co-group (both sides' batches cut by
partition group into Arrow IPC blobs, unioned and grouped) for the joins.

Example (starts Ray, so not run as a doctest)::

    import ray, stemmatic.engines.ray as sray
    ray.init(num_cpus=8)
    ds = ray.data.read_parquet("corpus/")
    kept = sray.dedup(ds, threshold=0.8)            # a ray.data.Dataset, input order
    split = sray.dedup_split(ds, threshold=0.8)     # .kept, .removed (duplicate_of, ...), .clusters, .stats
    split.removed.write_parquet("out/removed")

    index = ContaminationIndex.load("bench.idx")
    hits = sray.scan(ds, index, min_ngrams=1)        # the local ContaminationIndex.scan hits
    scanned = sray.scan_split(ds, index, remove=True)  # .hits, .clean, .removed, .stats
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from stemmatic._extras import require
from stemmatic.dedup.config import DedupConfig
from stemmatic.dedup.params import DedupParams
from stemmatic.engines._common import (
    PART,
    ROW,
    CoFn,
    EngineDedupResult,
    EngineOptions,
    TableFn,
    build_params,
)
from stemmatic.engines._front import (
    Indexes,
    dedup_directory_on,
    dedup_split_on,
    document,
    scan_directory_on,
    scan_split_on,
)
from stemmatic.engines._read import (
    ColumnRules,
    InputLayout,
    ReadShard,
    ShardInfo,
    clean_engine_errors,
    conform,
)
from stemmatic.engines._scan import EngineScanResult, ScanParams
from stemmatic.engines._shipped import CoConformed, Conformed, Shipped, ipc_bytes
from stemmatic.io._sinks import PARQUET_CODEC

if TYPE_CHECKING:
    import os

    import ray.data

    from stemmatic.contamination import ContaminationIndex
    from stemmatic.engines._directory import EngineIO
    from stemmatic.io import InputFile, OutputFormat

__all__ = ["RayBackend", "dedup", "dedup_split", "scan", "scan_split"]

_SIDE = "_stemmatic_side"
_BLOB = "_stemmatic_blob"


def _start(address: str | None) -> Any:
    """Join the Ray cluster at ``address`` (or start a local one) once per process."""
    ray = _ray()
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    return ray


def _read_task(reader: ReadShard, index: int) -> tuple[pa.Table | None, ShardInfo]:
    return reader.table(index)


def _conform_task(table: pa.Table, schema: pa.Schema) -> pa.Table:
    return conform(table, schema)


def _read_inputs(
    files: Sequence[InputFile], address: str | None, rules: ColumnRules, on_error: str
) -> tuple[Any, InputLayout, list[ShardInfo]]:
    """Read the resolved input files as one Dataset, one Ray task per file, with the local reader.

    The driver waits for every file's :class:`ShardInfo` (small) and raises
    the first file's error; the tables stay in the object store. Paths are
    resolved here, so Ray's own (fsspec) file listing is never used.
    """
    ray = _start(address)
    reader = ray.put(ReadShard(tuple(files), rules, on_error))
    read = ray.remote(num_returns=2)(_read_task)
    pending = [read.remote(reader, index) for index in range(len(files))]
    infos: list[ShardInfo] = ray.get([info for _, info in pending])
    layout = InputLayout.combine(files, infos, rules)
    conform_remote = ray.remote(_conform_task)
    refs = [
        table if info.schema == layout.schema else conform_remote.remote(table, layout.schema)
        for (table, _), info in zip(pending, infos, strict=True)
        if info.rows
    ]
    ds = ray.data.from_arrow_refs(refs) if refs else ray.data.from_arrow(layout.schema.empty_table())
    return ds, layout, infos


def _ray() -> Any:
    return require("ray", "stemmatic.engines.ray")


def _from_blobs(blobs: list[bytes], schema: pa.Schema) -> pa.Table:
    tables = [pa.ipc.open_stream(b).read_all() for b in blobs]
    return pa.concat_tables(tables).cast(schema) if tables else schema.empty_table()


@dataclass(frozen=True)
class _Blobs(Shipped):
    """Cut a batch by partition group into one (group, side, Arrow IPC blob) row per group."""

    side: int

    def __call__(self, table: pa.Table) -> pa.Table:
        part = np.asarray(table.column(PART).combine_chunks(), dtype=np.int64)
        order = np.argsort(part, kind="stable")
        sorted_part = part[order]
        starts: list[int] = (
            np.flatnonzero(np.r_[True, sorted_part[1:] != sorted_part[:-1]]).tolist() if len(part) else []
        )
        ends = [*starts[1:], len(part)] if len(part) else []
        parts, blobs = [], []
        for start, end in zip(starts, ends, strict=True):
            parts.append(int(sorted_part[start]))
            blobs.append(ipc_bytes(table.take(pa.array(order[start:end]))))
        return pa.table(
            {
                PART: pa.array(parts, pa.int64()),
                _SIDE: pa.array([self.side] * len(parts), pa.int8()),
                _BLOB: pa.array(blobs, pa.large_binary()),
            }
        )


@dataclass(frozen=True)
class _CoGroup(Shipped):
    """Reassemble both sides of a group from their blobs and apply the co-group function."""

    fn: CoConformed
    left: pa.Schema
    right: pa.Schema

    def __call__(self, table: pa.Table) -> pa.Table:
        side = np.asarray(table.column(_SIDE).combine_chunks())
        blobs = table.column(_BLOB).to_pylist()
        left = _from_blobs([b for b, s in zip(blobs, side, strict=True) if s == 0], self.left)
        right = _from_blobs([b for b, s in zip(blobs, side, strict=True) if s == 1], self.right)
        return self.fn(left, right)


@dataclass(frozen=True)
class _AddRow(Shipped):
    offset: int

    def __call__(self, table: pa.Table) -> pa.Table:
        return table.append_column(
            ROW, pa.array(np.arange(self.offset, self.offset + len(table), dtype=np.int64))
        )


def _index_block(block: Any, offset: int) -> pa.Table:
    from ray.data.block import BlockAccessor

    return _AddRow(offset)(BlockAccessor.for_block(block).to_arrow())


class RayBackend:
    """The engine primitives of :mod:`stemmatic.engines._common` on Ray Data.

    Ray datasets are lazy and their schema may cost an execution to learn, so
    the backend remembers the schema of every dataset it makes.
    """

    def __init__(self) -> None:
        self.ray = _ray()
        self._schemas: dict[int, tuple[Any, pa.Schema]] = {}

    def _track(self, data: Any, schema: pa.Schema) -> Any:
        self._schemas[id(data)] = (data, schema)
        return data

    def schema(self, data: Any) -> pa.Schema:
        if id(data) in self._schemas:
            return self._schemas[id(data)][1]
        found = data.schema()
        schema = found.base_schema if hasattr(found, "base_schema") else found
        if not isinstance(schema, pa.Schema):
            schema = pa.schema([pa.field(n, t) for n, t in zip(found.names, found.types, strict=True)])
        self._track(data, schema)
        return schema

    def map_arrow(self, data: Any, fn: TableFn, schema: pa.Schema) -> Any:
        out = data.map_batches(Conformed(fn, schema), batch_format="pyarrow", zero_copy_batch=True)
        return self._track(out, schema)

    def group_arrow(self, data: Any, fn: TableFn, schema: pa.Schema, partitions: int) -> Any:
        out = data.groupby(PART, num_partitions=partitions).map_groups(
            Conformed(fn, schema), batch_format="pyarrow"
        )
        return self._track(out, schema)

    def cogroup_arrow(self, left: Any, right: Any, fn: CoFn, schema: pa.Schema, partitions: int) -> Any:
        left_schema, right_schema = self.schema(left), self.schema(right)
        tagged = left.map_batches(_Blobs(0), batch_format="pyarrow").union(
            right.map_batches(_Blobs(1), batch_format="pyarrow")
        )
        out = tagged.groupby(PART, num_partitions=partitions).map_groups(
            _CoGroup(CoConformed(fn, schema), left_schema, right_schema), batch_format="pyarrow"
        )
        return self._track(out, schema)

    def materialize(self, data: Any) -> Any:
        return self._track(data.materialize(), self.schema(data))

    def union(self, first: Any, second: Any) -> Any:
        return self._track(first.union(second), self.schema(first))

    def select(self, data: Any, columns: list[str]) -> Any:
        schema = self.schema(data)
        return self._track(data.select_columns(columns), pa.schema([schema.field(c) for c in columns]))

    def count(self, data: Any) -> int:
        return int(data.count())

    def collect(self, data: Any) -> pa.Table:
        schema = self.schema(data)
        tables = [t for t in self.ray.get(data.to_arrow_refs()) if len(t)]
        return (
            pa.concat_tables([t.select(schema.names).cast(schema) for t in tables])
            if tables
            else schema.empty_table()
        )

    def from_arrow(self, table: pa.Table) -> Any:
        return self._track(self.ray.data.from_arrow(table), table.schema)

    def with_row_index(self, data: Any) -> Any:
        schema = self.schema(data)
        data = data.materialize()
        remote = self.ray.remote(_index_block)
        refs, offset = [], 0
        for bundle in data.iter_internal_ref_bundles():
            for entry in bundle.blocks:
                # Ray >= 2.5x: BlockEntry(ref, metadata); before: (ref, metadata).
                block_ref, meta = (entry.ref, entry.metadata) if hasattr(entry, "ref") else entry
                refs.append(remote.remote(block_ref, offset))
                offset += int(meta.num_rows)
        if not refs:
            return self.from_arrow(schema.empty_table().append_column(ROW, pa.array([], pa.int64())))
        return self._track(self.ray.data.from_arrow_refs(refs), schema.append(pa.field(ROW, pa.int64())))


@contextlib.contextmanager
def _ordered() -> Iterator[None]:
    """Keep block order while the engine runs (input order numbers the rows)."""
    ray = _ray()
    options = ray.data.DataContext.get_current().execution_options
    before = options.preserve_order
    options.preserve_order = True
    try:
        yield
    finally:
        options.preserve_order = before


@dataclass(frozen=True)
class _RayIndex(Shipped):
    """The index in Ray's object store (``ray.put`` once); workers fetch it on their first batch."""

    ref: Any
    key: str

    def load(self) -> ContaminationIndex:
        index: ContaminationIndex = _ray().get(self.ref)
        return index


class _RayEngine:
    """The :class:`stemmatic.engines._front.Engine` of Ray Data (a cluster at ``address``, or the current one)."""

    name = "ray"

    def __init__(self, address: str | None = None) -> None:
        self.address = address

    def backend(self, data: Any) -> RayBackend:
        return RayBackend()

    def ship(self, data: Any, index: ContaminationIndex) -> _RayIndex:
        return _RayIndex(_ray().put(index), uuid.uuid4().hex)

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        with _ordered(), clean_engine_errors():
            yield

    def in_order(self, data: Any, columns: list[str]) -> Any:
        return data.sort(columns).drop_columns(columns).materialize()

    def io(self) -> EngineIO[ray.data.Dataset]:
        return _engine_io(self.address)


def dedup_split(
    ds: ray.data.Dataset,
    *,
    config: DedupParams | None = None,
    options: EngineOptions | None = None,
    against: Indexes = None,
    **overrides: Any,
) -> EngineDedupResult[ray.data.Dataset]:
    return dedup_split_on(
        _RayEngine(), ds, build_params(config, overrides), options or EngineOptions(), against=against
    )


def dedup(
    ds: ray.data.Dataset,
    *,
    config: DedupParams | None = None,
    options: EngineOptions | None = None,
    against: Indexes = None,
    **overrides: Any,
) -> ray.data.Dataset:
    return dedup_split(ds, config=config, options=options, against=against, **overrides).kept


def dedup_to_directory(
    inputs: list[str],
    output: str,
    *,
    config: DedupConfig,
    options: EngineOptions | None = None,
    address: str | None = None,
    overwrite: bool = False,
    against: Indexes = None,
) -> dict[str, Any]:
    _ray()  # a missing extra fails here, before any file is touched
    engine = _RayEngine(address)
    return dedup_directory_on(engine, inputs, output, config, options or EngineOptions(), overwrite, against)


def scan_split(
    ds: ray.data.Dataset,
    index: ContaminationIndex | str | os.PathLike[str],
    *,
    params: ScanParams | None = None,
    options: EngineOptions | None = None,
    **overrides: Any,
) -> EngineScanResult[ray.data.Dataset]:
    return scan_split_on(
        _RayEngine(), ds, index, ScanParams.build(params, overrides), options or EngineOptions()
    )


def scan(
    ds: ray.data.Dataset,
    index: ContaminationIndex | str | os.PathLike[str],
    *,
    params: ScanParams | None = None,
    options: EngineOptions | None = None,
    **overrides: Any,
) -> ray.data.Dataset:
    return scan_split(ds, index, params=params, options=options, **{**overrides, "remove": False}).hits


def scan_to_directory(
    inputs: list[str],
    index_path: str,
    output: str,
    *,
    params: ScanParams,
    options: EngineOptions | None = None,
    address: str | None = None,
    overwrite: bool = False,
    on_error: str = "raise",
    fmt: OutputFormat = "parquet",
) -> dict[str, Any]:
    _ray()  # a missing extra fails here, before any file is touched
    engine = _RayEngine(address)
    return scan_directory_on(
        engine, inputs, index_path, output, params, options or EngineOptions(), overwrite, on_error, fmt
    )


document(
    globals(),
    Engine="Ray",
    data="ds",
    dataset="Ray dataset",
    name="ray",
    where="Connects to the Ray cluster at ``address`` (``auto``, ``ray://host:10001``) or starts a local one.",
    index_travels="The index is put in the object store once and loaded once per worker process",
)


def _engine_io(address: str | None) -> EngineIO[ray.data.Dataset]:
    from stemmatic.engines._directory import EngineIO

    return EngineIO(
        "ray",
        lambda files, rules, on_error: _read_inputs(files, address, rules, on_error),
        lambda ds, path: ds.write_parquet(str(path), compression=PARQUET_CODEC),
        lambda ds, path: ds.write_json(str(path)),
    )
