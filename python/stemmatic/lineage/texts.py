"""The documents of a dataset, for the measures that read content (containment, root sampling).

A dataset's documents are given as texts already in memory, or read through
:mod:`stemmatic.io` like every corpus command's input: Parquet, JSON(L),
CSV/TSV or Arrow files (optionally .gz/.zst/.bz2), directories, globs, URLs
(``s3://``, ``gs://``, ``hf://``, ``memory://``, ...), or a table-like object
(pyarrow, polars, pandas, DuckDB, ``datasets.Dataset``), whose
``text_column`` holds the documents. A ``.txt`` file holds one document per
non-empty line.

>>> import pyarrow as pa
>>> read_texts(pa.table({"text": ["a b c", "d e f"]}))
['a b c', 'd e f']
>>> texts_of(["already", "texts"])
['already', 'texts']
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa

from stemmatic.exceptions import InvalidInputError

__all__ = ["contents_of", "read_texts", "texts_of"]

#: Suffixes of a plain text file: one document per non-empty line.
TEXT_SUFFIXES = (".txt",)


def _is_text_file(path: str | os.PathLike[str]) -> bool:
    name = PurePosixPath(os.fspath(path)).name.lower()
    return name.endswith(TEXT_SUFFIXES)


def _text_lines(path: str | os.PathLike[str]) -> list[str]:
    from stemmatic.io._remote import RemotePath, is_url, open_stream
    from stemmatic.lineage._files import read_text

    text = os.fspath(path)
    if is_url(text):
        with open_stream(RemotePath.from_url(text)) as stream:
            data = stream.read()
        try:
            content = data.decode("utf-8")
        except UnicodeDecodeError as err:
            line = data.count(b"\n", 0, err.start) + 1
            raise InvalidInputError(f"{text}:{line}: byte {err.start} is not UTF-8 ({err.reason})") from None
    else:
        content = read_text(Path(text))
    return [line for line in content.splitlines() if line.strip()]


def read_texts(source: Any, text_column: str = "text") -> list[str]:
    """The documents of ``source``: the ``text_column`` of every row, in input order.

    Args:
        source: a path or URL, a list of them (files, directories, globs), or a
            table-like object (see the module docstring); ``.txt`` files hold one
            document per non-empty line.
        text_column: the column (JSON field) holding each document.

    Raises:
        InvalidInputError: naming the file and line (or row) of a bad record: bytes that are
            not UTF-8, malformed or too deeply nested JSON, a missing, null or non-string text.
    """
    from stemmatic.io import iter_chunks, source_files

    paths = [source] if isinstance(source, (str, os.PathLike)) else source
    if isinstance(paths, (list, tuple)) and paths and all(isinstance(p, (str, os.PathLike)) for p in paths):
        plain = [p for p in paths if _is_text_file(p)]
        if plain:
            if len(plain) != len(paths):
                raise InvalidInputError(
                    f"{os.fspath(plain[0])}: .txt files cannot be mixed with data files in one dataset"
                )
            return [line for path in plain for line in _text_lines(path)]
    out: list[str] = []
    with source_files(source) as files:
        for chunk in iter_chunks(files, columns=[text_column]):
            column = chunk.batch.column(text_column)
            kind = column.type
            if not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind)):
                raise InvalidInputError(
                    f"{chunk.file.path}: column {text_column!r} holds {column.type}, not text"
                )
            values = column.to_pylist()
            for offset, value in enumerate(values):
                if not isinstance(value, str):
                    lines = chunk.lines
                    where = (
                        f"{chunk.file.path}:{lines[offset].as_py()}"
                        if lines is not None
                        else f"{chunk.file.path} row {chunk.file_row + offset}"
                    )
                    raise InvalidInputError(f"{where}: no string field {text_column!r}")
            out.extend(values)
    return out


def texts_of(value: Any, text_column: str = "text") -> Sequence[str]:
    """``value`` if it is a list of documents already, else :func:`read_texts` of it.

    A list or tuple of ``str`` is taken as documents; a single ``str`` or
    ``os.PathLike``, a list of ``pathlib.Path``, or a table-like object is read.
    """
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return value
    return read_texts(value, text_column)


def contents_of(contents: Mapping[str, Any], text_column: str = "text") -> dict[str, Sequence[str]]:
    """Each dataset's documents (:func:`texts_of`), by key."""
    return {key: texts_of(value, text_column) for key, value in contents.items()}
