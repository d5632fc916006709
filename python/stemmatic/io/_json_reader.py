"""Reading JSON: JSON lines in blocks (screened in Rust, parsed whole by pyarrow), and JSON-array files.

A JSONL file is read in blocks of whole lines (:data:`JSONL_BLOCK_BYTES`):
local files memory-mapped, compressed or remote ones through one reused
buffer. Each block is screened (:func:`stemmatic._core.jsonl_screen`) for
lines pyarrow must never see, then parsed whole; only a block that fails is
parsed line by line, so that a malformed or mistyped line is refused or
skipped (``on_error``) by its line number.
"""

from __future__ import annotations

import contextlib
import json
import mmap
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.json as pajson

from stemmatic import _core
from stemmatic._arrow import from_numpy
from stemmatic.exceptions import InvalidInputError
from stemmatic.io._listing import InputFile, check_columns
from stemmatic.io._remote import RemotePath, open_stream

OnError = Literal["raise", "skip"]

#: Bytes of JSONL parsed per block (blocks end at a newline).
JSONL_BLOCK_BYTES = 8 << 20

#: Bytes of a file's first block: nothing can start on a file's rows before it is parsed, so it
#: is small, and the blocks after it double up to :data:`JSONL_BLOCK_BYTES` (a 25 MB file's first
#: rows reach the engine after ~2 ms of parsing instead of ~16).
JSONL_FIRST_BLOCK_BYTES = 1 << 20

#: Deepest nesting of JSON arrays and objects accepted in a JSONL line: a
#: deeper line is malformed (refused, or skipped with ``on_error="skip"``)
#: before pyarrow sees it (its parser recurses per level and infers one Arrow
#: type per level: 100,000 levels crash it, 1,000 take gigabytes to write).
JSONL_MAX_DEPTH = 64


@dataclass(frozen=True)
class Rejected:
    """An input line that could not be parsed, kept verbatim."""

    path: str
    line: int
    error: str
    raw: str


def _is_json_array(file: InputFile) -> bool:
    """Whether a .json file holds one JSON array (its first non-blank byte is ``[``) rather than JSON lines."""
    if file.path.suffixes[-1 if file.compression is None else -2].lower() != ".json":
        return False
    try:
        with open_stream(file.path, file.compression) as stream:
            head = stream.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    except (pa.ArrowException, OSError):
        return False
    return bool(head.startswith(b"["))


def _json_array_batches(
    file: InputFile,
    columns: Sequence[str] | None,
    batch_rows: int,
    on_error: OnError,
    on_rejected: Callable[[Rejected], None] | None,
) -> Iterator[tuple[pa.RecordBatch, None]]:
    """A file holding one JSON array of objects (Alpaca-style ``data.json``), read whole.

    Element ``k`` (1-based) stands where a JSONL file's line number would.
    """
    with open_stream(file.path, file.compression) as stream:
        raw = stream.read()
    try:
        values = json.loads(raw)
    except RecursionError:
        raise InvalidInputError(f"{file.path}: JSON nested too deep") from None
    except (UnicodeDecodeError, ValueError) as err:
        raise InvalidInputError(f"{file.path}: malformed JSON array: {err}") from None
    if not isinstance(values, list):
        raise InvalidInputError(f"{file.path}: expected a JSON array of objects, got {type(values).__name__}")

    def reject(number: int, problem: str, value: Any) -> None:
        if on_error != "skip":
            raise InvalidInputError(
                f"{file.path}: element {number}: {problem}{_skip_hint(on_error, 'elements')}"
            )
        if on_rejected is not None:
            raw = json.dumps(value, ensure_ascii=False)[:100_000]
            on_rejected(Rejected(str(file.path), number, f"element {number}: {problem}", raw))

    numbered: list[tuple[int, dict[str, Any]]] = []
    for number, value in enumerate(values, start=1):
        if not isinstance(value, dict):
            reject(number, f"expected a JSON object, got {type(value).__name__}", value)
        elif _depth(value) > JSONL_MAX_DEPTH:
            reject(number, f"arrays/objects nested more than {JSONL_MAX_DEPTH} levels deep", value)
        else:
            numbered.append((number, value))
    del values
    schema = None
    for start in range(0, len(numbered), batch_rows):
        part = numbered[start : start + batch_rows]
        for position, reason in sorted(_mistyped_rows([v for _, v in part], schema).items(), reverse=True):
            number, value = part.pop(position)
            reject(number, reason, value)
        if not part:
            continue
        table = _table_of_rows(file, [v for _, v in part], f"elements {part[0][0]}-{part[-1][0]}", schema)
        schema = table.schema
        if columns is not None:
            check_columns(file, table.column_names, columns)
            table = table.select(list(columns))
        yield from ((b, None) for b in table.to_batches())


