"""Building a contamination index: benchmark rows read, checked and counted, then one Rust build.

:class:`~stemmatic.contamination.ContaminationIndex` (``_index.py``) is the
index and its file; this module collects benchmark fields as Arrow columns
(:class:`_Builder`: text, lists of text joined by newlines, numbers as text;
errors name the file and row), counts each field's entries by status for the
build log, and hands everything to ``_core.NgramIndex.build`` in one call. The
build log and the entry texts are stored in the index's metadata, so
:meth:`~stemmatic.contamination.ContaminationIndex.add_benchmarks` can rebuild
from an index alone.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stemmatic import _core
from stemmatic.exceptions import InvalidInputError, ParameterError
from stemmatic.io import InputFile, iter_chunks, resolve_inputs
from stemmatic.io._remote import RemotePath, is_url
from stemmatic.minhash import check_tokenizer

if TYPE_CHECKING:
    from stemmatic.contamination._index import ContaminationIndex

_STATUS_NAMES = ("indexed", "missing", "empty", "too_short")

#: Bounds on parameters the engine stores as 32-bit counts or that no real use exceeds.
_MAX_COUNT = 2**32 - 1
_MAX_WORKERS = 4096

#: Separates the JSON build log from the entry texts in an index's metadata
#: (JSON writes this control character escaped, so it cannot occur in the log).
_TEXTS_SEPARATOR = "\x1e"


@dataclass
class _FieldCounts:
    indexed: int = 0
    missing: int = 0
    empty: int = 0
    too_short: int = 0


@dataclass
class _BenchmarkLog:
    name: str
    sources: list[str]
    rows: int = 0
    fields: dict[str, _FieldCounts] = field(default_factory=dict)
    #: Rows of batches without a column for the field (JSONL blocks where no row has it).
    absent: dict[str, int] = field(default_factory=dict)


def check_workers(workers: int | None) -> None:
    """Refuse a thread count that is negative or absurd (``None`` and 0: all CPUs)."""
    if workers is not None and not 0 <= workers <= _MAX_WORKERS:
        raise ParameterError(
            f"invalid parameter `workers`: {workers}; must be between 1 and {_MAX_WORKERS} "
            "(0 or none: STEMMATIC_NUM_THREADS or all CPUs)"
        )


class _Builder:
    """Collects benchmark rows as Arrow columns for one call into Rust."""

    def __init__(
        self,
        fields: Sequence[str],
        id_field: str | None,
        ngram: int,
        tokenizer: str,
        seed: int,
        min_tokens: int,
    ) -> None:
        fields = [f.strip() for f in fields if f.strip()]
        if not fields:
            raise ParameterError("invalid parameter `fields`: give at least one field to index")
        if len(set(fields)) != len(fields):
            raise ParameterError(f"invalid parameter `fields`: {fields} names a field twice")
        if not 1 <= ngram <= _MAX_COUNT:
            raise ParameterError(f"invalid parameter `ngram`: {ngram}; must be between 1 and {_MAX_COUNT}")
        if not 1 <= min_tokens <= _MAX_COUNT:
            raise ParameterError(
                f"invalid parameter `min_tokens`: {min_tokens}; must be between 1 and {_MAX_COUNT}"
            )
        check_tokenizer(tokenizer)
        if not 0 <= seed < 2**64:
            raise ParameterError(f"invalid parameter `seed`: {seed}; must be in [0, 2**64)")
        self.fields, self.id_field = fields, id_field
        self.ngram, self.tokenizer, self.seed, self.min_tokens = ngram, tokenizer, seed, min_tokens
        self.benchmarks: list[str] = []
        self.logs: dict[str, _BenchmarkLog] = {}
        self.texts: list[pa.Array] = []
        self.item_ids: list[pa.Array] = []
        self.benchmark_ids: list[np.ndarray] = []
        self.field_ids: list[np.ndarray] = []
        #: (benchmark, field) of each added chunk, for the status counts (None: restored entries).
        self.chunk_keys: list[tuple[str, str] | None] = []
        #: Build logs of the benchmarks restored from an index (:meth:`restore`), kept as they were.
        self.previous: list[dict[str, Any]] = []

    def restore(self, index: ContaminationIndex) -> None:
        """Add every entry of ``index`` again, from its stored texts, and keep its benchmarks' build logs.

        Raises:
            ParameterError: the index stores no texts (built by an older stemmatic).
        """
        logged = index.build_info.get("benchmarks")
        if not isinstance(logged, list) or [b.get("name") for b in logged] != index.benchmarks:
            raise InvalidInputError("the index has no build log of its benchmarks; rebuild it")
        texts = pa.array(index.entry_texts(), pa.string())
        entries = index.entries()
        self.benchmarks = list(index.benchmarks)
        self.previous = logged
        self.texts.append(texts)
        self.item_ids.append(entries["item_id"].combine_chunks())
        bench_ids, field_ids, _, _ = index._core.entry_arrays()
        # The index numbers fields in its own order, the builder in self.fields' order.
        remap = np.array([self.fields.index(f) for f in index._core.fields], np.uint32)
        self.benchmark_ids.append(np.asarray(bench_ids, np.uint32))
        self.field_ids.append(
            remap[np.asarray(field_ids, np.int64)] if len(remap) else np.asarray(field_ids, np.uint32)
        )
        self.chunk_keys.append(None)

    def add_table(
        self,
        benchmark: str,
        source: str,
        table: pa.Table | pa.RecordBatch,
        first_row: int,
        lines: pa.Array | None = None,
        file_row: int | None = None,
    ) -> None:
        """Add the rows of ``table``; ``first_row`` numbers default item ids, ``lines``/``file_row`` name rows in errors."""
        where = _Where(source, first_row if file_row is None else file_row, lines)
        if benchmark not in self.logs:
            self.benchmarks.append(benchmark)
            self.logs[benchmark] = _BenchmarkLog(benchmark, [])
        log = self.logs[benchmark]
        if source not in log.sources:
            log.sources.append(source)
        log.rows += table.num_rows
        names = table.schema.names
        if self.id_field is None:
            ids = pa.array(np.arange(first_row, first_row + table.num_rows).astype(str), pa.string())
        else:
            if self.id_field not in names:
                raise InvalidInputError(
                    f"{source}: id field {self.id_field!r} not found; fields are {', '.join(map(repr, names))}"
                )
            ids = _as_strings(table.column(self.id_field), where, self.id_field)
            if ids.null_count:
                row = first_row + int(np.flatnonzero(ids.is_null().to_numpy(zero_copy_only=False))[0])
                raise InvalidInputError(f"{source}: row {row}: id field {self.id_field!r} is null")
        bench_id = self.benchmarks.index(benchmark)
        for field_id, name in enumerate(self.fields):
            if name not in names:
                log.absent[name] = log.absent.get(name, 0) + table.num_rows
                continue
            log.fields.setdefault(name, _FieldCounts())
            self.texts.append(_as_strings(table.column(name), where, name))
            self.item_ids.append(ids)
            self.benchmark_ids.append(np.full(table.num_rows, bench_id, np.uint32))
            self.field_ids.append(np.full(table.num_rows, field_id, np.uint32))
            self.chunk_keys.append((benchmark, name))

    def check_benchmark(self, benchmark: str, columns: Sequence[str]) -> None:
        if any(b.get("name") == benchmark for b in self.previous):
            return
        log = self.logs.get(benchmark)
        if log is None or not log.fields:
            where = ", ".join(log.sources) if log else benchmark
            raise InvalidInputError(
                f"{where}: none of the fields {', '.join(map(repr, self.fields))} found; "
                f"fields are {', '.join(map(repr, columns)) or '(none)'}"
            )

    def finish(
        self, max_item_frequency: int | None, allowlist: Sequence[str], workers: int | None
    ) -> _core.NgramIndex:
        """The built index, with the build log and the entry texts in its metadata."""
        for benchmark in self.benchmarks:
            self.check_benchmark(benchmark, [])
        if max_item_frequency is not None and not 1 <= max_item_frequency < 2**63:
            raise ParameterError(
                f"invalid parameter `max_item_frequency`: {max_item_frequency}; must be between 1 and 2**63 - 1"
            )
        check_workers(workers)
        lengths = [len(t) for t in self.texts]
        core, status = _core.NgramIndex.build(
            benchmarks=self.benchmarks,
            fields=self.fields,
            benchmark_ids=np.concatenate(self.benchmark_ids or [np.zeros(0, np.uint32)]),
            field_ids=np.concatenate(self.field_ids or [np.zeros(0, np.uint32)]),
            item_ids=pa.chunked_array(self.item_ids, pa.string()),
            texts=pa.chunked_array(self.texts, pa.string()),
            ngram=self.ngram,
            tokenizer=self.tokenizer,
            seed=self.seed,
            min_tokens=self.min_tokens,
            max_item_frequency=max_item_frequency,
            allowlist=list(allowlist),
            workers=workers,
        )
        indexed = pa.chunked_array(self.texts, pa.string()).filter(pa.array(np.asarray(status) == 0))
        stored_texts = json.dumps(indexed.to_pylist(), ensure_ascii=False)
        position = 0
        for key, length in zip(self.chunk_keys, lengths, strict=True):
            counts = np.bincount(status[position : position + length], minlength=4)
            position += length
            if key is None:  # restored entries: their counts are in their benchmark's log already
                continue
            benchmark, name = key
            log = self.logs[benchmark].fields[name]
            for code, attr in enumerate(_STATUS_NAMES):
                setattr(log, attr, getattr(log, attr) + int(counts[code]))
        for bench_log in self.logs.values():
            for name, rows in bench_log.absent.items():
                if name in bench_log.fields:
                    bench_log.fields[name].missing += rows
        # The build log (row counts per status) is only known after the build.
        built: _core.NgramIndex = core.with_metadata(
            self._metadata(max_item_frequency, list(allowlist), core.stats) + _TEXTS_SEPARATOR + stored_texts
        )
        return built

    def _metadata(self, max_item_frequency: int | None, allowlist: list[str], stats: dict[str, Any]) -> str:
        from stemmatic import __version__

        return json.dumps(
            {
                "stemmatic_version": __version__,
                "parameters": {
                    "fields": self.fields,
                    "id_field": self.id_field,
                    "ngram": self.ngram,
                    "tokenizer": self.tokenizer,
                    "seed": self.seed,
                    "min_tokens": self.min_tokens,
                    "max_item_frequency": max_item_frequency,
                    "allowlist_texts": len(allowlist),
                    "allowlist": allowlist,
                },
                "benchmarks": self.previous
                + [
                    {
                        "name": log.name,
                        "sources": log.sources,
                        "rows": log.rows,
                        "fields": {name: vars(counts) for name, counts in log.fields.items()},
                        "missing_fields": [f for f in self.fields if f not in log.fields],
                    }
                    for log in self.logs.values()
                ],
                "stats": stats,
            },
            sort_keys=True,
        )


@dataclass(frozen=True)
class _Where:
    """Names a row of a benchmark batch in errors: ``file:line`` for JSONL, ``file: row N`` for Parquet."""

    source: str
    first_row: int
    lines: pa.Array | None

    def row(self, index: int) -> str:
        if self.lines is not None:
            return f"{self.source}:{self.lines[index].as_py()}"
        return f"{self.source}: row {self.first_row + index}"


def _as_strings(column: pa.ChunkedArray | pa.Array, where: _Where, name: str) -> pa.Array:
    """A benchmark field as a valid UTF-8 string array: text as is, lists of text joined by newlines, numbers as text."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    kind = column.type
    try:
        if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
            return _utf8(column.cast(pa.binary()), where, name)
        if pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or pa.types.is_binary_view(kind):
            return _utf8(column, where, name)
        if pa.types.is_null(kind):
            return pa.nulls(len(column), pa.string())
        if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
            return column.cast(pa.string())
        if (pa.types.is_list(kind) or pa.types.is_large_list(kind)) and (
            pa.types.is_string(kind.value_type) or pa.types.is_large_string(kind.value_type)
        ):
            return _utf8(pc.binary_join(column, "\n").cast(pa.binary()), where, name)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
        raise InvalidInputError(
            f"{where.source}: field {name!r} of type {kind} cannot be read as text: {err}"
        ) from err
    raise InvalidInputError(
        f"{where.source}: field {name!r} has type {kind}; expected text, a list of texts, or numbers"
    )


