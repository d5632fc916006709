"""The output side: JSONL that is always valid JSON, output compression, Parquet codecs."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import gzip
import itertools
import json
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.json as pajson
import pyarrow.parquet as pq
import pytest
import zstandard
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

import stemmatic.io as sio
from stemmatic.exceptions import ParameterError
from stemmatic.io import MirroredWriter, resolve_inputs
from stemmatic.io._sinks import JsonEncoder, JsonlWriter, find_outputs


def _no_constants(name: str) -> Any:
    raise AssertionError(f"JSON has no {name}: the line is not valid JSON")


def _lines(table: pa.Table, encoder: JsonEncoder | None = None) -> list[Any]:
    """The encoded rows, parsed strictly (NaN/Infinity tokens are an error)."""
    text = b"".join((encoder or JsonEncoder()).lines(table)).decode("utf-8")
    assert text.endswith("\n") or not text
    # JSON lines end at "\n" only (str.splitlines would also cut at U+2028, which JSON allows raw).
    return [json.loads(line, parse_constant=_no_constants) for line in text.split("\n")[:-1]]


def test_floats_nan_and_infinities_are_null_and_integral_floats_stay_floats() -> None:
    table = pa.table(
        {
            "f": [1.5, float("nan"), float("inf"), float("-inf"), None, 1.0, -0.0, 1e20, 1e-7, 0.1],
            "h": pa.array([1.5, None, float("nan"), 2, 0, 0, 0, 0, 0, 0], pa.float16()),
        }
    )
    rows = _lines(table)
    assert [r["f"] for r in rows] == [1.5, None, None, None, None, 1.0, -0.0, 1e20, 1e-7, 0.1]
    assert all(isinstance(r["f"], float) for r in rows if r["f"] is not None)
    assert [r["h"] for r in rows[:4]] == [1.5, None, None, 2.0]
    assert float32_text(0.1) == "0.1"  # the shortest form of the float32, not 0.10000000149011612


def float32_text(value: float) -> str:
    line = b"".join(JsonEncoder().lines(pa.table({"x": pa.array([value], pa.float32())}))).decode()
    return line[len('{"x":') : -2]


def test_bytes_are_base64_and_utf8_binary_is_text() -> None:
    rows = _lines(pa.table({"raw": [b"\x00\xff\x10", None, b""], "text": [b"caf\xc3\xa9", b"x", None]}))
    assert [r["raw"] for r in rows] == [base64.b64encode(b"\x00\xff\x10").decode(), None, ""]
    assert [r["text"] for r in rows] == ["café", "x", None]


def test_a_binary_column_that_turns_to_base64_stays_base64_in_that_file() -> None:
    encoder = JsonEncoder()
    assert _lines(pa.table({"b": [b"hi"]}), encoder) == [{"b": "hi"}]
    assert _lines(pa.table({"b": [b"\xff"]}), encoder) == [{"b": "/w=="}]
    assert _lines(pa.table({"b": [b"hi"]}), encoder) == [{"b": "aGk="}]


def test_timestamps_dates_times_decimals_durations() -> None:
    moment = dt.datetime(2024, 1, 2, 3, 4, 5, 6)
    table = pa.table(
        {
            "naive": pa.array([moment, None], pa.timestamp("us")),
            "utc": pa.array([moment, None], pa.timestamp("s", "UTC")),
            "paris": pa.array(
                [moment.replace(tzinfo=dt.timezone.utc), None], pa.timestamp("ms", "Europe/Paris")
            ),
            "ns": pa.array([1_704_164_645_000_000_001, None], pa.timestamp("ns")),
            "day": pa.array([dt.date(2024, 1, 2), None]),
            "clock": pa.array([dt.time(3, 4, 5, 6), None]),
            "price": pa.array([decimal.Decimal("12345678901234567890.0123"), None], pa.decimal128(24, 4)),
            "wait": pa.array([dt.timedelta(seconds=90, microseconds=500), None], pa.duration("us")),
            "back": pa.array([-3, None], pa.duration("s")),
        }
    )
    first, second = _lines(table)
    assert first == {
        "naive": "2024-01-02T03:04:05.000006",
        "utc": "2024-01-02T03:04:05Z",
        "paris": "2024-01-02T04:04:05.000+01:00",
        "ns": "2024-01-02T03:04:05.000000001",
        "day": "2024-01-02",
        "clock": "03:04:05.000006",
        "price": "12345678901234567890.0123",
        "wait": "PT90.0005S",
        "back": "-PT3S",
    }
    assert set(second.values()) == {None}
    assert dt.datetime.fromisoformat(first["paris"]) == moment.replace(microsecond=0, tzinfo=dt.timezone.utc)


def test_nested_lists_structs_maps_are_json_of_the_same() -> None:
    struct = pa.struct([("a", pa.float64()), ("b", pa.list_(pa.binary())), ("t", pa.timestamp("s"))])
    table = pa.table(
        {
            "nested": pa.array(
                [{"a": float("nan"), "b": [b"\xff", None], "t": dt.datetime(2024, 1, 1)}, None, {"a": 1.0}],
                struct,
            ),
            "lists": pa.array(
                [[[1.5, float("inf")], []], None, [None, [2.0]]], pa.large_list(pa.list_(pa.float64()))
            ),
            "fixed": pa.array([[1, 2], None, [3, 4]], pa.list_(pa.int64(), 2)),
            "tags": pa.array([[("k\n", 1)], None, []], pa.map_(pa.string(), pa.int64())),
            "pairs": pa.array([[(1, "x")], [], None], pa.map_(pa.int64(), pa.string())),
            "cat": pa.array(["a", None, "a"]).dictionary_encode(),
            "nothing": pa.nulls(3),
            "empty": pa.array([{}, None, {}], pa.struct([])),
        }
    )
    rows = _lines(table)
    assert rows[0] == {
        "nested": {"a": None, "b": ["/w==", None], "t": "2024-01-01T00:00:00"},
        "lists": [[1.5, None], []],
        "fixed": [1, 2],
        "tags": {"k\n": 1},
        "pairs": [[1, "x"]],
        "cat": "a",
        "nothing": None,
        "empty": {},
    }
    assert rows[1] == {**dict.fromkeys(rows[0]), "pairs": []}
    assert rows[2]["nested"] == {"a": 1.0, "b": None, "t": None}
    assert rows[2]["lists"] == [None, [2.0]] and rows[2]["tags"] == {} and rows[2]["pairs"] is None


def test_strings_escape_what_json_requires_and_keep_unicode() -> None:
    values = ["\x00\x01\x08\x0c\x1f", 'q"uote\\back', "new\nline\r\ttab", "naïve 日本 😀\u2028", "", None]
    rows = _lines(pa.table({"s": values, 'we"ird\nkey': values}))
    assert [r["s"] for r in rows] == values
    assert [r['we"ird\nkey'] for r in rows] == values
    assert "😀" in b"".join(JsonEncoder().lines(pa.table({"s": values}))).decode()  # not \ud83d\ude00


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.text(alphabet=st.characters(codec="utf-8"), max_size=30)), max_size=40),
    st.integers(0, 5),
    st.sampled_from([pa.string(), pa.large_string(), pa.string_view()]),
)
def test_any_strings_round_trip(values: list[str | None], offset: int, kind: pa.DataType) -> None:
    array = pa.array(values, pa.string()).cast(kind).slice(min(offset, len(values)))
    rows = _lines(pa.table({"s": array}))
    assert [r["s"] for r in rows] == array.to_pylist()


def test_a_table_without_columns_and_sliced_chunks() -> None:
    assert _lines(pa.table({"a": [1, 2]}).drop_columns(["a"])) == [{}, {}]
    table = pa.concat_tables([pa.table({"n": [1, 2, 3]}), pa.table({"n": [4, 5]})]).slice(1, 3)
    assert _lines(table) == [{"n": 2}, {"n": 3}, {"n": 4}]


def test_polars_like_readers_accept_the_output(tmp_path: Path) -> None:
    """pyarrow's own JSON reader reads back what the old writer wrote as NaN, b'..' and timestamps with spaces."""
    path = tmp_path / "a.jsonl"
    writer = JsonlWriter(path)
    writer.write_table(
        pa.table(
            {
                "f": [float("nan"), 2.5],
                "b": [b"\x00", b"\x01"],
                "t": pa.array([dt.datetime(2024, 1, 2, 3, 4, 5)] * 2, pa.timestamp("s")),
            }
        )
    )
    writer.close()
    read = pajson.read_json(path)
    assert read.column("f").to_pylist() == [None, 2.5]
    assert read.column("t").type == pa.timestamp("s")  # ISO 8601 with T: parsed as a timestamp


