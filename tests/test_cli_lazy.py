"""The command line's start loads nothing heavy; what the root lists is each command's own help."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import types

import pytest
import typer.main
from typer.testing import CliRunner

import stemmatic
from stemmatic.cli import LAZY_COMMANDS, app

HEAVY = ("numpy", "pyarrow", "pandas", "rich", "stemmatic._core", "stemmatic.minhash", "stemmatic.io")


def _modules_after(code: str) -> set[str]:
    probe = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    completed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    return set(json.loads(completed.stdout.strip().splitlines()[-1]))


def _modules_after_cli(*args: str) -> set[str]:
    """The modules loaded once ``stemmatic ARGS`` has run in a new interpreter."""
    argv = ["stemmatic", *args]
    return _modules_after(
        f"from stemmatic.cli import main\nsys.argv = {argv!r}\ntry:\n    main()\nexcept SystemExit:\n    pass"
    )


def _heavy(modules: set[str]) -> list[str]:
    return sorted(name for name in modules if name.split(".")[0] in HEAVY or name in HEAVY)


def test_help_imports_no_heavy_module() -> None:
    assert _heavy(_modules_after_cli("--help")) == []


def test_import_stemmatic_is_light_until_a_name_is_used() -> None:
    assert _heavy(_modules_after("import stemmatic, stemmatic.exceptions")) == []
    assert "numpy" in _modules_after("import stemmatic\nstemmatic.minhash")


def test_a_command_loads_only_its_own_module() -> None:
    modules = _modules_after_cli("lineage", "--help")
    assert "stemmatic.cli.lineage" in modules
    assert not {"stemmatic.cli.diversity", "stemmatic.cli.dedup", "stemmatic.cli.contamination"} & modules


@pytest.mark.parametrize("name", list(LAZY_COMMANDS))
def test_listed_summary_is_the_commands_own_help(name: str) -> None:
    command = LAZY_COMMANDS[name].load(name)
    own = (command.help or "").split("\n\n")[0]
    assert " ".join(LAZY_COMMANDS[name].summary.split()) == " ".join(own.split()), (
        f"LAZY_COMMANDS[{name!r}].summary differs from the first paragraph of the command's help: {own!r}"
    )


def test_root_help_lists_every_command_in_order() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0, result.output
    listed = [line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line.strip()]
    assert listed == list(LAZY_COMMANDS)
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    assert all(name in group.commands for name in LAZY_COMMANDS)
    assert sorted(group.commands["lineage"].commands)  # a group loads with its subcommands


def test_unknown_command_suggests_a_lazy_one() -> None:
    result = CliRunner().invoke(app, ["dedupp"])
    assert result.exit_code == 2
    assert "Did you mean 'dedup'?" in result.output


def test_every_public_name_resolves() -> None:
    importlib.import_module("stemmatic.minhash")  # binds a submodule named like a public function

    assert callable(stemmatic.minhash)
    assert stemmatic.minhash(["a b c"], ngram=1, num_perm=4).shape == (1, 4)
    for name in stemmatic.__all__:
        value = getattr(stemmatic, name)
        assert value is not None and not isinstance(value, types.ModuleType), name
    assert set(stemmatic.__all__) <= set(dir(stemmatic))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = stemmatic.nope  # type: ignore[attr-defined]


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_dedup_never_imports_pandas(tmp_path, fmt: str) -> None:
    """pyarrow imports pandas on any ``pa.array`` call (0.2 s of a short run): dedup's path builds arrays without it."""
    corpus = tmp_path / "in.jsonl"
    texts = [f"document {i} about the topic number {i % 7} with a few words" for i in range(300)]
    texts += [text + " extra" for text in texts[:40]]
    corpus.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)))
    modules = _modules_after_cli(
        "dedup", str(corpus), "-o", str(tmp_path / "out"), "-q", "--format", fmt, "--exact"
    )
    assert "stemmatic.dedup.pipeline" in modules and (tmp_path / "out" / "report.json").exists()
    assert json.loads((tmp_path / "out" / "report.json").read_text())["rows"]["removed"] > 0
    assert "pandas" not in modules


def test_a_dedup_with_empty_outputs_never_imports_pandas(tmp_path) -> None:
    """pyarrow's Schema.empty_table imports pandas (0.2 s): an output with no rows (a clean corpus's
    removed/) is written without it."""
    corpus = tmp_path / "in.jsonl"
    corpus.write_text(
        "".join(json.dumps({"text": f"row {i} is unlike the others {i * 7919}"}) + "\n" for i in range(50))
    )
    modules = _modules_after_cli("dedup", str(corpus), "-o", str(tmp_path / "out"), "-q")
    assert json.loads((tmp_path / "out" / "report.json").read_text())["rows"]["removed"] == 0
    assert (tmp_path / "out" / "removed" / "in.parquet").exists() and "pandas" not in modules


