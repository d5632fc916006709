"""The corpus API of stemmatic.diversity: paths or tables in, files or Arrow tables out; the CLI's options."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import stemmatic
from stemmatic.cli import app
from stemmatic.diversity import (
    embed_corpus,
    measure_corpus,
    select_corpus,
    semdedup_corpus,
    semdedup_scores_corpus,
)
from stemmatic.exceptions import InvalidInputError, ParameterError
from stemmatic.synthetic import generate_corpus, write_shards

runner = CliRunner()
REMOVED = ["duplicate_of", "cluster_id", "similarity", "reason"]


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("corpus")
    write_shards(generate_corpus(300, seed=4, max_words=120), directory, shards=2)
    return directory


@pytest.fixture(scope="module")
def table(corpus_dir: Path) -> pa.Table:
    return pa.concat_tables(pq.read_table(p) for p in sorted(corpus_dir.glob("*.parquet")))


def read_side(directory: Path) -> pa.Table:
    return pa.concat_tables(pq.read_table(p) for p in sorted(directory.glob("*.parquet")))


def test_semdedup_table_in_tables_out_equal_the_files(
    corpus_dir: Path, table: pa.Table, tmp_path: Path
) -> None:
    in_memory = semdedup_corpus(table, eps=0.05, id_column="id", dim=128)
    assert in_memory.output is None and in_memory.rejected is None
    assert in_memory.kept is not None and in_memory.removed is not None
    assert in_memory.kept_rows + in_memory.removed_rows == in_memory.input_rows == table.num_rows
    assert in_memory.removed_rows > 10
    assert in_memory.kept.schema == table.schema
    assert in_memory.removed.column_names == [*table.column_names, *REMOVED]
    kept_ids = set(in_memory.kept.column("id").to_pylist())
    assert set(in_memory.removed.column("duplicate_of").to_pylist()) <= kept_ids
    rows = in_memory.report["rows"]
    assert (rows["in"], rows["kept"], rows["removed"]) == (300, in_memory.kept_rows, in_memory.removed_rows)
    assert in_memory.report["inputs"]["files"] == ["input table"]
    assert in_memory.report["outputs"] == {}  # nothing written
    # the same rows, decided the same way, as a run over the files into a directory
    on_disk = semdedup_corpus(
        sorted(corpus_dir.glob("*.parquet")), tmp_path / "out", eps=0.05, id_column="id", dim=128
    )
    assert on_disk.output == tmp_path / "out" and on_disk.kept is None
    assert read_side(tmp_path / "out" / "kept").equals(in_memory.kept)
    assert read_side(tmp_path / "out" / "removed").equals(in_memory.removed)
    assert np.array_equal(np.load(tmp_path / "out" / "centroids.npy"), in_memory.centroids)


@pytest.mark.parametrize("kind", ["pandas", "polars", "reader", "datasets"])
def test_dataframes_and_streams_are_inputs(kind: str, table: pa.Table) -> None:
    source: object
    if kind == "pandas":
        pytest.importorskip("pandas")
        source = table.to_pandas()
    elif kind == "polars":
        polars = pytest.importorskip("polars")
        source = polars.from_arrow(table)
    elif kind == "datasets":
        datasets = pytest.importorskip("datasets")
        source = datasets.Dataset.from_dict(table.to_pydict())
    else:  # a one-shot stream: read twice only because it is staged
        source = table.to_reader(max_chunksize=50)
    expected = select_corpus(table, budget=30, id_column="id", dim=64)
    result = select_corpus(source, budget=30, id_column="id", dim=64)
    # pandas gives back string for large_string: compare the values
    assert result.selection.to_pylist() == expected.selection.to_pylist()
    assert result.kept is not None and result.kept.num_rows == 30
    assert result.kept.column("id").to_pylist() == expected.kept.column("id").to_pylist()  # type: ignore[union-attr]
    assert result.removed is not None and result.removed.num_rows == table.num_rows - 30


def test_select_in_memory_matches_its_files(table: pa.Table, tmp_path: Path) -> None:
    scored = table.append_column("quality", pa.array(np.linspace(0, 1, table.num_rows)))
    result = select_corpus(scored, budget="10%", method="score-first", score_column="quality", dim=64)
    assert result.kept_rows == 30 and result.selection.column_names == ["rank", "id"]
    assert result.selection.column("rank").to_pylist() == list(range(30))
    assert set(result.removed.column("duplicate_of").to_pylist()) <= set(
        result.selection.column("id").to_pylist()
    )  # type: ignore[union-attr]
    written = select_corpus(
        scored, tmp_path / "sel", budget="10%", method="score-first", score_column="quality", dim=64
    )
    assert written.kept is None
    assert pq.read_table(tmp_path / "sel" / "kept" / "input.parquet").equals(result.kept)
    assert pq.read_table(tmp_path / "sel" / "selection.parquet").equals(result.selection)
    report = json.loads((tmp_path / "sel" / "report.json").read_text())
    assert (report["rows"]["in"], report["rows"]["kept"], report["rows"]["removed"]) == (300, 30, 270)
    assert report["selection"]["coverage_radius"] == pytest.approx(result.coverage_radius)
    assert report["parameters"]["method"] == "score-first"


def test_embeddings_as_array_or_column_give_the_embedders_answer(table: pa.Table) -> None:
    embedded = embed_corpus(table, dim=64)
    assert embedded.vectors.shape == (table.num_rows, 64) and embedded.vectors.dtype == np.float32
    assert embedded.ids.to_pylist() == list(range(table.num_rows))
    by_embedder = semdedup_corpus(table, eps=0.1, dim=64, n_clusters=3)
    by_array = semdedup_corpus(table, eps=0.1, embeddings=embedded.vectors, n_clusters=3)
    with_column = table.append_column("emb", pa.array(list(embedded.vectors), pa.list_(pa.float32())))
    by_column = semdedup_corpus(with_column, eps=0.1, embedding_column="emb", n_clusters=3)
    assert by_array.removed.equals(by_embedder.removed)  # type: ignore[union-attr]
    assert by_column.removed.drop_columns(["emb"]).equals(by_embedder.removed)  # type: ignore[union-attr]
    with pytest.raises(InvalidInputError, match="shape"):
        semdedup_corpus(table, embeddings=embedded.vectors[:10])
    with pytest.raises(ParameterError, match="not both"):
        semdedup_corpus(with_column, embedding_column="emb", embeddings=embedded.vectors)


def test_scores_corpus_in_memory(table: pa.Table) -> None:
    result = semdedup_scores_corpus(table, id_column="id", dim=64, n_clusters=2)
    assert result.output is None
    assert result.scores.column_names == ["id", "cluster_id", "max_similarity", "nearest_id"]
    assert result.scores.column("id").to_pylist() == table.column("id").to_pylist()
    histogram = result.report["similarity_histogram"]
    assert sum(histogram["counts"]) + histogram["no_neighbour"] == table.num_rows
    assert result.report["parameters"]["eps"] is None and result.centroids.shape[0] == 2


def test_skipped_lines_come_back_as_a_table(tmp_path: Path) -> None:
    data = tmp_path / "a.jsonl"
    lines = [json.dumps({"text": f"document number {i} about topic {i % 7}"}) for i in range(40)]
    lines.insert(5, '{"text": broken')
    data.write_text("\n".join(lines) + "\n")
    with pytest.raises(InvalidInputError, match=r"a\.jsonl:6: malformed"):
        select_corpus(data, budget=5, dim=32)
    result = select_corpus(data, budget=5, dim=32, on_error="skip")
    assert (result.input_rows, result.rejected_rows) == (41, 1)
    assert result.rejected is not None and result.rejected.column("line").to_pylist() == [6]
    assert result.kept_rows + result.removed_rows == 40
    assert result.report["rows"]["rejected"] == 1 and result.report["warnings"] == []


def test_bad_vectors_in_a_table_are_named_by_row(table: pa.Table) -> None:
    vectors = np.random.default_rng(0).normal(size=(table.num_rows, 8)).astype(np.float32)
    vectors[123, 4] = np.nan
    with_column = table.append_column("emb", pa.array(list(vectors), pa.list_(pa.float32())))
    with pytest.raises(InvalidInputError, match="input table row 123 has a NaN"):
        semdedup_corpus(with_column, embedding_column="emb")


def test_errors_name_the_table_not_its_staging_file(table: pa.Table) -> None:
    with pytest.raises(InvalidInputError, match="input table") as caught:
        semdedup_corpus(table, embedding_column="missing")
    assert "stemmatic-in-" not in str(caught.value)
    with pytest.raises(ParameterError, match="table-like"):
        semdedup_corpus({"text": ["a"]})
    with pytest.raises(ParameterError, match="eps"):
        semdedup_corpus(table, eps=3.0)
    with pytest.raises(ParameterError, match="selection method"):
        select_corpus(table, budget=3, method="random")
    with pytest.raises(ParameterError, match="budget"):
        select_corpus(table, budget="lots")


def test_measure_corpus_mixes_tables_paths_and_arrays(
    corpus_dir: Path, table: pa.Table, tmp_path: Path
) -> None:
    rng = np.random.default_rng(1)
    narrow = (np.ones(64) + 0.01 * rng.normal(size=(100, 64))).astype(np.float32)
    files = sorted(corpus_dir.glob("*.parquet"))
    result = measure_corpus(
        {"table": table, "files": [str(p) for p in files], "narrow": narrow},
        tmp_path / "m",
        n_clusters=6,
        dim=64,
    )
    metrics = result.metrics
    assert metrics["table"]["rows"] == metrics["files"]["rows"] == 300
    assert metrics["table"]["vendi"] == metrics["files"]["vendi"]
    assert metrics["narrow"]["vendi"]["value"] < metrics["table"]["vendi"]["value"]
    assert result.centroids.shape == (6, 64)
    report = json.loads((tmp_path / "m" / "report.json").read_text())
    assert report["datasets"]["table"]["path"] == "input table"
    assert report["datasets"]["files"]["path"] == ",".join(str(p) for p in files)


def test_top_level_names() -> None:
    assert stemmatic.semdedup_corpus is semdedup_corpus
    assert stemmatic.select_corpus is select_corpus
    assert stemmatic.measure_diversity is measure_corpus
    assert stemmatic.embed_corpus is embed_corpus


# ---------------------------------------------------------------- the command line's options


def test_cli_output_option_names(corpus_dir: Path, tmp_path: Path) -> None:
    args = ["diversity", "select", str(corpus_dir), "--budget", "20", "--dim", "32", "-q"]
    assert runner.invoke(app, [*args, "--output", str(tmp_path / "a")]).exit_code == 0
    old_name = runner.invoke(app, [*args, "--out", str(tmp_path / "b")])  # the earlier name still works
    assert old_name.exit_code == 0, old_name.output
    assert read_side(tmp_path / "a" / "kept").equals(read_side(tmp_path / "b" / "kept"))
    both = runner.invoke(app, [*args, "-o", str(tmp_path / "c"), "--out", str(tmp_path / "d")])
    assert both.exit_code == 2 and "once" in both.output
    missing = runner.invoke(app, args)
    assert missing.exit_code == 2 and "-o/--output" in missing.output
    measured = runner.invoke(
        app, ["diversity", "measure", str(corpus_dir), "--dim", "32", "--out", str(tmp_path / "m")]
    )
    assert measured.exit_code == 0 and (tmp_path / "m" / "report.json").is_file()
    scores = runner.invoke(
        app,
        [
            "diversity",
            "semdedup",
            str(corpus_dir),
            "-o",
            str(tmp_path / "s"),
            "--scores-only",
            "--score-column",
            "x",
        ],
    )
    assert scores.exit_code == 2 and "--scores-only keeps no row" in scores.output
    help_text = runner.invoke(app, ["diversity", "select", "--help"]).output
    assert "--output" in help_text and "--out " not in help_text


@pytest.mark.parametrize(
    ("option", "value"),
    [("--format", "csv"), ("--method", "random"), ("--on-error", "ignore")],
)
def test_cli_choices_are_checked_before_running(
    option: str, value: str, corpus_dir: Path, tmp_path: Path
) -> None:
    result = runner.invoke(
        app,
        ["diversity", "select", str(corpus_dir), "-o", str(tmp_path / "o"), "--budget", "5", option, value],
    )
    assert result.exit_code == 2
    assert "Invalid value" in result.output and value in result.output
    assert not (tmp_path / "o").exists()


def test_cli_jsonl_with_compression(corpus_dir: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["diversity", "semdedup", str(corpus_dir), "-o", str(tmp_path / "o"), "--dim", "64", "-q",
         "--format", "jsonl", "--compression", "gzip"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "o" / "kept").iterdir()) == [
        "part-00000.jsonl.gz",
        "part-00001.jsonl.gz",
    ]
    bad = runner.invoke(
        app,
        ["diversity", "semdedup", str(corpus_dir), "-o", str(tmp_path / "p"), "--compression", "zip"],
    )
    assert bad.exit_code == 2 and "compression" in bad.output


def test_cli_reads_and_writes_urls(corpus_dir: Path) -> None:
    import fsspec

    memory = fsspec.filesystem("memory")
    for path in sorted(corpus_dir.glob("*.parquet")):
        memory.pipe(f"/stemmatic-div/in/{path.name}", path.read_bytes())
    result = runner.invoke(
        app,
        ["diversity", "select", "memory://stemmatic-div/in", "-o", "memory://stemmatic-div/out",
         "--budget", "10", "--dim", "32", "-q"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert memory.exists("/stemmatic-div/out/report.json")
    assert memory.exists("/stemmatic-div/out/kept/part-00000.parquet")
    again = select_corpus("memory://stemmatic-div/in", "memory://stemmatic-div/api", budget=10, dim=32)
    assert again.output == "memory://stemmatic-div/api"
    assert memory.cat("/stemmatic-div/api/selection.parquet") == memory.cat(
        "/stemmatic-div/out/selection.parquet"
    )
    memory.rm("/stemmatic-div", recursive=True)


def test_every_diversity_command_writes_the_one_report_schema(corpus_dir: Path, tmp_path: Path) -> None:
    from stemmatic._run import REPORT_KEYS

    data = tmp_path / "in.jsonl"
    good = [json.dumps({"text": f"document {i} about subject {i % 5} and more"}) for i in range(30)]
    data.write_text("\n".join([*good[:10], "{not json", *good[10:]]) + "\n")
    runs = {
        "embed": ["embed", str(data), "--dim", "32", "--on-error", "skip"],
        "semdedup": ["semdedup", str(data), "--dim", "32", "--on-error", "skip", "--eps", "0.2"],
        "scores": ["semdedup", str(data), "--dim", "32", "--on-error", "skip", "--scores-only"],
        "select": ["select", str(data), "--dim", "32", "--on-error", "skip", "--budget", "7"],
    }
    for name, args in runs.items():
        out = tmp_path / name
        result = runner.invoke(app, ["diversity", *args, "-o", str(out), "-q"])
        assert result.exit_code == 0, (name, result.output)
        report = json.loads((out / "report.json").read_text())
        assert list(report)[: len(REPORT_KEYS)] == list(REPORT_KEYS), name
        assert report["command"] == f"diversity {args[0]}"
        rows = report["rows"]
        assert (rows["in"], rows["rejected"]) == (31, 1), name
        if rows["kept"] is not None:
            assert rows["kept"] + rows["removed"] + rows["rejected"] == rows["in"]
        assert report["warnings"] == [] and report["inputs"]["files"] == [str(data)]
        assert report["outputs"]["rejected"] == "rejected/rejected.jsonl"
        assert all((out / path).exists() for path in report["outputs"].values()), name
    measured = runner.invoke(
        app, ["diversity", "measure", str(corpus_dir), "--dim", "32", "-o", str(tmp_path / "m")]
    )
    assert measured.exit_code == 0, measured.output
    report = json.loads((tmp_path / "m" / "report.json").read_text())
    assert list(report)[: len(REPORT_KEYS)] == list(REPORT_KEYS)
    assert report["rows"]["in"] == 300 and report["rows"]["kept"] is None
