"""Contamination beyond exact n-grams: clean benchmarks, specificity, short statements, token coverage, semantic."""

from __future__ import annotations

import gzip
import json
import re

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
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
    assert (
        report["rows"]["detail"]["contaminated"] == 2
        and report["rows"]["detail"]["with_weak_hits_only"] == 14
    )
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
    assert report["rows"]["removed"] == 16 and report["rows"]["detail"]["removed_with_common_hits_only"] == 14
    removed = pq.read_table(tmp_path / "out" / "removed" / "corpus.parquet")
    assert report["rows"]["kept"] + report["rows"]["removed"] == 16
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
    assert report["rows"]["detail"]["contaminated"] == 16 and report["benchmarks"]["bench"]["hits"] == 30
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


# -- short statements, token coverage, semantic ------------------------------------------------

STATEMENT = "Return the median of the numbers in the list."
PROMPT = f'def median(values: list[float]) -> float:\n    """{STATEMENT}\n\n    >>> median([3, 1, 2])\n    2\n    """\n'


@pytest.fixture
def statement_case(tmp_path):
    bench = tmp_path / "bench.jsonl"
    write_jsonl(bench, [{"id": "m", "prompt": PROMPT, "solution": LONG_SOLUTION}])
    index = build_index([bench], fields=["prompt", "solution"], id_field="id")
    corpus = tmp_path / "corpus.jsonl"
    write_jsonl(
        corpus,
        [
            {"text": FILLER + "\n" + STATEMENT + "\n" + FILLER},  # the statement alone, 9 tokens
            {"text": FILLER + " Return the median of the list. " + FILLER},  # one short 8-gram away
            {"text": FILLER},
        ],
    )
    return index, corpus


def test_short_statements_are_found_by_the_short_pass(tmp_path, statement_case) -> None:
    index, corpus = statement_case
    plain = scan_corpus([corpus], index, tmp_path / "plain")
    assert plain["hits"] == 0  # no 13-token run of the prompt is in any document
    report = scan_corpus([corpus], index, tmp_path / "short", short_ngram=6, short_fields=["prompt"])
    hits = pq.read_table(tmp_path / "short" / "hits.parquet").to_pylist()
    assert [(h["doc_id"], h["item_id"], h["field"], h["match"], h["evidence"]) for h in hits] == [
        (0, "m", "prompt", "short", "strong")
    ]
    (hit,) = hits
    # matched and item n-grams are those of the short pass: the statement's 6-grams.
    assert hit["matched_ngrams"] == 4 and hit["item_ngrams"] == len(re.findall(r"\w+", PROMPT)) - 5
    text = json.loads((corpus).read_text().splitlines()[0])["text"]
    assert text[hit["spans"][0]["start"] : hit["spans"][0]["end"]] == STATEMENT.rstrip(".")
    bench = report["benchmarks"]["bench"]
    assert bench["hits_by_match"] == {"ngram": 0, "short": 1} and bench["items_contaminated"] == 1
    # Document 1 shares 'return the median of the' (5 tokens, no 6-gram) and is not found.
    assert report["parameters"]["short_min_ngrams"] == 3


def test_short_pass_refuses_bad_parameters_and_old_indexes(tmp_path, statement_case) -> None:
    from stemmatic.contamination import ContaminationIndex
    from stemmatic.exceptions import ParameterError

    index, corpus = statement_case
    for options, message in (
        ({"short_ngram": 13}, "between 1 and the index's n-gram size minus one"),
        ({"short_ngram": 6, "short_fields": ["nope"]}, "'nope' is not an indexed field"),
        ({"short_ngram": 6, "short_min_ngrams": 0}, "short_min_ngrams"),
    ):
        with pytest.raises(ParameterError, match=message):
            scan_corpus([corpus], index, tmp_path / "x", short_ngram=options.pop("short_ngram"), **options)
    # An index saved without its texts (as before they were stored) names the way out.
    core = index._core
    log = core.metadata.split("\x1e")[0]
    old = ContaminationIndex(core.with_metadata(log))
    assert not old.has_texts and index.has_texts
    with pytest.raises(ParameterError, match=r"does not store its entries' texts.*rebuild"):
        scan_corpus([corpus], old, tmp_path / "y", short_ngram=6)
    damaged = ContaminationIndex(core.with_metadata(log + "\x1e[1, 2"))
    with pytest.raises(stemmatic_errors().InvalidInputError, match="stored entry texts are damaged"):
        damaged.entry_texts()
    result = runner.invoke(
        app, ["contamination", "scan", str(corpus), "--index", "nope.idx", "-o", str(tmp_path / "z"),
              "--semantic", "--engine", "ray"],
    )  # fmt: skip
    assert result.exit_code == 2 and "--semantic runs on the local engine only" in result.output