def test_dedup_loads_only_what_its_path_uses(tmp_path) -> None:
    """A quiet local dedup without --against: no index module, no progress bars, no psutil (Linux reads
    /proc), no pydantic (typer < 0.29), no pyarrow.compute (the write stage's take/filter call the
    kernels through pyarrow._compute)."""
    corpus = tmp_path / "in.jsonl"
    texts = [f"words of row {i} and a few more of them" for i in range(100)]
    corpus.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts + texts[:10]))
    modules = _modules_after_cli("dedup", str(corpus), "-o", str(tmp_path / "out"), "-q")
    assert "stemmatic.dedup.pipeline" in modules
    assert json.loads((tmp_path / "out" / "report.json").read_text())["rows"]["removed"] == 10
    unwanted = {"stemmatic.dedup.index", "rich.progress", "pydantic", "pyarrow.dataset", "pyarrow.compute"}
    if sys.platform.startswith("linux"):
        unwanted.add("psutil")
    assert not unwanted & modules
    assert not {"pyarrow.compute", "stemmatic.dedup.index"} & _modules_after("import stemmatic.dedup")


def test_dedup_index_names_load_when_used() -> None:
    import stemmatic.dedup
    from stemmatic.dedup import index

    assert stemmatic.dedup.build_index is index.build_index
    assert {"DedupIndex", "build_index", "add_to_index", "index_info", "IndexInfo"} <= set(
        dir(stemmatic.dedup)
    )
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = stemmatic.dedup.nope  # type: ignore[attr-defined]


def test_cli_exit_skips_the_import_time_objects_in_the_last_collections() -> None:
    """``main`` freezes the objects alive after every other exit handler ran, so the interpreter's last
    garbage collections do not walk what numpy, pyarrow, typer and rich made at import."""
    probe = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: print('frozen', gc.get_freeze_count() > 0))\n"  # runs after main's handler
        "from stemmatic.cli import main\n"
        "sys.argv = ['stemmatic', 'version']\n"
        "main()"
    )
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines()[-1] == "frozen True"


@pytest.mark.parametrize("contaminated", [5, 0])
def test_contamination_scan_never_imports_pandas(tmp_path, contaminated: int) -> None:
    """As for dedup: a scan (with --remove and token coverage) builds its arrays without pa.array,
    and a scan with no hit writes its empty hits table without Schema.empty_table."""
    items = tmp_path / "items.jsonl"
    items.write_text(
        json.dumps({"prompt": "what is the capital city of the small country we talk about here"}) + "\n"
    )
    corpus = tmp_path / "corpus.jsonl"
    rows = [
        f"row {i} says what is the capital city of the small country we talk about here"
        for i in range(contaminated)
    ]
    rows += [f"an unrelated document number {i} about something else entirely" for i in range(50)]
    corpus.write_text("".join(json.dumps({"text": t}) + "\n" for t in rows))
    index = tmp_path / "bench.idx"
    built = CliRunner().invoke(
        app, ["contamination", "index", "build", str(items), "-o", str(index), "--ngram", "8"]
    )
    assert built.exit_code == 0, built.output
    args = ["contamination", "scan", str(corpus), "--index", str(index), "-o", str(tmp_path / "out"),
            "--remove", "--token-coverage", "-q"]  # fmt: skip
    assert "pandas" not in _modules_after_cli(*args)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["rows"]["removed"] == contaminated


@pytest.mark.parametrize(
    ("args", "preset", "expected"),
    [
        (("dedup", "--help"), None, "1"),
        (("contamination", "scan", "--help"), None, "1"),
        (("dedup", "--help"), "3", "3"),  # the user's own setting stands
        (("diversity", "--help"), None, None),  # matrix products keep numpy's threads
        (("resofilter", "--help"), None, None),
    ],
)
def test_commands_without_matrix_work_run_blas_on_one_thread(
    args: tuple[str, ...], preset: str | None, expected: str | None
) -> None:
    from stemmatic.cli import BLAS_THREADS_ENV

    argv = ["stemmatic", *args]
    probe = (
        "import os, sys\nfrom stemmatic.cli import main\n"
        f"sys.argv = {argv!r}\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print('BLAS', os.environ.get({BLAS_THREADS_ENV!r}))"
    )
    env = {k: v for k, v in os.environ.items() if k != BLAS_THREADS_ENV}
    if preset is not None:
        env[BLAS_THREADS_ENV] = preset
    completed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120, env=env
    )
    assert completed.stdout.strip().splitlines()[-1] == f"BLAS {expected}"