# -- compression ---------------------------------------------------------------------


def _inputs(tmp_path: Path, names: list[str]) -> list[Any]:
    rows = b'{"text": "a"}\n{"text": "b"}\n'
    for name in names:
        path = tmp_path / "in" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith(".gz"):
            path.write_bytes(gzip.compress(rows))
        elif name.endswith(".zst"):
            path.write_bytes(zstandard.ZstdCompressor().compress(rows))
        elif name.endswith(".parquet"):
            pq.write_table(pa.table({"text": ["a", "b"]}), path)
        else:
            path.write_bytes(rows)
    return resolve_inputs([tmp_path / "in"])


def _write_all(directory: Path, files: list[Any], fmt: Any, **options: Any) -> list[Path]:
    writer = MirroredWriter(directory, files, fmt, **options)
    for index in range(len(files)):
        writer.write(index, pa.table({"text": ["a", "b"], "x": [1.5, float("nan")]}))
    return writer.close()


def _read_jsonl(path: Path) -> list[Any]:
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        data = gzip.decompress(data)
    elif path.name.endswith(".zst"):
        data = zstandard.ZstdDecompressor().decompressobj().decompress(data)
    return [json.loads(line, parse_constant=_no_constants) for line in data.decode().split("\n")[:-1]]


def test_jsonl_output_keeps_each_inputs_compression(tmp_path: Path) -> None:
    files = _inputs(tmp_path, ["a.jsonl.gz", "b.jsonl.zst", "c.jsonl", "d.parquet"])
    paths = _write_all(tmp_path / "out", files, "jsonl")
    assert [p.name for p in paths] == ["a.jsonl.gz", "b.jsonl.zst", "c.jsonl", "d.jsonl"]
    for path in paths:
        assert _read_jsonl(path) == [{"text": "a", "x": 1.5}, {"text": "b", "x": None}]
    assert find_outputs(tmp_path / "out", "jsonl") == sorted(paths)


