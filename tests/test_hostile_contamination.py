"""Contamination index and scan against crafted indexes, full disks, mixed-up ids and absurd parameters.

Every case ends in a one-line stemmatic error naming the file (and the row
and field where there is one), never a traceback, and never leaves a partial
output or a temporary file that looks like a result.
"""

from __future__ import annotations

import errno
import json
import os
import struct
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xxhash
from typer.testing import CliRunner

import stemmatic
from stemmatic.cli import app
from stemmatic.contamination import ContaminationIndex, build_index, scan_corpus

runner = CliRunner()
TEXT = "the quick brown fox jumps over the lazy dog"


def _index(**kwargs: Any) -> ContaminationIndex:
    return ContaminationIndex.from_records(
        [{"id": "q1", "p": TEXT}], fields=["p"], id_field="id", ngram=3, **kwargs
    )


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


# -- crafted index files ---------------------------------------------------------------------


def _header_end(body: bytes) -> int:
    """Offset of the benchmark names in an index file (after magic, version, tokenizer, 8 numbers)."""
    tokenizer_len = struct.unpack_from("<Q", body, 12)[0]
    return 12 + 8 + tokenizer_len + 8 * 8


def _strs_end(body: bytes, position: int) -> int:
    count = struct.unpack_from("<Q", body, position)[0]
    position += 8
    for _ in range(count):
        position += 8 + struct.unpack_from("<Q", body, position)[0]
    return position


def _strs(values: list[bytes]) -> bytes:
    return struct.pack("<Q", len(values)) + b"".join(struct.pack("<Q", len(v)) + v for v in values)


def _crafted(
    path: Path,
    index: ContaminationIndex,
    *,
    benchmarks: list[bytes] | None = None,
    fields: list[bytes] | None = None,
    metadata: bytes | None = None,
) -> Path:
    """``index``'s file with some sections replaced, and a valid checksum (the engine's checks pass)."""
    body = index._core.to_bytes()[:-8]
    start = _header_end(body)
    after_benchmarks = _strs_end(body, start)
    after_fields = _strs_end(body, after_benchmarks)
    metadata_len = struct.unpack_from("<Q", body, after_fields)[0]
    after_metadata = after_fields + 8 + metadata_len
    new = (
        body[:start]
        + (_strs(benchmarks) if benchmarks is not None else body[start:after_benchmarks])
        + (_strs(fields) if fields is not None else body[after_benchmarks:after_fields])
        + (
            struct.pack("<Q", len(metadata)) + metadata
            if metadata is not None
            else body[after_fields:after_metadata]
        )
        + body[after_metadata:]
    )
    path.write_bytes(new + struct.pack("<Q", xxhash.xxh3_64_intdigest(new)))
    return path


def test_crafted_file_round_trips_unchanged(tmp_path) -> None:
    # The crafting helper itself: replacing nothing gives back the saved file.
    index = _index()
    saved = index.save(tmp_path / "i.idx").read_bytes()
    assert _crafted(tmp_path / "c.idx", index).read_bytes() == saved
    assert ContaminationIndex.load(tmp_path / "c.idx").benchmarks == ["benchmark"]


def test_deeply_nested_metadata_is_refused_naming_the_file(tmp_path) -> None:
    deep = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
    path = _crafted(tmp_path / "deep.idx", _index(), metadata=deep)
    with pytest.raises(stemmatic.InvalidInputError, match=r"deep\.idx: .*metadata.*nested"):
        ContaminationIndex.load(path)
    corpus = _write_jsonl(tmp_path / "c.jsonl", [{"text": TEXT}])
    result = runner.invoke(
        app, ["contamination", "scan", str(corpus), "--index", str(path), "-o", str(tmp_path / "o")]
    )
    assert result.exit_code == 2, result.output
    assert "deep.idx" in result.output and "Traceback" not in result.output


def test_deep_metadata_reached_without_load_reads_as_empty() -> None:
    # An index from bytes (pickled to a worker) does not go through load().
    core = _index()._core.with_metadata("[" * 100_000 + "]" * 100_000)
    assert ContaminationIndex(core).build_info == {}


