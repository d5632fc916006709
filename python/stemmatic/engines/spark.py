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

import contextlib
import os
import pickle
import re
import shutil
import subprocess
import sys
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
from stemmatic.exceptions import InvalidInputError, StemmaticError
from stemmatic.io._sinks import PARQUET_CODEC, shard_caps

if TYPE_CHECKING:
    import os
    from pathlib import Path

    from pyspark.sql import DataFrame

    from stemmatic.contamination import ContaminationIndex
    from stemmatic.engines._directory import EngineIO
    from stemmatic.io import InputFile, OutputFormat

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

    fn: Conformed

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            yield from self.fn(pa.Table.from_batches([batch])).to_batches()


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


def _plain_group(shipped: Conformed) -> Any:
    # Spark counts the parameters of the function it is given (a bound
    # ``__call__`` counts ``self``) to decide whether to pass the group key;
    # a plain function of the table(s) says it exactly.
    def group(table: pa.Table) -> pa.Table:
        return shipped(table)

    return group


def _plain_cogroup(shipped: CoConformed) -> Any:
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
        return data.mapInArrow(_BatchMap(Conformed(fn, schema)), self._spark_schema(schema))

    def group_arrow(self, data: DataFrame, fn: TableFn, schema: pa.Schema, partitions: int) -> DataFrame:
        return data.groupBy(PART).applyInArrow(
            _plain_group(Conformed(fn, schema)), self._spark_schema(schema)
        )

    def cogroup_arrow(
        self, left: DataFrame, right: DataFrame, fn: CoFn, schema: pa.Schema, partitions: int
    ) -> DataFrame:
        return (
            left.groupBy(PART)
            .cogroup(right.groupBy(PART))
            .applyInArrow(_plain_cogroup(CoConformed(fn, schema)), self._spark_schema(schema))
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
            empty: DataFrame = self.spark.createDataFrame([], self._spark_schema(table.schema))
            return empty
        frame: DataFrame = self.spark.createDataFrame(table, self._spark_schema(table.schema))
        return frame

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
        return tagged.mapInArrow(_BatchMap(Conformed(_RowFromMono(offsets), out)), self._spark_schema(out))


@dataclass(frozen=True)
class _SparkIndex(Shipped):
    """The index as a Spark broadcast variable: sent once per executor, loaded once per Python worker."""

    broadcast: Any
    key: str

    def load(self) -> ContaminationIndex:
        index: ContaminationIndex = self.broadcast.value
        return index


class _SparkEngine:
    """The :class:`stemmatic.engines._front.Engine` of Spark (the active session, or one on ``master``)."""

    name = "spark"

    def __init__(self, app_name: str = "stemmatic-dedup", master: str | None = None) -> None:
        self.app_name = app_name
        self.master = master

    def backend(self, data: DataFrame) -> SparkBackend:
        return SparkBackend(data.sparkSession)

    def ship(self, data: DataFrame, index: ContaminationIndex) -> _SparkIndex:
        return _SparkIndex(data.sparkSession.sparkContext.broadcast(index), uuid.uuid4().hex)

    def running(self) -> contextlib.AbstractContextManager[None]:
        return clean_engine_errors()

    def in_order(self, data: DataFrame, columns: list[str]) -> DataFrame:
        return data.orderBy(*columns).drop(*columns)

    def io(self) -> EngineIO[DataFrame]:
        return _engine_io(self.app_name, self.master)


def dedup_split(
    df: DataFrame,
    *,
    config: DedupParams | None = None,
    options: EngineOptions | None = None,
    against: Indexes = None,
    **overrides: Any,
) -> EngineDedupResult[DataFrame]:
    return dedup_split_on(
        _SparkEngine(), df, build_params(config, overrides), options or EngineOptions(), against=against
    )


def dedup(
    df: DataFrame,
    *,
    config: DedupParams | None = None,
    options: EngineOptions | None = None,
    against: Indexes = None,
    **overrides: Any,
) -> DataFrame:
    return dedup_split(df, config=config, options=options, against=against, **overrides).kept


_JAVA_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?')
#: Most bytes of Arrow IPC in one staged row (a file's batches are cut to fit).
_BLOB_BYTES = 8 << 20
_STAGE_SCHEMA = pa.schema([pa.field("kind", pa.int8()), pa.field("blob", pa.binary())])
_DATA, _INFO = 0, 1


def _java_minimum() -> int:
    """Spark 4 runs on Java 17+; Spark 3.5 still ran on Java 8."""
    import pyspark

    return 17 if int(pyspark.__version__.split(".")[0]) >= 4 else 8


def check_java() -> str:
    """The ``java`` Spark will start (``$JAVA_HOME/bin/java``, else the one on PATH), if new enough (17 for Spark 4).

    Raises:
        StemmaticError: no Java, or an older one: one line that says what
            to install and how ``JAVA_HOME`` is used.
    """
    need = f"--engine spark needs Java {_java_minimum()} or newer"
    home = os.environ.get("JAVA_HOME")
    if home:
        java = os.path.join(home, "bin", "java")
        if not os.access(java, os.X_OK):
            raise StemmaticError(
                f"{need}: JAVA_HOME is {home!r}, which has no bin/java; "
                "set JAVA_HOME to a JDK 17+ directory, or unset it to use the java on PATH"
            )
    else:
        found = shutil.which("java")
        if found is None:
            raise StemmaticError(
                f"{need}, and none was found: install a JDK 17+ (e.g. apt install openjdk-17-jre-headless) "
                "and put its bin/ on PATH, or set JAVA_HOME to its directory (Spark runs $JAVA_HOME/bin/java)"
            )
        java = found
    try:
        probe = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError) as err:
        raise StemmaticError(f"{need}: cannot run {java}: {err}") from None
    match = _JAVA_VERSION.search(probe.stderr + probe.stdout)
    if match is not None:
        major = int(match.group(1))
        if major == 1 and match.group(2):  # "1.8.0_392" is Java 8
            major = int(match.group(2))
        if major < _java_minimum():
            raise StemmaticError(
                f"{need}; {java} is Java {major}: install a JDK 17+ and set JAVA_HOME to its directory"
            )
    return java


