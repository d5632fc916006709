"""Benchmark contamination: index, scan, outputs, bad input, and agreement with a plain-Python matcher."""

from __future__ import annotations

import json
import pickle
import re

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import stemmatic
from stemmatic.cli import app
from stemmatic.contamination import ContaminationIndex, build_index, gpt3_cut, scan_corpus

runner = CliRunner()
WORD = re.compile(r"\w+")
SEED = 1


# -- the plain-Python reference ----------------------------------------------------------------


def ref_tokens(text: str) -> list[tuple[str, int, int]]:
    """``re.findall(r"\\w+", text.lower())`` with each token's character span in ``text``."""
    source = [i for i, c in enumerate(text) for _ in c.lower()]
    lowered = text.lower()
    assert len(lowered) == len(source)
    return [(m.group(), source[m.start()], source[m.end() - 1] + 1) for m in WORD.finditer(lowered)]


def h(gram: str) -> int:
    return xxhash.xxh3_64_intdigest(gram.encode(), seed=SEED)


def ref_fingerprints(text: str, n: int) -> set[int]:
    words = [t for t, _, _ in ref_tokens(text)]
    if not words:
        return set()
    if len(words) < n:
        return {h(" ".join(words))}
    return {h(" ".join(words[i : i + n])) for i in range(len(words) - n + 1)}


def ref_scan(items: list[str], docs: list[str], n: int, min_ngrams: int = 1, min_coverage: float = 0.0):
    """(doc, entry) -> (matched, coverage, spans) by brute force over n-gram strings."""
    entries = []
    for item in items:
        fingerprints = ref_fingerprints(item, n)
        if fingerprints:
            entries.append((fingerprints, min(len(ref_tokens(item)), n)))
    out = {}
    for d, doc in enumerate(docs):
        tokens = ref_tokens(doc)
        words = [t for t, _, _ in tokens]
        for e, (fingerprints, length) in enumerate(entries):
            found = []
            for p in range(len(words) - length + 1):
                gram = h(" ".join(words[p : p + length]))
                if gram in fingerprints:
                    found.append((p, gram))
            distinct = len({g for _, g in found})
            coverage = distinct / len(fingerprints)
            if distinct and distinct >= min_ngrams and coverage >= min_coverage:
                runs: list[list[int]] = []
                for p, _ in found:
                    if runs and p <= runs[-1][1]:
                        runs[-1][1] = max(runs[-1][1], p + length)
                    else:
                        runs.append([p, p + length])
                spans = [(tokens[a][1], tokens[b - 1][2]) for a, b in runs]
                out[(d, e)] = (distinct, coverage, spans)
    return out


def as_dict(table: pa.Table) -> dict:
    return {
        (r["doc_id"], int(r["item_id"])): (
            r["matched_ngrams"],
            r["coverage"],
            [(s["start"], s["end"]) for s in r["spans"]],
        )
        for r in table.to_pylist()
    }


# -- exact small cases -------------------------------------------------------------------------


def test_exact_small_case_with_spans() -> None:
    index = ContaminationIndex.from_records(
        [{"q": "The quick brown fox jumps over the lazy dog"}, {"q": "nothing else to see here"}],
        fields=["q"],
        ngram=3,
    )
    doc = "Intro. THE quick  brown\nfox jumps! Then: over the lazy dog."
    hits = index.scan([doc, "unrelated", None])
    assert hits.schema.names == [
        "doc_id",
        "benchmark",
        "item_id",
        "field",
        "matched_ngrams",
        "item_ngrams",
        "item_tokens",
        "coverage",
        "spans",
    ]
    (row,) = hits.to_pylist()
    assert (row["doc_id"], row["item_id"], row["field"], row["benchmark"]) == (0, "0", "q", "benchmark")
    assert (row["matched_ngrams"], row["item_ngrams"]) == (5, 7)
    assert row["coverage"] == pytest.approx(5 / 7)
    assert [doc[s["start"] : s["end"]] for s in row["spans"]] == [
        "THE quick  brown\nfox jumps",
        "over the lazy dog",
    ]


