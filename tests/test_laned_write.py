"""One output shard written by several writers side by side and stitched (stemmatic.io._laned)."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stemmatic import _core
from stemmatic.dedup import dedup, pipeline
from stemmatic.exceptions import ParameterError, StemmaticError
from stemmatic.io import MirroredWriter, resolve_inputs
from stemmatic.io._laned import join_parquet


@pytest.fixture
def stitch_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of parts of every call of ``_core.stitch_parquet`` (which still runs)."""
    calls: list[int] = []
    stitch = _core.stitch_parquet

    def counted(out: Path, parts: list, order: list) -> None:
        calls.append(len(parts))
        stitch(out, parts, order)

    monkeypatch.setattr(_core, "stitch_parquet", counted)
    return calls


def _table(start: int, rows: int) -> pa.Table:
    """Rows ``start``.. of a table of many kinds of column, with schema and field metadata."""
    ids = list(range(start, start + rows))
    schema = pa.schema(
        [
            pa.field("id", pa.int64(), metadata={b"note": b"row number"}),
            pa.field("text", pa.large_string()),
            pa.field("tags", pa.list_(pa.struct([("k", pa.string()), ("v", pa.float64())]))),
            pa.field("lang", pa.dictionary(pa.int32(), pa.string())),
            pa.field("at", pa.timestamp("us", tz="Europe/Paris")),
        ],
        metadata={b"source": b"<b>test</b>"},
    )
    return pa.table(
        {
            "id": ids,
            "text": [None if i % 7 == 3 else f"document {i} " + "word " * (i % 13) for i in ids],
            "tags": [[{"k": f"t{i % 3}", "v": i / 2}] * (i % 3) for i in ids],
            "lang": pa.array(["en", "fr", "ja"][i % 3] for i in ids).dictionary_encode(),
            "at": [dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(hours=i) for i in ids],
        },
        schema=schema,
    )


def _files(tmp_path: Path) -> list:
    (tmp_path / "in").mkdir(exist_ok=True)
    (tmp_path / "in" / "a.jsonl").write_text('{"text": "x"}\n')
    return resolve_inputs([tmp_path / "in" / "a.jsonl"])


def _write(
    out: Path, files: list, chunks: list[pa.Table], lanes: int | None, *, reverse: bool = False
) -> Path:
    """Write ``chunks`` as input 0's shard through ``lanes`` writers on threads (None: one writer)."""
    writer = MirroredWriter(out, files, "parquet")
    count = lanes or 1

    def lane(which: int) -> None:
        for seq in range(which, len(chunks), count):
            writer.write(0, chunks[seq], seq=seq, lanes=lanes)

    order = range(count - 1, -1, -1) if reverse else range(count)
    if reverse:  # one lane after another, the last first: another order of opening the parts
        for which in order:
            lane(which)
    else:
        with ThreadPoolExecutor(count) as pool:
            list(pool.map(lane, order))
    writer.finish(0)
    (path,) = writer.close({0: chunks[0].schema})
    return path


def test_stitch_copies_row_groups_in_the_order_asked_with_their_metadata(tmp_path: Path) -> None:
    parts = [tmp_path / "p0.parquet", tmp_path / "p1.parquet"]
    chunks = [_table(i * 50, 50) for i in range(5)]
    with (
        pq.ParquetWriter(parts[0], chunks[0].schema, compression="zstd") as w0,
        pq.ParquetWriter(parts[1], chunks[0].schema, compression="zstd") as w1,
    ):
        for i, chunk in enumerate(chunks):
            (w0 if i % 2 == 0 else w1).write_table(chunk)
    order = [(0, 0), (1, 0), (0, 1), (1, 1), (0, 2)]
    _core.stitch_parquet(tmp_path / "out.parquet", [str(p) for p in parts], order)
    stitched = pq.ParquetFile(tmp_path / "out.parquet")
    assert stitched.read().equals(pa.concat_tables(chunks))
    # The schema a reader sees (pyarrow names list items "element" in Parquet).
    assert stitched.schema_arrow.equals(pq.read_schema(parts[0]), check_metadata=True)
    assert stitched.schema_arrow.metadata[b"source"] == b"<b>test</b>"
    assert stitched.schema_arrow.field("id").metadata == {b"note": b"row number"}
    assert stitched.metadata.created_by == pq.ParquetFile(parts[0]).metadata.created_by
    sources = [pq.ParquetFile(p).metadata for p in parts]
    for i, (part, group) in enumerate(order):
        for column in range(stitched.metadata.num_columns):
            ours = stitched.metadata.row_group(i).column(column)
            theirs = sources[part].row_group(group).column(column)
            assert ours.statistics == theirs.statistics
            assert ours.compression == theirs.compression == "ZSTD"
            assert ours.total_compressed_size == theirs.total_compressed_size
    # A row group may be left out or repeated.
    _core.stitch_parquet(tmp_path / "some.parquet", [str(p) for p in parts], [(1, 1), (1, 1)])
    assert pq.read_table(tmp_path / "some.parquet").equals(pa.concat_tables([chunks[3], chunks[3]]))


