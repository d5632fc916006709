"""Inputs and outputs on object stores: an S3 API server (moto) started by the tests, and fsspec's memory://."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from stemmatic.cli import app
from stemmatic.dedup import dedup
from stemmatic.exceptions import ParameterError
from stemmatic.io import iter_chunks, resolve_inputs

TEXT = "the quick brown fox jumps over the lazy dog " * 5
ROWS = [{"id": i, "text": t} for i, t in enumerate([TEXT, TEXT + "again", "something else entirely here"])]
BLOB = "".join(json.dumps(r) + "\n" for r in ROWS).encode()


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[pafs.S3FileSystem]:
    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        fs = pafs.S3FileSystem(
            endpoint_override=f"127.0.0.1:{port}",
            scheme="http",
            region="us-east-1",
            allow_bucket_creation=True,
        )
        fs.create_dir("corpus")
        for name in ("a.jsonl", "sub/b.jsonl"):
            with fs.open_output_stream(f"corpus/in/{name}") as out:
                out.write(BLOB)
        with fs.open_output_stream("corpus/in/state.json") as out:
            out.write(b"{}")
        yield fs
    server.stop()


def _local_copy(tmp_path: Path) -> Path:
    (tmp_path / "in" / "sub").mkdir(parents=True)
    for name in ("a.jsonl", "sub/b.jsonl"):
        (tmp_path / "in" / name).write_bytes(BLOB)
    return tmp_path / "in"


def test_s3_directory_is_listed_like_a_local_one(s3: pafs.S3FileSystem) -> None:
    files = resolve_inputs(["s3://corpus/in"])
    assert [str(f.path) for f in files] == ["s3://corpus/in/a.jsonl", "s3://corpus/in/sub/b.jsonl"]
    assert [str(p) for p, _ in files.skipped] == ["s3://corpus/in/state.json"]
    assert [f.shard_name for f in files] == ["a", "sub/b"]  # the layout below in/ is kept
    rows = [r for c in iter_chunks(files) for r in c.batch.to_pylist()]
    assert rows == ROWS + ROWS
    assert [str(f.path) for f in resolve_inputs(["s3://corpus/in/**/*.jsonl"])] == [
        "s3://corpus/in/a.jsonl",
        "s3://corpus/in/sub/b.jsonl",
    ]


def test_dedup_from_s3_to_s3_equals_the_local_run(s3: pafs.S3FileSystem, tmp_path: Path) -> None:
    local = dedup(_local_copy(tmp_path), tmp_path / "out", threshold=0.7)
    remote = dedup("s3://corpus/in", "s3://corpus/out", threshold=0.7)
    assert (remote.input_rows, remote.kept_rows, remote.removed_rows) == (6, 2, 4)
    for part in (
        "kept/a.parquet",
        "kept/sub/b.parquet",  # in/sub/b.jsonl: the layout below the input directory is mirrored
        "removed/a.parquet",
        "removed/sub/b.parquet",
        "clusters.parquet",
    ):
        with s3.open_input_file(f"corpus/out/{part}") as fh:
            assert pq.read_table(fh).to_pylist() == pq.read_table(tmp_path / "out" / part).to_pylist()
    report = json.loads(s3.open_input_stream("corpus/out/report.json").read())
    assert report["rows"] == local.report["rows"]


def test_remote_output_rules(s3: pafs.S3FileSystem) -> None:
    with pytest.raises(ParameterError, match="overlaps the input s3://corpus/in"):
        dedup("s3://corpus/in", "s3://corpus/in/out")
    dedup("s3://corpus/in/a.jsonl", "s3://corpus/rules", threshold=0.7)
    with pytest.raises(ParameterError, match="not empty; pass --overwrite"):
        dedup("s3://corpus/in/a.jsonl", "s3://corpus/rules", threshold=0.7)
    with pytest.raises(ParameterError, match="--resume needs a local output directory"):
        dedup("s3://corpus/in/a.jsonl", "s3://corpus/rules", resume=True)
    dedup("s3://corpus/in/a.jsonl", "s3://corpus/rules", threshold=0.7, overwrite=True)


def test_cli_reads_and_writes_urls(s3: pafs.S3FileSystem) -> None:
    result = CliRunner().invoke(
        app, ["dedup", "s3://corpus/in", "-o", "s3://corpus/cli", "--threshold", "0.7"]
    )
    assert result.exit_code == 0, result.output
    assert s3.get_file_info("corpus/cli/report.json").type == pafs.FileType.File
    missing = CliRunner().invoke(app, ["dedup", "s3://corpus/nope", "-o", "s3://corpus/x"])
    assert missing.exit_code == 2
    assert "s3://corpus/nope: no such file or directory" in missing.output


def test_lineage_texts_from_s3(s3: pafs.S3FileSystem, tmp_path: Path) -> None:
    from stemmatic.lineage import LineageGraph
    from stemmatic.lineage.export import write_node_link

    graph = LineageGraph()
    graph.add_edge("org/a", "org/b", "subset")
    write_node_link(graph, tmp_path / "g.json")
    result = CliRunner().invoke(
        app,
        [
            "lineage",
            "redundancy",
            str(tmp_path / "g.json"),
            "org/a",
            "org/b",
            "--texts",
            "org/a=s3://corpus/in",  # state.json beside the data is skipped, not read as documents
            "--texts",
            "org/b=s3://corpus/in/a.jsonl",
            "--json",
            str(tmp_path / "r.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "r.json").read_text())["empirical_containment"] == [[1.0, 1.0], [1.0, 1.0]]


def test_resofilter_from_s3_to_s3_equals_the_local_run(s3: pafs.S3FileSystem, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from stemmatic.resofilter import ScoreConfig, Tokenizer, score_dataset, select_dataset
    from stemmatic.resofilter.tiny import ByteTokenizer, tiny_transformer

    sft = "".join(json.dumps({"prompt": f"q{i % 5}", "response": "a" * i}) + "\n" for i in range(12))
    with s3.open_output_stream("corpus/sft/sft.jsonl") as out:
        out.write(sft.encode())
    (tmp_path / "sft.jsonl").write_text(sft)
    model = tiny_transformer(d_model=16, n_layers=2, n_heads=2, d_ff=16)
    tok = Tokenizer.from_byte_tokenizer(ByteTokenizer())
    config = ScoreConfig(device="cpu")
    local = score_dataset(tmp_path / "sft.jsonl", tmp_path / "scored", model, tok, config=config)
    remote = score_dataset("s3://corpus/sft", "s3://corpus/scored", model, tok, config=config)
    assert remote.num_rows == local.num_rows == 12
    with s3.open_input_stream("corpus/scored/scores.parquet") as fh:
        assert fh.read() == (tmp_path / "scored" / "scores.parquet").read_bytes()
    select_dataset(
        tmp_path / "sft.jsonl", tmp_path / "scored" / "scores.parquet", tmp_path / "sel", drop_ratio=0.5
    )
    result = CliRunner().invoke(
        app,
        [
            "resofilter",
            "select",
            "s3://corpus/sft",
            "--scores",
            "s3://corpus/scored/scores.parquet",
            "-o",
            "s3://corpus/selected",
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    for part in ("kept/sft.parquet", "removed/sft.parquet", "selection.parquet"):
        with s3.open_input_stream(f"corpus/selected/{part}") as fh:
            assert fh.read() == (tmp_path / "sel" / part).read_bytes(), part


def test_fsspec_memory_filesystem(tmp_path: Path) -> None:
    import fsspec

    memory = fsspec.filesystem("memory")
    memory.pipe("/stemmatic-test/a.jsonl", BLOB)
    result = dedup("memory://stemmatic-test", tmp_path / "out", threshold=0.7)
    assert (result.input_rows, result.kept_rows) == (3, 2)
    assert pq.read_table(tmp_path / "out" / "kept" / "a.parquet").column("id").to_pylist() == [0, 2]


def test_ray_engine_reads_s3(s3: pafs.S3FileSystem, tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    # Started after the S3 fixture: the workers inherit its endpoint and credentials
    # (so a Ray another test left running, started without them, is shut down first).
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        result = CliRunner().invoke(
            app,
            ["dedup", "s3://corpus/in", "-o", str(tmp_path / "ray"), "--threshold", "0.7", "--engine", "ray"],
        )
    finally:
        ray.shutdown()
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "ray" / "report.json").read_text())
    assert (report["rows"]["in"], report["rows"]["kept"], report["rows"]["removed"]) == (6, 2, 4)