def stemmatic_errors():
    import stemmatic.exceptions

    return stemmatic.exceptions


def _compare(entry: list[str], doc: list[str], **kwargs) -> tuple[int, list[tuple[int, int]]]:
    """The engine's longest run and Llama 2 spans of one entry in one document (words joined by spaces)."""
    from stemmatic.contamination._evidence import TokenOverlap

    overlap = TokenOverlap.for_texts([" ".join(entry)], "words", **kwargs)
    found = overlap.compare(pa.array([" ".join(doc)]), np.array([0]), np.array([0]))
    spans = list(zip(found.span_starts.tolist(), found.span_ends.tolist(), strict=True))
    return int(found.longest[0]), spans


def test_token_coverage_and_longest_span_follow_llama2(tmp_path) -> None:
    words = [f"w{k}" for k in range(40)]
    entry = " ".join(words)
    # Document 0: tokens 0-19 with tokens 12 and 15 changed (two skips inside a span), then other text.
    doc0 = words[:20]
    doc0[12], doc0[15] = "x", "y"
    # Document 1: tokens 30-39 exactly (ten tokens: the shortest span that counts).
    doc1 = ["z"] * 5 + words[30:40]
    # Document 2: tokens 22-30 (nine tokens: too short to count).
    doc2 = words[22:31]
    bench = tmp_path / "b.jsonl"
    write_jsonl(bench, [{"p": entry}])
    index = build_index([bench], fields=["p"], ngram=8)
    corpus = tmp_path / "c.jsonl"
    write_jsonl(corpus, [{"text": " ".join(d)} for d in (doc0, doc1, doc2)])
    scan_corpus([corpus], index, tmp_path / "o", token_overlap=True)
    hits = {h["doc_id"]: h for h in pq.read_table(tmp_path / "o" / "hits.parquet").to_pylist()}
    assert {d: h["longest_span"] for d, h in hits.items()} == {0: 12, 1: 10, 2: 9}
    (item,) = pq.read_table(tmp_path / "o" / "items.parquet").to_pylist()
    # Covered: 0-19 (a span with two skips, ending on a match) and 30-39; not 22-30 (9 tokens).
    assert item["token_coverage"] == pytest.approx(30 / 40) and item["llama2_bucket"] == "not_clean"
    assert item["longest_span"] == 12
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["benchmarks"]["b"]["llama2_items"] == {
        "clean": 0,
        "not_clean": 1,
        "not_dirty": 1,
        "dirty": 0,
    }
    # The skip budget: five mismatches end a span; a mismatch at the end is not part of it.
    five = [*words[:12], "a", "b", "c", "d", "e", *words[17:30]]
    assert _compare(words, five) == (13, [(0, 12), (17, 30)])
    trailing = [*words[:11], "a"]
    assert _compare(words, trailing) == (11, [(0, 11)])
    # Llama 2's longer minimum spans (L = 20 to 50) leave fragmented matches out.
    assert _compare(words, five, min_span=13) == (13, [(17, 30)])
    assert _compare(words, five, min_span=14) == (13, [])


def test_semantic_hits_are_written_apart_with_their_evidence(tmp_path, statement_case) -> None:
    pytest.importorskip("faiss")
    from stemmatic.diversity.embed import HashingEmbedder

    index, corpus = statement_case
    report = scan_corpus(
        [corpus], index, tmp_path / "o", semantic=True, embedder=HashingEmbedder(dim=256), semantic_threshold=0.3,
        chunk_tokens=16, clean_benchmarks=False,
    )  # fmt: skip
    semantic = pq.read_table(tmp_path / "o" / "semantic.parquet").to_pylist()
    assert semantic and {h["item_id"] for h in semantic} == {"m"}
    first = min(semantic, key=lambda h: (h["doc_id"], -h["similarity"]))
    assert first["doc_id"] == 0 and first["field"] == "prompt" and first["similarity"] >= 0.3
    assert first["longest_span"] == 9 and first["chunk_end"] > first["chunk_start"]
    assert (
        report["semantic"]["bench"]["items"] == 1
        and report["semantic"]["bench"]["items_without_ngram_hit"] == 1
    )
    assert report["outputs"]["semantic"] == "semantic.parquet"
    assert pq.read_table(tmp_path / "o" / "hits.parquet").num_rows == 0  # n-gram hits stay apart
    with pytest.raises(stemmatic_errors().ParameterError, match="semantic_threshold"):
        scan_corpus(
            [corpus], index, tmp_path / "p", semantic=True, embedder="hashing", semantic_threshold=2.0
        )


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from("abcd"), max_size=30),
    st.lists(st.sampled_from("abcd"), max_size=30),
)
def test_longest_common_run_against_brute_force(entry, doc) -> None:
    best = 0
    for i in range(len(entry)):
        for j in range(len(doc)):
            k = 0
            while i + k < len(entry) and j + k < len(doc) and entry[i + k] == doc[j + k]:
                k += 1
            best = max(best, k)
    assert _compare(entry, doc)[0] == best