def test_reindented_code_and_rewrapped_text_still_match() -> None:
    code = "def add(a, b):\n    total = a + b\n    return total  # the sum of both numbers\n"
    prose = (
        "Natalia sold clips to forty-eight of her friends in April, and then she sold half as many in May."
    )
    index = ContaminationIndex.from_records([{"p": code}, {"p": prose}], fields=["p"], ngram=5)
    reindented = "x = 1\ndef add(a,b):\n\ttotal=a+b\n\treturn total # The SUM of both numbers"
    rewrapped = (
        "Natalia sold clips to\nforty-eight of her friends in April,\nand then she sold half as many\nin May."
    )
    hits = index.scan([reindented, rewrapped]).to_pylist()
    assert [(r["doc_id"], r["item_id"], r["coverage"]) for r in hits] == [(0, "0", 1.0), (1, "1", 1.0)]


def test_short_items_are_matched_whole() -> None:
    index = ContaminationIndex.from_records([{"a": "forty two"}, {"a": "x"}], fields=["a"], ngram=13)
    hits = index.scan(["The answer is Forty-Two.", "forty and two", "x marks"]).to_pylist()
    assert [(r["doc_id"], r["item_id"], r["matched_ngrams"], r["coverage"]) for r in hits] == [
        (0, "0", 1, 1.0),
        (2, "1", 1, 1.0),
    ]


def test_min_tokens_skips_tiny_fields() -> None:
    index = ContaminationIndex.from_records(
        [{"a": "B"}, {"a": "a longer answer"}], fields=["a"], ngram=3, min_tokens=2
    )
    assert index.num_entries == 1
    assert index.build_info["benchmarks"][0]["fields"]["a"]["too_short"] == 1
    assert index.scan(["b"]).num_rows == 0


def test_thresholds() -> None:
    index = ContaminationIndex.from_records([{"a": "a b c d e"}], fields=["a"], ngram=2)
    doc = ["a b x c d"]
    assert index.scan(doc).column("matched_ngrams").to_pylist() == [2]
    assert index.scan(doc, min_ngrams=3).num_rows == 0
    assert index.scan(doc, min_coverage=0.6).num_rows == 0
    with pytest.raises(stemmatic.ParameterError, match="min_coverage"):
        index.scan(doc, min_coverage=2.0)
    with pytest.raises(stemmatic.ParameterError, match="min_ngrams"):
        index.scan(doc, min_ngrams=0)


def test_frequency_cap_and_allowlist_are_counted() -> None:
    records = [{"p": f"Answer with one letter please. Question {i} is about topic {i}"} for i in range(5)]
    capped = ContaminationIndex.from_records(records, fields=["p"], ngram=3, max_item_frequency=2)
    # "answer with one" ... "letter please question", and "is about topic".
    assert capped.stats["excluded_by_frequency"] == 5
    assert capped.scan(["answer with one letter please"]).num_rows == 0
    allowed = ContaminationIndex.from_records(
        records, fields=["p"], ngram=3, allowlist=["answer with one letter"]
    )
    assert allowed.stats["excluded_by_allowlist"] == 2
    with pytest.raises(stemmatic.ParameterError):
        ContaminationIndex.from_records(records, fields=["p"], max_item_frequency=0)


def test_pickle_save_load_round_trip(tmp_path) -> None:
    index = ContaminationIndex.from_records(
        [{"id": "a", "p": "one two three four"}], fields=["p"], id_field="id", ngram=2
    )
    clone = pickle.loads(pickle.dumps(index))
    path = index.save(tmp_path / "i.idx")
    loaded = ContaminationIndex.load(path)
    for other in (clone, loaded):
        assert other.scan(["x one two"]).equals(index.scan(["x one two"]))
        assert other.build_info == index.build_info
        assert other.entries().equals(index.entries())


def test_results_do_not_depend_on_workers() -> None:
    items = [{"p": f"item {i} shares the words alpha beta gamma with number {i}"} for i in range(40)]
    index = ContaminationIndex.from_records(items, fields=["p"], ngram=4)
    docs = [f"doc {i}: {items[i % 40]['p']} " + "filler words " * (i % 500) for i in range(600)]
    assert index.scan(docs, workers=1).equals(index.scan(docs, workers=2))


# -- agreement with the reference --------------------------------------------------------------