def _session(app_name: str, master: str | None) -> Any:
    """The active Spark session, or a new one whose Python workers run this interpreter.

    Spark starts workers with ``$PYSPARK_PYTHON`` (default: the ``python3``
    first on PATH, which may lack stemmatic); unless the user set it, it is
    this process's own interpreter, so a CLI called by absolute path works.
    """
    require("pyspark", "stemmatic.engines.spark")
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    if SparkContext._active_spark_context is None:
        check_java()
    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    try:
        return builder.getOrCreate()
    except Exception as err:
        if "JAVA_GATEWAY_EXITED" in str(err) or "Java gateway process exited" in str(err):
            raise StemmaticError(
                "Spark could not start its Java process (see the lines above); --engine spark needs "
                "Java 17 or newer, found through JAVA_HOME (its bin/java) or else PATH"
            ) from None
        raise


@dataclass(frozen=True)
class _StageShards(Shipped):
    """``mapInArrow`` over file numbers: each file's batches as Arrow IPC rows, then its pickled :class:`ShardInfo`."""

    reader: ReadShard

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            for index in batch.column(0).to_pylist():
                table, info = self.reader.table(int(index))
                blobs = _ipc_blobs(table) if table is not None else []
                kinds = [_DATA] * len(blobs) + [_INFO]
                blobs.append(pickle.dumps(info, protocol=pickle.HIGHEST_PROTOCOL))
                yield pa.RecordBatch.from_arrays(
                    [pa.array(kinds, pa.int8()), pa.array(blobs, pa.binary())], schema=_STAGE_SCHEMA
                )


