"""The clean part of each benchmark: its items that a scan did not find, in the benchmark's own format.

Evaluating on the items a training corpus does not contain is the usual
answer to a contamination report. :func:`write_clean_benchmarks` re-reads each
benchmark from the sources its index recorded and writes, per source file,
the rows whose item was not found: JSONL lines are copied byte for byte (same
compression), Parquet rows keep their schema. Every row of a benchmark ends
in exactly one of *clean* or *contaminated*, and the counts are returned.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from stemmatic._atomic import write_error
from stemmatic.contamination._build import _as_strings, _Where
from stemmatic.contamination._index import ContaminationIndex
from stemmatic.exceptions import InvalidInputError
from stemmatic.io import InputFile, iter_chunks, resolve_inputs

__all__ = ["write_clean_benchmarks"]


def write_clean_benchmarks(
    index: ContaminationIndex,
    found: Mapping[str, Iterable[str]],
    out: str | os.PathLike[str],
    *,
    sources: Mapping[str, str | os.PathLike[str]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Write, per benchmark of ``index``, the rows whose item id is not in ``found[benchmark]``.

    Args:
        index: the index the scan used; its build log names each benchmark's
            source files, its id field and its row count.
        found: item ids found, per benchmark name (benchmarks not named: none found).
        out: directory; ``OUT/<benchmark>/<file>`` mirrors each source file
            (same name, same format and compression).
        sources: read a benchmark from here instead of the recorded files
            (``{name: file, directory or glob}``), e.g. when the index was
            built on another machine.

    Returns:
        Per benchmark: ``rows``, ``clean``, ``contaminated`` and the ``files`` written.

    Raises:
        InvalidInputError: a source is missing, or holds another number of
            rows than when the index was built (the item ids would not match).
        ParameterError: the index has no build log (built by
            :meth:`ContaminationIndex.from_records`) and no ``sources`` were given.
    """
    from stemmatic.exceptions import ParameterError

    info = index.build_info
    logs = {b.get("name"): b for b in info.get("benchmarks", []) if isinstance(b, dict)}
    id_field = (info.get("parameters") or {}).get("id_field")
    sources = dict(sources or {})
    unknown = sorted(set(sources) - set(index.benchmarks))
    if unknown:
        raise ParameterError(f"no benchmark named {unknown[0]!r} in the index; it has {index.benchmarks}")
    out = Path(out)
    summary: dict[str, dict[str, Any]] = {}
    for name in index.benchmarks:
        log = logs.get(name, {})
        given = sources.get(name)
        paths = [given] if given is not None else list(log.get("sources") or [])
        if not paths or any(p == "<records>" for p in paths):
            raise ParameterError(
                f"benchmark {name!r}: the index does not record its files (built from records); "
                "give its source to write the clean benchmark"
            )
        missing = [p for p in paths if given is None and not Path(p).exists()]
        if missing:
            raise InvalidInputError(
                f"{missing[0]}: benchmark {name!r} was indexed from this file, which is gone; "
                "give its current location (--benchmark-source NAME=PATH)"
            )
        files = resolve_inputs(paths)
        found_ids = {str(i) for i in found.get(name, ())}
        summary[name] = _write_one(name, files, found_ids, id_field, out / name, log.get("rows"))
    return summary


def _write_one(
    name: str,
    files: list[InputFile],
    found: set[str],
    id_field: str | None,
    directory: Path,
    logged_rows: int | None,
) -> dict[str, Any]:
    # Which rows of each file are clean (by the item id of each row, as the index built them).
    keep_rows: dict[int, list[np.ndarray]] = {}
    keep_lines: dict[int, list[np.ndarray]] = {}
    rows = clean = 0
    for chunk in iter_chunks(files, columns=[id_field] if id_field else None):
        batch = chunk.batch
        if id_field is None:
            ids = np.arange(chunk.global_row, chunk.global_row + batch.num_rows).astype(str)
        else:
            where = _Where(str(chunk.file.path), chunk.file_row, chunk.lines)
            ids = np.asarray(_as_strings(batch.column(id_field), where, id_field).to_pylist(), dtype=object)
        keep = np.fromiter((i not in found for i in ids.tolist()), bool, len(ids))
        rows += batch.num_rows
        clean += int(keep.sum())
        keep_rows.setdefault(chunk.file_index, []).append(np.flatnonzero(keep) + chunk.file_row)
        if chunk.lines is not None:
            lines = np.asarray(chunk.lines.to_numpy(zero_copy_only=False), np.int64)
            keep_lines.setdefault(chunk.file_index, []).append(lines[keep])
    if logged_rows is not None and rows != logged_rows:
        raise InvalidInputError(
            f"{files[0].path if len(files) == 1 else ', '.join(str(f.path) for f in files)}: benchmark "
            f"{name!r} has {rows} rows now but had {logged_rows} when indexed; rebuild the index"
        )
    written = []
    for number, file in enumerate(files):
        target = directory / _output_name(file)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if file.format == "jsonl":
                wanted = np.concatenate(keep_lines.get(number, [np.zeros(0, np.int64)]))
                _copy_lines(file, target, wanted)
            else:
                wanted = np.concatenate(keep_rows.get(number, [np.zeros(0, np.int64)]))
                _copy_rows(file, target, wanted)
        except OSError as err:
            raise write_error(target, "clean benchmark", err) from err
        written.append(str(target))
    return {"rows": rows, "clean": clean, "contaminated": rows - clean, "files": written}


def _output_name(file: InputFile) -> str:
    suffix = ".parquet" if file.format == "parquet" else ".jsonl"
    if file.compression:
        suffix += file.path.suffix
    return file.shard_name + suffix


def _copy_lines(file: InputFile, target: Path, lines: np.ndarray) -> None:
    """Copy the 1-based ``lines`` of a JSONL file verbatim (and with its compression)."""
    wanted = set(lines.tolist())
    with (
        pa.input_stream(str(file.path), compression=file.compression) as source,
        pa.output_stream(str(target), compression=file.compression) as sink,
    ):
        number = 0
        rest = b""
        while True:
            data = source.read(1 << 20)
            if not data:
                break
            data = rest + data
            parts = data.split(b"\n")
            rest = parts.pop()
            for line in parts:
                number += 1
                if number in wanted:
                    sink.write(line + b"\n")
        if rest and number + 1 in wanted:
            sink.write(rest + b"\n")


def _copy_rows(file: InputFile, target: Path, rows: np.ndarray) -> None:
    """Copy ``rows`` (0-based, ascending) of a Parquet file, keeping its schema."""
    source = pq.ParquetFile(file.path)
    with pq.ParquetWriter(target, source.schema_arrow) as writer:
        start = 0
        for batch in source.iter_batches(batch_size=65_536):
            end = start + batch.num_rows
            lo, hi = np.searchsorted(rows, [start, end])
            if hi > lo:
                writer.write_batch(batch.take(pa.array(rows[lo:hi] - start)))
            start = end