def _depth(value: Any, limit: int = JSONL_MAX_DEPTH) -> int:
    """Nesting depth of lists and dicts in ``value`` (stops counting past ``limit``)."""
    deepest = 0
    stack = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            level += 1
            deepest = max(deepest, level)
            if deepest > limit:
                return deepest
            stack.extend((child, level) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _read_blocks(file: InputFile) -> Iterator[tuple[int, memoryview, _core.ScreenedBlock]]:
    """Yield (first line number, block, its screen) for blocks of whole lines.

    A block ends at the last newline of each read (:func:`_read_sizes`: 1 MB,
    then doubling up to :data:`JSONL_BLOCK_BYTES`; so batches keep their
    boundaries whatever the path). A local uncompressed file is
    memory-mapped and its blocks are views of the map;
    other files are read into one reused buffer, a block valid until the next
    is read. Nothing is copied but by the read itself, and the screen
    (:func:`_core.jsonl_screen`, reading in place) counts the lines; a
    mapped file's next block is screened while the caller parses this one.
    """
    line = 1
    # A regular local file is mapped (a pipe or device cannot be): the others are streamed.
    local = not isinstance(file.path, RemotePath) and file.compression is None and file.path.is_file()
    try:
        if local:
            screened_blocks = _screened_ahead(_mapped_blocks(file.path))
        else:
            screened_blocks = ((block, _screen(block)) for block in _streamed_blocks(file))
        for block, screened in screened_blocks:
            yield line, block, screened
            line += screened.lines
    except (pa.ArrowException, OSError) as err:
        what = f"damaged or not {file.compression}-compressed" if file.compression else "unreadable"
        raise InvalidInputError(f"{file.path}: {what} after line {line - 1}: {err}") from None


def _screen(block: memoryview) -> _core.ScreenedBlock:
    return _core.jsonl_screen(np.frombuffer(block, np.uint8), JSONL_MAX_DEPTH)


def _screened_ahead(blocks: Iterator[memoryview]) -> Iterator[tuple[memoryview, _core.ScreenedBlock]]:
    """Each block with its screen; the next block is screened on a thread (the screen releases the
    GIL) while the caller parses this one, so the screen costs no wall time beside pyarrow's parse.

    The blocks must stay valid while the next is read: views of a map (:func:`_mapped_blocks`).
    """
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="stemmatic-screen") as pool:
        block = next(blocks, None)
        ahead = None if block is None else pool.submit(_screen, block)
        while block is not None and ahead is not None:
            screened = ahead.result()
            following = next(blocks, None)
            ahead = None if following is None else pool.submit(_screen, following)
            yield block, screened
            block = following


def _read_sizes() -> Iterator[int]:
    """Bytes of each read of a file: :data:`JSONL_FIRST_BLOCK_BYTES`, doubling up to :data:`JSONL_BLOCK_BYTES`."""
    size = min(JSONL_FIRST_BLOCK_BYTES, JSONL_BLOCK_BYTES)
    while True:
        yield size
        size = min(2 * size, JSONL_BLOCK_BYTES)


def _mapped_blocks(path: Path) -> Iterator[memoryview]:
    """Blocks of a local file, as views of its memory map (read one block ahead of the caller's parse)."""
    with open(path, "rb") as stream:
        size = os.fstat(stream.fileno()).st_size
        if size == 0:
            return
        # The map outlives the file object and closes when its last view is released.
        mapped = mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ)
    # Pages read are dropped from the process (the page cache keeps them; a view still held reads
    # them back): mapped pages count as its memory, and its peak RSS must not grow with the file.
    can_drop = hasattr(mapped, "madvise") and hasattr(mmap, "MADV_DONTNEED")
    start = dropped = read_end = 0
    for read in _read_sizes():
        if read_end >= size:
            break
        read_end += read
        end = mapped.rfind(b"\n", start, min(read_end, size)) + 1
        if end > start:
            yield memoryview(mapped)[start:end]
            # The pages before the block just handed out: the caller reads a block ahead, and
            # may still be parsing the one before this.
            if can_drop and start - dropped >= mmap.PAGESIZE:
                upto = start - start % mmap.PAGESIZE
                mapped.madvise(mmap.MADV_DONTNEED, dropped, upto - dropped)
                dropped = upto
            start = end
    if start < size:
        yield memoryview(mapped)[start:size]