def test_cli_short_statements_and_token_coverage(tmp_path, statement_case) -> None:
    index, corpus = statement_case
    index.save(tmp_path / "i.idx")
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        ["contamination", "scan", str(corpus), "--index", str(tmp_path / "i.idx"), "-o", str(out),
         "--short-ngram", "6", "--short-fields", "prompt", "--token-coverage"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["parameters"]["short_ngram"] == 6 and report["parameters"]["short_fields"] == ["prompt"]
    assert report["benchmarks"]["bench"]["items_contaminated"] == 1
    (hit,) = pq.read_table(out / "hits.parquet").to_pylist()
    assert hit["match"] == "short" and hit["longest_span"] == 9
    items = {i["field"]: i for i in pq.read_table(out / "items.parquet").to_pylist()}
    assert items["prompt"]["longest_span"] == 9 and items["solution"]["llama2_bucket"] == "clean"
    result = runner.invoke(
        app,
        ["contamination", "scan", str(corpus), "--index", str(tmp_path / "i.idx"), "-o", str(tmp_path / "o2"),
         "--short-ngram", "6", "--short-fields", "answer"],
    )  # fmt: skip
    assert result.exit_code == 2 and "'answer' is not an indexed field" in result.output
    assert not (tmp_path / "o2").exists()


def test_token_coverage_counts_tokens_as_the_index_does(tmp_path) -> None:
    # With the default tokenizer each Han/kana character is a token: a 12-character sentence is
    # 12 tokens, and a copy of its first 10 counts (a regex \w+ would see one token and nothing).
    sentence = "東京タワーは日本の電波塔で"
    bench = tmp_path / "b.jsonl"
    write_jsonl(bench, [{"p": sentence}])
    index = build_index([bench], fields=["p"], ngram=5)
    corpus = tmp_path / "c.jsonl"
    write_jsonl(corpus, [{"text": "ここに" + sentence[:10] + "がある"}])
    scan_corpus([corpus], index, tmp_path / "o", token_overlap=True, min_specific_tokens=1)
    (hit,) = pq.read_table(tmp_path / "o" / "hits.parquet").to_pylist()
    assert hit["item_tokens"] == len(sentence) and hit["longest_span"] == 10
    (item,) = pq.read_table(tmp_path / "o" / "items.parquet").to_pylist()
    assert item["token_coverage"] == pytest.approx(10 / len(sentence))


def test_partial_matches_without_letters_are_common(tmp_path) -> None:
    # An item whose example lists numbers: a document sharing only the number run has no copy of it.
    numbers = ", ".join(str(k) for k in range(20))
    item = f"Return the running total of the list, for example for [{numbers}] and then explain each step."
    bench = tmp_path / "b.jsonl"
    write_jsonl(bench, [{"id": "n", "prompt": item}])
    index = build_index([bench], fields=["prompt"], id_field="id")
    corpus = tmp_path / "c.jsonl"
    docs = [f"a table: {numbers}. " + FILLER, FILLER + item, f"As an example for {numbers}"]
    write_jsonl(corpus, [{"text": d} for d in docs])
    report = scan_corpus([corpus], index, tmp_path / "o", remove=True)
    hits = {h["doc_id"]: h for h in pq.read_table(tmp_path / "o" / "hits.parquet").to_pylist()}
    assert hits[0]["coverage"] < 0.5 and hits[0]["evidence"] == "common"
    assert hits[1]["evidence"] == "strong"
    # The same partial match with words in it stays strong.
    assert hits[2]["coverage"] < 0.5 and hits[2]["evidence"] == "strong"
    assert report["rows"]["detail"]["contaminated"] == 2
    removed = pq.read_table(tmp_path / "o" / "removed").to_pylist()
    assert sorted(r["text"] for r in removed) == sorted([docs[1], docs[2]])


@pytest.mark.parametrize("length", [100, 300])
def test_token_coverage_is_the_same_for_few_and_many_spans(length) -> None:
    """Spans are marked one by one when few for the entry tokens (300), by a running sum when many (100)."""
    from stemmatic.contamination._evidence import TokenOverlap

    words = [f"w{k}" for k in range(length)]
    docs = pa.array([" ".join(words[:25]) + " x " + " ".join(words[40:55])])
    overlap = TokenOverlap.for_texts([" ".join(words)], "words")
    assert overlap.add_batch(docs, np.zeros(1, np.int64), np.zeros(1, np.int64)).tolist() == [25]
    covered = np.zeros(length, bool)
    covered[:25] = covered[40:55] = True
    assert overlap.covered.tolist() == covered.tolist()
    assert overlap.coverage().tolist() == [40 / length]