def _utf8(column: pa.Array, where: _Where, name: str) -> pa.Array:
    """``column`` (binary) as strings, or an error naming its first row that is not UTF-8.

    pyarrow's JSON reader does not validate UTF-8, so string columns come here too.
    """
    try:
        strings = column.cast(pa.string())
        strings.validate(full=True)
        return strings
    except pa.ArrowInvalid:
        for row, value in enumerate(column.to_pylist()):
            if value is not None:
                try:
                    value.decode("utf-8")
                except UnicodeDecodeError as err:
                    raise InvalidInputError(
                        f"{where.row(row)}: field {name!r} is not valid UTF-8 (byte {err.start})"
                    ) from None
        raise


def _named_benchmarks(
    benchmarks: Sequence[str | os.PathLike[str]] | Mapping[str, str | os.PathLike[str]],
    taken: Sequence[str] = (),
) -> list[tuple[str, str | os.PathLike[str]]]:
    """``(name, source)`` of each benchmark; empty, repeated or ``taken`` names are refused."""
    named = (
        list(benchmarks.items())
        if isinstance(benchmarks, Mapping)
        else [(_default_name(b), b) for b in benchmarks]
    )
    if not named:
        raise ParameterError("no benchmark given")
    names = [n for n, _ in named]
    if any(not isinstance(n, str) or not n.strip() for n in names):
        raise ParameterError(f"benchmark names must not be empty, got {names}; name them with --name")
    if len(set(names)) != len(names):
        raise ParameterError(f"benchmark names must be distinct, got {names}; name them with --name")
    clash = [n for n in names if n in taken]
    if clash:
        raise ParameterError(
            f"the index already has a benchmark named {clash[0]!r}; name the new one otherwise with --name"
        )
    return named