def test_nesting_inside_strings_is_not_depth(tmp_path) -> None:
    index = ContaminationIndex.from_records([{"p": TEXT}], fields=["p"], benchmark="[{" * 5000, ngram=3)
    loaded = ContaminationIndex.load(index.save(tmp_path / "i.idx"))
    assert loaded.build_info["benchmarks"][0]["name"] == "[{" * 5000


@pytest.mark.parametrize(
    ("names", "message"),
    [
        ([b""] * 200_000, "empty benchmark name"),
        ([b"benchmark", b"benchmark"], "benchmark name appears twice"),
        (
            [b"benchmark"] + [str(i).encode() for i in range(50_000)],
            "differ from those in its build metadata",
        ),
    ],
    ids=["200k-empty-names", "repeated-name", "names-not-in-build-log"],
)
def test_crafted_benchmark_names_are_refused(tmp_path, names, message) -> None:
    path = _crafted(tmp_path / "names.idx", _index(), benchmarks=names)
    with pytest.raises(stemmatic.InvalidInputError, match=rf"names\.idx: not a valid .*{message}"):
        ContaminationIndex.load(path)


def test_names_without_build_log_must_have_entries(tmp_path) -> None:
    path = _crafted(tmp_path / "bare.idx", _index(), benchmarks=[b"benchmark", b"other"], metadata=b"")
    with pytest.raises(
        stemmatic.InvalidInputError, match=r"bare\.idx: .*2 benchmark names for the entries of 1"
    ):
        ContaminationIndex.load(path)
    crafted = _crafted(tmp_path / "f.idx", _index(), fields=[b"p", b""], metadata=b"")
    with pytest.raises(stemmatic.InvalidInputError, match="empty field name"):
        ContaminationIndex.load(crafted)
    # The same index with its own names still loads.
    assert ContaminationIndex.load(_crafted(tmp_path / "ok.idx", _index(), metadata=b"")).num_entries == 1


def test_benchmark_without_entries_still_loads(tmp_path) -> None:
    # A real index can name a benchmark all of whose items were too short.
    a = _write_jsonl(tmp_path / "a.jsonl", [{"p": TEXT}])
    b = _write_jsonl(tmp_path / "b.jsonl", [{"p": "two words"}])
    index = build_index([a, b], fields=["p"], ngram=3, min_tokens=3)
    loaded = ContaminationIndex.load(index.save(tmp_path / "i.idx"))
    assert loaded.benchmarks == ["a", "b"] and loaded.num_entries == 1
    report = scan_corpus(
        [_write_jsonl(tmp_path / "c.jsonl", [{"text": TEXT}])], tmp_path / "i.idx", tmp_path / "o",
        min_specific_tokens=1,
    )  # fmt: skip
    assert report["benchmarks"]["a"]["items_contaminated"] == 1
    assert _counts(report["benchmarks"]["b"]) == {
        "entries": 0, "items": 0, "entries_contaminated": 0, "items_contaminated": 0,
        "docs_contaminated": 0, "docs_contaminated_pct": 0.0, "hits": 0,
    }  # fmt: skip


_COUNTS = (
    "entries", "items", "entries_contaminated", "items_contaminated", "docs_contaminated", "docs_contaminated_pct",
    "hits",
)  # fmt: skip


def _counts(bench: dict[str, Any]) -> dict[str, Any]:
    return {k: bench[k] for k in _COUNTS}


def test_report_counts_items_per_benchmark(tmp_path) -> None:
    # The per-benchmark counts, computed in one pass, against a direct count.
    a = _write_jsonl(
        tmp_path / "a.jsonl",
        [{"id": "x", "p": TEXT, "q": "lorem ipsum dolor sit"}, {"id": "y", "p": "alpha beta gamma delta"}],
    )
    b = _write_jsonl(tmp_path / "b.jsonl", [{"id": "x", "p": "one two three four", "q": TEXT}])
    index = build_index([a, b], fields=["p", "q"], id_field="id", ngram=3)
    corpus = _write_jsonl(tmp_path / "c.jsonl", [{"text": TEXT}, {"text": "one two three four five"}])
    report = scan_corpus([corpus], index, tmp_path / "o", min_specific_tokens=1)
    assert _counts(report["benchmarks"]["a"]) | {"docs_contaminated_pct": 0} == {
        "entries": 3, "items": 2, "entries_contaminated": 1, "items_contaminated": 1,
        "docs_contaminated": 1, "docs_contaminated_pct": 0, "hits": 1,
    }  # fmt: skip
    assert _counts(report["benchmarks"]["b"]) | {"docs_contaminated_pct": 0} == {
        "entries": 2, "items": 1, "entries_contaminated": 2, "items_contaminated": 1,
        "docs_contaminated": 2, "docs_contaminated_pct": 0, "hits": 2,
    }  # fmt: skip