def _ipc_blobs(table: pa.Table) -> list[bytes]:
    """``table`` as Arrow IPC streams of at most about ``_BLOB_BYTES`` each (one row at least)."""
    blobs = []
    per_row = max(1, table.nbytes // max(1, len(table)))
    step = max(1, _BLOB_BYTES // per_row)
    for start in range(0, len(table), step):
        blobs.append(ipc_bytes(table.slice(start, step)))
    return blobs


@dataclass(frozen=True)
class _DecodeBlobs(Shipped):
    """``mapInArrow`` over staged rows: the batches again, in the unified schema."""

    schema: pa.Schema

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            for blob in batch.column(0).to_pylist():
                for piece in pa.ipc.open_stream(blob).read_all().to_batches():
                    yield conform(piece, self.schema)


def _read_inputs(
    files: Sequence[InputFile], app_name: str, master: str | None, rules: ColumnRules, on_error: str
) -> tuple[Any, InputLayout, list[ShardInfo]]:
    """Read the resolved input files as one DataFrame with the local reader, one Spark task per file.

    Each task stages its file's batches (Arrow IPC) and its
    :class:`ShardInfo`; the staged rows are checkpointed, so every file is
    parsed once. The driver collects the infos (small), raises the first
    file's error, and decodes the staged batches in the unified schema, one
    partition per file in input order (the order rows are numbered in).
    """
    from pyspark.sql import functions as F

    spark = _session(app_name, master)
    types = _spark_types()
    reader = ReadShard(tuple(files), rules, on_error)
    with clean_engine_errors():
        numbers = spark.range(0, len(files), 1, numPartitions=max(1, len(files)))
        staged = numbers.mapInArrow(_StageShards(reader), types.from_arrow_schema(_STAGE_SCHEMA))
        staged = staged.localCheckpoint(eager=True)
        info_rows = staged.filter(F.col("kind") == _INFO).select("blob").collect()
    infos: list[ShardInfo] = [pickle.loads(bytes(row["blob"])) for row in info_rows]
    layout = InputLayout.combine(files, infos, rules)
    try:
        spark_schema = types.from_arrow_schema(layout.schema)
    except Exception as err:
        raise InvalidInputError(
            f"the input's columns ({layout.schema}) cannot be held by Spark: {err}"
        ) from None
    data = staged.filter(F.col("kind") == _DATA).select("blob")
    return data.mapInArrow(_DecodeBlobs(layout.schema), spark_schema), layout, infos


def dedup_to_directory(
    inputs: list[str],
    output: str,
    *,
    config: DedupConfig,
    options: EngineOptions | None = None,
    master: str | None = None,
    overwrite: bool = False,
    against: Indexes = None,
) -> dict[str, Any]:
    require("pyspark", "stemmatic.engines.spark")
    engine = _SparkEngine("stemmatic-dedup", master)
    return dedup_directory_on(engine, inputs, output, config, options or EngineOptions(), overwrite, against)


def scan_split(
    df: DataFrame,
    index: ContaminationIndex | str | os.PathLike[str],
    *,
    params: ScanParams | None = None,
    options: EngineOptions | None = None,
    **overrides: Any,
) -> EngineScanResult[DataFrame]:
    return scan_split_on(
        _SparkEngine(), df, index, ScanParams.build(params, overrides), options or EngineOptions()
    )


def scan(
    df: DataFrame,
    index: ContaminationIndex | str | os.PathLike[str],
    *,
    params: ScanParams | None = None,
    options: EngineOptions | None = None,
    **overrides: Any,
) -> DataFrame:
    return scan_split(df, index, params=params, options=options, **{**overrides, "remove": False}).hits


def scan_to_directory(
    inputs: list[str],
    index_path: str,
    output: str,
    *,
    params: ScanParams,
    options: EngineOptions | None = None,
    master: str | None = None,
    overwrite: bool = False,
    on_error: str = "raise",
    fmt: OutputFormat = "parquet",
    max_shard_rows: int | None = None,
) -> dict[str, Any]:
    require("pyspark", "stemmatic.engines.spark")
    engine = _SparkEngine("stemmatic-contamination-scan", master)
    return scan_directory_on(
        engine,
        inputs,
        index_path,
        output,
        params,
        options or EngineOptions(),
        overwrite,
        on_error,
        fmt,
        shard_caps(None, max_shard_rows).rows,
    )


document(
    globals(),
    Engine="Spark",
    data="df",
    dataset="DataFrame",
    name="spark",
    where="Uses the active Spark session, or builds one on ``master`` (``local[8]``, "
    "``spark://host:7077``, ``yarn``).",
    index_travels="The index is a broadcast variable, sent once per executor and loaded once per Python worker",
)


def _engine_io(app_name: str, master: str | None) -> EngineIO[DataFrame]:
    from stemmatic.engines._directory import EngineIO

    return EngineIO(
        "spark",
        lambda files, rules, on_error: _read_inputs(files, app_name, master, rules, on_error),
        lambda df, path: df.write.option("compression", PARQUET_CODEC).parquet(str(path)),
        lambda df, path: df.write.json(str(path)),
        _write_capped,
    )


def _write_capped(df: DataFrame, path: Path, fmt: OutputFormat, max_rows: int) -> None:
    """Part files of at most ``max_rows`` rows each (Spark's ``maxRecordsPerFile``: a task's rows go to
    as many files as it takes, in order)."""
    writer = df.write.option("maxRecordsPerFile", max_rows)
    if fmt == "jsonl":
        writer.json(str(path))
    else:
        writer.option("compression", PARQUET_CODEC).parquet(str(path))
