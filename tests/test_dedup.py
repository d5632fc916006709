"""The dedup pipeline: exact small cases, ground truth, conservation, determinism, resume, bad input."""

from __future__ import annotations

import gzip
import itertools
import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import stemmatic
from stemmatic.cli import app
from stemmatic.dedup import DedupConfig, dedup, optimal_banding
from stemmatic.dedup.pipeline import _Run
from stemmatic.exceptions import ParameterError
from stemmatic.synthetic import generate_corpus, write_shards

WORD = re.compile(r"\w+")
BASE = "the quick brown fox jumps over the lazy dog while the cat sleeps on a warm mat in the sun"


def shingles(text: str, n: int = 5) -> set[str]:
    tokens = WORD.findall(text.lower())
    if len(tokens) < n:
        return {" ".join(tokens)} if tokens else set()
    return {" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def ground_truth_removed(texts: list[str], threshold: float) -> set[int]:
    """Rows removed by exact all-pairs Jaccard + connected components, keeping the first row."""
    sets = [shingles(t) for t in texts]
    parent = list(range(len(texts)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j in itertools.combinations(range(len(texts)), 2):
        if sets[i] and sets[j] and jaccard(sets[i], sets[j]) >= threshold:
            parent[max(find(i), find(j))] = min(find(i), find(j))
    roots = [find(i) for i in range(len(texts))]
    return {i for i, r in enumerate(roots) if r != i}


def write_parquet(path: Path, **columns: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)
    return path


def read_dir(path: Path) -> pa.Table:
    tables = [pq.read_table(p) for p in sorted(path.glob("*.parquet"))]
    return pa.concat_tables(tables) if tables else pa.table({})


# -- exact small cases ------------------------------------------------------


def test_small_case_exact_outputs(tmp_path: Path) -> None:
    texts = [
        BASE,  # 0: kept, cluster 0
        "A totally different sentence about rivers and mountains and the sea",  # 1: unique
        BASE + " today",  # 2: near-duplicate of 0
        BASE.upper() + "!!!",  # 3: same tokens as 0
        "Another unrelated line of text for the corpus here",  # 4: unique
    ]
    write_parquet(
        tmp_path / "in" / "a.parquet", id=["a", "b", "c", "d", "e"], text=texts, extra=[1, 2, 3, 4, 5]
    )
    result = dedup(tmp_path / "in", tmp_path / "out", id_column="id", emit_pairs=True)
    assert (result.input_rows, result.kept_rows, result.removed_rows, result.clusters) == (5, 3, 2, 1)
    kept = read_dir(tmp_path / "out" / "kept")
    assert kept.column("id").to_pylist() == ["a", "b", "e"]
    assert kept.schema.names == ["id", "text", "extra"]
    removed = read_dir(tmp_path / "out" / "removed")
    assert removed.column("id").to_pylist() == ["c", "d"]
    assert removed.column("duplicate_of").to_pylist() == ["a", "a"]
    assert removed.column("cluster_id").to_pylist() == [0, 0]
    expected = jaccard(shingles(BASE), shingles(BASE + " today"))
    assert removed.column("similarity").to_pylist() == pytest.approx([expected, 1.0])
    assert removed.column("extra").to_pylist() == [3, 4]
    clusters = pq.read_table(tmp_path / "out" / "clusters.parquet")
    assert clusters.to_pylist() == [
        {"id": "a", "cluster_id": 0, "is_kept": True},
        {"id": "c", "cluster_id": 0, "is_kept": False},
        {"id": "d", "cluster_id": 0, "is_kept": False},
    ]
    pairs = pq.read_table(tmp_path / "out" / "pairs.parquet").to_pylist()
    assert {(p["id_a"], p["id_b"]) for p in pairs} == {("a", "c"), ("a", "d"), ("c", "d")}
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["rows"]["in"] == report["rows"]["kept"] + report["rows"]["removed"] == 5
    assert report["parameters"]["bands"] * report["parameters"]["rows"] <= 128
    assert set(report["stages"]) == {"sketch", "candidates", "verify", "cluster", "write"}
    assert all(report["stage_peak_rss_bytes"][s] > 0 for s in report["stages"])


@pytest.mark.parametrize("memory_limit", ["4GB", "1MiB"])
def test_text_types_may_differ_between_files(tmp_path: Path, memory_limit: str) -> None:
    # string, large_string and binary shards, with near-duplicates across them,
    # held in memory (4GB) or streamed (1MiB): the same decisions as one type.
    texts = [
        BASE,
        "A totally different sentence about rivers and mountains",
        BASE + " today",
        BASE + " again",
    ]
    types = [pa.string(), pa.large_string(), pa.binary(), pa.string_view()]
    (tmp_path / "in").mkdir()
    for k, (text, kind) in enumerate(zip(texts, types, strict=True)):
        value = text.encode() if kind == pa.binary() else text
        pq.write_table(pa.table({"text": pa.array([value], kind)}), tmp_path / "in" / f"{k}.parquet")
    result = dedup(tmp_path / "in", tmp_path / "out", memory_limit=memory_limit)
    assert (result.input_rows, result.kept_rows, result.removed_rows, result.clusters) == (4, 2, 2, 1)
    clusters = pq.read_table(tmp_path / "out" / "clusters.parquet").to_pylist()
    assert [(c["id"], c["is_kept"]) for c in clusters] == [(0, True), (2, False), (3, False)]
    # Each output shard keeps its input's text type.
    assert pq.read_schema(tmp_path / "out" / "kept" / "1.parquet").field("text").type == pa.large_string()
    assert pq.read_schema(tmp_path / "out" / "removed" / "2.parquet").field("text").type == pa.binary()
    assert pq.read_schema(tmp_path / "out" / "removed" / "3.parquet").field("text").type == pa.string_view()


def test_keep_longest_and_column(tmp_path: Path) -> None:
    texts = [BASE, BASE + " and more words at the end", BASE + " and more"]
    write_parquet(tmp_path / "in" / "a.parquet", text=texts, quality=[0.5, 0.1, 0.9])
    longest = dedup(tmp_path / "in", tmp_path / "o1", threshold=0.6, keep="longest")
    assert read_dir(longest.output / "kept").column("text").to_pylist() == [texts[1]]
    by_col = dedup(tmp_path / "in", tmp_path / "o2", threshold=0.6, keep="column:quality")
    assert read_dir(by_col.output / "kept").column("text").to_pylist() == [texts[2]]
    assert read_dir(by_col.output / "removed").column("duplicate_of").to_pylist() == [2, 2]


def test_exact_mode_removes_normalized_exact_duplicates(tmp_path: Path) -> None:
    texts = ["Hello, World! short", "hello world   SHORT", "something else", "hello world short!"]
    write_parquet(tmp_path / "in" / "a.parquet", text=texts)
    result = dedup(tmp_path / "in", tmp_path / "out", exact=True)
    removed = read_dir(result.output / "removed")
    assert removed.column("reason").to_pylist() == ["exact", "exact"]
    assert removed.column("duplicate_of").to_pylist() == [0, 0]
    assert result.report["rows"]["detail"]["removed_exact_duplicate"] == 2


# -- ground truth, invariants ---------------------------------------------------


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    corpus = generate_corpus(400, seed=11, max_words=300, duplicate_fraction=0.35)
    d = tmp_path_factory.mktemp("corpus")
    write_shards(corpus, d, shards=3)
    return d, corpus.texts


def test_matches_exact_all_pairs_ground_truth(corpus_dir, tmp_path: Path) -> None:
    directory, texts = corpus_dir
    result = dedup(directory, tmp_path / "out", threshold=0.7)
    removed = set(read_dir(result.output / "removed").column("duplicate_of").to_pylist())
    removed_ids = set()
    for p in sorted((result.output / "removed").glob("*.parquet")):
        removed_ids |= set(pq.read_table(p).column("text").to_pylist())
    truth = ground_truth_removed(texts, 0.7)
    assert len(truth) > 30
    got = {i for i, t in enumerate(texts) if t in removed_ids}
    # Exact verification: never a removal without a true near-duplicate.
    assert got <= truth
    # LSH may miss a pair near the threshold; it must miss very few.
    assert len(got) >= 0.95 * len(truth)
    # Every duplicate_of names a kept row.
    kept_rows = result.input_rows - result.removed_rows
    assert removed and max(removed) < len(texts) and kept_rows == result.kept_rows


def _output_bytes(out: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != "report.json"
    }


def test_identical_bytes_across_workers_and_memory_limits(corpus_dir, tmp_path: Path) -> None:
    directory, _ = corpus_dir
    one = dedup(directory, tmp_path / "w1", workers=1, exact=True, emit_pairs=True)
    two = dedup(directory, tmp_path / "w2", workers=2, exact=True, emit_pairs=True)
    # A 1 KB budget forces thousands of on-disk band partitions.
    tiny = dedup(directory, tmp_path / "tiny", workers=2, exact=True, emit_pairs=True, memory_limit="1MiB")
    assert tiny.report["stages"]["sketch"]
    assert _output_bytes(one.output) == _output_bytes(two.output) == _output_bytes(tiny.output)
    assert one.removed_rows > 0


def _killed_at(stage: str, directory: Path, out: Path, monkeypatch) -> None:
    """Run dedup (exact=True) into ``out`` and kill it as ``stage`` starts."""

    def crash(self: _Run) -> dict[str, int]:
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(_Run, f"stage_{stage}", crash)
    with pytest.raises(KeyboardInterrupt):
        dedup(directory, out, exact=True)
    monkeypatch.undo()


def test_resume_after_a_crash_gives_identical_output(corpus_dir, tmp_path: Path, monkeypatch) -> None:
    directory, _ = corpus_dir
    reference = dedup(directory, tmp_path / "ref", exact=True)
    _killed_at("cluster", directory, tmp_path / "run", monkeypatch)
    assert (tmp_path / "run" / "_work" / "verify.done").exists()
    with pytest.raises(stemmatic.ParameterError, match="--resume or --overwrite"):
        dedup(directory, tmp_path / "run", exact=True)
    with pytest.raises(stemmatic.ParameterError, match="other parameters"):
        dedup(directory, tmp_path / "run", exact=True, threshold=0.5, resume=True)
    resumed = dedup(directory, tmp_path / "run", exact=True, resume=True)
    assert _output_bytes(resumed.output) == _output_bytes(reference.output)
    assert not (tmp_path / "run" / "_work").exists()


def test_resume_after_a_crash_with_band_records_in_memory(corpus_dir, tmp_path: Path, monkeypatch) -> None:
    # The corpus fits the default budget, so the sketch keeps its band records
    # in memory: a run killed before the candidates stage ends must redo it.
    directory, _ = corpus_dir
    reference = dedup(directory, tmp_path / "ref", exact=True)
    assert reference.report["stages"]["sketch"]
    _killed_at("candidates", directory, tmp_path / "run", monkeypatch)
    marker = json.loads((tmp_path / "run" / "_work" / "sketch.done").read_text())
    assert marker["counts"]["bands_in_memory"] == 1
    resumed = dedup(directory, tmp_path / "run", exact=True, resume=True)
    assert _output_bytes(resumed.output) == _output_bytes(reference.output)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(st.integers(0, 5), min_size=0, max_size=30),
    st.sampled_from(["first", "longest"]),
    st.sampled_from(["exact", "estimate", "none"]),
)
def test_conservation_and_representatives(
    tmp_path_factory, choices: list[int], keep: str, verify: str
) -> None:
    base = [f"{BASE} variant {k} " + " ".join(f"w{k}_{i}" for i in range(k * 3)) for k in range(6)]
    texts = [base[c] + ("" if i % 3 else f" extra{i}") for i, c in enumerate(choices)] + ["", "   "]
    d = tmp_path_factory.mktemp("prop")
    write_parquet(d / "in" / "a.parquet", text=texts)
    result = dedup(d / "in", d / "out", keep=keep, verify=verify, threshold=0.6)
    kept, removed = read_dir(d / "out" / "kept"), read_dir(d / "out" / "removed")
    assert kept.num_rows + removed.num_rows == len(texts) == result.input_rows
    assert result.report["rows"]["detail"]["empty_text_kept"] == 2
    if removed.num_rows:
        clusters = pq.read_table(d / "out" / "clusters.parquet").to_pandas()
        kept_ids = set(clusters[clusters.is_kept].id)
        assert set(removed.column("duplicate_of").to_pylist()) <= kept_ids
        # Exactly one kept row per cluster.
        assert (clusters.groupby("cluster_id").is_kept.sum() == 1).all()


# -- inputs, formats, bad input ---------------------------------------------------


def test_jsonl_gz_input_and_jsonl_output(tmp_path: Path) -> None:
    rows = [{"text": BASE, "n": 1}, {"text": BASE + " x", "n": 2}, {"text": "other words here", "n": 3}]
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl.gz").write_bytes(
        gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode())
    )
    result = dedup(tmp_path / "in", tmp_path / "out", fmt="jsonl")
    # The output keeps the input's compression.
    assert [p.name for p in result.kept_paths] == ["a.jsonl.gz"]
    kept = [json.loads(line) for line in gzip.decompress(result.kept_paths[0].read_bytes()).splitlines()]
    assert [r["n"] for r in kept] == [1, 3]
    removed = [
        json.loads(line) for line in gzip.decompress(result.removed_paths[0].read_bytes()).splitlines()
    ]
    assert removed[0]["duplicate_of"] == 0 and removed[0]["n"] == 2


