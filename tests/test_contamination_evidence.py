"""Contamination beyond exact n-grams: clean benchmarks, specificity, short statements, token coverage, semantic."""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from stemmatic.cli import app
from stemmatic.contamination import build_index, scan_corpus, write_clean_benchmarks

runner = CliRunner()

PROBLEM = "Write a function that returns the largest prime factor of a positive integer n greater than one."
OTHER = "Return the list of words of a sentence sorted by their length and then alphabetically please."
THIRD = "Count the vowels in a string, treating y as a vowel only when it ends the given word."
FILLER = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor. " * 4


def write_jsonl(path, rows, raw_lines=()) -> None:
    text = "".join(json.dumps(r) + "\n" for r in rows) + "".join(raw_lines)
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8")


@pytest.fixture
def two_benchmarks(tmp_path):
    """A gzipped JSONL benchmark with ids (one line spaced oddly) and a Parquet one without; a corpus."""
    bench_a = tmp_path / "bench" / "qa.jsonl.gz"
    bench_a.parent.mkdir()
    write_jsonl(bench_a, [{"id": "q0", "prompt": PROBLEM}, {"id": "q1", "prompt": OTHER}])
    # A third item written with unusual spacing: the clean copy must keep the line as it was.
    with gzip.open(bench_a, "ab") as fh:
        fh.write(b'{ "id" : "q2",   "prompt" : "' + THIRD.encode() + b'", "extra": [1, 2] }\n')
    bench_b = tmp_path / "bench" / "code.parquet"
    pq.write_table(
        pa.table({"prompt": [OTHER + " Twice.", "Something entirely unrelated to any document here."]}),
        bench_b,
    )
    corpus = tmp_path / "corpus.jsonl"
    write_jsonl(corpus, [{"text": FILLER + PROBLEM}, {"text": FILLER}, {"text": OTHER + " Twice. " + FILLER}])
    return bench_a, bench_b, corpus


def test_clean_benchmarks_hold_the_items_not_found_in_their_own_format(tmp_path, two_benchmarks) -> None:
    bench_a, bench_b, corpus = two_benchmarks
    index = tmp_path / "b.idx"
    built = runner.invoke(
        app,
        ["contamination", "index", str(bench_a), str(bench_b), "-o", str(index), "--fields", "prompt",
         "--id-field", "id", "--name", "qa", "--name", "code", "--ngram", "8"],
    )  # fmt: skip
    assert built.exit_code == 2 and "id field 'id' not found" in built.output  # code.parquet has no id
    build_index({"qa": bench_a}, fields=["prompt"], id_field="id", ngram=8).save(index)
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        ["contamination", "scan", str(corpus), "--index", str(index), "-o", str(out), "--clean-benchmarks"],
    )
    assert result.exit_code == 0, result.output
    assert "clean benchmark qa: 1 of 3 items not found" in result.output
    clean = out / "clean_benchmarks" / "qa" / "qa.jsonl.gz"
    lines = gzip.decompress(clean.read_bytes()).decode().splitlines()
    original = gzip.decompress(bench_a.read_bytes()).decode().splitlines()
    # q0 and q1 are in the corpus; q2's line is copied byte for byte.
    assert lines == [original[2]]
    report = json.loads((out / "report.json").read_text())
    assert report["benchmarks"]["qa"]["clean_benchmark"] == {
        "rows": 3, "clean": 1, "contaminated": 2, "files": ["clean_benchmarks/qa/qa.jsonl.gz"],
    }  # fmt: skip
    assert report["outputs"]["clean_benchmarks"] == "clean_benchmarks/"


def test_clean_benchmark_of_parquet_without_ids_keeps_schema_and_rows(tmp_path, two_benchmarks) -> None:
    _, bench_b, corpus = two_benchmarks
    index = build_index({"code": bench_b}, fields=["prompt"], ngram=8)
    report = scan_corpus([corpus], index, tmp_path / "out", clean_benchmarks=True)
    table = pq.read_table(tmp_path / "out" / "clean_benchmarks" / "code" / "code.parquet")
    assert table.schema == pq.read_schema(bench_b)
    assert table["prompt"].to_pylist() == ["Something entirely unrelated to any document here."]
    counts = report["benchmarks"]["code"]["clean_benchmark"]
    assert counts["clean"] + counts["contaminated"] == counts["rows"] == 2


