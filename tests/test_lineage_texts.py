"""Lineage commands that read documents (redundancy, sample) read them through stemmatic.io.

Every format and place a corpus command reads (Parquet, JSON(L), CSV, Arrow, compressed, URLs,
in-memory tables) gives the same documents as a plain JSONL file, and bad records are named by
file and line.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from stemmatic.cli import app
from stemmatic.exceptions import InvalidInputError
from stemmatic.lineage import LineageGraph, redundancy_report, root_sample
from stemmatic.lineage.export import write_node_link
from stemmatic.lineage.texts import read_texts, texts_of

DOCS = [f"document number {i} about rivers lakes and the hills beyond them" for i in range(12)]
OTHER = [f"unrelated words {i} on trains planes ships and harbours" for i in range(12)]


def _graph(tmp_path: Path) -> Path:
    graph = LineageGraph()
    graph.add_edge("org/root", "org/mix", "merge")
    graph.add_node("org/other")
    return write_node_link(graph, tmp_path / "g.json")


def _jsonl(path: Path, docs: list[str], column: str = "text") -> Path:
    path.write_text("".join(json.dumps({column: d, "n": i}) + "\n" for i, d in enumerate(docs)))
    return path


def test_every_format_reads_the_same_documents(tmp_path: Path) -> None:
    table = pa.table({"content": DOCS, "n": list(range(len(DOCS)))})
    pq.write_table(table, tmp_path / "d.parquet")
    pacsv.write_csv(table, tmp_path / "d.csv")
    with gzip.open(tmp_path / "d.jsonl.gz", "wt") as out:
        out.writelines(json.dumps({"content": d}) + "\n" for d in DOCS)
    (tmp_path / "d.json").write_text(json.dumps([{"content": d} for d in DOCS]))
    (tmp_path / "d.txt").write_text("\n".join(DOCS) + "\n\n")
    for name in ("d.parquet", "d.csv", "d.jsonl.gz", "d.json"):
        assert read_texts(tmp_path / name, "content") == DOCS, name
    assert read_texts(tmp_path / "d.txt") == DOCS
    assert read_texts(table, "content") == DOCS
    assert read_texts(table.to_pandas(), "content") == DOCS
    # A folder of shards, in path order, with its metadata skipped.
    shards = tmp_path / "shards"
    shards.mkdir()
    pq.write_table(table.slice(0, 5), shards / "part-0.parquet")
    pq.write_table(table.slice(5), shards / "part-1.parquet")
    (shards / "_SUCCESS").write_text("")
    assert read_texts(shards, "content") == DOCS
    assert read_texts([str(shards / "part-0.parquet"), str(shards / "part-1.parquet")], "content") == DOCS
    assert texts_of(DOCS) is DOCS


def test_bad_records_name_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n\n{"text": null}\n')
    with pytest.raises(InvalidInputError, match=r"bad\.jsonl:3: no string field 'text'"):
        read_texts(bad)
    with pytest.raises(InvalidInputError, match=r"bad\.jsonl: column 'body' not found"):
        read_texts(bad, "body")
    pq.write_table(pa.table({"text": [1, 2]}), tmp_path / "ints.parquet")
    with pytest.raises(InvalidInputError, match=r"ints\.parquet: column 'text' holds int64, not text"):
        read_texts(tmp_path / "ints.parquet")
    (tmp_path / "bytes.txt").write_bytes(b"ok\n\xff\n")
    with pytest.raises(InvalidInputError, match=r"bytes\.txt:2: byte 3 is not UTF-8"):
        read_texts(tmp_path / "bytes.txt")
    with pytest.raises(InvalidInputError, match="cannot be mixed"):
        read_texts([tmp_path / "bytes.txt", bad])


def test_redundancy_report_takes_tables_and_paths(tmp_path: Path) -> None:
    graph = LineageGraph()
    graph.add_edge("org/root", "org/mix", "merge")
    pq.write_table(pa.table({"body": DOCS}), tmp_path / "root.parquet")
    report = redundancy_report(
        graph,
        ["org/root", "org/mix"],
        contents={"org/root": tmp_path / "root.parquet", "org/mix": pa.table({"body": DOCS[:6] + OTHER[:6]})},
        text_column="body",
    )
    assert report.empirical is not None
    assert report.empirical[0, 1] == pytest.approx(0.5)  # half of each is in the other
    listed = redundancy_report(
        graph, ["org/root", "org/mix"], contents={"org/root": DOCS, "org/mix": DOCS[:6] + OTHER[:6]}
    )
    assert listed.to_dict() == report.to_dict()


def test_root_sample_reads_only_the_roots_it_samples(tmp_path: Path) -> None:
    graph = LineageGraph()
    graph.add_edge("org/root", "org/mix", "merge")
    graph.add_node("org/gone", licenses=["cc-by-nc-4.0"])
    result = root_sample(
        graph,
        {"org/root": pa.table({"text": DOCS}), "org/gone": tmp_path / "missing.parquet"},
        5,
        use="commercial",
        baseline=pa.table({"text": OTHER}),
    )
    assert len(result.texts) == 5 and result.baseline_vendi is not None
    assert "licence forbids" in result.excluded["org/gone"]


def test_cli_redundancy_reads_parquet_csv_and_memory_urls(tmp_path: Path) -> None:
    fsspec = pytest.importorskip("fsspec")
    memory = fsspec.filesystem("memory")
    memory.pipe(
        "/stemmatic-lineage/mix/a.jsonl", "".join(json.dumps({"body": d}) + "\n" for d in DOCS).encode()
    )
    memory.pipe("/stemmatic-lineage/mix/state.json", b"{}")
    pq.write_table(pa.table({"body": DOCS[:6]}), tmp_path / "root-0.parquet")
    pacsv.write_csv(pa.table({"body": DOCS[6:]}), tmp_path / "root-1.csv")
    graph_file = _graph(tmp_path)
    result = CliRunner().invoke(
        app,
        [
            "lineage",
            "redundancy",
            str(graph_file),
            "org/root",
            "org/mix",
            "--texts",
            f"org/root={tmp_path / 'root-0.parquet'}",
            "--texts",
            f"org/root={tmp_path / 'root-1.csv'}",
            "--texts",
            "org/mix=memory://stemmatic-lineage/mix",
            "--text-column",
            "body",
            "--json",
            str(tmp_path / "r.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["empirical_containment"] == [[1.0, 1.0], [1.0, 1.0]]


def test_cli_sample_reads_tables_and_writes_with_short_output_option(tmp_path: Path) -> None:
    pq.write_table(pa.table({"text": DOCS}), tmp_path / "root.parquet")
    _jsonl(tmp_path / "base.jsonl", OTHER)
    graph_file = _graph(tmp_path)
    out = tmp_path / "sample.jsonl"
    result = CliRunner().invoke(
        app,
        [
            "lineage",
            "sample",
            str(graph_file),
            "--budget",
            "4",
            "-o",
            str(out),
            "--target",
            "org/mix",
            "--texts",
            f"org/root={tmp_path / 'root.parquet'}",
            "--baseline",
            str(tmp_path / "base.jsonl"),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 4 and {r["text"] for r in rows} <= set(DOCS)
    summary = json.loads(out.with_suffix(".attribution.json").read_text())
    assert summary["baseline_vendi"] is not None
