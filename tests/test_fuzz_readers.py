"""Fuzzing the readers and the index loader (hypothesis, derandomized so CI runs the same cases briefly).

Whatever the bytes, a reader either yields rows or raises stemmatic's own
InvalidInputError naming the file; with ``on_error="skip"`` every non-blank
JSONL line is a row or a rejected line. The contamination index loader
refuses damaged files with a StemmaticError, never another exception.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stemmatic.exceptions import InvalidInputError, StemmaticError
from stemmatic.io import Rejected, iter_chunks, resolve_inputs

FUZZ = settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=10,
)
_good_line = st.builds(
    lambda text, extra: json.dumps({"text": text, "extra": extra}, ensure_ascii=False).encode(),
    st.text(max_size=40),
    _json_values,
)
_hostile_line = st.one_of(
    st.binary(max_size=60).map(lambda b: b.replace(b"\n", b" ")),
    st.integers(1, 300).map(lambda d: b'{"text": "x", "m": ' + b"[" * d + b"]" * d + b"}"),
    st.integers(1, 300).map(lambda d: b'{"text": "x", "m": ' + b"[" * d + b"}"),
    st.sampled_from(
        [
            b'{"text": "\\ud800"}',
            b'{"text": "a\\udc00b"}',
            b'{"text": 12345}',
            b'{"text": ["a"]}',
            b'{"text": {"a": 1}}',
            b'{"text": "x", "id": 99999999999999999999}',
            b'{"text": "caf\xe9"}',
            b"[1, 2, 3]",
            b'"just a string"',
            b"{",
            b"",
            b"   ",
            b'{"text": NaN}',
        ]
    ),
)


@FUZZ
@given(lines=st.lists(st.one_of(_good_line, _hostile_line), min_size=1, max_size=25))
def test_jsonl_reader_accounts_for_every_line(
    tmp_path_factory: pytest.TempPathFactory, lines: list[bytes]
) -> None:
    directory = tmp_path_factory.mktemp("fuzz")
    path = directory / "a.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    files = resolve_inputs([path])
    try:
        list(iter_chunks(files))
    except InvalidInputError as err:
        assert str(path) in str(err)
    rejected: list[Rejected] = []
    try:
        rows = sum(c.batch.num_rows for c in iter_chunks(files, on_error="skip", on_rejected=rejected.append))
    except InvalidInputError as err:  # only a whole-block type clash the row checks could not untangle
        assert "values of inconsistent types" in str(err) or str(path) in str(err)
        return
    non_blank = sum(1 for line in b"\n".join(lines).split(b"\n") if line.strip())
    assert rows + len(rejected) == non_blank


def _parquet_bytes() -> bytes:
    table = pa.table({"id": list(range(300)), "text": [f"row {i} " * (i % 13 + 1) for i in range(300)]})
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=100)
    return sink.getvalue()


PARQUET = _parquet_bytes()


@FUZZ
@given(
    start=st.integers(0, len(PARQUET) - 1),
    length=st.integers(1, 64),
    fill=st.sampled_from([b"\x00", b"\xff", b"\x7f"]),
    truncate=st.booleans(),
)
def test_damaged_parquet_is_an_error_naming_the_file(
    tmp_path_factory: pytest.TempPathFactory, start: int, length: int, fill: bytes, truncate: bool
) -> None:
    blob = bytearray(PARQUET)
    if truncate:
        blob = blob[:start]
    else:
        blob[start : start + length] = fill * len(blob[start : start + length])
    path = tmp_path_factory.mktemp("fuzz") / "a.parquet"
    path.write_bytes(bytes(blob))
    try:
        rows = sum(c.batch.num_rows for c in iter_chunks(resolve_inputs([path])))
    except InvalidInputError as err:
        assert str(path) in str(err)
    else:
        assert rows <= 300


@pytest.fixture(scope="module")
def index_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    from stemmatic.contamination import build_index

    directory = tmp_path_factory.mktemp("bench")
    bench = directory / "bench.jsonl"
    bench.write_text(
        "".join(
            json.dumps({"prompt": f"question {i} about the river and the bank of words {i}"}) + "\n"
            for i in range(20)
        )
    )
    index = build_index([bench], fields=["prompt"], ngram=5)
    index.save(directory / "bench.idx")
    return (directory / "bench.idx").read_bytes()


@FUZZ
@given(data=st.data())
def test_damaged_index_is_refused_cleanly(
    tmp_path_factory: pytest.TempPathFactory, index_bytes: bytes, data: st.DataObject
) -> None:
    from stemmatic.contamination import ContaminationIndex

    blob = bytearray(index_bytes)
    start = data.draw(st.integers(0, len(blob) - 1))
    if data.draw(st.booleans()):
        blob = blob[:start]
    else:
        blob[start] ^= data.draw(st.integers(1, 255))
    path = Path(tmp_path_factory.mktemp("fuzz")) / "x.idx"
    path.write_bytes(bytes(blob))
    with contextlib.suppress(StemmaticError):
        ContaminationIndex.load(path)