@pytest.mark.parametrize("compression", ["none", "gzip", "zstd", "bz2"])
def test_jsonl_compression_can_be_chosen(tmp_path: Path, compression: str) -> None:
    files = _inputs(tmp_path, ["a.jsonl.gz"])
    (path,) = _write_all(tmp_path / "out", files, "jsonl", compression=compression)
    suffix = {"none": "", "gzip": ".gz", "zstd": ".zst", "bz2": ".bz2"}[compression]
    assert path.name == f"a.jsonl{suffix}"
    assert pajson.read_json(path).column("text").to_pylist() == ["a", "b"]


def test_gzip_output_is_the_same_bytes_every_run(tmp_path: Path) -> None:
    files = _inputs(tmp_path, ["a.jsonl.gz"])
    (first,) = _write_all(tmp_path / "one", files, "jsonl")
    (second,) = _write_all(tmp_path / "two", files, "jsonl")
    assert first.read_bytes() == second.read_bytes()


def test_parquet_is_zstd_by_default_with_a_codec_option(tmp_path: Path) -> None:
    files = _inputs(tmp_path, ["a.jsonl.gz"])
    (default,) = _write_all(tmp_path / "zstd", files, "parquet")
    (snappy,) = _write_all(tmp_path / "snappy", files, "parquet", compression="snappy")
    assert default.name == "a.parquet"
    assert pq.ParquetFile(default).metadata.row_group(0).column(0).compression == "ZSTD"
    assert pq.ParquetFile(snappy).metadata.row_group(0).column(0).compression == "SNAPPY"


def test_parquet_codec_survives_a_schema_change_mid_file(tmp_path: Path) -> None:
    files = _inputs(tmp_path, ["a.jsonl"])
    writer = MirroredWriter(tmp_path / "out", files, "parquet", compression="gzip")
    writer.write(0, pa.table({"text": ["a"]}))
    writer.write(0, pa.table({"text": ["b"], "new": [1]}))
    (path,) = writer.close()
    assert pq.read_table(path).to_pylist() == [{"text": "a", "new": None}, {"text": "b", "new": 1}]
    assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == "GZIP"


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_a_finished_shard_is_whole_before_close_and_rows_after_it_are_joined_in(
    tmp_path: Path, fmt: Any
) -> None:
    # The dedup write stage finishes each shard as its input ends (an open
    # Parquet writer holds its last row group's encoders); the file is then
    # complete on disk, and close() leaves it as it is.
    files = _inputs(tmp_path, ["a.jsonl", "b.jsonl"])
    writer = MirroredWriter(tmp_path / "out", files, fmt)
    writer.write(0, pa.table({"text": ["a", "b"]}))
    writer.write(0, pa.table({"text": ["c"]}))
    writer.finish(0)
    writer.finish(1)  # nothing written yet: close() still makes its empty shard
    first = writer.path_for(0)
    read = pq.read_table if fmt == "parquet" else lambda p: pa.Table.from_pylist(_read_jsonl(p))
    assert read(first).column("text").to_pylist() == ["a", "b", "c"]
    finished = first.read_bytes()
    writer.write(1, pa.table({"text": ["d"]}))
    paths = writer.close({0: pa.schema([("text", pa.string())]), 1: pa.schema([("text", pa.string())])})
    assert paths == [first, writer.path_for(1)]
    assert first.read_bytes() == finished
    assert read(paths[1]).column("text").to_pylist() == ["d"]
    # Rows that come after all are continued in a part and joined in at close.
    again = MirroredWriter(tmp_path / "again", files, fmt)
    again.write(0, pa.table({"text": ["a"]}))
    again.finish(0)
    again.write(0, pa.table({"text": ["b"]}))
    (joined, _) = again.close({1: pa.schema([("text", pa.string())])})
    assert read(joined).column("text").to_pylist() == ["a", "b"]


