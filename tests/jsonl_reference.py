"""The JSONL encoder stemmatic shipped before the Rust one, kept as the tests' reference.

The Rust encoder (``stemmatic._core.JsonlEncoder``) must write the same bytes
as this one on every type both support; ``tests/test_sinks.py`` checks that
on generated tables. It encodes column by column with Arrow compute kernels
and numpy (see the comments below); it is not used by the package.
"""

from __future__ import annotations

import base64
import functools
import json
import os
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stemmatic.io._jsonl import _iso_duration, _plain

# ---------------------------------------------------------------------------
# JSON lines, encoded column by column with Arrow compute kernels.
#
# Each column becomes a large-string array of one JSON value per row; the rows
# are joined element-wise (`{"a":` + a + `,"b":` + b + `}\n`) and the data
# buffer of the result is written as it is. All but the rare types that go
# through `_encode_in_python` run in Arrow's C++ kernels, without the GIL, so
# shards written on threads encode in parallel.

_LARGE = pa.large_string()
#: Rows (and bytes) encoded at a time: bounds the encoder's copies of the text.
JSONL_ENCODE_ROWS = 65_536
JSONL_ENCODE_BYTES = 32 << 20
#: Threads that encode the slices of one table.
JSONL_ENCODE_THREADS = 4
#: How JSON strings write the characters they must escape (RFC 8259, section 7).
_ESCAPED = {
    0x5C: "\\\\",
    0x22: '\\"',
    **{code: f"\\u{code:04x}" for code in range(0x20)},
    0x0A: "\\n",
    0x0D: "\\r",
    0x09: "\\t",
}


@functools.cache
def _null() -> pa.Scalar:
    # Built on first use: pyarrow imports pandas (0.2 s) the first time it converts Python values.
    return pa.scalar(None, _LARGE)


_NO_BYTES = np.zeros(0, dtype=np.uint8)
#: The literals of `_json_strings`: a quote, then the escape of each byte below 0x20, '"' and '\\'.


@functools.cache
def _literals() -> pa.Array:
    return pa.array([b'"', *(_ESCAPED[code].encode() for code in sorted(_ESCAPED))], pa.large_binary())


_QUOTE_SLOT = 0
_ESCAPE_SLOT = np.zeros(256, dtype=np.int64)
_ESCAPE_SLOT[sorted(_ESCAPED)] = np.arange(1, len(_ESCAPED) + 1)


def _lit(text: str) -> pa.Scalar:
    return pa.scalar(text, _LARGE)


def _join(*pieces: pa.Array | pa.Scalar) -> pa.Array:
    """String arrays and literals concatenated row by row (null where a piece is null)."""
    return pc.binary_join_element_wise(*pieces, _lit(""))


def _or_null(encoded: pa.Array) -> pa.Array:
    return encoded.fill_null(_lit("null")) if encoded.null_count else encoded


def _quote(text: pa.Array) -> pa.Array:
    """Text that needs no escaping (digits, dates, base64) as JSON strings."""
    return _or_null(_join(_lit('"'), text.cast(_LARGE), _lit('"')))


def _json_strings(values: pa.Array) -> pa.Array:
    """UTF-8 strings as JSON strings (non-ASCII kept as it is, like ``ensure_ascii=False``).

    One copy of the text: the strings are cut before and after every byte
    that needs escaping and at every row boundary, and one ``take`` over the
    pieces and the literals (quotes, escape sequences) lays out the result.
    """
    values = values.cast(_LARGE)
    rows = len(values)
    data = values.buffers()[2]
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int64)[values.offset : values.offset + rows + 1]
    start = int(offsets[0])
    bounds = offsets - start  # row boundaries within the text
    view = np.frombuffer(data, dtype=np.uint8)[start : int(offsets[-1])] if data is not None else _NO_BYTES
    needs_escape = view < 0x20
    needs_escape |= view == 0x22
    needs_escape |= view == 0x5C
    special = np.flatnonzero(needs_escape)
    around = np.empty(2 * len(special), dtype=np.int64)
    around[0::2], around[1::2] = special, special + 1
    cuts = np.sort(np.concatenate([bounds, around]), kind="stable")  # two sorted runs: a merge
    cuts = cuts[np.flatnonzero(np.diff(cuts, prepend=-1))]
    pieces = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), len(cuts) - 1, [None, pa.py_buffer(cuts + start), data or pa.py_buffer(b"")]
    )
    # Piece i of the text lands after the opening quotes of rows 0..row(i)
    # and the closing quotes of rows before it; a row's quotes go around its pieces.
    first_piece = np.searchsorted(cuts, bounds)  # of each row, and the end
    row_of_piece = np.searchsorted(bounds, cuts[:-1], side="right") - 1
    order = np.empty(len(cuts) - 1 + 2 * rows, dtype=np.int64)
    piece_slot = np.arange(len(cuts) - 1) + 2 * row_of_piece + 1
    take = np.arange(len(cuts) - 1, dtype=np.int64)
    escaped = np.searchsorted(cuts, special)  # the one-byte pieces that are escaped
    take[escaped] = len(cuts) - 1 + _ESCAPE_SLOT[view[special]]
    order[piece_slot] = take
    opening = first_piece[:-1] + 2 * np.arange(rows)
    order[opening] = len(cuts) - 1 + _QUOTE_SLOT
    order[first_piece[1:] + 2 * np.arange(rows) + 1] = len(cuts) - 1 + _QUOTE_SLOT
    laid_out = pc.take(pa.concat_arrays([pieces, _literals()]), pa.array(order))
    laid_offsets = np.frombuffer(laid_out.buffers()[1], dtype=np.int64)[: len(order) + 1]
    row_offsets = np.append(laid_offsets[opening], laid_offsets[-1])
    quoted = pa.LargeStringArray.from_buffers(rows, pa.py_buffer(row_offsets), laid_out.buffers()[2])
    return _or_null(pc.if_else(values.is_null(), _null(), quoted)) if values.null_count else quoted