def test_stitch_refuses_what_it_cannot_join_naming_the_file(tmp_path: Path) -> None:
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pq.write_table(pa.table({"x": [1, 2]}), a)
    pq.write_table(pa.table({"x": ["1"]}), b)
    out = tmp_path / "out.parquet"
    with pytest.raises(ParameterError, match=r"row group 1 of .*a\.parquet, which has 1"):
        _core.stitch_parquet(out, [a], [(0, 1)])
    with pytest.raises(ParameterError, match="part 2 of 1"):
        _core.stitch_parquet(out, [a], [(2, 0)])
    with pytest.raises(ParameterError, match="no Parquet file"):
        _core.stitch_parquet(out, [], [])
    with pytest.raises(
        StemmaticError, match=r"b\.parquet: its Parquet schema differs from that of .*a\.parquet"
    ):
        _core.stitch_parquet(out, [a, b], [(0, 0), (1, 0)])
    with pytest.raises(StemmaticError, match=r"missing\.parquet: No such file"):
        _core.stitch_parquet(out, [tmp_path / "missing.parquet"], [(0, 0)])
    (tmp_path / "text.parquet").write_text("not parquet")
    with pytest.raises(StemmaticError, match=r"text\.parquet"):
        _core.stitch_parquet(out, [tmp_path / "text.parquet"], [(0, 0)])
    with pytest.raises(ParameterError, match="at most 32767"):
        _core.stitch_parquet(out, [a], [(0, 0)] * 32_768)
    assert not out.exists()  # refused before anything was written


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(0, 40), min_size=1, max_size=12), lanes=st.integers(1, 5))
def test_a_laned_shard_holds_the_rows_and_row_groups_of_one_writer(
    tmp_path_factory: pytest.TempPathFactory, sizes: list[int], lanes: int
) -> None:
    tmp_path = tmp_path_factory.mktemp("laned")
    files = _files(tmp_path)
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    chunks = [_table(start, size) for start, size in zip(starts, sizes, strict=True)]
    one = _write(tmp_path / "one", files, chunks, None)
    threads = _write(tmp_path / "threads", files, chunks, lanes)
    serial = _write(tmp_path / "serial", files, chunks, lanes + 1, reverse=True)
    expected = pq.read_table(one)
    assert pq.read_table(threads).equals(expected)
    assert pq.read_table(threads).schema.equals(expected.schema, check_metadata=True)
    # The row groups of one writer, less the empty ones it writes for an empty chunk.
    groups = [pq.ParquetFile(p).metadata for p in (one, threads)]
    sizes_of = [[g.row_group(i).num_rows for i in range(g.num_row_groups)] for g in groups]
    assert [n for n in sizes_of[0] if n] == [n for n in sizes_of[1] if n]
    # The same bytes for any number of lanes, whichever ran first; no part file is left.
    assert threads.read_bytes() == serial.read_bytes()
    assert sorted(p.name for p in threads.parent.iterdir()) == ["a.parquet"]


def test_chunks_of_other_schemas_are_joined_in_one_schema_in_order(tmp_path: Path) -> None:
    # JSON lines blocks can bring a field later on, or change an integer to a float.
    files = _files(tmp_path)
    chunks = [
        pa.table({"text": ["a", "b"]}),
        pa.table({"text": ["c"], "n": [1]}),
        pa.table({"text": ["d"]}),
        pa.table({"text": ["e"], "n": [2.5]}),
        pa.table({"text": ["f"], "n": [3]}),
    ]
    path = _write(tmp_path / "out", files, chunks, 2)
    assert pq.read_table(path).to_pylist() == [
        {"text": "a", "n": None},
        {"text": "b", "n": None},
        {"text": "c", "n": 1.0},
        {"text": "d", "n": None},
        {"text": "e", "n": 2.5},
        {"text": "f", "n": 3.0},
    ]
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.parquet"]
    # A later chunk without a field: the same bytes whether a lane meets both schemas or not.
    sparse = [
        pa.table({"text": ["a"], "n": [1]}),
        pa.table({"text": ["b"]}),
        pa.table({"text": ["c"], "n": [2]}),
    ]
    shards = [_write(tmp_path / f"sparse{lanes}", files, sparse, lanes).read_bytes() for lanes in (1, 2, 3)]
    assert shards[0] == shards[1] == shards[2]
    assert pq.read_table(tmp_path / "sparse2" / "a.parquet").to_pylist() == [
        {"text": "a", "n": 1},
        {"text": "b", "n": None},
        {"text": "c", "n": 2},
    ]
    with pytest.raises(Exception, match=r"a\.jsonl: a field changes type between rows"):
        _write(tmp_path / "bad", files, [pa.table({"n": [1]}), pa.table({"n": [[1]]})], 2)
    assert sorted(p.name for p in (tmp_path / "bad").iterdir()) == []


