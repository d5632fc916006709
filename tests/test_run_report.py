"""One output contract: every corpus command writes report.json with the same schema, and one progress display.

Each command runs on the same tiny corpus (two JSONL shards, one malformed
line, a Spark ``_SUCCESS`` marker the directory scan skips); its report must
have the shared keys in order, count the rows it really wrote, account for
every input row (in == kept + removed + rejected where the command splits),
and list outputs that exist.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.json as pajson
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import stemmatic
from stemmatic._run import REPORT_KEYS, REPORT_VERSION, Rows, StageTimer, run_report
from stemmatic.cli import app
from stemmatic.cli._progress import LogStages, RichStages

BASE = "the quick brown fox jumps over the lazy dog while the cat sleeps on the warm mat by the door"
PLANT = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi"
GOOD_LINES = 12  # valid rows in the corpus
BAD_LINES = 1  # the malformed line


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    data = root / "in"
    data.mkdir()
    first = [BASE, BASE + " again", BASE + " again", "an unrelated line about rivers and stones", PLANT]
    second = [f"document number {i} says something different: {'word ' * i}" for i in range(6)]
    second.append(BASE)
    (data / "a.jsonl").write_text(
        "".join(json.dumps({"id": f"a{i}", "text": t}) + "\n" for i, t in enumerate(first))
    )
    lines = [json.dumps({"id": f"b{i}", "text": t}) for i, t in enumerate(second)]
    lines.insert(3, '{"id": "broken", "text": ')  # malformed: skipped with --on-error skip
    (data / "b.jsonl").write_text("\n".join(lines) + "\n")
    (data / "_SUCCESS").write_text("")
    bench = root / "bench.jsonl"
    bench.write_text(json.dumps({"prompt": PLANT}) + "\n")
    assert (
        CliRunner()
        .invoke(app, ["contamination", "index", str(bench), "-o", str(root / "bench.idx"), "--ngram", "5"])
        .exit_code
        == 0
    )
    return root


@pytest.fixture(scope="module")
def sft(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sft")
    rows = [{"prompt": f"{i}+1=", "response": str(i + 1)} for i in range(5)] + [
        {"prompt": "0+1=", "response": "x"}
    ]
    (root / "sft.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def _cli(*args: object) -> None:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output


def _rows_in(directory: Path) -> int:
    total = 0
    for path in sorted(directory.rglob("*")):
        if path.suffix == ".parquet":
            total += pq.read_metadata(path).num_rows
        elif path.suffix == ".jsonl" and path.stat().st_size:
            total += pajson.read_json(path).num_rows
    return total


def _dedup(corpus: Path, out: Path, *extra: str) -> tuple[str, int, int]:
    _cli("dedup", corpus / "in", "-o", out, "--on-error", "skip", "--threshold", "0.7", "-q", *extra)
    return "dedup", GOOD_LINES + BAD_LINES, BAD_LINES


def _scan(corpus: Path, out: Path, *extra: str) -> tuple[str, int, int]:
    _cli(
        "contamination", "scan", corpus / "in", "--index", corpus / "bench.idx", "-o", out,
        "--on-error", "skip", "-q", *extra,
    )  # fmt: skip
    return "contamination scan", GOOD_LINES + BAD_LINES, BAD_LINES


def _diversity(corpus: Path, out: Path, command: str, *extra: str) -> tuple[str, int, int]:
    pytest.importorskip("faiss")
    _cli("diversity", command, corpus / "in", "-o", out, "--on-error", "skip", "-q", *extra)
    return f"diversity {command}", GOOD_LINES + BAD_LINES, BAD_LINES


def _measure(corpus: Path, out: Path) -> tuple[str, int, int]:
    pytest.importorskip("faiss")
    _cli("diversity", "measure", corpus / "in" / "a.jsonl", "-o", out, "-q")
    return "diversity measure", 5, 0


def _score(sft: Path, out: Path) -> None:
    from stemmatic.resofilter.api import score_dataset
    from stemmatic.resofilter.data import Tokenizer
    from stemmatic.resofilter.scoring import ScoreConfig
    from stemmatic.resofilter.tiny import ByteTokenizer, tiny_transformer

    model = tiny_transformer(d_model=16, n_layers=2, n_heads=2, d_ff=16)
    tok = Tokenizer.from_byte_tokenizer(ByteTokenizer())
    score_dataset(sft / "sft.jsonl", out, model, tok, config=ScoreConfig(device="cpu"))


def _resofilter_score(sft: Path, out: Path) -> tuple[str, int, int]:
    pytest.importorskip("torch")
    _score(sft, out)
    return "resofilter score", 6, 0


def _resofilter_select(sft: Path, out: Path) -> tuple[str, int, int]:
    pytest.importorskip("torch")
    from stemmatic.resofilter.api import select_dataset

    _score(sft, out.parent / "scored")
    select_dataset(sft / "sft.jsonl", out.parent / "scored" / "scores.parquet", out, drop_ratio=0.5)
    return "resofilter select", 6, 0


RUNS: dict[str, Callable[[Path, Path, Path], tuple[str, int, int]]] = {
    "dedup": lambda corpus, sft, out: _dedup(corpus, out),
    "dedup-jsonl-pairs": lambda corpus, sft, out: _dedup(corpus, out, "--format", "jsonl", "--emit-pairs"),
    "dedup-spark": lambda corpus, sft, out: _dedup(corpus, out, "--engine", "spark"),
    "scan": lambda corpus, sft, out: _scan(corpus, out),
    "scan-remove": lambda corpus, sft, out: _scan(corpus, out, "--remove"),
    "scan-spark-remove": lambda corpus, sft, out: _scan(corpus, out, "--remove", "--engine", "spark"),
    "diversity-semdedup": lambda corpus, sft, out: _diversity(corpus, out, "semdedup", "--eps", "0.05"),
    "diversity-select": lambda corpus, sft, out: _diversity(corpus, out, "select", "--budget", "5"),
    "diversity-embed": lambda corpus, sft, out: _diversity(corpus, out, "embed"),
    "diversity-measure": lambda corpus, sft, out: _measure(corpus, out),
    "resofilter-score": lambda corpus, sft, out: _resofilter_score(sft, out),
    "resofilter-select": lambda corpus, sft, out: _resofilter_select(sft, out),
}


#: pyspark warns about the installed pandas and numpy on import (not ours).
SPARK_MARKS = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::FutureWarning:pyspark.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]


@pytest.mark.parametrize(
    "name", [pytest.param(name, marks=SPARK_MARKS) if "spark" in name else name for name in RUNS]
)
def test_every_corpus_command_writes_the_one_report_schema(
    name: str, corpus: Path, sft: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if "spark" in name:
        request.getfixturevalue("local_spark")  # one local session, reused by the command
    out = tmp_path / "out"
    command, rows_in, rejected = RUNS[name](corpus, sft, out)
    report = json.loads((out / "report.json").read_text())

    assert list(report)[: len(REPORT_KEYS)] == list(REPORT_KEYS)
    assert report["report_version"] == REPORT_VERSION
    assert report["command"] == command
    assert report["stemmatic_version"] == stemmatic.__version__
    assert isinstance(report["parameters"], dict) and report["parameters"]

    inputs = report["inputs"]
    assert inputs["count"] == len(inputs["files"]) >= 1
    assert inputs["bytes"] == sum(Path(f).stat().st_size for f in inputs["files"]) > 0
    if name.startswith(("dedup", "scan")) or name in (
        "diversity-semdedup",
        "diversity-select",
        "diversity-embed",
    ):
        assert [Path(s["path"]).name for s in inputs["skipped"]] == ["_SUCCESS"]

    rows = report["rows"]
    assert set(rows) == {"in", "kept", "removed", "rejected", "detail"}
    assert (rows["in"], rows["rejected"]) == (rows_in, rejected)
    assert isinstance(rows["detail"], dict) and rows["detail"]
    split = {"kept": "kept", "removed": "removed", "clean": "kept"}
    written = {split[k]: v for k, v in report["outputs"].items() if k in split}
    if rows["kept"] is None:
        assert rows["removed"] is None and not written
    else:
        assert rows["in"] == rows["kept"] + rows["removed"] + rows["rejected"]
        assert rows["removed"] > 0
        # The counts are the rows the run wrote.
        for kind, path in written.items():
            assert _rows_in(out / path) == rows[kind], kind

    assert report["stages"] and all(isinstance(s, float) and s >= 0 for s in report["stages"].values())
    assert set(report["stage_peak_rss_bytes"]) == set(report["stages"])
    assert report["seconds"] > 0
    assert report["throughput"]["rows_per_s"] == pytest.approx(
        rows["in"] / report["seconds"], rel=0.01, abs=0.1
    )
    assert report["throughput"]["mb_per_s"] == pytest.approx(
        inputs["bytes"] / 1e6 / report["seconds"], abs=0.01
    )
    assert report["peak_rss_bytes"] > 1 << 20
    assert report["outputs"] and all((out / p).exists() for p in report["outputs"].values())
    assert isinstance(report["warnings"], list)


def test_counts_that_do_not_add_up_are_a_warning() -> None:
    report = run_report("x", parameters={}, inputs=[], rows=Rows(5, kept=3, removed=1, rejected=0))
    assert report["warnings"] == ["rows do not add up: 5 in, but 3 kept + 1 removed + 0 rejected = 4"]
    assert run_report("x", parameters={}, inputs=[], rows=Rows(5))["warnings"] == []


def test_a_block_may_not_reuse_a_shared_key() -> None:
    with pytest.raises(ValueError, match="peak_rss_bytes"):
        run_report("x", parameters={}, inputs=[], rows=Rows(1), timer=StageTimer(), peak_rss_bytes=1)


# -- progress ------------------------------------------------------------------------------------


def test_without_a_terminal_progress_is_plain_log_lines(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STEMMATIC_PROGRESS_SECONDS", "0")
    result = CliRunner().invoke(
        app, ["dedup", str(corpus / "in"), "-o", str(tmp_path / "a"), "--on-error", "skip"]
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("stemmatic: ")]
    stages = {line.split()[1] for line in lines}
    assert {"sketch", "write"} <= stages, result.stderr
    # The write stage knows its total: a share and an ETA.
    assert any("/12 rows (" in line and "ETA" in line for line in lines if line.split()[1] == "write")
    assert "\x1b[" not in result.stderr  # no terminal control codes in a log
    quiet = CliRunner().invoke(
        app, ["dedup", str(corpus / "in"), "-o", str(tmp_path / "b"), "--on-error", "skip", "-q"]
    )
    assert quiet.exit_code == 0 and "stemmatic: " not in quiet.stderr


def test_log_lines_are_periodic() -> None:
    out = io.StringIO()
    log = LogStages(out, interval=3600)
    log.start("sketch", None)
    for _ in range(100):
        log.advance(10, 1000)
    log.finish()
    assert out.getvalue() == ""  # nothing before the interval, and no line for a stage shorter than it


def test_on_a_terminal_progress_is_a_bar_with_time_remaining() -> None:
    from rich.console import Console

    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    from rich.progress import TimeRemainingColumn

    bars = RichStages(console)
    bars.start("write", 100)
    bars.advance(50, 1_000_000)
    assert bars._progress is not None
    assert any(isinstance(column, TimeRemainingColumn) for column in bars._progress.columns)
    bars.finish()
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "write" in text and "rows/s" in text and "\x1b[" in text


CORPUS_COMMANDS = [
    ("dedup",),
    ("index", "build"),
    ("index", "add"),
    ("contamination", "scan"),
    ("resofilter", "score"),
    ("resofilter", "select"),
    ("diversity", "semdedup"),
    ("diversity", "select"),
    ("diversity", "embed"),
    ("diversity", "measure"),
]


@pytest.mark.parametrize("words", CORPUS_COMMANDS, ids=" ".join)
def test_every_corpus_command_takes_quiet(words: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*words, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "-q" in result.output and "--quiet" in result.output


def test_parquet_inputs_give_the_read_stages_a_total(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stemmatic._run import known_rows
    from stemmatic.io import resolve_inputs

    shards = tmp_path / "shards"
    shards.mkdir()
    for shard in range(2):
        texts = [f"shard {shard} row {i} " + "word " * (i % 7) for i in range(30)]
        pq.write_table(pa.table({"text": texts}), shards / f"p{shard}.parquet")
    (tmp_path / "a.jsonl").write_text('{"text": "x"}\n')
    assert known_rows(resolve_inputs([shards])) == 60
    assert known_rows(resolve_inputs([shards, tmp_path / "a.jsonl"])) is None  # JSONL needs a full read
    monkeypatch.setenv("STEMMATIC_PROGRESS_SECONDS", "0")
    result = CliRunner().invoke(app, ["dedup", str(shards), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert any(
        line.startswith("stemmatic: sketch ") and "/60 rows (" in line for line in result.stderr.splitlines()
    )


def test_a_table_in_memory_is_listed_as_the_table_not_its_staging_file() -> None:
    from stemmatic.dedup import dedup

    table = pa.table({"text": [BASE, BASE + " again", PLANT]})
    inputs = dedup(table, threshold=0.7).report["inputs"]
    assert inputs["files"] == ["<pyarrow.Table>"]
    assert (inputs["count"], inputs["rows"], inputs["skipped"]) == (1, 3, [])
    assert inputs["bytes"] > len(BASE)


def _one_schema(path: Path, command: str, rows_in: int) -> dict:
    report = json.loads(path.read_text())
    assert list(report)[: len(REPORT_KEYS)] == list(REPORT_KEYS)
    assert report["command"] == command and report["report_version"] == REPORT_VERSION
    assert report["rows"]["in"] == rows_in and report["rows"]["kept"] is None and report["warnings"] == []
    assert report["stages"] and report["seconds"] > 0
    return report


def test_index_commands_write_the_one_report(corpus: Path, tmp_path: Path) -> None:
    """The commands whose output is an index: contamination index build/add beside it, index build/add inside."""
    bench = corpus / "bench.jsonl"
    _cli("contamination", "index", "build", bench, "-o", tmp_path / "b.idx", "--ngram", "5", "-q")
    report = _one_schema(tmp_path / "b.idx.report.json", "contamination index build", 1)
    assert report["inputs"]["files"] == [str(bench)] and report["outputs"] == {"index": "b.idx"}
    assert report["index"]["items"] == 1 and [b["name"] for b in report["benchmarks"]] == ["bench"]
    more = tmp_path / "more.jsonl"
    more.write_text("".join(json.dumps({"prompt": f"{BASE} {i}"}) + "\n" for i in range(3)))
    _cli("contamination", "index", "add", tmp_path / "b.idx", more, "-q")
    report = _one_schema(tmp_path / "b.idx.report.json", "contamination index add", 3)
    assert [b["name"] for b in report["benchmarks"]] == ["more"]

    _cli("index", "build", corpus / "in" / "a.jsonl", "-o", tmp_path / "dix", "-q")
    report = _one_schema(tmp_path / "dix" / "report.json", "index build", 5)
    assert report["outputs"] == {"release": "release-00000/", "manifest": "manifest.json"}
    _cli("index", "add", tmp_path / "dix", corpus / "in" / "b.jsonl", "--on-error", "skip", "-q")
    report = _one_schema(tmp_path / "dix" / "report.json", "index add", GOOD_LINES - 5 + BAD_LINES)
    assert report["rows"]["rejected"] == BAD_LINES and report["index"]["releases"] == 2
    _cli(
        "dedup",
        corpus / "in",
        "-o",
        tmp_path / "out",
        "--against",
        tmp_path / "dix",
        "--on-error",
        "skip",
        "-q",
    )


def test_lineage_commands_that_write_a_file_write_its_report(tmp_path: Path) -> None:
    edges = tmp_path / "edges.csv"
    edges.write_text("source,target,relation,quote\nmy/root,my/mix,merge,we merged it\n")
    _cli("lineage", "build", tmp_path / "g.json", "--edges", edges)
    report = _one_schema(tmp_path / "g.json.report.json", "lineage build", 1)
    assert report["graph"] == {"nodes": 2, "edges": 1} and report["inputs"]["files"] == [str(edges)]
    _cli("lineage", "export", tmp_path / "g.json", tmp_path / "g.mermaid", "--format", "mermaid")
    report = _one_schema(tmp_path / "g.mermaid.report.json", "lineage export", 2)
    assert report["outputs"] == {"output": "g.mermaid"}
    assert json.loads((tmp_path / "g.json.report.json").read_text())["command"] == "lineage build"


def test_a_run_of_milliseconds_states_the_throughput_of_its_own_seconds() -> None:
    # 10 rows in 2.97 ms: the report says 0.003 s, so its throughput must be 10 / 0.003, not 10 / 0.00297.
    report = run_report(
        "dedup",
        parameters={"threshold": 0.8},
        inputs={"count": 0, "bytes": 3_000_000},
        rows=Rows(10, 9, 1),
        seconds=0.00297,
    )
    assert report["seconds"] == 0.003
    assert report["throughput"] == {"rows_per_s": round(10 / 0.003, 1), "mb_per_s": round(3 / 0.003, 2)}