def test_clean_benchmark_refuses_a_changed_or_moved_source(tmp_path, two_benchmarks) -> None:
    _, bench_b, corpus = two_benchmarks
    index = tmp_path / "b.idx"
    build_index({"code": bench_b}, fields=["prompt"], ngram=8).save(index)
    moved = tmp_path / "moved.parquet"
    bench_b.rename(moved)
    out = tmp_path / "out"
    args = ["contamination", "scan", str(corpus), "--index", str(index), "-o", str(out), "--clean-benchmarks"]
    result = runner.invoke(app, args)
    assert (
        result.exit_code == 2 and "code.parquet: benchmark 'code' was indexed from this file" in result.output
    )
    assert not out.exists() or not any(p.name != ".stemmatic.lock" for p in out.iterdir())
    result = runner.invoke(app, [*args, "--benchmark-source", f"code={moved}"])
    assert result.exit_code == 0, result.output
    assert (out / "clean_benchmarks" / "code" / "moved.parquet").is_file()
    pq.write_table(pa.table({"prompt": ["one more row"] * 3}), moved)
    result = runner.invoke(app, [*args, "--benchmark-source", f"code={moved}", "--overwrite"])
    assert result.exit_code == 2 and "has 3 rows now but had 2 when indexed" in result.output
    for bad in ("code", "=x", "nope=x"):
        result = runner.invoke(app, [*args, "--overwrite", "--benchmark-source", bad])
        assert result.exit_code == 2 and "error:" in result.output


def test_write_clean_benchmarks_needs_sources_for_an_index_from_records(tmp_path) -> None:
    from stemmatic.contamination import ContaminationIndex
    from stemmatic.exceptions import ParameterError

    index = ContaminationIndex.from_records([{"q": PROBLEM}, {"q": OTHER}], fields=["q"], benchmark="toy")
    with pytest.raises(ParameterError, match="built from records"):
        write_clean_benchmarks(index, {}, tmp_path / "o")
    path = tmp_path / "toy.jsonl"
    write_jsonl(path, [{"q": PROBLEM}, {"q": OTHER}])
    summary = write_clean_benchmarks(index, {"toy": ["0"]}, tmp_path / "o", sources={"toy": path})
    assert summary["toy"]["clean"] == 1
    assert (tmp_path / "o" / "toy" / "toy.jsonl").read_text() == json.dumps({"q": OTHER}) + "\n"


# -- specificity -------------------------------------------------------------------------------

LICENSE = "Licensed under the Apache License Version 2 0 you may not use this file except in compliance"
LONG_SOLUTION = (
    "    total = 0\n    for value in sorted(values, reverse=True):\n        if value % 3 == 0:\n"
    "            total += value * value\n    return total - len(values) if total else -1\n"
)


@pytest.fixture
def weak_case(tmp_path):
    """A short answer found everywhere, a boilerplate sentence shared by many files, and one real copy."""
    bench = tmp_path / "bench.jsonl"
    write_jsonl(
        bench,
        [
            {"id": "add", "prompt": PROBLEM, "solution": "return x + y"},
            {"id": "sq", "prompt": LICENSE + " " + OTHER + " " + THIRD, "solution": LONG_SOLUTION},
        ],
    )
    docs = [{"text": f"def f{k}(x, y):\n    return x + y\n# {LICENSE}\n" + FILLER} for k in range(14)]
    docs.append({"text": FILLER + PROBLEM})  # the real copy of item add's prompt
    docs.append({"text": LICENSE + " " + OTHER + " " + THIRD})  # most of item sq's prompt: a copy
    corpus = tmp_path / "corpus.jsonl"
    write_jsonl(corpus, docs)
    index = build_index([bench], fields=["prompt", "solution"], id_field="id")
    return index, corpus


