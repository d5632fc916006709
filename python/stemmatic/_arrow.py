"""Coercion of user text inputs to Arrow, so Rust reads them without a per-row Python call."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Union

import numpy as np
import pyarrow as pa

from stemmatic.exceptions import InvalidInputError

TextInput = Union[pa.Array, pa.ChunkedArray, Sequence[str], "np.ndarray[Any, Any]"]

_TEXT_TYPES = (pa.string(), pa.large_string(), pa.string_view(), pa.binary(), pa.large_binary())


def as_text_column(texts: TextInput | Iterable[str], *, name: str = "texts") -> pa.ChunkedArray:
    """Return ``texts`` as a ChunkedArray of an Arrow string or binary type.

    Arrow arrays pass through untouched (no copy); a list of ``str`` or a numpy
    object/str array is converted by pyarrow in C++. A non-string element is an
    :class:`InvalidInputError` naming its row.

    >>> as_text_column(["a", "b"]).type
    DataType(large_string)
    """
    if isinstance(texts, pa.ChunkedArray):
        column = texts
    elif isinstance(texts, pa.Array):
        column = pa.chunked_array([texts], type=texts.type)
    else:
        if isinstance(texts, np.ndarray):
            if texts.ndim != 1:
                raise InvalidInputError(f"{name}: expected a 1-D array of texts, got shape {texts.shape}")
        elif not isinstance(texts, Sequence):
            texts = list(texts)
        try:
            column = pa.chunked_array([pa.array(texts, type=pa.large_string())])
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, UnicodeError) as err:
            raise InvalidInputError(f"{name}: {_first_non_text(texts)}") from err
    if column.type not in _TEXT_TYPES:
        raise InvalidInputError(f"{name}: expected an Arrow column of strings, got type {column.type}")
    return column


def _first_non_text(texts: Any) -> str:
    for row, value in enumerate(texts):
        if value is not None and not isinstance(value, str):
            return f"row {row}: expected str or None, got {type(value).__name__}"
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as err:
                return f"row {row}: text is not valid Unicode ({err.reason} at character {err.start})"
    return "could not convert to an Arrow string column"


# -- arrays built without pyarrow's pandas check ------------------------------------------
#
# Every ``pa.array(...)`` call, whatever its argument, makes pyarrow import pandas
# (when installed) to check for pandas objects: 0.2 s of a short command's start.
# The hot paths of the corpus commands build their arrays from buffers instead.


def empty_array(type: pa.DataType) -> pa.Array:
    """An empty array of ``type`` (``pa.array([], type)`` imports pandas)."""
    return pa.nulls(0, type)


def empty_table(schema: pa.Schema) -> pa.Table:
    """An empty table of ``schema`` (``schema.empty_table()`` imports pandas)."""
    return pa.Table.from_batches([], schema=schema)


def take(values: Any, indices: pa.Array) -> Any:
    """``values.take(indices)`` (an array, chunked array, batch or table) without importing
    ``pyarrow.compute`` (its function wrappers cost 0.03-0.05 s of a short command's start)."""
    import pyarrow._compute as _compute

    return _compute.call_function("take", [values, indices])


def filter_rows(values: Any, mask: pa.Array) -> Any:
    """``values.filter(mask)`` without importing ``pyarrow.compute`` (see :func:`take`)."""
    import pyarrow._compute as _compute

    return _compute.call_function("filter", [values, mask])


def from_numpy(values: np.ndarray[Any, Any], type: pa.DataType | None = None) -> pa.Array:
    """A 1-D numeric or boolean numpy array as an Arrow array (no nulls; no copy when the types agree).

    ``type``, if given, is the Arrow type of the result (the values are cast by
    numpy first). Other dtypes go through ``pa.array``.

    >>> from_numpy(np.arange(3)).to_pylist()
    [0, 1, 2]
    >>> from_numpy(np.array([True, False, True])).to_pylist()
    [True, False, True]
    """
    values = np.asarray(values)
    if values.ndim != 1 or values.dtype.kind not in "biuf":
        return pa.array(values, type=type)
    if type is None:
        type = pa.from_numpy_dtype(values.dtype)
    if pa.types.is_boolean(type):
        bits = np.packbits(values.astype(bool, copy=False), bitorder="little")
        return pa.Array.from_buffers(type, len(values), [None, pa.py_buffer(bits)])
    if not (pa.types.is_integer(type) or pa.types.is_floating(type)):
        return pa.array(values, type=type)
    data = np.ascontiguousarray(values, dtype=type.to_pandas_dtype())
    return pa.Array.from_buffers(type, len(data), [None, pa.py_buffer(data)])


def strings(values: Sequence[str]) -> pa.Array:
    """A list of ``str`` as an Arrow ``string`` array (built from buffers).

    >>> strings(["a", "", "bc"]).to_pylist()
    ['a', '', 'bc']
    """
    encoded = [value.encode("utf-8") for value in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int32)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    return pa.Array.from_buffers(
        pa.string(), len(encoded), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))]
    )


def to_numpy(values: pa.Array | pa.ChunkedArray, fill: float | None = None) -> np.ndarray[Any, Any]:
    """A numeric Arrow array as numpy, read from its buffers (pyarrow's ``to_numpy`` imports pandas).

    Nulls become ``fill`` (a float array then; the result is a copy). Arrays
    with nulls and no ``fill``, and non-numeric ones, go through pyarrow's
    ``to_numpy``.

    >>> to_numpy(pa.chunked_array([from_numpy(np.arange(3)), from_numpy(np.arange(2))])).tolist()
    [0, 1, 2, 0, 1]
    >>> to_numpy(pa.array([1.5, None]), fill=-1.0).tolist()
    [1.5, -1.0]
    """
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    numeric = pa.types.is_integer(values.type) or pa.types.is_floating(values.type)
    if not numeric or (values.null_count and fill is None):
        out: np.ndarray[Any, Any] = values.to_numpy()
        return out
    dtype = np.dtype(values.type.to_pandas_dtype())
    parts = []
    for chunk in chunks:
        if not len(chunk):
            continue
        validity, data = chunk.buffers()[:2]
        part = np.frombuffer(data, dtype=dtype)[chunk.offset : chunk.offset + len(chunk)]
        if chunk.null_count:
            bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
            part = part.astype(np.result_type(dtype, np.float64))
            part[bits[chunk.offset : chunk.offset + len(chunk)] == 0] = fill
        parts.append(part)
    if not parts:
        return np.zeros(0, dtype)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)