VOCAB = ["alpha", "Beta", "GAMMA", "delta", "x1", "_y", "İi", "ΣΑΣ", "é", "ß"]
SEPARATORS = [" ", "  ", "\n", "\t", ", ", ". ", "-", "(", ")"]


@st.composite
def texts(draw, max_words: int = 12) -> str:
    words = draw(st.lists(st.sampled_from(VOCAB), min_size=0, max_size=max_words))
    out = ""
    for word in words:
        out += word + draw(st.sampled_from(SEPARATORS))
    return out


@st.composite
def docs_with_plants(draw, items: list[str]) -> str:
    parts = [draw(texts(20))]
    if items and draw(st.booleans()):
        item = draw(st.sampled_from(items))
        parts.append(item.upper() if draw(st.booleans()) else item.replace(" ", "\n  "))
        parts.append(draw(texts(6)))
    return " ".join(parts)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), n=st.integers(1, 5), min_ngrams=st.integers(1, 2))
def test_scan_agrees_with_plain_python_matcher(data, n, min_ngrams) -> None:
    items = data.draw(st.lists(texts(), min_size=1, max_size=5))
    if not any(WORD.search(i) for i in items):
        items.append("alpha beta")
    docs = data.draw(st.lists(docs_with_plants(items), min_size=1, max_size=6))
    index = ContaminationIndex.from_records(
        [{"id": str(i), "t": t} for i, t in enumerate(items)], fields=["t"], ngram=n
    )
    # Entries are the non-empty items, in order; map the reference's entry numbers to item ids.
    kept = [i for i, t in enumerate(items) if ref_fingerprints(t, n)]
    expected = {(d, kept[e]): v for (d, e), v in ref_scan(items, docs, n, min_ngrams).items()}
    got = index.scan(docs, min_ngrams=min_ngrams)
    assert as_dict(got) == expected
    # Spans slice back to the matched text: the same tokens as the matched n-grams.
    for row in got.to_pylist():
        doc = docs[row["doc_id"]]
        for span in row["spans"]:
            piece = doc[span["start"] : span["end"]]
            assert WORD.findall(piece.lower()) == [
                t for t, s, e in ref_tokens(doc) if span["start"] <= s and e <= span["end"]
            ]


# -- files, CLI and outputs --------------------------------------------------------------------


def write_jsonl(path, rows) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


PROBLEM = "Write a function that returns the largest prime factor of a positive integer n greater than one."
SOLUTION = "def largest_prime_factor(n):\n    f = 2\n    while f * f <= n:\n        if n % f:\n            f += 1\n        else:\n            n //= f\n    return n\n"


@pytest.fixture
def bench_and_corpus(tmp_path):
    bench = tmp_path / "humaneval.jsonl"
    write_jsonl(
        bench,
        [
            {"task_id": "HE/0", "prompt": PROBLEM, "canonical_solution": SOLUTION},
            {"task_id": "HE/1", "prompt": "Return the list sorted in descending order without duplicates please.", "canonical_solution": None},
            {"task_id": "HE/2", "prompt": "", "canonical_solution": "pass"},
        ],
    )  # fmt: skip
    filler = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor. " * 6
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    write_jsonl(
        corpus / "a.jsonl",
        [
            {"id": "a0", "text": filler + PROBLEM + " " + filler},
            {"id": "a1", "text": filler},
            {"id": "a2", "text": None},
        ],
    )
    pq.write_table(
        pa.table(
            {
                "id": ["b0", "b1", "b2"],
                "text": [filler, "x " + SOLUTION.replace("    ", "\t") + filler, "PROBLEM " * 30 + PROBLEM],
            }
        ),
        corpus / "b.parquet",
    )
    return bench, corpus