def test_short_and_common_hits_are_reported_apart_and_not_counted(tmp_path, weak_case) -> None:
    index, corpus = weak_case
    report = scan_corpus([corpus], index, tmp_path / "out", remove=True)
    hits = pq.read_table(tmp_path / "out" / "hits.parquet").to_pylist()
    by_key = {}
    for hit in hits:
        by_key.setdefault((hit["item_id"], hit["field"], hit["evidence"]), []).append(hit)
    # return x + y: 4 tokens, in 14 documents: short, whatever the count.
    short = by_key[("add", "solution", "short")]
    assert (
        len(short) == 14
        and {h["item_tokens"] for h in short} == {3}
        and {h["entry_docs"] for h in short} == {14}
    )
    # The licence sentence: one 13-gram run of sq's prompt in 15 documents, under half its n-grams: common.
    common = by_key[("sq", "prompt", "common")]
    assert len(common) == 14 and all(h["coverage"] < 0.5 and h["entry_docs"] == 15 for h in common)
    # The same entry copied in full in one document stays strong.
    (copy,) = by_key[("sq", "prompt", "strong")]
    assert copy["doc_id"] == 15 and copy["coverage"] == 1.0
    assert [h["doc_id"] for h in by_key[("add", "prompt", "strong")]] == [14]
    bench = report["benchmarks"]["bench"]
    assert bench["items_contaminated"] == 2 and bench["items_weak_only"] == 0
    assert bench["hits_by_evidence"] == {"strong": 2, "short": 14, "common": 14}
    assert bench["docs_contaminated"] == 2 and bench["hits"] == 2
    assert report["rows"]["contaminated"] == 2 and report["rows"]["with_weak_hits_only"] == 14
    items = {
        (i["item_id"], i["field"]): i for i in pq.read_table(tmp_path / "out" / "items.parquet").to_pylist()
    }
    assert (
        items[("add", "solution")]["evidence"] == "short" and items[("add", "solution")]["counted_docs"] == 0
    )
    assert items[("sq", "prompt")]["evidence"] == "strong" and items[("sq", "prompt")]["counted_docs"] == 1
    assert items[("sq", "solution")]["evidence"] == "none"
    # --remove leaves documents whose only hits are on short entries in clean/.
    # Whether an entry is common is known only at the end: documents whose hits are all common are
    # removed, and counted apart.
    assert report["rows"]["removed"] == 16 and report["rows"]["removed_with_common_hits_only"] == 14
    removed = pq.read_table(tmp_path / "out" / "removed" / "corpus.parquet")
    assert report["rows"]["clean"] + report["rows"]["removed"] == 16
    assert removed.num_rows == report["rows"]["removed"]


def test_count_weak_counts_every_hit(tmp_path, weak_case) -> None:
    index, corpus = weak_case
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        ["contamination", "scan", str(corpus), "--index", "i.idx", "-o", str(out)],
        catch_exceptions=False,
    )
    assert result.exit_code == 2  # no such index
    index.save(tmp_path / "i.idx")
    args = ["contamination", "scan", str(corpus), "--index", str(tmp_path / "i.idx")]
    result = runner.invoke(app, [*args, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "not counted: 14 hits on short entries (< 10 tokens) and 14 on common ones" in result.output
    result = runner.invoke(app, [*args, "-o", str(tmp_path / "all"), "--count-weak"])
    assert result.exit_code == 0 and "not counted" not in result.output
    report = json.loads((tmp_path / "all" / "report.json").read_text())
    assert report["rows"]["contaminated"] == 16 and report["benchmarks"]["bench"]["hits"] == 30
    # No entry is common with --max-entry-docs 0; a higher bar for short entries with --min-specific-tokens.
    result = runner.invoke(
        app, [*args, "-o", str(tmp_path / "o3"), "--max-entry-docs", "0", "--min-specific-tokens", "3"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "o3" / "report.json").read_text())
    assert report["benchmarks"]["bench"]["hits_by_evidence"] == {"strong": 30, "short": 0, "common": 0}
    for bad in (["--min-specific-tokens", "0"], ["--max-entry-docs", "-2"]):
        result = runner.invoke(app, [*args, "-o", str(tmp_path / "bad"), *bad])
        assert result.exit_code == 2 and "error: invalid parameter" in result.output
