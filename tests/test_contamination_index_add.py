"""``contamination index add`` / :meth:`ContaminationIndex.add_benchmarks` (issue 20), and the
option names the contamination commands share with dedup (issue 15)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import stemmatic
from stemmatic.cli import app
from stemmatic.contamination import ContaminationIndex, build_index, scan_corpus
from stemmatic.contamination._index import _TEXTS_SEPARATOR, _split_metadata

A = [
    {
        "id": f"a{i}",
        "prompt": f"alpha beta gamma delta {i} epsilon zeta eta theta",
        "solution": "return x + y",
    }
    for i in range(6)
]
B = [
    {"id": f"b{i}", "prompt": f"one two three four {i} five six seven eight nine", "solution": None}
    for i in range(4)
]
C = [
    {
        "id": "c0",
        "prompt": "the rain in spain stays mainly in the plain",
        "solution": "alpha beta gamma delta",
    }
]
PARAMS = {
    "fields": ["prompt", "solution"],
    "id_field": "id",
    "ngram": 4,
    "max_item_frequency": 3,
    "allowlist": ["five six seven eight"],
}


@pytest.fixture
def benches(tmp_path: Path) -> dict[str, Path]:
    paths = {}
    for name, rows in (("a", A), ("b", B), ("c", C)):
        paths[name] = tmp_path / f"{name}.parquet"
        pq.write_table(pa.Table.from_pylist(rows), paths[name])
    return paths


def test_adding_equals_building_everything_at_once(benches: dict[str, Path]) -> None:
    whole = build_index([benches["a"], benches["b"], benches["c"]], **PARAMS)  # type: ignore[arg-type]
    first = build_index([benches["a"]], **PARAMS)  # type: ignore[arg-type]
    added = first.add_benchmarks([benches["b"]]).add_benchmarks({"c": benches["c"]})
    # The frequency cap counts items across old and new benchmarks: "alpha beta gamma delta" is in
    # 7 items only once c is added, and the allowlist keeps applying to the new benchmarks.
    assert whole.stats["excluded_by_frequency"] > first.stats["excluded_by_frequency"]
    assert whole.stats["excluded_by_allowlist"] == 1
    assert added._core.to_bytes() == whole._core.to_bytes()
    assert added.build_info == whole.build_info
    assert first.benchmarks == ["a"]  # the old index is not changed


def test_cli_add_in_place_and_to_another_file(benches: dict[str, Path], tmp_path: Path) -> None:
    index = tmp_path / "bench.idx"
    runner = CliRunner()
    built = runner.invoke(
        app,
        ["contamination", "index", str(benches["a"]), "-o", str(index), "--text-column", "prompt",
         "--id-column", "id", "--ngram", "4"],
    )  # fmt: skip
    assert built.exit_code == 0, built.output
    before = index.read_bytes()
    copy = tmp_path / "copy.idx"
    other = runner.invoke(
        app, ["contamination", "index", "add", str(index), str(benches["b"]), "--name", "bb", "-o", str(copy)]
    )
    assert other.exit_code == 0, other.output
    assert index.read_bytes() == before
    assert ContaminationIndex.load(copy).benchmarks == ["a", "bb"]
    in_place = runner.invoke(app, ["contamination", "index", "add", str(index), str(benches["b"]), "-q"])
    assert in_place.exit_code == 0 and in_place.output == ""
    extended = ContaminationIndex.load(index)
    assert extended.benchmarks == ["a", "b"]
    assert extended.build_info["parameters"]["id_field"] == "id"
    hits = extended.scan(["so: one two three four 2 five six seven eight nine, said b"], min_coverage=0.9)
    assert hits.select(["benchmark", "item_id"]).to_pylist() == [{"benchmark": "b", "item_id": "b2"}]
    info = runner.invoke(app, ["contamination", "index", "info", str(index), "--json"])
    assert info.exit_code == 0, info.output
    described = json.loads(info.output)
    assert [b["name"] for b in described["benchmarks"]] == ["a", "b"]
    assert described["stats"]["entries"] == len(A) + len(B)


def _refused(index: Path, *extra: str) -> str:
    folder = sorted(p.name for p in index.parent.iterdir())
    before = index.read_bytes()
    result = CliRunner().invoke(app, ["contamination", "index", "add", str(index), *extra])
    assert result.exit_code == 2, result.output
    assert index.read_bytes() == before
    assert sorted(p.name for p in index.parent.iterdir()) == folder  # nothing written
    return result.output


def test_damaged_and_foreign_indexes_are_refused_writing_nothing(
    benches: dict[str, Path], tmp_path: Path
) -> None:
    good = build_index([benches["a"]], **PARAMS).save(tmp_path / "good.idx")  # type: ignore[arg-type]
    data = good.read_bytes()
    truncated = tmp_path / "truncated.idx"
    truncated.write_bytes(data[: len(data) // 2])
    assert "truncated.idx" in _refused(truncated, str(benches["b"]))
    version = tmp_path / "version.idx"
    version.write_bytes(data[:8] + struct.pack("<I", 99) + data[12:])
    assert "version" in _refused(version, str(benches["b"])).lower()
    assert "already has a benchmark named 'a'" in _refused(good, str(benches["a"]))
    assert "--name once per benchmark" in _refused(good, str(benches["b"]), "--name", "x", "--name", "y")


def test_indexes_that_cannot_be_rebuilt_are_refused(benches: dict[str, Path], tmp_path: Path) -> None:
    index = build_index([benches["a"]], **PARAMS)  # type: ignore[arg-type]
    log, texts = _split_metadata(index._core.metadata)
    assert texts is not None
    without_texts = ContaminationIndex(index._core.with_metadata(log)).save(tmp_path / "old.idx")
    assert "does not store its entries' texts" in _refused(without_texts, str(benches["b"]))
    info = json.loads(log)
    info["stemmatic_version"] = "99.0.0"
    newer = ContaminationIndex(index._core.with_metadata(json.dumps(info) + _TEXTS_SEPARATOR + texts))
    with pytest.raises(stemmatic.ParameterError, match=r"written by stemmatic 99\.0\.0, newer"):
        newer.add_benchmarks([benches["b"]])
    del info["parameters"]["allowlist"]
    info["stemmatic_version"] = stemmatic.__version__
    forgot = ContaminationIndex(index._core.with_metadata(json.dumps(info) + _TEXTS_SEPARATOR + texts))
    with pytest.raises(stemmatic.ParameterError, match="allowlist that it does not store"):
        forgot.add_benchmarks([benches["b"]])


# -- option names shared with dedup (issue 15) --------------------------------------------------


def test_old_option_names_still_work_but_are_hidden(benches: dict[str, Path], tmp_path: Path) -> None:
    runner = CliRunner()
    old = runner.invoke(
        app,
        ["contamination", "index", str(benches["a"]), "-o", str(tmp_path / "old.idx"), "--fields", "prompt",
         "--id-field", "id", "--ngram", "4"],
    )  # fmt: skip
    new = runner.invoke(
        app,
        ["contamination", "index", "build", str(benches["a"]), "-o", str(tmp_path / "new.idx"),
         "--text-column", "prompt", "--id-column", "id", "--ngram", "4"],
    )  # fmt: skip
    assert old.exit_code == 0 and new.exit_code == 0, old.output + new.output
    assert (tmp_path / "old.idx").read_bytes() == (tmp_path / "new.idx").read_bytes()
    help_text = runner.invoke(app, ["contamination", "index", "build", "--help"]).output
    assert "--id-column" in help_text and "--text-column" in help_text
    assert "--id-field" not in help_text and "--fields" not in help_text


def test_scan_reads_a_url_and_is_quiet(benches: dict[str, Path], tmp_path: Path) -> None:
    import fsspec

    index = build_index([benches["a"]], **PARAMS).save(tmp_path / "a.idx")  # type: ignore[arg-type]
    docs = [
        {"id": 7, "text": "intro alpha beta gamma delta 3 epsilon zeta eta theta outro"},
        {"id": 8, "text": "x"},
    ]
    memory = fsspec.filesystem("memory")
    memory.pipe("/stemmatic-cont-test/docs.jsonl", "".join(json.dumps(d) + "\n" for d in docs).encode())
    try:
        result = CliRunner().invoke(
            app,
            ["contamination", "scan", "memory://stemmatic-cont-test", "--index", str(index), "-o",
             str(tmp_path / "out"), "--id-column", "id", "--text-column", "text", "-q"],
        )  # fmt: skip
    finally:
        memory.rm("/stemmatic-cont-test", recursive=True)
    assert result.exit_code == 0, result.output
    hits = pq.read_table(tmp_path / "out" / "hits.parquet")
    assert hits.select(["doc_id", "item_id"]).to_pylist() == [{"doc_id": 7, "item_id": "a3"}]
    local = tmp_path / "docs.jsonl"
    local.write_text("".join(json.dumps(d) + "\n" for d in docs))
    scan_corpus([str(local)], index, tmp_path / "local", id_column="id")
    assert pq.read_table(tmp_path / "local" / "hits.parquet").equals(hits)


def test_index_on_a_url(benches: dict[str, Path], tmp_path: Path) -> None:
    """Build to, add to, describe and scan with an index on a file system of the I/O layer (memory://)."""
    import fsspec

    memory = fsspec.filesystem("memory")
    memory.pipe("/cont-url-test/bench/b.jsonl", "".join(json.dumps(r) + "\n" for r in B).encode())
    url = "memory://cont-url-test/indexes/bench.idx"
    runner = CliRunner()
    try:
        built = runner.invoke(
            app,
            ["contamination", "index", str(benches["a"]), "-o", url, "--text-column", "prompt,solution",
             "--id-column", "id", "--ngram", "4"],
        )  # fmt: skip
        assert built.exit_code == 0, built.output
        again = runner.invoke(app, ["contamination", "index", str(benches["a"]), "-o", url])
        assert again.exit_code == 2 and "file exists; pass --overwrite" in again.output
        added = runner.invoke(
            app, ["contamination", "index", "add", url, "memory://cont-url-test/bench/b.jsonl"]
        )
        assert added.exit_code == 0, added.output
        assert sorted(memory.ls("/cont-url-test/indexes", detail=False)) == [
            "/cont-url-test/indexes/bench.idx",
            "/cont-url-test/indexes/bench.idx.report.json",  # the report of the last run, beside it
        ]
        report = json.loads(memory.cat("/cont-url-test/indexes/bench.idx.report.json"))
        assert report["command"] == "contamination index add" and report["rows"]["in"] == len(B)
        remote = ContaminationIndex.load(url)
        local = build_index(
            [benches["a"], benches["b"]], fields=["prompt", "solution"], id_field="id", ngram=4
        )
        assert remote.benchmarks == ["a", "b"] and remote.entries().equals(local.entries())
        assert (remote._core.fingerprints() == local._core.fingerprints()).all()
        (source,) = remote.build_info["benchmarks"][1]["sources"]
        assert source.startswith("memory://") and source.endswith("cont-url-test/bench/b.jsonl")
        info = runner.invoke(app, ["contamination", "index", "info", url])
        assert info.exit_code == 0 and "a: 6 rows" in info.output and "b: 4 rows" in info.output
        corpus = tmp_path / "c.jsonl"
        corpus.write_text(json.dumps({"text": "one two three four 1 five six seven eight nine"}) + "\n")
        scanned = runner.invoke(
            app, ["contamination", "scan", str(corpus), "--index", url, "-o", str(tmp_path / "o")]
        )
        assert scanned.exit_code == 0, scanned.output
        assert "b1" in pq.read_table(tmp_path / "o" / "hits.parquet").column("item_id").to_pylist()
        missing = runner.invoke(app, ["contamination", "index", "info", "memory://cont-url-test/nope.idx"])
        assert (
            missing.exit_code == 2 and "memory://cont-url-test/nope.idx: no such index file" in missing.output
        )
    finally:
        memory.rm("/cont-url-test", recursive=True)


def test_added_benchmarks_have_clean_parts_and_bad_ones_write_nothing(
    benches: dict[str, Path], tmp_path: Path
) -> None:
    index = build_index([benches["a"]], **PARAMS)  # type: ignore[arg-type]
    extended = index.add_benchmarks([benches["b"]])
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"text": "one two three four 2 five six seven eight nine"}) + "\n")
    report = scan_corpus([corpus], extended, tmp_path / "o", clean_benchmarks=True, min_specific_tokens=1)
    clean = {name: bench["clean_benchmark"] for name, bench in report["benchmarks"].items()}
    assert (clean["a"]["rows"], clean["a"]["clean"]) == (len(A), len(A))
    assert (clean["b"]["rows"], clean["b"]["contaminated"]) == (len(B), 1)
    assert pq.read_table(tmp_path / "o" / "clean_benchmarks" / "b" / "b.parquet").column("id").to_pylist() == [
        "b0", "b1", "b3",
    ]  # fmt: skip
    saved = index.save(tmp_path / "a.idx")
    wrong = tmp_path / "wrong.parquet"
    pq.write_table(pa.table({"question": ["no indexed field here"]}), wrong)
    assert "id field 'id' not found" in _refused(Path(saved), str(wrong))  # the index's id field applies
    pq.write_table(pa.table({"id": ["w0"], "question": ["no indexed field here"]}), wrong)
    assert "none of the fields 'prompt', 'solution' found" in _refused(Path(saved), str(wrong))
