"""Size- and row-capped output shards: the same rows, in the same order, as one file per input.

With ``max_shard_rows`` / ``max_shard_size`` the one kept/removed writer
(:class:`stemmatic.io.MirroredWriter`) numbers every output file
``NAME-00000.EXT``, ``NAME-00001.EXT``, ...; the shards of an input, read in
name order, hold exactly what the uncapped file holds.
"""

from __future__ import annotations

import bz2
import gzip
import json
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from stemmatic.exceptions import ParameterError
from stemmatic.io import MirroredWriter, resolve_inputs
from stemmatic.io._sinks import find_outputs, shard_caps


def _inputs(tmp_path: Path, names: list[str]) -> Any:
    for name in names:
        path = tmp_path / "in" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text('{"text": "x"}\n')
    return resolve_inputs([tmp_path / "in"])


def _batches(seed: int, count: int = 12, rows: int = 40) -> list[pa.Table]:
    rng = random.Random(seed)
    return [
        pa.table(
            {
                "text": [
                    "".join(rng.choice("abcdefgh ") for _ in range(rng.randint(0, 300))) for _ in range(rows)
                ],
                "n": list(range(b * rows, (b + 1) * rows)),
                "x": [rng.random() if rng.random() > 0.1 else None for _ in range(rows)],
            }
        )
        for b in range(count)
    ]


def _read(path: Path) -> list[Any]:
    if path.name.endswith(".parquet"):
        return pq.read_table(path).to_pylist()
    raw = path.read_bytes()
    if path.name.endswith(".gz"):
        raw = gzip.decompress(raw)
    elif path.name.endswith(".zst"):
        raw = zstandard.ZstdDecompressor().decompressobj().decompress(raw)
    elif path.name.endswith(".bz2"):
        raw = bz2.decompress(raw)
    return [json.loads(line) for line in raw.decode().split("\n")[:-1]]


def _write(directory: Path, files: Any, fmt: str, **options: Any) -> list[Path]:
    """Two inputs written interleaved (with at most two files open), as a split writes them."""
    writer = MirroredWriter(directory, files, fmt, max_open=2, **options)  # type: ignore[arg-type]
    for step, (a, b) in enumerate(zip(_batches(1), _batches(2), strict=True)):
        writer.write(0, a)
        writer.write(1, b)
        if step % 3 == 0:
            writer.write(2, a.slice(0, 5))  # a third input, to close and continue the others
    return writer.close()


CASES = [("parquet", None), ("jsonl", "none"), ("jsonl", "gzip"), ("jsonl", "zstd"), ("jsonl", "bz2")]


@pytest.mark.parametrize(("fmt", "compression"), CASES)
@pytest.mark.parametrize("caps", [{"max_shard_rows": 70}, {"max_shard_size": "6kB"}])
def test_capped_shards_concatenate_to_the_uncapped_file(
    tmp_path: Path, fmt: str, compression: str | None, caps: dict[str, Any]
) -> None:
    files = _inputs(tmp_path, ["a.jsonl", "sub/b.jsonl.gz", "c.jsonl"])
    whole = _write(tmp_path / "whole", files, fmt, compression=compression)
    capped = _write(tmp_path / "capped", files, fmt, compression=compression, **caps)
    assert capped == find_outputs(tmp_path / "capped", fmt)  # listed in row order, no part file left
    assert len(capped) > len(whole)
    suffix = {None: "", "none": "", "gzip": ".gz", "zstd": ".zst", "bz2": ".bz2"}[compression]
    for path in whole:
        stem = path.relative_to(tmp_path / "whole").as_posix().removesuffix(f".{fmt}{suffix}")
        shards = [p for p in capped if p.relative_to(tmp_path / "capped").as_posix().startswith(f"{stem}-")]
        assert [p.name for p in shards] == [
            f"{Path(stem).name}-{i:05d}.{fmt}{suffix}" for i in range(len(shards))
        ]
        assert [row for shard in shards for row in _read(shard)] == _read(path)
        counts = [len(_read(shard)) for shard in shards]
        if "max_shard_rows" in caps:
            assert all(c == 70 for c in counts[:-1]) and 0 < counts[-1] <= 70
        elif compression != "bz2":  # bz2 counts whole 900 kB blocks: one shard here
            assert all(shard.stat().st_size <= 2 * 6000 for shard in shards)


