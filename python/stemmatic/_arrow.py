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