def test_malformed_jsonl_raises_or_is_rejected_and_counted(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_bytes(
        (json.dumps({"text": BASE}) + "\n" + '{"text": broken\n' + json.dumps({"text": BASE}) + "\n").encode()
    )
    with pytest.raises(stemmatic.InvalidInputError, match=r"a\.jsonl:2: malformed JSONL line"):
        dedup(tmp_path / "in", tmp_path / "out")
    result = dedup(tmp_path / "in", tmp_path / "out2", on_error="skip")
    assert (result.input_rows, result.kept_rows, result.removed_rows, result.rejected_rows) == (3, 1, 1, 1)
    rejected = [
        json.loads(x) for x in (tmp_path / "out2" / "rejected" / "rejected.jsonl").read_text().splitlines()
    ]
    assert rejected[0]["line"] == 2 and rejected[0]["raw"] == '{"text": broken'


def test_missing_text_column_names_file_and_columns(tmp_path: Path) -> None:
    write_parquet(tmp_path / "in" / "a.parquet", content=["x"])
    with pytest.raises(
        stemmatic.InvalidInputError, match=r"a\.parquet: column 'text' not found; columns are 'content'"
    ):
        dedup(tmp_path / "in", tmp_path / "out")


def test_null_texts_are_kept_and_counted(tmp_path: Path) -> None:
    write_parquet(tmp_path / "in" / "a.parquet", text=[BASE, None, BASE, ""])
    result = dedup(tmp_path / "in", tmp_path / "out")
    assert (result.kept_rows, result.removed_rows) == (3, 1)
    assert result.report["rows"]["detail"]["null_text_kept"] == 1
    assert result.report["rows"]["detail"]["empty_text_kept"] == 1


def test_duplicate_and_null_ids_are_errors(tmp_path: Path) -> None:
    write_parquet(tmp_path / "in" / "a.parquet", id=["x", "y"], text=["a b", "c d"])
    write_parquet(tmp_path / "in" / "b.parquet", id=["z", "x"], text=["e f", "g h"])
    with pytest.raises(
        stemmatic.InvalidInputError, match=r"duplicate id 'x'.*a\.parquet \(row 0\).*b\.parquet \(row 1\)"
    ):
        dedup(tmp_path / "in", tmp_path / "out", id_column="id")
    write_parquet(tmp_path / "in2" / "a.parquet", id=["x", None], text=["a b", "c d"])
    with pytest.raises(stemmatic.InvalidInputError, match=r"a\.parquet \(row 1\): id column 'id' is null"):
        dedup(tmp_path / "in2", tmp_path / "out2", id_column="id")


def test_empty_input_writes_empty_outputs(tmp_path: Path) -> None:
    write_parquet(tmp_path / "in" / "a.parquet", text=pa.array([], pa.string()))
    result = dedup(tmp_path / "in", tmp_path / "out")
    assert (result.input_rows, result.kept_rows, result.removed_rows) == (0, 0, 0)
    assert pq.read_table(tmp_path / "out" / "kept" / "a.parquet").num_rows == 0


def test_a_100_mb_document(tmp_path: Path) -> None:
    big = ("word " * 20_000_000)[:100_000_000]
    write_parquet(tmp_path / "in" / "a.parquet", text=[big, BASE, big])
    result = dedup(tmp_path / "in", tmp_path / "out")
    assert (result.kept_rows, result.removed_rows) == (2, 1)


def test_parameters_are_validated() -> None:
    with pytest.raises(stemmatic.ParameterError, match="threshold"):
        dedup(".", "/nonexistent-out", threshold=1.5)
    with pytest.raises(stemmatic.ParameterError, match="keep"):
        dedup(".", "/nonexistent-out", keep="random")
    with pytest.raises(stemmatic.ParameterError, match="bands"):
        dedup(".", "/nonexistent-out", bands=4)
    assert optimal_banding(0.8, 128).rows == 13


def test_the_defaults_bandings_are_the_searchs() -> None:
    from stemmatic.dedup import params

    for key, banding in params._DEFAULTS.items():
        assert params._search(*key) == banding
        assert optimal_banding(*key) is banding
    assert DedupConfig().banding() in params._DEFAULTS.values()
    assert DedupConfig(verify="estimate").banding() in params._DEFAULTS.values()


# -- CLI ----------------------------------------------------------------------------


def test_cli_dedup_prints_banding_and_summary(corpus_dir, tmp_path: Path) -> None:
    directory, _ = corpus_dir
    runner = CliRunner()
    out = tmp_path / "cli"
    result = runner.invoke(app, ["dedup", str(directory), "-o", str(out), "--exact"])
    assert result.exit_code == 0, result.output
    assert "bands=" in result.stderr and "kept" in result.stdout
    report = json.loads((out / "report.json").read_text())
    assert report["rows"]["kept"] + report["rows"]["removed"] == report["rows"]["in"] == 400
    again = runner.invoke(app, ["dedup", str(directory), "-o", str(out), "--quiet"])
    assert again.exit_code == 2 and "--resume or --overwrite" in again.output
    assert "bands=" not in again.stderr  # -q: no notes, only the error
    np.testing.assert_equal(report["parameters"]["threshold"], 0.8)


def test_giant_component_guard_caps_cluster_sizes(tmp_path: Path) -> None:
    # A chain: each text shares most of its words with the next, little with the ones after.
    words = [f"w{i}" for i in range(400)]
    texts = [" ".join(words[k * 4 : k * 4 + 60]) for k in range(40)]
    write_parquet(tmp_path / "in" / "a.parquet", text=texts)
    chained = dedup(tmp_path / "in", tmp_path / "o1", threshold=0.8)
    assert chained.report["clusters"]["count"] == 1 and chained.kept_rows == 1
    capped = dedup(tmp_path / "in", tmp_path / "o2", threshold=0.8, max_cluster_size=5)
    guard = capped.report["clusters"]["giant_component_guard"]
    assert guard["split_components"] == 1 and guard["largest_split_component"] == 40
    sizes = pq.read_table(tmp_path / "o2" / "clusters.parquet").to_pandas().groupby("cluster_id").size()
    assert sizes.max() <= 5
    assert capped.kept_rows + capped.removed_rows == 40 and capped.kept_rows >= 8
    with pytest.raises(stemmatic.ParameterError, match="max_cluster_size"):
        dedup(tmp_path / "in", tmp_path / "o3", max_cluster_size=1)


def test_table_like_inputs_and_results_in_memory(tmp_path: Path) -> None:
    import pandas as pd

    texts = [
        "the quick brown fox jumps over the lazy dog " * 4,
        "something else entirely, with many words here",
    ]
    texts.append(texts[0] + "again")
    table = pa.table({"id": [10, 11, 12], "text": texts})
    on_disk = dedup(_write(tmp_path / "a.parquet", table), tmp_path / "out", threshold=0.7, id_column="id")
    for source in (table, table.to_reader(), pd.DataFrame(table.to_pydict())):
        result = dedup(source, threshold=0.7, id_column="id")
        assert result.kept.to_pylist() == pq.read_table(on_disk.kept_paths[0]).to_pylist()
        assert result.removed.to_pylist() == pq.read_table(on_disk.removed_paths[0]).to_pylist()
        assert result.cluster_table().equals(on_disk.cluster_table())
        assert not result.kept_paths


def test_table_input_errors_name_the_table_not_a_temporary_file() -> None:
    table = pa.table({"id": [1, 1], "text": ["a b c d e", "f g h i j"]})
    with pytest.raises(stemmatic.InvalidInputError, match=r"duplicate id 1 .*input table \(row 0\)") as err:
        dedup(table, id_column="id")
    assert "stemmatic-in-" not in str(err.value)


def _write(path: Path, table: pa.Table) -> Path:
    pq.write_table(table, path)
    return path


def test_compression_option_picks_the_output_codec(tmp_path: Path) -> None:
    data = tmp_path / "in"
    data.mkdir()
    (data / "a.jsonl.gz").write_bytes(gzip.compress(b'{"text": "one two three four five six"}\n'))
    result = CliRunner().invoke(
        app, ["dedup", str(data), "-o", str(tmp_path / "zst"), "--format", "jsonl", "--compression", "zstd"]
    )
    assert result.exit_code == 0, result.output
    assert [p.name for p in (tmp_path / "zst" / "kept").iterdir()] == ["a.jsonl.zst"]
    dedup(data, tmp_path / "snappy", compression="snappy")
    assert (
        pq.ParquetFile(tmp_path / "snappy" / "kept" / "a.parquet").metadata.row_group(0).column(0).compression
        == "SNAPPY"
    )
    bad = CliRunner().invoke(app, ["dedup", str(data), "-o", str(tmp_path / "bad"), "--compression", "rar"])
    assert bad.exit_code == 2
    assert "invalid compression 'rar' for parquet output" in bad.output


def test_verify_pairs_batched_equals_the_joined_sets() -> None:
    """The verify stage reads the sketch pass's set batches in place: same similarities as joined."""
    from stemmatic import _core

    rng = np.random.default_rng(7)
    sizes = [5, 1, 0, 9, 4]  # rows per batch (an empty batch is never handed over)
    firsts, values, offsets = [], [], []
    doc = 0
    for rows in sizes:
        sets = [np.unique(rng.integers(0, 40, rng.integers(0, 12))).astype(np.uint64) for _ in range(rows)]
        if rows:
            firsts.append(doc)
            values.append(np.concatenate(sets) if sets else np.zeros(0, np.uint64))
            offsets.append(np.concatenate([[0], np.cumsum([len(s) for s in sets])]).astype(np.uint64))
        doc += rows
    pairs = np.array([(a, b) for a in range(doc) for b in range(a + 1, doc)], dtype=np.uint64)
    joined = np.concatenate(values)
    starts = np.cumsum([0] + [len(v) for v in values[:-1]])
    flat_offsets = np.concatenate([[0], *[o[1:] + s for o, s in zip(offsets, starts, strict=True)]]).astype(
        np.uint64
    )
    want = _core.verify_pairs(pairs, np.arange(doc, dtype=np.uint64), joined, flat_offsets)
    got = _core.verify_pairs_batched(pairs, firsts, values, offsets, workers=2)
    assert got.tolist() == want.tolist()
    with pytest.raises(ParameterError, match="no shingle set"):
        _core.verify_pairs_batched(np.array([[0, doc]], dtype=np.uint64), firsts, values, offsets)