def _json_floats(values: pa.Array) -> pa.Array:
    """Floats in their shortest round-trip form; NaN and infinities as null (JSON has neither)."""
    if pa.types.is_float16(values.type):
        values = values.cast(pa.float32())
    text = values.cast(_LARGE)
    # "1" would read back as an integer: integral floats keep a ".0" ("1e+20" is a float already).
    integral = pc.invert(pc.or_(pc.match_substring(text, "."), pc.match_substring(text, "e")))
    text = pc.if_else(integral, _join(text, _lit(".0")), text)
    return _or_null(pc.if_else(pc.is_finite(values), text, _null()))


def _json_timestamps(values: pa.Array) -> pa.Array:
    """ISO 8601: ``2024-01-02T03:04:05.000006``, with ``Z`` or ``+01:00`` when the type has a time zone."""
    text = pc.replace_substring(values.cast(_LARGE), " ", "T", max_replacements=1)
    if values.type.tz is not None:
        text = pc.replace_substring_regex(text, r"([+-]\d\d)(\d\d)$", r"\1:\2")
    return _quote(text)


def _is_binary(kind: pa.DataType) -> bool:
    return (
        pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or pa.types.is_binary_view(kind)
        or pa.types.is_fixed_size_binary(kind)
    )


def _is_string(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)


def _is_list(kind: pa.DataType) -> bool:
    return pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)


