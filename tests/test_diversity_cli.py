"""`stemmatic diversity ...` through typer's CliRunner: output conventions and errors."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from stemmatic.cli import app
from stemmatic.synthetic import generate_corpus, write_shards

runner = CliRunner()


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("corpus")
    write_shards(generate_corpus(600, seed=4, max_words=200), directory, shards=3)
    return directory


def invoke(*args: str):
    return runner.invoke(
        app, ["diversity", *args, "--quiet"] if args[0] != "measure" else ["diversity", *args]
    )


def read_dir(path):
    return {p.name: pq.read_table(p) for p in sorted(path.glob("*.parquet"))}


def test_semdedup_outputs_mirror_inputs(corpus_dir, tmp_path) -> None:
    out = tmp_path / "out"
    result = invoke("semdedup", str(corpus_dir), "-o", str(out), "--eps", "0.05", "--id-column", "id")
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    rows = report["rows"]
    assert rows["kept"] + rows["removed"] == rows["in"] == 600
    assert rows["removed"] > 20 and rows["rejected"] == 0
    assert report["command"] == "diversity semdedup" and report["inputs"]["count"] == 3
    kept, removed = read_dir(out / "kept"), read_dir(out / "removed")
    inputs = read_dir(corpus_dir)
    assert set(kept) == set(removed) == set(inputs)
    for name, table in inputs.items():
        assert kept[name].schema == table.schema
        assert kept[name].num_rows + removed[name].num_rows == table.num_rows
        assert removed[name].column_names == [
            *table.column_names,
            "duplicate_of",
            "cluster_id",
            "similarity",
            "reason",
        ]
    all_kept = pa.concat_tables(kept.values())
    all_removed = pa.concat_tables(removed.values())
    kept_ids = set(all_kept.column("id").to_pylist())
    assert set(all_removed.column("duplicate_of").to_pylist()) <= kept_ids
    assert min(all_removed.column("similarity").to_pylist()) > 0.95
    assert (out / "centroids.npy").is_file()
    assert set(report["stages"]) >= {"read", "semdedup", "write"}
    assert report["outputs"] == {"kept": "kept/", "removed": "removed/", "centroids": "centroids.npy"}
    # a rerun refuses the existing OUT, and --overwrite gives the same result
    again = invoke("semdedup", str(corpus_dir), "-o", str(out), "--eps", "0.05", "--id-column", "id")
    assert again.exit_code == 2 and "--overwrite" in again.output
    again = invoke(
        "semdedup", str(corpus_dir), "-o", str(out), "--eps", "0.05", "--id-column", "id", "--overwrite"
    )
    assert again.exit_code == 0
    assert pa.concat_tables(read_dir(out / "removed").values()).equals(all_removed)


def test_semdedup_scores_only(corpus_dir, tmp_path) -> None:
    out = tmp_path / "scores"
    result = invoke("semdedup", str(corpus_dir), "-o", str(out), "--scores-only", "--n-clusters", "3")
    assert result.exit_code == 0, result.output
    scores = pq.read_table(out / "scores.parquet")
    assert scores.num_rows == 600 and scores.column_names == [
        "id",
        "cluster_id",
        "max_similarity",
        "nearest_id",
    ]
    report = json.loads((out / "report.json").read_text())
    assert (
        sum(report["similarity_histogram"]["counts"]) + report["similarity_histogram"]["no_neighbour"] == 600
    )
    assert not (out / "kept").exists()


@pytest.mark.parametrize("method", ["kcenter", "cluster-balanced", "score-first", "facility-location"])
def test_select_methods(corpus_dir, tmp_path, method: str) -> None:
    table = pq.read_table(sorted(corpus_dir.glob("*.parquet"))[0])
    data = tmp_path / "data.jsonl"
    scored = table.append_column("quality", pa.array(np.linspace(0, 1, table.num_rows)))
    data.write_text("".join(json.dumps(r) + "\n" for r in scored.to_pylist()))
    out = tmp_path / "sel"
    result = invoke(
        "select", str(data), "-o", str(out), "--budget", "10%", "--method", method,
        "--score-column", "quality", "--format", "jsonl",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert (report["rows"]["in"], report["rows"]["kept"], report["rows"]["removed"]) == (200, 20, 180)
    kept = (out / "kept" / "data.jsonl").read_text().splitlines()
    removed = [json.loads(line) for line in (out / "removed" / "data.jsonl").read_text().splitlines()]
    assert len(kept) == 20 and len(removed) == 180
    selection = pq.read_table(out / "selection.parquet").column("id").to_pylist()
    assert {r["duplicate_of"] for r in removed} <= set(selection)
    assert all(method in r["reason"] for r in removed)


def test_embed_then_reuse_embeddings(corpus_dir, tmp_path) -> None:
    out = tmp_path / "emb"
    result = invoke(
        "embed", str(corpus_dir), "-o", str(out), "--dim", "64", "--cache-dir", str(tmp_path / "cache")
    )
    assert result.exit_code == 0, result.output
    vectors = np.load(out / "embeddings.npy")
    assert vectors.shape == (600, 64) and vectors.dtype == np.float32
    assert pq.read_table(out / "ids.parquet").column("id").to_pylist() == list(range(600))
    sel = invoke("select", str(corpus_dir), "-o", str(tmp_path / "s"), "--budget", "50",
                 "--embeddings", str(out / "embeddings.npy"))  # fmt: skip
    assert sel.exit_code == 0, sel.output
    wrong = invoke("select", str(sorted(corpus_dir.glob("*.parquet"))[0]), "-o", str(tmp_path / "w"),
                   "--budget", "5", "--embeddings", str(out / "embeddings.npy"))  # fmt: skip
    assert wrong.exit_code == 2 and "600 embedding rows but the inputs have 200 rows" in wrong.output


def test_embedding_column_errors_name_file_and_row(tmp_path) -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(30, 8)).astype(np.float32)
    vectors[17, 3] = np.nan
    table = pa.table(
        {"text": [str(i) for i in range(30)], "emb": pa.array(list(vectors), pa.list_(pa.float32()))}
    )
    data = tmp_path / "in"
    data.mkdir()
    pq.write_table(table.slice(0, 10), data / "a.parquet")
    pq.write_table(table.slice(10), data / "b.parquet")
    result = invoke("semdedup", str(data), "-o", str(tmp_path / "o"), "--embedding-column", "emb")
    assert result.exit_code == 2
    assert "b.parquet row 7 has a NaN" in result.output
    ragged = pa.table({"emb": pa.array([[1.0, 2.0], [1.0, 2.0, 3.0]])})
    pq.write_table(ragged, tmp_path / "r.parquet")
    result = invoke(
        "semdedup", str(tmp_path / "r.parquet"), "-o", str(tmp_path / "o2"), "--embedding-column", "emb"
    )
    assert result.exit_code == 2 and "row 1 has 3 values" in result.output
    missing = invoke(
        "semdedup", str(data / "a.parquet"), "-o", str(tmp_path / "o3"), "--embedding-column", "x"
    )
    assert missing.exit_code == 2 and "column 'x' not found" in missing.output


def test_measure_compares_datasets(corpus_dir, tmp_path) -> None:
    files = sorted(corpus_dir.glob("*.parquet"))
    rng = np.random.default_rng(1)
    np.save(tmp_path / "narrow.npy", (np.ones(64) + 0.01 * rng.normal(size=(200, 64))).astype(np.float32))
    out = tmp_path / "m"
    result = invoke(
        "measure", f"one={files[0]}", f"two={files[1]},{files[2]}", str(tmp_path / "narrow.npy"),
        "--dim", "64", "-o", str(out), "--n-clusters", "8", "--save-centroids", str(tmp_path / "c.npy"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())["datasets"]
    assert report["one"]["rows"] == 200 and report["two"]["rows"] == 400
    narrow = report[str(tmp_path / "narrow.npy")]
    assert narrow["vendi"]["value"] < report["one"]["vendi"]["value"]
    assert narrow["mean_centroid_distance"] < report["one"]["mean_centroid_distance"]
    assert np.load(tmp_path / "c.npy").shape == (8, 64)