def _add_benchmarks(builder: _Builder, named: list[tuple[str, str | os.PathLike[str]]]) -> None:
    """Read every row of each benchmark into ``builder``."""
    for name, source in named:
        files = resolve_inputs([source])
        columns: list[str] = []
        for chunk in iter_chunks(files):
            columns = chunk.batch.schema.names
            builder.add_table(
                name, str(chunk.file.path), chunk.batch, chunk.global_row, chunk.lines, chunk.file_row
            )
        if name not in builder.logs:
            raise InvalidInputError(f"{source}: benchmark has no rows")
        builder.check_benchmark(name, columns)


def _default_name(source: str | os.PathLike[str]) -> str:
    if is_url(os.fspath(source)):
        remote = RemotePath.from_url(os.fspath(source))
        files: list[InputFile] = resolve_inputs([os.fspath(source)]) if remote.is_file() else []
        return files[0].shard_name if files else remote.pure.name or os.fspath(source)
    path = Path(os.fspath(source))
    files = resolve_inputs([path]) if path.is_file() else []
    if files:
        return files[0].shard_name
    return path.name or str(path)


def rebuild(
    index: ContaminationIndex,
    benchmarks: Sequence[str | os.PathLike[str]] | Mapping[str, str | os.PathLike[str]],
    workers: int | None,
) -> _core.NgramIndex:
    """What :meth:`ContaminationIndex.add_benchmarks` builds: ``index``'s entries and ``benchmarks``' with its parameters."""
    info = index.build_info
    parameters = info.get("parameters")
    if not isinstance(parameters, dict) or not index.has_texts:
        raise ParameterError(
            "this index does not store its entries' texts and build parameters (built by an older "
            "stemmatic), so benchmarks cannot be added to it; rebuild it with `stemmatic contamination index`"
        )
    _refuse_newer(info.get("stemmatic_version"))
    allowlist = parameters.get("allowlist")
    if allowlist is None and parameters.get("allowlist_texts"):
        raise ParameterError(
            "this index was built with an allowlist that it does not store (built by an older stemmatic); "
            "rebuild it with `stemmatic contamination index --allowlist ...` to add benchmarks"
        )
    fields = parameters.get("fields")
    if not isinstance(fields, list) or sorted(fields) != sorted(index._core.fields):
        raise InvalidInputError("the index's build parameters do not name its fields; rebuild it")
    named = _named_benchmarks(benchmarks, taken=index.benchmarks)
    builder = _Builder(
        fields,
        parameters.get("id_field"),
        index.ngram,
        index.tokenizer,
        index.seed,
        index.min_tokens,
    )
    builder.restore(index)
    _add_benchmarks(builder, named)
    return builder.finish(parameters.get("max_item_frequency"), list(allowlist or []), workers)


def _refuse_newer(version: object) -> None:
    """Refuse to rewrite an index that a newer stemmatic wrote (its metadata may mean more than we know)."""
    from stemmatic import __version__

    def parts(text: str) -> tuple[int, ...]:
        return tuple(int(p) for p in re.findall(r"\d+", text.split("+")[0])[:3])

    if isinstance(version, str) and parts(version) > parts(__version__):
        raise ParameterError(
            f"the index was written by stemmatic {version}, newer than this one ({__version__}); "
            "add benchmarks to it with that version or newer"
        )
