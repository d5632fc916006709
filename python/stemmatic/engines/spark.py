"""Near-duplicate removal on PySpark (``pip install 'stemmatic[spark]'``; Java 17).

The algorithm is :func:`stemmatic.engines._common.run_dedup`, the same for
Ray and Spark and built on the Rust batch functions of the local engine;
this module maps its primitives onto Spark: ``mapInArrow`` for per-batch
work, ``groupBy(...).applyInArrow`` for the shuffles by band key and by row,
``groupBy(...).cogroup(...).applyInArrow`` for the joins, and
``localCheckpoint`` between stages (it also cuts the lineage of the
connected-components rounds).

Example (starts Spark, so not run as a doctest)::

    from pyspark.sql import SparkSession
    import stemmatic.engines.spark as sspark
    spark = SparkSession.builder.master("local[8]").getOrCreate()
    df = spark.read.parquet("corpus/")
    kept = sspark.dedup(df, threshold=0.8)          # a DataFrame, input order
    split = sspark.dedup_split(df, threshold=0.8)   # .kept, .removed (duplicate_of, ...), .clusters, .stats
    split.removed.write.parquet("out/removed")

    index = ContaminationIndex.load("bench.idx")
    hits = sspark.scan(df, index)                    # the local ContaminationIndex.scan hits
    scanned = sspark.scan_split(df, index, remove=True)  # .hits, .clean, .removed, .stats
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from stemmatic._extras import require
from stemmatic.dedup.pipeline import DedupConfig
from stemmatic.engines._common import (
    PART,
    ROW,
    CoFn,
    EngineDedupResult,
    EngineOptions,
    Shipped,
    TableFn,
    build_config,
    run_dedup,
)
from stemmatic.engines._scan import ENTRY, EngineScanResult, ScanParams, load_index, run_scan

if TYPE_CHECKING:
    import os

    from pyspark.sql import DataFrame

    from stemmatic.contamination import ContaminationIndex

__all__ = ["SparkBackend", "dedup", "dedup_split", "scan", "scan_split"]

_MONO = "_stemmatic_mono"
_PARTITION_BITS = 33  # monotonically_increasing_id = partition << 33 | position


def _spark_types() -> Any:
    require("pyspark", "stemmatic.engines.spark")
    from pyspark.sql.pandas import types

    return types


@dataclass(frozen=True)
class _BatchMap(Shipped):
    """``mapInArrow`` adapter: a table function over each record batch, cast to the schema."""

    fn: TableFn
    schema: pa.Schema

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            out = self.fn(pa.Table.from_batches([batch])).select(self.schema.names).cast(self.schema)
            yield from out.to_batches()


@dataclass(frozen=True)
class _GroupMap(Shipped):
    fn: TableFn
    schema: pa.Schema

    def __call__(self, table: pa.Table) -> pa.Table:
        return self.fn(table).select(self.schema.names).cast(self.schema)


@dataclass(frozen=True)
class _CoGroupMap(Shipped):
    fn: CoFn
    schema: pa.Schema

    def __call__(self, left: pa.Table, right: pa.Table) -> pa.Table:
        return self.fn(left, right).select(self.schema.names).cast(self.schema)


@dataclass(frozen=True)
class _RowFromMono(Shipped):
    """Global row number from ``monotonically_increasing_id`` and the row count of earlier partitions."""

    offsets: dict[int, int]

    def __call__(self, table: pa.Table) -> pa.Table:
        mono = np.asarray(table.column(_MONO).combine_chunks(), dtype=np.int64)
        partition = mono >> _PARTITION_BITS
        position = mono & ((1 << _PARTITION_BITS) - 1)
        offset = np.array([self.offsets[int(p)] for p in partition], dtype=np.int64) if len(mono) else mono
        return table.drop_columns([_MONO]).append_column(ROW, pa.array(offset + position))


def _plain_group(shipped: _GroupMap) -> Any:
    # Spark counts the parameters of the function it is given (a bound
    # ``__call__`` counts ``self``) to decide whether to pass the group key;
    # a plain function of the table(s) says it exactly.
    def group(table: pa.Table) -> pa.Table:
        return shipped(table)

    return group


def _plain_cogroup(shipped: _CoGroupMap) -> Any:
    def cogroup(left: pa.Table, right: pa.Table) -> pa.Table:
        return shipped(left, right)

    return cogroup


class SparkBackend:
    """The engine primitives of :mod:`stemmatic.engines._common` on Spark DataFrames."""

    def __init__(self, session: Any) -> None:
        self.spark = session
        self.types = _spark_types()

    def _spark_schema(self, schema: pa.Schema) -> Any:
        return self.types.from_arrow_schema(schema)

    def schema(self, data: DataFrame) -> pa.Schema:
        return self.types.to_arrow_schema(data.schema)

    def map_arrow(self, data: DataFrame, fn: TableFn, schema: pa.Schema) -> DataFrame:
        return data.mapInArrow(_BatchMap(fn, schema), self._spark_schema(schema))

    def group_arrow(self, data: DataFrame, fn: TableFn, schema: pa.Schema, partitions: int) -> DataFrame:
        return data.groupBy(PART).applyInArrow(
            _plain_group(_GroupMap(fn, schema)), self._spark_schema(schema)
        )

    def cogroup_arrow(
        self, left: DataFrame, right: DataFrame, fn: CoFn, schema: pa.Schema, partitions: int
    ) -> DataFrame:
        return (
            left.groupBy(PART)
            .cogroup(right.groupBy(PART))
            .applyInArrow(_plain_cogroup(_CoGroupMap(fn, schema)), self._spark_schema(schema))
        )

    def materialize(self, data: DataFrame) -> DataFrame:
        return data.localCheckpoint(eager=True)

    def union(self, first: DataFrame, second: DataFrame) -> DataFrame:
        return first.unionByName(second)

    def select(self, data: DataFrame, columns: list[str]) -> DataFrame:
        return data.select(*columns)

    def count(self, data: DataFrame) -> int:
        return int(data.count())

    def collect(self, data: DataFrame) -> pa.Table:
        schema = self.schema(data)
        return data.toArrow().select(schema.names).cast(schema)

    def from_arrow(self, table: pa.Table) -> DataFrame:
        if not len(table):
            return self.spark.createDataFrame([], self._spark_schema(table.schema))
        return self.spark.createDataFrame(table, self._spark_schema(table.schema))

    def with_row_index(self, data: DataFrame) -> DataFrame:
        from pyspark.sql import functions as F

        schema = self.schema(data)
        tagged = data.withColumn(_MONO, F.monotonically_increasing_id()).localCheckpoint(eager=True)
        counts = tagged.groupBy(F.shiftright(F.col(_MONO), _PARTITION_BITS).alias("p")).count().collect()
        offsets: dict[int, int] = {}
        running = 0
        for row in sorted(counts, key=lambda r: r["p"]):
            offsets[int(row["p"])] = running
            running += int(row["count"])
        out = schema.append(pa.field(ROW, pa.int64()))
        return tagged.mapInArrow(_BatchMap(_RowFromMono(offsets), out), self._spark_schema(out))


def dedup_split(
    df: DataFrame,
    *,
    config: DedupConfig | None = None,
    options: EngineOptions | None = None,
    **overrides: Any,
) -> EngineDedupResult[DataFrame]:
    """Near-duplicate removal on Spark: kept rows, removed rows, clusters and counts.

    Same parameters (``config`` and keyword overrides such as
    ``threshold=0.7``, ``keep="longest"``, ``exact=True``) and the same
    answer as :func:`stemmatic.dedup.dedup`: rows are numbered in input order
    (by ``id_column`` rank when given), and the outputs are in that order.

    Args:
        df: a DataFrame with the text column (and id / keep columns).
        config: dedup parameters (``memory_limit``, ``fmt``, ``emit_pairs``
            and ``on_error`` do not apply here).
        options: how the engine splits the work (:class:`EngineOptions`),
            including the giant-component guard ``max_cluster_size``.
        **overrides: replace fields of ``config``.

    Returns:
        ``kept`` (the input columns), ``removed`` (plus ``duplicate_of``,
        ``cluster_id``, ``similarity``, ``reason``), ``clusters`` (``id``,
        ``cluster_id``, ``is_kept``) as DataFrames, and ``stats``.
    """
    cfg = build_config(config, overrides)
    backend = SparkBackend(df.sparkSession)
    result = run_dedup(backend, df, cfg, cfg.banding(), options or EngineOptions())
    return EngineDedupResult(
        kept=result.kept.orderBy(ROW).drop(ROW),
        removed=result.removed.orderBy(ROW).drop(ROW),
        clusters=result.clusters.orderBy(ROW).drop(ROW),
        stats=result.stats,
    )


def dedup(
    df: DataFrame,
    *,
    config: DedupConfig | None = None,
    options: EngineOptions | None = None,
    **overrides: Any,
) -> DataFrame:
    """The kept rows of :func:`dedup_split`, as a DataFrame in input order."""
    return dedup_split(df, config=config, options=options, **overrides).kept


def _read_inputs(files: Any, app_name: str, master: str | None) -> tuple[Any, list[str]]:
    """Get or build a Spark session and read the resolved input files as one DataFrame."""
    from pyspark.sql import SparkSession

    from stemmatic.engines._common import input_paths

    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    spark = builder.getOrCreate()
    fmt, paths = input_paths(files, "spark")
    df = spark.read.parquet(*paths) if fmt == "parquet" else spark.read.json(paths)
    return df, paths


def dedup_to_directory(
    inputs: list[str],
    output: str,
    *,
    config: DedupConfig,
    options: EngineOptions | None = None,
    master: str | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """What ``stemmatic dedup --engine spark`` does: read, dedup, write ``kept/``, ``removed/``, ``clusters/``, ``report.json``.

    Uses the active Spark session, or builds one on ``master``
    (``local[8]``, ``spark://host:7077``, ``yarn``); returns the report.
    """
    from pathlib import Path

    from stemmatic.engines._common import engine_report
    from stemmatic.io import prepare_output_dir, resolve_inputs, write_report

    require("pyspark", "stemmatic.engines.spark")

    files = resolve_inputs(inputs)
    out = Path(prepare_output_dir(output, overwrite=overwrite)).resolve()
    df, paths = _read_inputs(files, "stemmatic-dedup", master)
    options = options or EngineOptions()
    result = dedup_split(df, config=config, options=options)
    result.kept.write.parquet(str(out / "kept"))
    result.removed.write.parquet(str(out / "removed"))
    result.clusters.write.parquet(str(out / "clusters"))
    report = engine_report("spark", paths, config, options, result.stats)
    write_report(out / "report.json", report)
    return report


# -- contamination scan ----------------------------------------------------------


@dataclass(frozen=True)
class _SparkIndex(Shipped):
    """The index as a Spark broadcast variable: sent once per executor, loaded once per Python worker."""

    broadcast: Any
    key: str

    def load(self) -> ContaminationIndex:
        return self.broadcast.value


def scan_split(
    df: DataFrame,
    index: ContaminationIndex | str | os.PathLike[str],
    *,
    text_column: str = "text",
    id_column: str | None = None,
    min_ngrams: int = 1,
    min_coverage: float = 0.0,
    remove: bool = False,
    tokenizer: str | None = None,
    options: EngineOptions | None = None,
) -> EngineScanResult[DataFrame]:
    """Contamination scan on Spark: the hits of :meth:`ContaminationIndex.scan`, and optionally the split.

    The index is a broadcast variable, loaded once per Python worker; each
    batch (``mapInArrow``) is scanned by the local engine's Rust scanner.

    Args:
        df: a DataFrame with the text column (and the id column).
        index: a :class:`~stemmatic.contamination.ContaminationIndex` or the path of a saved one.
        text_column: column holding the document text.
        id_column: column of document ids for ``doc_id``; by default the
            row's position in input order (as :func:`scan_corpus` numbers it).
        min_ngrams, min_coverage: when a (document, entry) pair counts as a hit.
        remove: also return ``clean`` (rows without hits) and ``removed``
            (plus ``contamination_reason``, ``contamination_hits``).
        tokenizer: if given, must equal the index's tokenizer (else refused).
        options: ``task_threads`` (Rust threads per task) is the one that applies.

    Returns:
        ``hits`` (the columns of ``HITS_SCHEMA``, ordered by document then
        entry), ``clean`` / ``removed`` in input order, and ``stats``.
    """
    loaded = load_index(index)
    params = ScanParams(text_column, id_column, min_ngrams, min_coverage, remove, tokenizer)
    params.validate(loaded)
    session = df.sparkSession
    handle = _SparkIndex(session.sparkContext.broadcast(loaded), uuid.uuid4().hex)
    result = run_scan(SparkBackend(session), df, loaded, handle, params, options or EngineOptions())
    clean = removed = None
    if result.clean is not None and result.removed is not None:
        clean = result.clean.orderBy(ROW).drop(ROW)
        removed = result.removed.orderBy(ROW).drop(ROW)
    return EngineScanResult(
        hits=result.hits.orderBy(ROW, ENTRY).drop(ROW, ENTRY),
        clean=clean,
        removed=removed,
        stats=result.stats,
    )


def scan(
    df: DataFrame,
    index: ContaminationIndex | str | os.PathLike[str],
    *,
    text_column: str = "text",
    id_column: str | None = None,
    min_ngrams: int = 1,
    min_coverage: float = 0.0,
    tokenizer: str | None = None,
    options: EngineOptions | None = None,
) -> DataFrame:
    """The hits of :func:`scan_split`: a DataFrame with the local ``ContaminationIndex.scan`` columns."""
    return scan_split(
        df,
        index,
        text_column=text_column,
        id_column=id_column,
        min_ngrams=min_ngrams,
        min_coverage=min_coverage,
        tokenizer=tokenizer,
        options=options,
    ).hits


def scan_to_directory(
    inputs: list[str],
    index_path: str,
    output: str,
    *,
    params: ScanParams,
    options: EngineOptions | None = None,
    master: str | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """What ``stemmatic contamination scan --engine spark`` does: write ``hits/`` (``clean/``, ``removed/``) and ``report.json``."""
    from pathlib import Path

    from stemmatic.engines._scan import scan_report
    from stemmatic.io import prepare_output_dir, resolve_inputs, write_report

    require("pyspark", "stemmatic.engines.spark")

    index = load_index(index_path)
    params.validate(index)
    files = resolve_inputs(inputs)
    out = Path(prepare_output_dir(output, overwrite=overwrite)).resolve()
    df, paths = _read_inputs(files, "stemmatic-contamination-scan", master)
    result = scan_split(
        df,
        index,
        text_column=params.text_column,
        id_column=params.id_column,
        min_ngrams=params.min_ngrams,
        min_coverage=params.min_coverage,
        remove=params.remove,
        options=options,
    )
    result.hits.write.parquet(str(out / "hits"))
    if result.clean is not None and result.removed is not None:
        result.clean.write.parquet(str(out / "clean"))
        result.removed.write.parquet(str(out / "removed"))
    report = scan_report("spark", paths, str(index_path), params, result.stats)
    write_report(out / "report.json", report)
    return report