@pytest.mark.parametrize(("fmt", "compression"), CASES[:-1])  # (bz2 counts whole 900 kB blocks)
def test_a_shard_holds_at_least_one_row_however_large(
    tmp_path: Path, fmt: str, compression: str | None
) -> None:
    files = _inputs(tmp_path, ["a.jsonl"])
    writer = MirroredWriter(tmp_path / "out", files, fmt, compression=compression, max_shard_size=1)  # type: ignore[arg-type]
    table = _batches(3, count=1, rows=4)[0]
    writer.write(0, table.slice(0, 3))
    writer.write(0, table.slice(3))
    paths = writer.close()
    assert [_read(p) for p in paths] == [[row] for row in table.to_pylist()]


def test_untouched_inputs_get_one_empty_numbered_shard(tmp_path: Path) -> None:
    files = _inputs(tmp_path, ["a.jsonl", "b.jsonl"])
    writer = MirroredWriter(tmp_path / "out", files, "parquet", max_shard_rows=2)
    writer.write(1, pa.table({"text": ["x", "y", "z"]}))
    paths = writer.close({0: pa.schema([("text", pa.string())])})
    assert [p.name for p in paths] == ["a-00000.parquet", "b-00000.parquet", "b-00001.parquet"]
    assert [pq.read_metadata(p).num_rows for p in paths] == [0, 2, 1]


def test_a_field_first_seen_in_a_later_shard_is_kept(tmp_path: Path) -> None:
    files = _inputs(tmp_path, ["a.jsonl"])
    writer = MirroredWriter(tmp_path / "out", files, "parquet", max_shard_rows=2)
    writer.write(0, pa.table({"text": ["a"]}))
    writer.write(0, pa.table({"text": ["b", "c"], "new": [1, 2]}))
    paths = writer.close()
    rows = [row for p in paths for row in pq.read_table(p).to_pylist()]
    assert [r["text"] for r in rows] == ["a", "b", "c"]
    assert [r.get("new") for r in rows] == [None, 1, 2]


