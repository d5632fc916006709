"""``stemmatic contamination index build|add|info``: the n-gram index of benchmark items that ``scan`` reads.

Each command that writes an index writes its report beside it
(``INDEX.report.json``, :func:`stemmatic._run.report_beside`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import typer
import typer.core

from stemmatic.cli._errors import clean_errors as _clean_errors
from stemmatic.cli._options import Workers


class _BuildByDefault(typer.core.TyperGroup):
    """``contamination index BENCH... -o INDEX`` means ``contamination index build BENCH... -o INDEX``.

    Any first argument that is not a subcommand (``build``, ``add``, ``info``)
    or a help option starts ``build``, so the command of earlier versions works unchanged.
    """

    #: The command run when none is named (tests/test_docs.py reads it too).
    default_command = "build"

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # typer's own click Context
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)


index_app = typer.Typer(
    name="index",
    cls=_BuildByDefault,
    help="Build an n-gram index of benchmark items (`index BENCH... -o INDEX` = `index build`), "
    "add benchmarks to one, or describe one.",
    no_args_is_help=True,
)

#: ``--id-column`` of the benchmark commands (``--id-field``, the name of earlier versions, still works).
BenchmarkIdColumn = Annotated[
    str | None,
    typer.Option("--id-column", help="Field holding the item id (default: row number in the benchmark)."),
]
_OldIdField = Annotated[str | None, typer.Option("--id-field", hidden=True)]
#: The benchmarks of ``build`` and ``add``, and their names.
Benchmarks = Annotated[
    list[str],
    typer.Argument(help="Benchmark files, directories or globs (JSONL/Parquet); each is one benchmark."),
]
BenchmarkNames = Annotated[
    list[str] | None,
    typer.Option(help="Benchmark name, once per BENCH in order (default: the file or directory stem)."),
]
#: ``-q`` of ``build`` and ``add`` (they print a summary, no progress).
QuietBuild = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")]
_OldFields = Annotated[str | None, typer.Option("--fields", hidden=True)]


def split_fields(fields: str) -> list[str]:
    return [f.strip() for f in fields.split(",") if f.strip()]


@index_app.command("build")
def index(
    benchmarks: Benchmarks,
    output: Annotated[str, typer.Option("--output", "-o", help="Index file to write, local or a URL.")],
    text_column: Annotated[
        str,
        typer.Option(
            "--text-column", help="Comma-separated fields to index; each becomes its own entry per item."
        ),
    ] = "prompt",
    ngram: Annotated[int, typer.Option(help="N-gram size in tokens (GPT-3 used 13).")] = 13,
    tokenizer: Annotated[
        Literal["auto", "auto-span", "words", "whitespace", "chars"],
        typer.Option(
            help="auto (= auto-span for n-gram matching: words, and one unit per character of unspaced "
            "scripts, whatever surrounds a span) | auto-span | words | whitespace | chars."
        ),
    ] = "auto",
    name: BenchmarkNames = None,
    id_column: BenchmarkIdColumn = None,
    min_tokens: Annotated[
        int, typer.Option(help="Do not index fields with fewer tokens (counted as too_short).")
    ] = 1,
    max_item_frequency: Annotated[
        int | None, typer.Option(help="Exclude n-grams found in more than this many items (boilerplate).")
    ] = None,
    allowlist: Annotated[
        Path | None,
        typer.Option(help="Text file of phrases, one a line, whose n-grams never count as contamination."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the n-gram hash.")] = 1,
    workers: Workers = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing index file.")] = False,
    quiet: QuietBuild = False,
    id_field: _OldIdField = None,
    fields: _OldFields = None,
) -> None:
    """Build an n-gram index of benchmark items (several benchmarks in one index); its report beside it."""
    from stemmatic._run import StageTimer
    from stemmatic.contamination import build_index
    from stemmatic.exceptions import ParameterError

    timer = StageTimer()
    with _clean_errors():
        _refuse_existing(output, overwrite)
        sources = _named(benchmarks, name)
        phrases = []
        if allowlist is not None:
            try:
                phrases = [
                    line for line in allowlist.read_text(encoding="utf-8").splitlines() if line.strip()
                ]
            except (OSError, UnicodeDecodeError) as err:
                raise ParameterError(f"{allowlist}: cannot read the allowlist: {err}") from err
        with timer.stage("build"):
            built = build_index(
                sources,
                fields=split_fields(fields if fields is not None else text_column),
                ngram=ngram,
                tokenizer=tokenizer,
                seed=seed,
                id_field=id_column if id_column is not None else id_field,
                min_tokens=min_tokens,
                max_item_frequency=max_item_frequency,
                allowlist=phrases,
                workers=workers,
            )
        with timer.stage("save"):
            built.save(output)
        report = _index_report("contamination index build", built, built.benchmarks, output, timer)
    if not quiet:
        _describe_build(built, built.benchmarks, timer.elapsed(), output, report)


@index_app.command("add")
def index_add(
    index_path: Annotated[str, typer.Argument(metavar="INDEX", help="Index to extend (local or a URL).")],
    benchmarks: Benchmarks,
    name: BenchmarkNames = None,
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="Write the extended index here (default: replace INDEX)."),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --output file.")] = False,
    workers: Workers = None,
    quiet: QuietBuild = False,
) -> None:
    """Add benchmarks to an index, with the index's own parameters (fields, n-gram, tokenizer, seed...).

    The result is the index that `contamination index` of all the benchmarks
    together builds. INDEX is replaced atomically (or --output written); a
    damaged index, one of another format version, or one without stored texts
    is refused and nothing is written. The report of the run is written
    beside the index written.
    """
    from stemmatic._run import StageTimer
    from stemmatic.contamination import ContaminationIndex

    target = output if output is not None else index_path
    timer = StageTimer()
    with _clean_errors():
        if output is not None:
            _refuse_existing(output, overwrite)
        with timer.stage("load"):
            old = ContaminationIndex.load(index_path)
        sources = _named(benchmarks, name)
        with timer.stage("build"):
            extended = old.add_benchmarks(sources, workers=workers)
        with timer.stage("save"):
            extended.save(target)
        new = extended.benchmarks[len(old.benchmarks) :]
        report = _index_report("contamination index add", extended, new, target, timer)
    if not quiet:
        _describe_build(extended, new, timer.elapsed(), target, report)


@index_app.command("info")
def index_info(
    index_path: Annotated[str, typer.Argument(metavar="INDEX", help="Index file (local or a URL).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the description as JSON.")] = False,
) -> None:
    """Describe an index: parameters, benchmarks (sources, rows, fields) and counts."""
    import json

    from stemmatic.contamination import ContaminationIndex

    with _clean_errors():
        loaded = ContaminationIndex.load(index_path)
    info = loaded.build_info
    described = {
        "path": str(index_path),
        "ngram": loaded.ngram,
        "tokenizer": loaded.tokenizer,
        "seed": loaded.seed,
        "min_tokens": loaded.min_tokens,
        "stores_texts": loaded.has_texts,
        "stemmatic_version": info.get("stemmatic_version"),
        "parameters": info.get("parameters", {}),
        "stats": loaded.stats,
        "benchmarks": [
            {"name": b.get("name"), "rows": b.get("rows"), "sources": b.get("sources")}
            for b in info.get("benchmarks", [{"name": n} for n in loaded.benchmarks])
        ],
    }
    if as_json:
        typer.echo(json.dumps(described, indent=2))
        return
    stats = loaded.stats
    typer.echo(
        f"{index_path}: {loaded.ngram}-grams, tokenizer {loaded.tokenizer}, seed {loaded.seed}; "
        f"{stats['entries']} entries of {stats['items']} items, {stats['ngrams']} distinct n-grams"
        + (f" (stemmatic {described['stemmatic_version']})" if described["stemmatic_version"] else "")
    )
    for bench in described["benchmarks"]:
        rows = f"{bench['rows']} rows" if bench.get("rows") is not None else "rows unknown"
        typer.echo(f"  {bench['name']}: {rows} from {', '.join(bench.get('sources') or ['?'])}")


def _named(benchmarks: list[str], names: list[str] | None) -> Any:
    """BENCH arguments as build_index takes them: a list, or ``{name: source}`` with ``--name``."""
    from stemmatic.exceptions import ParameterError

    if names and len(names) != len(benchmarks):
        raise ParameterError(
            f"give --name once per benchmark: {len(benchmarks)} benchmarks, {len(names)} names"
        )
    return dict(zip(names, benchmarks, strict=True)) if names else benchmarks


def _refuse_existing(output: str, overwrite: bool) -> None:
    """An index file already at ``output`` (local or remote) is replaced only with --overwrite."""
    from stemmatic.exceptions import ParameterError
    from stemmatic.io._remote import RemotePath, is_url

    exists = RemotePath.from_url(output).exists() if is_url(output) else Path(output).exists()
    if exists and not overwrite:
        raise ParameterError(f"{output}: file exists; pass --overwrite to replace it")


def _index_report(command: str, built: Any, names: list[str], output: str, timer: Any) -> str:
    """Write the report of an index build or add (the benchmarks ``names`` it read) beside ``output``."""
    from stemmatic._run import Rows, report_beside, run_report, save_report

    info = built.build_info
    read = [b for b in info.get("benchmarks", []) if b.get("name") in names]
    report = run_report(
        command,
        parameters={k: v for k, v in info.get("parameters", {}).items() if k != "allowlist"},
        inputs=[source for b in read for source in b.get("sources") or []],
        rows=Rows(sum(int(b.get("rows") or 0) for b in read)),
        timer=timer,
        outputs={"index": output.rstrip("/").rsplit("/", 1)[-1]},
        index=built.stats,
        benchmarks=read,
    )
    return save_report(report_beside(output), report)


def _describe_build(built: Any, names: list[str], seconds: float, output: str, report: str) -> None:
    stats = built.stats
    typer.echo(
        f"indexed {stats['entries']} entries of {stats['items']} items from {len(built.benchmarks)} "
        f"benchmark(s): {stats['ngrams']} distinct {built.ngram}-grams in {seconds:.2f}s -> {output} "
        f"(report: {report})"
    )
    excluded = stats["excluded_by_frequency"] + stats["excluded_by_allowlist"]
    if excluded:
        typer.echo(
            f"excluded {stats['excluded_by_frequency']} n-grams by frequency and "
            f"{stats['excluded_by_allowlist']} by the allowlist "
            f"({stats['entries_without_ngrams']} entries left without n-grams)"
        )
    for bench in built.build_info.get("benchmarks", []):
        if bench["name"] not in names:
            continue
        skipped = {
            f"{field}.{kind}": count
            for field, counts in bench["fields"].items()
            for kind, count in counts.items()
            if kind != "indexed" and count
        }
        notes = [f"{k}={v}" for k, v in skipped.items()]
        if bench["missing_fields"]:
            notes.append("fields not present: " + ", ".join(bench["missing_fields"]))
        if notes:
            typer.echo(f"  {bench['name']}: " + "; ".join(notes))