def _streamed_blocks(file: InputFile) -> Iterator[memoryview]:
    """Blocks of a compressed or remote file, read into one reused buffer."""
    # Room for a partial line and the next read.
    buffer = bytearray(2 * JSONL_BLOCK_BYTES)
    filled = 0  # bytes of buffer holding data: a partial line left by the last block, then the new read
    sizes = _read_sizes()
    with open_stream(file.path, file.compression) as stream:
        while True:
            want = next(sizes)
            if len(buffer) < filled + want:  # a line longer than a block: a larger buffer
                grown = bytearray(2 * len(buffer))
                grown[:filled] = buffer[:filled]
                buffer = grown
            read = stream.readinto(memoryview(buffer)[filled : filled + want])
            filled += read
            if read == 0:
                if filled:
                    yield memoryview(buffer)[:filled]
                return
            end = buffer.rfind(b"\n", filled - read, filled) + 1
            if end == 0:  # no line ends in this read: read on
                continue
            yield memoryview(buffer)[:end]
            # A same-size slice assignment: allowed while views of the last block are alive.
            buffer[: filled - end] = buffer[end:filled]
            filled -= end


def _jsonl_batches(
    file: InputFile,
    columns: Sequence[str] | None,
    on_error: OnError,
    on_rejected: Callable[[Rejected], None] | None,
) -> Iterator[tuple[pa.RecordBatch, pa.Array]]:
    schema: pa.Schema | None = None
    for first_line, block, screened in _read_blocks(file):
        table, lines = _parse_block(file, first_line, block, screened, schema, on_error, on_rejected)
        if table is None or table.num_rows == 0:
            continue
        if schema is None:
            schema = table.schema
        elif table.schema != schema:
            schema = pa.unify_schemas([schema, table.schema], promote_options="permissive")
        if columns is not None:
            check_columns(file, table.column_names, columns)
            table = table.select(list(columns))
        for batch in table.combine_chunks().to_batches():
            yield batch, lines.slice(0, batch.num_rows)
            lines = lines.slice(batch.num_rows)


def _parse_block(
    file: InputFile,
    first_line: int,
    block: memoryview,
    screened: _core.ScreenedBlock,
    schema: pa.Schema | None,
    on_error: OnError,
    on_rejected: Callable[[Rejected], None] | None,
) -> tuple[pa.Table | None, pa.Array]:
    # screened.problems: lines pyarrow must never see (too deep, bad UTF-8, lone surrogates, huge integers).
    if not screened.problems:
        # The usual block: parsed whole, in place, never split into Python lines.
        table = _read_json_block(block, schema)
        # No blank line: row i is line first_line + i.
        if table is not None and table.num_rows == screened.lines:
            return table, from_numpy(np.arange(first_line, first_line + screened.lines, dtype=np.int64))
    data = bytes(block)
    raw_lines = data.split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()
    bad = [(first_line + i, f"malformed JSONL line: {why}", raw_lines[i]) for i, why in screened.problems]
    refused = {number for number, _, _ in bad}
    numbered = [
        (first_line + i, raw)
        for i, raw in enumerate(raw_lines)
        if raw.strip() and first_line + i not in refused
    ]
    table = None
    if numbered:
        whole = len(numbered) == len(raw_lines)
        table = _read_json_block(data if whole else b"\n".join(raw for _, raw in numbered) + b"\n", schema)
    if table is None or table.num_rows != len(numbered):
        table, numbered = _parse_lines(file, numbered, schema, bad)
    if bad:
        bad.sort(key=lambda item: item[0])
        for number, reason, raw in bad:
            _reject(file, number, reason, raw, on_error, on_rejected)
    if table is None:
        return None, from_numpy(np.zeros(0, np.int64))
    return table, from_numpy(np.array([n for n, _ in numbered], np.int64))


def _parse_lines(
    file: InputFile,
    numbered: list[tuple[int, bytes]],
    schema: pa.Schema | None,
    bad: list[tuple[int, str, bytes]],
) -> tuple[pa.Table | None, list[tuple[int, bytes]]]:
    """Parse lines one by one, moving malformed and mistyped ones to ``bad``."""
    rows: list[dict[str, Any]] = []
    kept: list[tuple[int, bytes]] = []
    for number, raw in numbered:
        try:
            value = json.loads(raw.decode("utf-8"))
            if not isinstance(value, dict):
                raise ValueError(f"expected a JSON object, got {type(value).__name__}")
        except (UnicodeDecodeError, ValueError, RecursionError) as err:
            bad.append((number, f"malformed JSONL line: {err}", raw))
            continue
        rows.append(value)
        kept.append((number, raw))
    for position, reason in sorted(_mistyped_rows(rows, schema).items(), reverse=True):
        number, raw = kept.pop(position)
        rows.pop(position)
        bad.append((number, reason, raw))
    if not rows:
        return None, kept
    return _table_of_rows(file, rows, f"lines {kept[0][0]}-{kept[-1][0]}", schema), kept