@pytest.mark.parametrize(
    ("size", "rows", "message"),
    [
        ("0", None, "max_shard_size"),
        ("big", None, "invalid size 'big'"),
        (None, 0, "max_shard_rows"),
        (None, 1.5, "max_shard_rows"),
    ],
)
def test_bad_caps_are_refused(size: Any, rows: Any, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        shard_caps(size, rows)


def test_caps_parse_sizes() -> None:
    assert shard_caps("512MB", 10) == shard_caps(512_000_000, 10)
    assert not shard_caps()


# -- every command that writes a corpus -------------------------------------------------


def _corpus(directory: Path) -> Path:
    """Three shards (Parquet, JSONL.gz, JSONL.zst) with near-duplicates across and within them."""
    rng = random.Random(7)
    words = [f"w{i}" for i in range(300)]
    base = [" ".join(rng.choice(words) for _ in range(60)) for _ in range(40)]
    docs = [b if rng.random() < 0.7 else b + " extra words at the end" for b in base for _ in range(3)]
    rng.shuffle(docs)
    rows = [{"id": f"d{i}", "text": t} for i, t in enumerate(docs)]
    directory.mkdir()
    pq.write_table(pa.Table.from_pylist(rows[:40]), directory / "a.parquet")
    lines = "".join(json.dumps(r) + "\n" for r in rows[40:80]).encode()
    (directory / "b.jsonl.gz").write_bytes(gzip.compress(lines))
    lines = "".join(json.dumps(r) + "\n" for r in rows[80:]).encode()
    (directory / "c.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(lines))
    return directory


def _joined(directory: Path) -> dict[str, list[Any]]:
    """The rows under ``directory`` by input stem, the capped shards of a stem joined in name order."""
    found: dict[str, list[Any]] = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and not p.name.startswith(".")):
        stem = path.name.split(".")[0]
        if stem[-6:-5] == "-" and stem[-5:].isdigit():
            stem = stem[:-6]
        found.setdefault(stem, []).extend(_read(path))
    return found


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _corpus(tmp_path_factory.mktemp("shards") / "in")


@pytest.mark.parametrize(
    ("fmt", "caps"), [("parquet", ["--max-shard-rows", "7"]), ("jsonl", ["--max-shard-size", "3kB"])]
)
def test_dedup_cli_shards_hold_the_uncapped_rows(
    corpus: Path, tmp_path: Path, fmt: str, caps: list[str]
) -> None:
    from typer.testing import CliRunner

    from stemmatic.cli import app

    for name, extra in (("whole", []), ("capped", caps)):
        args = ["dedup", str(corpus), "-o", str(tmp_path / name), "--format", fmt, "-q", "--threshold", "0.7"]
        result = CliRunner().invoke(app, [*args, *extra])
        assert result.exit_code == 0, result.output
        assert "LSH" not in result.stderr  # -q: nothing on stderr
    for side in ("kept", "removed"):
        whole, capped = _joined(tmp_path / "whole" / side), _joined(tmp_path / "capped" / side)
        assert capped == whole and sorted(whole) == ["a", "b", "c"]
        names = sorted(p.name for p in (tmp_path / "capped" / side).iterdir())
        assert len(names) > 3
        assert names[:2] == [f"a-00000.{fmt}", f"a-00001.{fmt}"]
    if fmt == "jsonl":  # JSONL keeps each input's compression
        assert {p.name.split(".", 1)[1] for p in (tmp_path / "capped" / "kept").iterdir()} == {
            "jsonl",
            "jsonl.gz",
            "jsonl.zst",
        }
    report = json.loads((tmp_path / "capped" / "report.json").read_text())
    assert str(report["parameters"]["max_shard_rows" if fmt == "parquet" else "max_shard_size"]) == caps[1]


def test_dedup_api_takes_the_caps(corpus: Path, tmp_path: Path) -> None:
    from stemmatic.dedup import dedup

    whole = dedup(corpus, tmp_path / "whole", threshold=0.7)
    capped = dedup(corpus, tmp_path / "capped", threshold=0.7, max_shard_rows=5, max_shard_size="1MB")
    assert capped.kept_rows == whole.kept_rows
    assert _joined(tmp_path / "capped" / "kept") == _joined(tmp_path / "whole" / "kept")
    assert all(pq.read_metadata(p).num_rows <= 5 for p in (tmp_path / "capped" / "kept").iterdir())
    with pytest.raises(ParameterError, match="max_shard_rows"):
        dedup(corpus, tmp_path / "bad", max_shard_rows=0)


def test_contamination_scan_shards_clean_and_removed(corpus: Path, tmp_path: Path) -> None:
    from stemmatic.contamination import ContaminationIndex, scan_corpus

    first = pq.read_table(corpus / "a.parquet").column("text").to_pylist()
    index = ContaminationIndex.from_records([{"p": t} for t in first[:5]], fields=["p"], ngram=8)
    scan_corpus([corpus], index, tmp_path / "whole", remove=True, output_format="jsonl")
    report = scan_corpus(
        [corpus], index, tmp_path / "capped", remove=True, output_format="jsonl", max_shard_rows=4
    )
    assert report["parameters"]["max_shard_rows"] == 4
    for side in ("clean", "removed"):
        assert _joined(tmp_path / "capped" / side) == _joined(tmp_path / "whole" / side)
    assert report["rows"]["removed"] > 0
    assert all(len(_read(p)) <= 4 for p in (tmp_path / "capped" / "clean").iterdir())


@pytest.mark.parametrize(
    ("words", "extra", "option", "where"),
    [
        (["dedup"], ["--engine", "ray"], "--max-shard-rows", "the local and Spark engines only"),
        (["dedup"], ["--engine", "spark"], "--max-shard-size", "the local engine only"),
        (
            ["contamination", "scan"],
            ["--index", "x.idx", "--engine", "ray", "--remove"],
            "--max-shard-rows",
            "the local and Spark engines only",
        ),
    ],
)
def test_engines_refuse_the_caps_they_cannot_honour_by_name(
    corpus: Path, tmp_path: Path, words: list[str], extra: list[str], option: str, where: str
) -> None:
    from typer.testing import CliRunner

    from stemmatic.cli import app

    out = tmp_path / "out"
    result = CliRunner().invoke(app, [*words, str(corpus), "-o", str(out), *extra, option, "5"])
    assert result.exit_code != 0
    assert f"{option} applies to {where}" in result.output
    assert not out.exists()


def _part_rows(directory: Path) -> list[int]:
    """The rows of each part file an engine wrote under ``directory``."""
    return [len(_read(p)) for p in sorted(directory.glob("part-*")) if not p.name.endswith(".crc")]


@pytest.mark.filterwarnings("ignore::FutureWarning")  # pyspark on pandas 3
@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_spark_caps_the_rows_of_its_part_files(
    corpus: Path, tmp_path: Path, local_spark: Any, fmt: str
) -> None:
    """``max_shard_rows`` on Spark (``maxRecordsPerFile``): no part file over the cap, the same rows in order."""
    from stemmatic.dedup import DedupConfig
    from stemmatic.engines.spark import dedup_to_directory

    for name, cap in (("whole", None), ("capped", 7)):
        config = DedupConfig(threshold=0.7, fmt=fmt, max_shard_rows=cap)  # type: ignore[arg-type]
        dedup_to_directory([str(corpus)], str(tmp_path / name), config=config)
    for side in ("kept", "removed"):
        rows = _part_rows(tmp_path / "capped" / side)
        assert max(rows) == 7 and sum(rows) == sum(_part_rows(tmp_path / "whole" / side))
        capped = [r for p in sorted((tmp_path / "capped" / side).glob("part-*")) for r in _read(p)]
        whole = [r for p in sorted((tmp_path / "whole" / side).glob("part-*")) for r in _read(p)]
        assert capped == whole


@pytest.mark.filterwarnings("ignore::FutureWarning")  # pyspark on pandas 3
def test_spark_scan_cli_caps_clean_and_removed_part_files(
    corpus: Path, tmp_path: Path, local_spark: Any
) -> None:
    from typer.testing import CliRunner

    from stemmatic.cli import app

    bench = tmp_path / "bench.jsonl"
    texts = [r["text"] for r in pq.read_table(corpus / "a.parquet").to_pylist()[:3]]
    bench.write_text("".join(json.dumps({"prompt": t}) + "\n" for t in texts))
    runner = CliRunner()
    index = tmp_path / "b.idx"
    assert runner.invoke(app, ["contamination", "index", str(bench), "-o", str(index)]).exit_code == 0
    args = ["contamination", "scan", str(corpus), "--index", str(index), "--engine", "spark", "--remove"]
    result = runner.invoke(app, [*args, "-o", str(tmp_path / "out"), "--max-shard-rows", "4"])
    assert result.exit_code == 0, result.output
    clean, removed = _part_rows(tmp_path / "out" / "clean"), _part_rows(tmp_path / "out" / "removed")
    assert max(clean) == 4 and sum(clean) + sum(removed) == 120 and sum(removed) > 0
    assert max(removed) <= 4


def test_a_bad_size_is_a_usage_error(corpus: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from stemmatic.cli import app

    result = CliRunner().invoke(
        app, ["dedup", str(corpus), "-o", str(tmp_path / "o"), "--max-shard-size", "lots"]
    )
    assert result.exit_code == 2
    assert "invalid size 'lots'" in result.output


@pytest.mark.parametrize("command", [["semdedup", "--eps", "0.3"], ["select", "--budget", "0.5"]])
def test_diversity_cli_shards_hold_the_uncapped_rows(
    corpus: Path, tmp_path: Path, command: list[str]
) -> None:
    pytest.importorskip("faiss")
    from typer.testing import CliRunner

    from stemmatic.cli import app

    for name, extra in (("whole", []), ("capped", ["--max-shard-rows", "6"])):
        args = ["diversity", *command, str(corpus), "-o", str(tmp_path / name), "--format", "jsonl", "-q"]
        result = CliRunner().invoke(app, [*args, *extra])
        assert result.exit_code == 0, result.output
    for side in ("kept", "removed"):
        assert _joined(tmp_path / "capped" / side) == _joined(tmp_path / "whole" / side)
        assert all(len(_read(p)) <= 6 for p in (tmp_path / "capped" / side).iterdir())
    assert any(len(_read(p)) == 6 for p in (tmp_path / "capped" / "removed").iterdir())


def test_resofilter_select_takes_the_caps(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from stemmatic.resofilter.api import select_dataset

    rows = [{"prompt": f"{i}+1=", "response": str(i + 1)} for i in range(20)]
    (tmp_path / "sft.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    scores = pa.table(
        {
            "row": list(range(20)),
            "status": ["ok"] * 20,
            "score": [float(i % 7) for i in range(20)],
            "num_response_tokens": [2] * 20,
        }
    )
    whole = select_dataset(tmp_path / "sft.jsonl", scores, tmp_path / "whole", drop_ratio=0.5)
    capped = select_dataset(
        tmp_path / "sft.jsonl", scores, tmp_path / "capped", drop_ratio=0.5, max_shard_rows=3
    )
    assert capped.kept_rows == whole.kept_rows == 10
    for side in ("kept", "removed"):
        assert _joined(tmp_path / "capped" / side) == _joined(tmp_path / "whole" / side)
        assert [p.name for p in sorted((tmp_path / "capped" / side).iterdir())][:2] == [
            "sft-00000.parquet",
            "sft-00001.parquet",
        ]
    assert capped.report["parameters"]["max_shard_rows"] == 3


def _api(name: str) -> Any:
    """A corpus API that writes kept/removed shards, called with only its output options varying."""
    if name == "resofilter":
        from stemmatic.resofilter.api import select_dataset

        return lambda corpus, out, **options: select_dataset(corpus, "scores.parquet", out, **options)
    if name == "contamination":
        from stemmatic.contamination import scan_corpus

        return lambda corpus, out, **options: scan_corpus([corpus], "index", out, remove=True, **options)
    from stemmatic.diversity import corpus as diversity

    if name == "semdedup":
        return diversity.semdedup_corpus
    return lambda corpus, out, **options: diversity.select_corpus(corpus, out, budget=2, **options)


@pytest.mark.parametrize("api", ["semdedup", "select", "resofilter", "contamination"])
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"output_format": "csv"}, r"invalid output format 'csv'; expected 'parquet' or 'jsonl'"),
        ({"output_format": "jsonl", "compression": "snappy"}, r"invalid compression 'snappy' for jsonl"),
        ({"max_shard_rows": 0}, r"invalid parameter `max_shard_rows`: 0; must be at least 1"),
    ],
)
def test_corpus_apis_check_their_output_options_alike(
    corpus: Path, tmp_path: Path, api: str, options: dict[str, Any], message: str
) -> None:
    """One check (io._sinks.check_output), one message, before anything is read or written."""
    with pytest.raises(ParameterError, match=message):
        _api(api)(corpus, tmp_path / "out", **options)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("engine", "option"),
    [
        *[
            (engine, option)
            for engine in ("ray", "spark")
            for option in (
                {"max_shard_size": "1MB"},
                {"compression": "gzip"},
                {"emit_pairs": True},
                {"removed_text": False},
            )
        ],
        ("ray", {"max_shard_rows": 5}),  # Spark honours it: test_spark_caps_the_rows_of_its_part_files
    ],
)
def test_engine_apis_refuse_what_they_cannot_honour(
    corpus: Path, tmp_path: Path, engine: str, option: dict[str, Any]
) -> None:
    """Refused before the engine starts or anything is written (the engines write their own part files)."""
    import importlib

    from stemmatic.dedup import DedupConfig

    pytest.importorskip("ray" if engine == "ray" else "pyspark")
    module = importlib.import_module(f"stemmatic.engines.{engine}")
    (name,) = option
    # Flags are named as the CLI spells them; the other options by their Python name.
    shown = {"emit_pairs": "--emit-pairs", "removed_text": "--no-removed-text"}.get(name, name)
    where = "the local and Spark engines" if name == "max_shard_rows" else "the local engine"
    with pytest.raises(ParameterError, match=f"{shown} applies to {where} only, not --engine {engine}"):
        module.dedup_to_directory([str(corpus)], str(tmp_path / "out"), config=DedupConfig(**option))
    assert not (tmp_path / "out").exists()