# -- writing the index -------------------------------------------------------------------------


def _no_space(fd: int, data: Any) -> int:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_index_on_a_full_disk_leaves_no_temporary_file(tmp_path, monkeypatch) -> None:
    path = tmp_path / "out" / "i.idx"
    old = _index().save(path).read_bytes()
    monkeypatch.setattr(os, "write", _no_space)
    with pytest.raises(
        stemmatic.StemmaticError, match=r"i\.idx: cannot write the index: No space left on device"
    ):
        _index(seed=7).save(path)
    monkeypatch.undo()
    assert os.listdir(path.parent) == ["i.idx"] and path.read_bytes() == old


def test_cli_index_on_a_full_disk_is_one_line(tmp_path, monkeypatch) -> None:
    bench = _write_jsonl(tmp_path / "b.jsonl", [{"prompt": TEXT}])
    out = tmp_path / "idx"
    out.mkdir()
    monkeypatch.setattr(os, "write", _no_space)
    result = runner.invoke(app, ["contamination", "index", str(bench), "-o", str(out / "i.idx")])
    monkeypatch.undo()
    assert result.exit_code == 2, result.output
    assert "i.idx: cannot write the index: No space left on device" in result.output
    assert os.listdir(out) == []


def test_index_onto_a_directory_leaves_no_temporary_file(tmp_path) -> None:
    target = tmp_path / "taken"
    target.mkdir()
    with pytest.raises(stemmatic.StemmaticError, match=r"taken: cannot write the index"):
        _index().save(target)
    assert sorted(os.listdir(tmp_path)) == ["taken"]


# -- scan ids ------------------------------------------------------------------------------------


def _scan_refused(tmp_path: Path, inputs: list[Path], match: str, **kwargs: Any) -> Path:
    out = tmp_path / "o"
    with pytest.raises(stemmatic.InvalidInputError, match=match):
        scan_corpus(inputs, _index(), out, id_column="id", **kwargs)
    if out.exists():
        assert [p.name for p in out.iterdir() if p.name != ".stemmatic.lock"] == []
    return out


@pytest.mark.parametrize("remove", [False, True])
def test_id_types_differing_across_shards_leave_no_partial_output(tmp_path, remove) -> None:
    first = _write_jsonl(tmp_path / "a.jsonl", [{"id": 1, "text": TEXT}])
    second = _write_jsonl(tmp_path / "b.jsonl", [{"id": "x", "text": "nothing"}, {"id": "y", "text": TEXT}])
    _scan_refused(
        tmp_path,
        [first, second],
        r"b\.jsonl: line 1: id column 'id' holds string ids here but int64 ids in .*a\.jsonl",
        remove=remove,
    )


@pytest.mark.parametrize(
    ("table", "match"),
    [
        (
            pa.table({"id": [1.0, float("nan")], "text": [TEXT, TEXT]}),
            r"c\.parquet: row 1: id column 'id' is NaN",
        ),
        (
            pa.table({"id": [[1], [2]], "text": [TEXT, TEXT]}),
            r"c\.parquet: row 0: id column 'id' has type list",
        ),
        (
            pa.table({"id": [{"a": 1}, {"a": 2}], "text": [TEXT, TEXT]}),
            r"row 0: id column 'id' has type struct",
        ),
        (pa.table({"id": ["a", None], "text": [TEXT, TEXT]}), r"c\.parquet: row 1: id column 'id' is null"),
        (
            pa.table({"id": pa.array([1, 2**63 + 5], pa.uint64()), "text": [TEXT, TEXT]}),
            r"row 1: id column 'id': 9223372036854775813 does not fit int64",
        ),
    ],
    ids=["nan", "list", "struct", "null", "uint64-beyond-int64"],
)
def test_unusable_ids_are_named_by_row(tmp_path, table, match) -> None:
    path = tmp_path / "c.parquet"
    pq.write_table(table, path)
    _scan_refused(tmp_path, [path], match)