def test_a_stitch_that_fails_leaves_no_part_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(out: Path, parts: list, order: list) -> None:
        Path(out).write_bytes(b"torn")
        raise StemmaticError(f"{out}: No space left on device")

    monkeypatch.setattr(_core, "stitch_parquet", broken)
    files = _files(tmp_path)
    with pytest.raises(StemmaticError, match="No space left"):
        _write(tmp_path / "out", files, [_table(0, 5), _table(5, 5)], 2)
    assert list((tmp_path / "out").iterdir()) == []


def _corpus(tmp_path: Path) -> Path:
    """3,000 rows: every other one unique, the rest near-duplicates of 60 families."""
    rows = []
    for i in range(3000):
        if i % 2:
            text = " ".join(f"u{i}w{j}" for j in range(40))
        else:
            text = (
                f"shared words of family {i % 60} " + " ".join(f"f{i % 60}w{j}" for j in range(40)) + f" {i}"
            )
        rows.append({"text": text, "row": i})
    path = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=500)
    return path


def _shards(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.parquet"))}


def test_one_large_input_is_written_by_lanes_to_the_same_bytes_for_any_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stitch_calls: list[int]
) -> None:
    corpus = _corpus(tmp_path)
    plain = dedup(corpus, tmp_path / "plain", workers=2, batch_rows=128)
    monkeypatch.setattr(pipeline, "_LANE_BYTES", 20_000)  # the input (~500 kB read): a lane per worker
    runs = {
        (workers, budget): dedup(
            corpus, tmp_path / f"{workers}-{budget}", workers=workers, memory_limit=budget, batch_rows=128
        )
        for workers in (1, 2)
        for budget in ("4GB", "1MiB")
    }
    outputs = [_shards(r.output) for r in runs.values()]
    assert all(o == outputs[0] for o in outputs)  # rows in memory or read again, 1 or 2 workers
    assert stitch_calls == [1, 1] * 2 + [2, 2] * 2  # parts of the kept and removed shards: 1 and 2 workers
    laned = runs[(2, "4GB")]
    assert laned.removed_rows == plain.removed_rows > 1000
    for side in ("kept", "removed"):
        ours = pq.read_table(laned.output / side / "in.parquet")
        assert ours.equals(pq.read_table(plain.output / side / "in.parquet"))
        assert ours.column("row").to_pylist() == sorted(ours.column("row").to_pylist())
        assert pq.ParquetFile(laned.output / side / "in.parquet").metadata.num_row_groups > 10
    hidden = [p for p in laned.output.rglob(".*") if p.is_file()]
    assert hidden == []


def test_a_shard_continued_after_a_pause_is_joined_by_its_row_groups(
    tmp_path: Path, stitch_calls: list[int]
) -> None:
    # With more inputs than open files, a shard closed early is continued in a
    # part; at close its parts are joined without decoding a page.
    (tmp_path / "in").mkdir()
    for name in ("a", "b"):
        (tmp_path / "in" / f"{name}.jsonl").write_text('{"text": "x"}\n')
    files = resolve_inputs([tmp_path / "in"])
    writer = MirroredWriter(tmp_path / "out", files, "parquet", max_open=1)
    writer.write(0, _table(0, 15))
    writer.write(0, _table(15, 15))
    writer.write(1, _table(100, 5))  # closes a.parquet's writer
    writer.write(0, _table(30, 20))
    paths = writer.close()
    stitched = pq.ParquetFile(paths[0])
    assert stitched.read().equals(pa.concat_tables([_table(0, 30), _table(30, 20)]))
    assert [stitched.metadata.row_group(g).num_rows for g in range(stitched.num_row_groups)] == [15, 15, 20]
    assert stitch_calls == [2]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.parquet", "b.parquet"]
    # Parts of other schemas are left to the caller to write again.
    other = tmp_path / "other.parquet"
    pq.write_table(pa.table({"text": [1]}), other)
    assert not join_parquet([paths[0], other], tmp_path / "joined.parquet")
    assert not (tmp_path / "joined.parquet").exists()


def test_a_lane_that_fails_leaves_no_part_and_no_open_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = _corpus(tmp_path)
    monkeypatch.setattr(pipeline, "_LANE_BYTES", 20_000)
    real = pq.ParquetWriter.write_table
    calls: list[int] = []

    def failing(self: pq.ParquetWriter, table: pa.Table, *args: object, **kwargs: object) -> None:
        calls.append(1)
        if len(calls) == 9:
            raise OSError("No space left on device")
        real(self, table, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetWriter, "write_table", failing)
    for budget in ("4GB", "1MiB"):
        calls.clear()
        with pytest.raises(OSError, match="No space left"):
            dedup(corpus, tmp_path / budget, workers=2, memory_limit=budget, batch_rows=128)
        assert [p.name for p in (tmp_path / budget).rglob(".*") if p.is_file() and "lane" in p.name] == []