def test_cli_index_scan_remove_conserves_rows(tmp_path, bench_and_corpus) -> None:
    bench, corpus = bench_and_corpus
    index = tmp_path / "he.idx"
    result = runner.invoke(
        app,
        ["contamination", "index", str(bench), "-o", str(index), "--fields", "prompt,canonical_solution",
         "--id-field", "task_id", "--ngram", "8"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "canonical_solution.missing=1" in result.output and "prompt.empty=1" in result.output
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        ["contamination", "scan", str(corpus), "--index", str(index), "-o", str(out), "--remove", "--id-column", "id",
         "--workers", "2"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "humaneval" in result.output
    hits = pq.read_table(out / "hits.parquet").to_pylist()
    assert sorted((h["doc_id"], h["item_id"], h["field"]) for h in hits) == [
        ("a0", "HE/0", "prompt"),
        ("b1", "HE/0", "canonical_solution"),
        ("b2", "HE/0", "prompt"),
    ]
    report = json.loads((out / "report.json").read_text())
    rows = report["rows"]
    assert rows["in"] == 6 and rows["detail"]["null_text"] == 1 and rows["detail"]["contaminated"] == 3
    assert rows["kept"] + rows["removed"] == rows["in"]
    bench_report = report["benchmarks"]["humaneval"]
    assert bench_report["items_contaminated"] == 1 and bench_report["docs_contaminated"] == 3
    assert bench_report["docs_contaminated_pct"] == pytest.approx(50.0)
    assert set(report["stages"]) >= {"load_index", "scan", "write"}
    # Mirrored shards: one per input, nothing lost, reasons on removed rows.
    clean = {p.name: pq.read_table(p) for p in (out / "clean").iterdir()}
    removed = {p.name: pq.read_table(p) for p in (out / "removed").iterdir()}
    assert set(clean) == set(removed) == {"a.parquet", "b.parquet"}
    assert sorted(clean["a.parquet"]["id"].to_pylist() + clean["b.parquet"]["id"].to_pylist()) == [
        "a1",
        "a2",
        "b0",
    ]
    assert removed["b.parquet"].column("contamination_reason").to_pylist() == ["contaminated", "contaminated"]
    items = pq.read_table(out / "items.parquet").to_pylist()
    he0 = next(i for i in items if i["item_id"] == "HE/0" and i["field"] == "prompt")
    assert he0["num_docs"] == 2 and sorted(he0["doc_ids"]) == ["a0", "b2"] and he0["max_coverage"] == 1.0
    assert sum(i["num_docs"] for i in items) == len(hits)
    # An existing output directory is refused.
    again = runner.invoke(app, ["contamination", "scan", str(corpus), "--index", str(index), "-o", str(out)])
    assert again.exit_code == 2 and "not empty" in again.output


def test_spans_in_hits_file_slice_back(tmp_path, bench_and_corpus) -> None:
    bench, corpus = bench_and_corpus
    index = build_index([bench], fields=["prompt"], id_field="task_id", ngram=8)
    report = scan_corpus([corpus], index, tmp_path / "o")
    assert report["rows"]["detail"]["contaminated"] == 2
    texts = {}
    for chunk in stemmatic.io.iter_chunks(stemmatic.io.resolve_inputs([corpus])):
        for i, text in enumerate(chunk.batch.column("text").to_pylist()):
            texts[chunk.global_row + i] = text
    for hit in pq.read_table(tmp_path / "o" / "hits.parquet").to_pylist():
        (span,) = hit["spans"]
        assert texts[hit["doc_id"]][span["start"] : span["end"]] == PROBLEM.rstrip(".")


def test_gpt3_cut_keeps_the_rest_of_the_document(tmp_path, bench_and_corpus) -> None:
    bench, corpus = bench_and_corpus
    index = build_index({"he": bench}, fields=["prompt"], id_field="task_id", ngram=8)
    report = scan_corpus([corpus], index, tmp_path / "o", gpt3_cut_mode=True, id_column="id")
    rows = report["rows"]
    assert rows["kept"] + rows["removed"] == rows["in"] == 6
    # a0: filler (486 chars) on both sides survives the ±200 cut; b2 keeps only 40 characters: dropped.
    assert rows["detail"]["cut"] == 1 and rows["detail"]["removed_by_reason"] == {"gpt3_no_piece_left": 1}
    clean = pq.read_table(tmp_path / "o" / "clean" / "a.parquet").to_pylist()
    a0 = next(r for r in clean if r["id"] == "a0")["text"]
    assert PROBLEM[:40] not in a0 and a0.startswith("Lorem") and "\n\n" in a0


def test_string_view_corpus_is_scanned_and_split_with_its_schema(tmp_path, bench_and_corpus) -> None:
    # pyarrow can neither measure, take nor filter view arrays: the reader
    # hands the scan large strings, and the split outputs are views again.
    bench, corpus = bench_and_corpus
    table = pq.read_table(corpus / "b.parquet")
    views = table.cast(
        pa.schema([pa.field(f.name, pa.string_view()) if f.name == "text" else f for f in table.schema])
    )
    (tmp_path / "in").mkdir()
    pq.write_table(views, tmp_path / "in" / "b.parquet")
    index = build_index({"he": bench}, fields=["prompt"], id_field="task_id", ngram=8)
    plain = scan_corpus([corpus / "b.parquet"], index, tmp_path / "plain", remove=True, id_column="id")
    viewed = scan_corpus([tmp_path / "in"], index, tmp_path / "o", remove=True, id_column="id")
    assert viewed["rows"] == plain["rows"] and viewed["rows"]["removed"] > 0
    for part in ("clean", "removed"):
        out = pq.read_table(tmp_path / "o" / part / "b.parquet")
        assert out.schema.field("text").type == pa.string_view()
        assert (
            out.column("id").to_pylist()
            == pq.read_table(tmp_path / "plain" / part / "b.parquet").column("id").to_pylist()
        )


def test_gpt3_cut_rules() -> None:
    text = "".join(f"{i:04d}" + "." * 296 for i in range(40))  # 12,000 chars
    assert gpt3_cut(text, []).text == text
    many = gpt3_cut(text, [(i * 1000, i * 1000 + 10) for i in range(11)])
    assert many.text is None and many.reason == "gpt3_too_many_splits"
    result = gpt3_cut(text, [(5000, 5010), (5300, 5310)])  # merged into one cut [4800, 5510)
    assert result.splits == 1 and result.text == text[:4800] + "\n\n" + text[5510:]
    assert gpt3_cut("short text", [(0, 5)]).reason == "gpt3_no_piece_left"


# -- bad input ---------------------------------------------------------------------------------


def test_benchmark_without_any_field_is_an_error(tmp_path) -> None:
    bench = tmp_path / "b.jsonl"
    write_jsonl(bench, [{"question": "q"}])
    with pytest.raises(stemmatic.InvalidInputError, match=r"b\.jsonl: none of the fields 'prompt'"):
        build_index([bench], fields=["prompt"])
    other = tmp_path / "c.jsonl"
    write_jsonl(other, [{"prompt": "a b c", "solution": "d e f"}])
    index = build_index({"b": bench, "c": other}, fields=["question", "solution"], ngram=2)
    assert [b["missing_fields"] for b in index.build_info["benchmarks"]] == [["solution"], ["question"]]
    with pytest.raises(stemmatic.InvalidInputError, match="id field 'task_id' not found"):
        build_index([other], fields=["prompt"], id_field="task_id")
    with pytest.raises(stemmatic.ParameterError, match="distinct"):
        build_index([other, other], fields=["prompt"])


def test_non_utf8_benchmarks_are_named(tmp_path) -> None:
    bench = tmp_path / "b.jsonl"
    bench.write_bytes(b'{"prompt": "fine text"}\n{"prompt": "bad \xff byte"}\n')
    with pytest.raises(stemmatic.InvalidInputError, match=r"b\.jsonl:2"):
        build_index([bench], fields=["prompt"])
    parquet = tmp_path / "p.parquet"
    pq.write_table(pa.table({"prompt": pa.array([b"ok", b"bad \xff"], pa.binary())}), parquet)
    with pytest.raises(
        stemmatic.InvalidInputError, match=r"p\.parquet: row 1: field 'prompt' is not valid UTF-8"
    ):
        build_index([parquet], fields=["prompt"])
    lists = tmp_path / "l.parquet"
    pq.write_table(pa.table({"prompt": [{"a": 1}]}), lists)
    with pytest.raises(stemmatic.InvalidInputError, match="field 'prompt' has type struct"):
        build_index([lists], fields=["prompt"])


def test_list_and_number_fields_are_text(tmp_path) -> None:
    bench = tmp_path / "b.parquet"
    pq.write_table(pa.table({"choices": [["red green", "blue yellow"]], "answer": [42]}), bench)
    index = build_index([bench], fields=["choices", "answer"], ngram=2)
    hits = index.scan(["green blue and 42"]).to_pylist()
    assert [(h["field"], h["matched_ngrams"]) for h in hits] == [("choices", 1), ("answer", 1)]


def test_damaged_and_foreign_indexes_are_refused(tmp_path) -> None:
    index = ContaminationIndex.from_records([{"p": "one two three"}], fields=["p"], ngram=2)
    path = index.save(tmp_path / "i.idx")
    data = bytearray(path.read_bytes())
    future = tmp_path / "future.idx"
    future.write_bytes(bytes(data[:8]) + (7).to_bytes(4, "little") + bytes(data[12:]))
    with pytest.raises(stemmatic.InvalidInputError, match=r"format version 7.*rebuild it"):
        ContaminationIndex.load(future)
    damaged = tmp_path / "damaged.idx"
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    with pytest.raises(stemmatic.InvalidInputError, match="damaged"):
        ContaminationIndex.load(damaged)
    foreign = tmp_path / "x.parquet"
    pq.write_table(pa.table({"a": [1]}), foreign)
    with pytest.raises(stemmatic.InvalidInputError, match="magic"):
        ContaminationIndex.load(foreign)
    with pytest.raises(stemmatic.InvalidInputError, match="no such index file"):
        ContaminationIndex.load(tmp_path / "missing.idx")


def test_other_tokenizer_is_refused(tmp_path) -> None:
    index = ContaminationIndex.from_records(
        [{"p": "one two three"}], fields=["p"], ngram=2, tokenizer="words"
    )
    with pytest.raises(stemmatic.ParameterError, match="tokenizer=words, not whitespace"):
        index.scan(["one two"], tokenizer="whitespace")
    assert index.scan(["one two"], tokenizer="words").num_rows == 1
    path = index.save(tmp_path / "i.idx")
    corpus = tmp_path / "c.jsonl"
    write_jsonl(corpus, [{"text": "one two"}])
    result = runner.invoke(
        app,
        [
            "contamination",
            "scan",
            str(corpus),
            "--index",
            str(path),
            "-o",
            str(tmp_path / "o"),
            "--tokenizer",
            "chars",
        ],
    )
    assert result.exit_code == 2 and "tokenizer=words" in result.output


def test_bad_corpus_rows_name_file_and_row(tmp_path) -> None:
    index = ContaminationIndex.from_records([{"p": "one two three"}], fields=["p"], ngram=2)
    parquet = tmp_path / "c.parquet"
    pq.write_table(pa.table({"text": pa.array([b"one two", b"bad \xff"], pa.binary())}), parquet)
    with pytest.raises(stemmatic.InvalidInputError, match=r"c\.parquet: row 1: text is not valid UTF-8"):
        scan_corpus([parquet], index, tmp_path / "o")
    numbers = tmp_path / "n.parquet"
    pq.write_table(pa.table({"text": [1, 2]}), numbers)
    with pytest.raises(stemmatic.InvalidInputError, match="column 'text' has type int64"):
        scan_corpus([numbers], index, tmp_path / "o2")


def test_empty_corpus_hits_file_has_the_schema(tmp_path) -> None:
    index = ContaminationIndex.from_records([{"p": "one two three"}], fields=["p"], ngram=2)
    corpus = tmp_path / "c.jsonl"
    write_jsonl(corpus, [{"text": "nothing"}])
    report = scan_corpus([corpus], index, tmp_path / "o", remove=True)
    hits = pq.read_table(tmp_path / "o" / "hits.parquet")
    assert hits.num_rows == 0 and hits.schema.names[0] == "doc_id"
    assert report["rows"]["kept"] == 1 and report["rows"]["removed"] == 0
    items = pq.read_table(tmp_path / "o" / "items.parquet").to_pylist()
    assert items == [
        {"benchmark": "benchmark", "item_id": "0", "field": "p", "item_ngrams": 2, "item_tokens": 3,
         "num_docs": 0, "counted_docs": 0, "evidence": "none", "max_coverage": 0.0, "doc_ids": []}
    ]  # fmt: skip
    assert np.isclose(report["benchmarks"]["benchmark"]["docs_contaminated_pct"], 0.0)