@pytest.mark.parametrize(("fmt", "bad"), [("jsonl", "snappy"), ("parquet", "bz2"), ("jsonl", "zip")])
def test_an_unknown_compression_is_refused(tmp_path: Path, fmt: Any, bad: str) -> None:
    files = _inputs(tmp_path, ["a.jsonl"])
    with pytest.raises(
        ParameterError, match=rf"invalid compression '{bad}' for {fmt} output; expected one of"
    ):
        MirroredWriter(tmp_path / "out", files, fmt, compression=bad)


# -- memory in reports -----------------------------------------------------------------


class _Usage:
    def __init__(self, maxrss: int) -> None:
        self.ru_maxrss = maxrss


@pytest.mark.parametrize(("platform", "unit"), [("darwin", 1), ("linux", 1024), ("freebsd14", 1024)])
def test_peak_rss_reads_getrusage_in_the_platforms_unit(
    monkeypatch: pytest.MonkeyPatch, platform: str, unit: int
) -> None:
    import resource

    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setattr(resource, "getrusage", lambda who: _Usage(300_000_000 // unit))
    assert sio.peak_rss_bytes() == 300_000_000 // unit * unit


def test_peak_rss_on_windows_is_the_peak_working_set(monkeypatch: pytest.MonkeyPatch) -> None:
    psutil = pytest.importorskip("psutil")

    class Info:
        rss, peak_wset = 1, 123_456_789

    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(psutil.Process, "memory_info", lambda self: Info())
    assert sio.peak_rss_bytes() == 123_456_789


def test_current_rss_without_psutil_or_proc_falls_back_to_the_peak(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psutil", None)  # import psutil fails
    assert abs(sio.current_rss_bytes() - _proc_rss()) < 64 << 20
    real_open = open

    def no_proc(path: Any, *args: Any, **kwargs: Any) -> Any:
        if str(path).startswith("/proc/"):
            raise FileNotFoundError(path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", no_proc)
    assert sio.current_rss_bytes() == sio.peak_rss_bytes() > 0


def test_current_rss_is_psutils_figure_and_linux_needs_no_psutil(monkeypatch: pytest.MonkeyPatch) -> None:
    import psutil  # a dependency of stemmatic (pyproject)

    assert abs(sio.current_rss_bytes() - psutil.Process().memory_info().rss) < 16 << 20
    if sys.platform.startswith("linux"):
        monkeypatch.setitem(sys.modules, "psutil", None)  # never imported on Linux (0.01 s of every run)
        assert abs(sio.current_rss_bytes() - _proc_rss()) < 16 << 20


def _proc_rss() -> int:
    import os

    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="compares with /proc")
def test_rss_is_in_bytes_and_sees_an_allocation() -> None:
    before = sio.current_rss_bytes()
    block = bytearray(96 << 20)
    block[::4096] = b"x" * len(block[::4096])  # touch every page
    during = sio.current_rss_bytes()
    assert during - before > 64 << 20
    assert abs(during - _proc_rss()) < 16 << 20
    # In bytes, not KiB (1024x off): at least what is resident now (the kernel updates the peak
    # lazily), and not 1024x more than it -- earlier tests of the run may have raised the peak.
    assert during - (16 << 20) <= sio.peak_rss_bytes() < 256 * during
    del block


# -- the spill stage's open files ----------------------------------------------------------

_SPILL_RUN = """
import resource, sys
from stemmatic.dedup import _spill, pipeline
pipeline._Run._partitions = lambda self: int(sys.argv[3])
commit = _spill.BandRecords.commit
_spill.BandRecords.commit = lambda self: print("partition files:", len(files := commit(self))) or files
limit = int(sys.argv[4])
if limit:
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
pipeline.dedup(sys.argv[1], sys.argv[2], exact=True, memory_limit="1MiB", workers=1)
"""


def _spill_run(corpus: Path, out: Path, partitions: int, nofile: int) -> Any:
    import subprocess

    return subprocess.run(
        [sys.executable, "-c", _SPILL_RUN, str(corpus), str(out), str(partitions), str(nofile)],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_NOFILE is POSIX")
def test_spill_holds_few_files_open_with_many_partitions(tmp_path: Path) -> None:
    """Under a limit of 64 open files, 1,024 band partitions give the output of a run without spilling.

    (The spill held one open file per partition: "Too many open files" here.)
    """
    from stemmatic.synthetic import generate_corpus

    texts = generate_corpus(600, seed=3, max_words=60, duplicate_fraction=0.4).texts
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for shard in range(3):
        pq.write_table(
            pa.table({"text": texts[shard * 200 : (shard + 1) * 200]}), corpus / f"p{shard}.parquet"
        )
    spilled = _spill_run(corpus, tmp_path / "spilled", 1024, 64)
    assert spilled.returncode == 0, spilled.stderr[-2000:]
    assert "partition files: 1024" in spilled.stdout
    in_memory = _spill_run(corpus, tmp_path / "memory", 0, 0)
    assert in_memory.returncode == 0, in_memory.stderr[-2000:]
    for part in ("kept", "removed"):
        for name in ("p0.parquet", "p1.parquet", "p2.parquet"):
            spilled_rows = pq.read_table(tmp_path / "spilled" / part / name)
            memory_rows = pq.read_table(tmp_path / "memory" / part / name)
            assert spilled_rows.equals(memory_rows)
    assert pq.read_table(tmp_path / "spilled" / "clusters.parquet").equals(
        pq.read_table(tmp_path / "memory" / "clusters.parquet")
    )
    assert pq.read_table(tmp_path / "memory" / "removed" / "p1.parquet").num_rows > 0


def test_band_partitions_flushed_in_batches_hold_every_record_in_order(tmp_path: Path) -> None:
    import numpy as np

    from stemmatic._atomic import check_record
    from stemmatic.dedup._spill import BandRecords

    rng = np.random.default_rng(1)
    bands = BandRecords(tmp_path / "bands", 64, buffer_bytes=4096)
    added = []
    for _ in range(20):
        keys = rng.integers(0, 2**64, size=300, dtype=np.uint64)
        docs = rng.integers(0, 2**40, size=300, dtype=np.uint64)
        bands.add(keys, docs)
        added.append(np.stack([keys, docs], axis=1))
    records = bands.commit()
    assert len(records) == 64 and not list((tmp_path / "bands").glob(".*"))
    everything = np.concatenate(added)
    partition = everything[:, 0] >> np.uint64(58)
    for p, (path, record) in enumerate(sorted(records.items())):
        assert check_record(path, record) is None
        expected = everything[partition == p]
        assert np.array_equal(np.fromfile(path, dtype=np.uint64).reshape(-1, 2), expected)


def test_slices_encoded_on_threads_come_out_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    import stemmatic.io._jsonl as sinks

    table = pa.table(
        {
            "n": list(range(100)),
            "s": [f"row {i}\n" for i in range(100)],
            "b": [b"\xff" if i == 50 else b"x" for i in range(100)],
        }
    )
    monkeypatch.setattr(sinks, "JSONL_ENCODE_BYTES", table.nbytes // 14)  # slices of 7 rows
    assert len(list(JsonEncoder().lines(table))) == 15
    rows = _lines(table)
    assert [(r["n"], r["s"]) for r in rows] == [(i, f"row {i}\n") for i in range(100)]
    # Rows 49-55 are one slice: base64 from its first row on, the earlier slices stay text.
    assert [r["b"] for r in rows][47:52] == ["x", "x", "eA==", "/w==", "eA=="]


# -- the Rust encoder against the Python encoder it replaced ------------------------------


def _reference() -> Any:
    """``tests/jsonl_reference.py``: the column-by-column Python encoder shipped before the Rust one."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "jsonl_reference", Path(__file__).with_name("jsonl_reference.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_REFERENCE = _reference()
#: Seconds from 0001-01-01 to 9999-12-31 (the years Arrow C++ formats), and 1970-2037 for named
#: zones (Arrow C++ here applies no daylight saving time after 2037: see the test below).
_YEARS_1_9999 = (-62_135_596_800, 253_402_300_799)
_YEARS_1970_2037 = (0, 2_145_916_799)
_UNIT_SCALE = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}
_INT_TYPES = [
    pa.int8(),
    pa.int16(),
    pa.int32(),
    pa.int64(),
    pa.uint8(),
    pa.uint16(),
    pa.uint32(),
    pa.uint64(),
]


@st.composite
def _leaf(draw: st.DrawFn) -> tuple[pa.DataType, st.SearchStrategy[Any]]:
    """A leaf type and a strategy for its (non-null) values as pyarrow builds them."""
    kind = draw(
        st.sampled_from(
            ["int", "bool", "f64", "f32", "str", "bin", "dec", "ts", "date32", "date64", "time", "dur"]
        )
    )
    if kind == "int":
        t = draw(st.sampled_from(_INT_TYPES))
        bits = t.bit_width
        low, high = (
            (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if pa.types.is_signed_integer(t) else (0, 2**bits - 1)
        )
        return t, st.integers(low, high)
    if kind == "bool":
        return pa.bool_(), st.booleans()
    if kind == "f64":
        return pa.float64(), st.floats()
    if kind == "f32":
        return pa.float32(), st.floats(width=32)
    if kind == "str":
        t = draw(st.sampled_from([pa.string(), pa.large_string(), pa.string_view()]))
        return t, st.text(alphabet=st.characters(codec="utf-8"), max_size=20)
    if kind == "bin":
        t = draw(st.sampled_from([pa.binary(), pa.large_binary(), pa.binary_view()]))
        return t, st.one_of(st.binary(max_size=8), st.text(max_size=8).map(str.encode))
    if kind == "dec":
        t = draw(
            st.sampled_from(
                [
                    pa.decimal32(7, 2),
                    pa.decimal64(12, 0),
                    pa.decimal128(24, 10),
                    pa.decimal128(5, -2),
                    pa.decimal256(40, 12),
                ]
            )
        )
        bound = 10**t.precision - 1
        exact = decimal.Context(prec=80)
        return t, st.integers(-bound, bound).map(lambda u, s=t.scale: decimal.Decimal(u).scaleb(-s, exact))
    if kind == "ts":
        unit = draw(st.sampled_from(["s", "ms", "us", "ns"]))
        tz = draw(
            st.sampled_from([None, "UTC", "+05:30", "-03:30", "Europe/Paris", "America/New_York", "Etc/UTC"])
        )
        low, high = _YEARS_1_9999 if tz is None or tz[0] in "+-U" else _YEARS_1970_2037
        scale = _UNIT_SCALE[unit]
        # A day inside the 64-bit range: Arrow C++ overflows shifting i64::MIN ns to a zone's local time.
        margin = 86_400 * 10**9
        low, high = max(low * scale, -(2**63) + margin), min(high * scale, 2**63 - 1 - margin)
        return pa.timestamp(unit, tz), st.integers(low, high)
    if kind == "date32":
        return pa.date32(), st.integers(-719_162, 2_932_896)
    if kind == "date64":
        return pa.date64(), st.integers(-719_162, 2_932_896).map(lambda d: d * 86_400_000)
    if kind == "time":
        t = draw(st.sampled_from([pa.time32("s"), pa.time32("ms"), pa.time64("us"), pa.time64("ns")]))
        return t, st.integers(0, 86_400 * _UNIT_SCALE[t.unit] - 1)
    unit = draw(st.sampled_from(["s", "ms", "us", "ns"]))
    return pa.duration(unit), st.integers(-(2**63), 2**63 - 1)


def _array(kind: pa.DataType, values: list[Any]) -> pa.Array:
    """``values`` (ints for temporal types) as an array of ``kind``."""
    if pa.types.is_timestamp(kind) or pa.types.is_duration(kind) or pa.types.is_date64(kind):
        return pa.array(values, pa.int64()).cast(kind)
    if pa.types.is_date32(kind) or pa.types.is_time32(kind):
        return pa.array(values, pa.int32()).cast(kind)
    if pa.types.is_time64(kind):
        return pa.array(values, pa.int64()).cast(kind)
    return pa.array(values, kind)


@st.composite
def _column(draw: st.DrawFn, rows: int) -> pa.Array:
    kind, values = draw(_leaf())
    leaf = [draw(st.one_of(st.none(), values)) for _ in range(rows * 3)]
    items = _array(kind, leaf)
    shape = draw(st.sampled_from(["plain", "list", "large_list", "fixed", "struct", "map", "dict"]))
    if shape == "plain" or pa.types.is_string_view(kind) or pa.types.is_binary_view(kind):
        return items.slice(0, rows)
    nulls = pa.array([draw(st.booleans()) for _ in range(rows)])
    if shape in ("list", "large_list"):
        lengths = [draw(st.integers(0, 3)) for _ in range(rows)]
        offsets = pa.array([0, *itertools.accumulate(lengths)], pa.int32())
        lists = pa.ListArray.from_arrays(offsets, items.slice(0, offsets[-1].as_py()), mask=nulls)
        return lists.cast(pa.large_list(kind)) if shape == "large_list" else lists
    if shape == "fixed":
        return pa.FixedSizeListArray.from_arrays(items.slice(0, 2 * rows), 2, mask=nulls)
    if shape == "struct":
        other = pa.array([draw(st.one_of(st.none(), st.integers(-5, 5))) for _ in range(rows)])
        return pa.StructArray.from_arrays([items.slice(0, rows), other], names=["v", 'k"\n'], mask=nulls)
    if shape == "map":
        lengths = [draw(st.integers(0, 2)) for _ in range(rows)]
        offsets = pa.array([0, *itertools.accumulate(lengths)], pa.int32())
        count = offsets[-1].as_py()
        if draw(st.booleans()):
            keys = pa.array([draw(st.text(max_size=4)) for _ in range(count)], pa.string())
        else:
            keys = pa.array([draw(st.integers(-9, 9)) for _ in range(count)], pa.int64())
        return pa.MapArray.from_arrays(offsets, keys, items.slice(0, count), mask=nulls)
    try:
        return items.slice(0, rows).dictionary_encode()
    except pa.ArrowNotImplementedError:  # (no dictionary kernel for the type)
        return items.slice(0, rows)


@st.composite
def _tables(draw: st.DrawFn) -> pa.Table:
    rows = draw(st.integers(1, 12))
    width = draw(st.integers(1, 4))
    columns = [draw(_column(rows)) for _ in range(width)]
    names = [draw(st.sampled_from(["a", "b\tc", "é", 'q"', "\x01"])) + str(i) for i in range(width)]
    table = pa.table(columns, names=names)
    if any(pa.types.is_map(c.type) for c in columns):
        return table  # (the Python encoder cannot encode a sliced map with nulls)
    return table.slice(draw(st.integers(0, rows - 1)))


# No shrinking: it takes minutes on these nested draws; the failing table is printed whole.
@settings(max_examples=300, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(_tables())
def test_rust_encoder_writes_the_bytes_of_the_python_encoder(table: pa.Table) -> None:
    expected = b"".join(_REFERENCE.JsonEncoder().lines(table))
    written = b"".join(JsonEncoder().lines(table))
    assert written == expected
    for line in written.decode("utf-8").split("\n")[:-1]:
        json.loads(line, parse_constant=_no_constants)


def test_float16_and_fixed_size_binary_match_the_python_encoder() -> None:
    import numpy as np

    halves = np.array([0.1, 65504, -0.0, np.nan, np.inf, 6e-8, 1.0], dtype=np.float16)
    table = pa.table(
        {
            "h": pa.array(halves, mask=np.array([0, 0, 0, 0, 0, 0, 1], dtype=bool)),
            "fixed": pa.array([b"ab", b"\xff\x00", None, b"cd", b"ef", b"gh", b"ij"], pa.binary(2)),
        }
    )
    assert b"".join(JsonEncoder().lines(table)) == b"".join(_REFERENCE.JsonEncoder().lines(table))


@pytest.mark.parametrize("workers", [1, 2])
def test_a_table_of_many_parts_is_written_whole_in_order_to_a_descriptor_and_to_a_stream(
    tmp_path: Path, workers: int
) -> None:
    # About 3 MB of rows: the encoder writes it in parts of about half a MiB (on 2 workers, a
    # round of parts at a time) through buffers it reuses; the file (written through its
    # descriptor) and a stream sink both get every row once, in order, as the reference encodes it.
    texts = [f"row {i} " + 'é"\n\t word ' * (i % 40) for i in range(20_000)]
    table = pa.table({"id": list(range(20_000)), "text": texts, "x": [i / 7 for i in range(20_000)]})
    expected = b"".join(_REFERENCE.JsonEncoder().lines(table))
    writer = JsonlWriter(tmp_path / "a.jsonl", workers=workers)
    writer.write_table(table)
    writer.write_table(table.slice(5))
    writer.close()
    assert (tmp_path / "a.jsonl").read_bytes() == expected + b"".join(
        _REFERENCE.JsonEncoder().lines(table.slice(5))
    )
    encoder = JsonEncoder(workers)
    parts = list(encoder.lines(table))
    assert len(parts) > 4
    assert b"".join(parts) == expected


def test_an_error_of_the_sink_is_raised_from_the_write() -> None:
    class Full:
        def write(self, data: bytes) -> None:
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        JsonEncoder().write(pa.table({"t": ["a"] * 10}), Full())


def test_years_beyond_9999_and_before_1_are_iso_8601_not_an_error_text() -> None:
    """Arrow C++ formats these as "<value out of range: …>"; the Rust encoder writes the date."""
    seconds = [253_402_300_800, -62_135_596_801, 2**62]
    rows = _lines(
        pa.table(
            {"t": pa.array(seconds, pa.timestamp("s")), "d": pa.array([2**31 - 1, -(2**31), 0], pa.date32())}
        )
    )
    assert [r["t"] for r in rows] == [
        "10000-01-01T00:00:00",
        "0000-12-31T23:59:59",
        "146138514283-06-19T07:45:04",
    ]
    assert [r["d"] for r in rows] == ["5881580-07-11", "-5877641-06-23", "1970-01-01"]


def test_named_zones_keep_daylight_saving_time_after_2037() -> None:
    summer = dt.datetime(2045, 8, 14, 3, 47, 31, tzinfo=dt.timezone.utc)
    (row,) = _lines(pa.table({"t": pa.array([summer], pa.timestamp("s", "Europe/Paris"))}))
    assert row["t"] == "2045-08-14T05:47:31+02:00"  # Arrow C++'s cast to string says 04:47:31+01:00


def test_unions_and_intervals_are_encoded_in_python_as_raw_json() -> None:
    union = pa.UnionArray.from_sparse(pa.array([0, 1], pa.int8()), [pa.array([1, 2]), pa.array(["a", "b"])])
    interval = pa.array([pa.MonthDayNano([1, 2, 3]), None], pa.month_day_nano_interval())
    rows = _lines(pa.table({"u": union, "i": interval, "n": [1.5, float("nan")]}))
    assert rows == [{"u": 1, "i": [1, 2, 3], "n": 1.5}, {"u": "b", "i": None, "n": None}]


def test_a_string_column_with_invalid_utf8_is_refused_not_written() -> None:
    from stemmatic.exceptions import InvalidInputError

    bad = pa.Array.from_buffers(
        pa.string(), 1, [None, pa.py_buffer(b"\x00\x00\x00\x00\x02\x00\x00\x00"), pa.py_buffer(b"\xff\xfe")]
    )
    with pytest.raises(
        InvalidInputError, match='column "s": a string column holds bytes that are not valid UTF-8'
    ):
        b"".join(JsonEncoder().lines(pa.table({"s": bad})))


def test_a_big_table_encodes_on_threads_to_the_bytes_of_one_thread() -> None:
    rows = 40_000
    table = pa.table(
        {
            "id": pa.array(range(rows)),
            "text": [f'row {i}: "quoted"\n{"x" * (i % 50)}' for i in range(rows)],
            "b": [bytes([i % 256]) for i in range(rows)],
        }
    )
    one = b"".join(JsonEncoder(workers=1).lines(table))
    assert b"".join(JsonEncoder(workers=4).lines(table)) == one
    assert len(one.split(b"\n")) == rows + 1


def test_removed_rows_can_be_written_without_their_text(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from stemmatic.cli import app

    corpus = tmp_path / "corpus.jsonl"
    texts = ["the quick brown fox jumps over the lazy dog"] * 3 + ["an entirely different sentence here"]
    corpus.write_text("".join(json.dumps({"text": t, "n": i}) + "\n" for i, t in enumerate(texts)))
    runner = CliRunner()
    for flag, out in (("--removed-text", "with"), ("--no-removed-text", "without")):
        result = runner.invoke(app, ["dedup", str(corpus), "-o", str(tmp_path / out), "--exact", "-q", flag])
        assert result.exit_code == 0, result.output
    with_text = pq.read_table(tmp_path / "with" / "removed" / "corpus.parquet")
    without = pq.read_table(tmp_path / "without" / "removed" / "corpus.parquet")
    assert with_text.column("text").to_pylist() == texts[1:3]
    assert without.column_names == [c for c in with_text.column_names if c != "text"]
    assert without.drop_columns([]).equals(with_text.drop_columns(["text"]))
    assert pq.read_table(tmp_path / "without" / "kept" / "corpus.parquet").column("text").to_pylist() == [
        texts[0],
        texts[3],
    ]
    refused = runner.invoke(
        app, ["dedup", str(corpus), "-o", str(tmp_path / "ray"), "--engine", "ray", "--no-removed-text"]
    )
    assert refused.exit_code != 0
    assert "--no-removed-text applies to the local engine only" in refused.output