def test_ids_of_one_kind_in_different_widths_agree(tmp_path) -> None:
    narrow = tmp_path / "a.parquet"
    pq.write_table(pa.table({"id": pa.array([7], pa.int32()), "text": [TEXT]}), narrow)
    wide = _write_jsonl(tmp_path / "b.jsonl", [{"id": 2**40, "text": TEXT}])
    scan_corpus([narrow, wide], _index(), tmp_path / "o", id_column="id")
    hits = pq.read_table(tmp_path / "o" / "hits.parquet")
    assert hits.schema.field("doc_id").type == pa.int64()
    assert hits["doc_id"].to_pylist() == [7, 2**40]
    items = pq.read_table(tmp_path / "o" / "items.parquet")
    assert items["doc_ids"].to_pylist() == [[7, 2**40]]


def test_interrupted_scan_leaves_nothing_that_looks_complete(tmp_path) -> None:
    shards = [_write_jsonl(tmp_path / f"{k}.jsonl", [{"text": TEXT}] * 3) for k in range(3)]
    calls = []

    def stop(rows: int, size: int) -> None:
        calls.append(rows)
        if len(calls) == 2:
            raise KeyboardInterrupt

    out = tmp_path / "o"
    with pytest.raises(KeyboardInterrupt):
        scan_corpus(shards, _index(), out, remove=True, batch_rows=1, progress=stop)
    assert [p.name for p in out.iterdir() if p.name != ".stemmatic.lock"] == []
    report = scan_corpus(shards, _index(), out, remove=True, overwrite=True)
    assert report["rows"]["kept"] + report["rows"]["removed"] == report["rows"]["in"] == 9
    assert sorted(p.name for p in out.iterdir() if p.name != ".stemmatic.lock") == [
        "clean", "hits.parquet", "items.parquet", "removed", "report.json",
    ]  # fmt: skip


# -- parameters --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"ngram": 2**70}, "`ngram`: .* must be between 1 and 4294967295"),
        ({"min_tokens": 2**64}, "`min_tokens`"),
        ({"max_item_frequency": 2**64}, "`max_item_frequency`"),
        ({"workers": -1}, "`workers`: -1"),
        ({"workers": 10**9}, "`workers`: 1000000000"),
    ],
)
def test_absurd_index_parameters_are_refused(tmp_path, kwargs, match) -> None:
    bench = _write_jsonl(tmp_path / "b.jsonl", [{"p": TEXT}])
    with pytest.raises(stemmatic.ParameterError, match=match):
        build_index([bench], fields=["p"], **kwargs)


def test_empty_benchmark_name_is_refused(tmp_path) -> None:
    bench = _write_jsonl(tmp_path / "b.jsonl", [{"p": TEXT}])
    with pytest.raises(stemmatic.ParameterError, match="must not be empty"):
        build_index({"": bench}, fields=["p"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"min_ngrams": 2**70}, "`min_ngrams`"),
        ({"workers": -3}, "`workers`: -3"),
        ({"batch_rows": 0}, "`batch_rows`: 0"),
        ({"batch_rows": -5}, "`batch_rows`: -5"),
    ],
)
def test_absurd_scan_parameters_are_refused(tmp_path, kwargs, match) -> None:
    corpus = tmp_path / "c.parquet"
    pq.write_table(pa.table({"text": [TEXT]}), corpus)
    with pytest.raises(stemmatic.ParameterError, match=match):
        scan_corpus([corpus], _index(), tmp_path / "o", **kwargs)
    if "batch_rows" not in kwargs:
        with pytest.raises(stemmatic.ParameterError, match=match):
            _index().scan([TEXT], **kwargs)