class JsonEncoder:
    """Encodes Arrow rows as JSON lines; remembers which binary columns it writes as base64.

    One encoder per output file: a binary column whose values are UTF-8 is
    written as text; from the first batch with other bytes on, it is written
    as base64 for the rest of the file.

    >>> encoder = JsonEncoder()
    >>> b"".join(encoder.lines(pa.table({"t": ["a\\"b\\n"], "f": [float("inf")]}))).decode()
    '{"t":"a\\\\"b\\\\n","f":null}\\n'
    """

    def __init__(self) -> None:
        self.base64_columns: set[str] = set()

    def lines(self, table: pa.Table | pa.RecordBatch) -> Iterator[pa.Buffer]:
        """The rows of ``table`` as UTF-8 JSON lines, one buffer per slice of rows."""
        if isinstance(table, pa.RecordBatch):
            table = pa.Table.from_batches([table])
        if table.num_rows == 0:
            return
        # Slices of at most JSONL_ENCODE_ROWS rows and about JSONL_ENCODE_BYTES.
        step = max(1, min(JSONL_ENCODE_ROWS, table.num_rows * JSONL_ENCODE_BYTES // max(1, table.nbytes)))
        batches = [b for b in table.to_batches(max_chunksize=step) if b.num_rows]

        def encode(batch: pa.RecordBatch) -> pa.Buffer:
            return _data_buffer(self._rows(batch.schema, batch.columns, batch.num_rows, "", "\n"))

        workers = min(JSONL_ENCODE_THREADS, os.cpu_count() or 1, len(batches))
        if workers <= 1 or _has_binary(table.schema):
            # One at a time where a binary column may turn base64 (in order, so reruns agree).
            yield from map(encode, batches)
            return
        # Slices encode on threads (the kernels release the GIL), at most `workers` ahead of the writer.
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stemmatic-jsonl") as pool:
            ahead = deque(pool.submit(encode, b) for b in batches[:workers])
            for following in batches[workers:]:
                buffer = ahead.popleft().result()
                ahead.append(pool.submit(encode, following))
                yield buffer
            while ahead:
                yield ahead.popleft().result()

    def _rows(self, fields: Any, columns: Sequence[pa.Array], rows: int, path: str, end: str) -> pa.Array:
        """Objects ``{"name": value, ...}`` of the given fields, row by row, each followed by ``end``."""
        if not columns:
            return pa.array(["{}" + end] * rows, _LARGE)
        pieces: list[pa.Array | pa.Scalar] = []
        for index, (f, column) in enumerate(zip(fields, columns, strict=True)):
            key = json.dumps(f.name, ensure_ascii=False)
            pieces.append(_lit(("{" if index == 0 else ",") + key + ":"))
            pieces.append(self.encode(column, f"{path}.{f.name}" if path else f.name))
        pieces.append(_lit("}" + end))
        return _join(*pieces)

    def encode(self, values: pa.Array, path: str) -> pa.Array:
        """One JSON value per element of ``values`` (``null`` for null)."""
        kind = values.type
        if len(values) == 0:
            return pa.array([], _LARGE)
        if pa.types.is_null(kind):
            return pa.nulls(len(values), _LARGE).fill_null(_lit("null"))
        if pa.types.is_dictionary(kind):
            return self.encode(values.dictionary_decode(), path)
        if isinstance(kind, pa.ExtensionType):
            return self.encode(values.storage, path)
        if _is_string(kind):
            return _json_strings(values)
        if _is_binary(kind):
            if path not in self.base64_columns:
                try:
                    return _json_strings(values.cast(pa.large_binary()).cast(_LARGE))
                except pa.ArrowInvalid:  # not UTF-8
                    self.base64_columns.add(path)
            return _quote(
                pa.array(
                    [None if v is None else base64.b64encode(v).decode("ascii") for v in values.to_pylist()]
                )
            )
        if pa.types.is_boolean(kind) or pa.types.is_integer(kind):
            return _or_null(values.cast(_LARGE))
        if pa.types.is_floating(kind):
            return _json_floats(values)
        if pa.types.is_decimal(kind):
            # As strings: every digit survives readers that parse numbers as doubles.
            return _quote(values.cast(_LARGE))
        if pa.types.is_timestamp(kind):
            return _json_timestamps(values)
        if pa.types.is_date(kind) or pa.types.is_time(kind):
            return _quote(values.cast(_LARGE))
        if pa.types.is_struct(kind):
            encoded = self._rows(kind, values.flatten(), len(values), path, "")
            return _or_null(pc.if_else(values.is_null(), _null(), encoded) if values.null_count else encoded)
        if pa.types.is_map(kind):
            return self._encode_map(values, path)
        if _is_list(kind):
            values = values.cast(pa.large_list(kind.value_field))
            items = self.encode(values.flatten(), path + "[]")
            return _or_null(_join(_lit("["), _join_lists(values, items), _lit("]")))
        return _encode_in_python(values)

    def _encode_map(self, values: pa.Array, path: str) -> pa.Array:
        """A map with string keys as a JSON object; other maps as arrays of ``[key, value]`` pairs."""
        kind = values.type
        entries = pa.ListArray.from_arrays(
            values.offsets, values.values, mask=values.is_null() if values.null_count else None
        )
        map_keys, map_items = entries.flatten().flatten()
        keys = self.encode(map_keys, path + "{key}")
        items = self.encode(map_items, path + "{}")
        if _is_string(kind.key_type):
            pairs, opening, closing = _join(keys, _lit(":"), items), "{", "}"
        else:
            pairs, opening, closing = _join(_lit("["), keys, _lit(","), items, _lit("]")), "[", "]"
        return _or_null(_join(_lit(opening), _join_lists(entries, pairs), _lit(closing)))


def _has_binary(schema: pa.Schema) -> bool:
    def walk(kind: pa.DataType) -> bool:
        if isinstance(kind, pa.ExtensionType):
            kind = kind.storage_type
        if pa.types.is_dictionary(kind):
            return walk(kind.value_type)
        return _is_binary(kind) or any(walk(kind.field(i).type) for i in range(kind.num_fields))

    return any(walk(f.type) for f in schema)


def _list_offsets(lists: pa.Array) -> np.ndarray:
    """Offsets of the (non-null) lists' items in ``lists.flatten()`` order."""
    lengths = pc.list_value_length(lists).fill_null(0).to_numpy(zero_copy_only=False)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return offsets


def _join_lists(lists: pa.Array, encoded_items: pa.Array) -> pa.Array:
    """Each list's encoded items joined with commas (null for a null list)."""
    grouped = pa.LargeListArray.from_arrays(
        pa.array(_list_offsets(lists)), encoded_items, mask=lists.is_null() if lists.null_count else None
    )
    return pc.binary_join(grouped, _lit(","))


def _data_buffer(rows: pa.Array) -> pa.Buffer:
    """The bytes of a large-string array's values, end to end."""
    offsets = np.frombuffer(rows.buffers()[1], dtype=np.int64)[rows.offset : rows.offset + len(rows) + 1]
    return rows.buffers()[2].slice(int(offsets[0]), int(offsets[-1] - offsets[0]))


def _encode_in_python(values: pa.Array) -> pa.Array:
    """The rare types (durations, unions, intervals, list views...) one value at a time."""
    if pa.types.is_duration(values.type):
        digits = {"s": 0, "ms": 3, "us": 6, "ns": 9}[values.type.unit]
        counts = values.cast(pa.int64()).to_pylist()
        return _quote(pa.array([None if c is None else _iso_duration(c, digits) for c in counts], _LARGE))
    return pa.array(
        [json.dumps(_plain(v), ensure_ascii=False, allow_nan=False) for v in values.to_pylist()], _LARGE
    )