def _table_of_rows(
    file: InputFile, rows: list[dict[str, Any]], where: str, schema: pa.Schema | None
) -> pa.Table:
    """Parsed rows as a table, in ``schema``'s types where they fit (the types of the file's earlier rows)."""
    try:
        table = pa.Table.from_pylist(rows)
    except (pa.ArrowException, OverflowError) as err:
        raise InvalidInputError(f"{file.path}: {where}: values of inconsistent types: {err}") from None
    if schema is not None:
        with contextlib.suppress(pa.ArrowException):
            table = _conform(table, schema)
    return table


def _read_json_block(data: bytes | memoryview, schema: pa.Schema | None) -> pa.Table | None:
    """Parse whole lines with pyarrow's multi-threaded reader: in ``schema``'s types if they fit, else inferred.

    ``data`` is read in place; the table holds copies (its buffer may be reused after).
    """
    for explicit in (schema, None) if schema is not None else (None,):
        options = pajson.ParseOptions(
            explicit_schema=explicit, unexpected_field_behavior="infer", newlines_in_values=False
        )
        try:
            return pajson.read_json(pa.BufferReader(data), parse_options=options)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            continue
    return None


def _skip_hint(on_error: str, what: str) -> str:
    """The hint to skip bad input, for callers that offer ``--on-error`` (``iter_chunks(skippable=True)``)."""
    return f" (use --on-error skip to skip such {what})" if on_error == "raise" else ""


def _reject(
    file: InputFile,
    line: int,
    reason: str,
    raw: bytes,
    on_error: OnError,
    on_rejected: Callable[[Rejected], None] | None,
) -> None:
    """A line that cannot become a row: raise, or hand it to ``on_rejected`` verbatim."""
    if on_error != "skip":
        raise InvalidInputError(f"{file.path}:{line}: {reason}{_skip_hint(on_error, 'lines')}")
    if on_rejected is not None:
        on_rejected(Rejected(str(file.path), line, reason, raw.decode("utf-8", "replace")))


def _mistyped_rows(rows: list[dict[str, Any]], schema: pa.Schema | None) -> dict[int, str]:
    """Rows whose value of some field cannot share a type with the rest of its column.

    The column's type is the one the earlier blocks gave it (``schema``), else
    that of most of its rows; a row whose value cannot be promoted to it (a
    number among strings, an object among lists) is named with its field.
    """
    bad: dict[int, str] = {}
    names = dict.fromkeys(name for row in rows for name in row)
    for name in names:
        values = [row.get(name) for row in rows]
        try:
            pa.array(values)
            if schema is None or name not in schema.names:
                continue
        except (pa.ArrowException, OverflowError):
            pass
        types: dict[int, pa.DataType] = {}
        for i, value in enumerate(values):
            if value is None:
                continue
            try:
                types[i] = pa.array([value]).type
            except (pa.ArrowException, OverflowError) as err:
                bad.setdefault(i, f"field {name!r}: value cannot be stored: {err}")
        counts: dict[pa.DataType, int] = {}
        for kind in types.values():
            counts[kind] = counts.get(kind, 0) + 1
        target = schema.field(name).type if schema is not None and name in schema.names else None
        ordered = sorted(counts, key=lambda t: -counts[t])
        if target is None and ordered:
            target = ordered[0]
        refused = set()
        for kind in ordered:
            try:
                target = (
                    pa.unify_schemas(
                        [pa.schema([(name, target)]), pa.schema([(name, kind)])], promote_options="permissive"
                    )
                    .field(name)
                    .type
                )
            except (pa.ArrowException, TypeError):
                refused.add(kind)
        for i, kind in types.items():
            if kind in refused:
                bad.setdefault(i, f"field {name!r}: a value of type {kind} where the column holds {target}")
    return bad


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Cast ``table`` to ``schema``'s types for shared fields; keep new fields."""
    arrays, fields = [], []
    for f in schema:
        if f.name in table.column_names:
            arrays.append(table.column(f.name).cast(f.type))
        else:
            arrays.append(pa.nulls(table.num_rows, f.type))
        fields.append(f)
    for name in table.column_names:
        if name not in schema.names:
            arrays.append(table.column(name))
            fields.append(table.schema.field(name))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))
