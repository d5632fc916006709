"""``stemmatic index build|add|info``: a near-duplicate index of released data, for ``dedup --against``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from stemmatic.cli._errors import clean_errors, literal_console
from stemmatic.cli._options import (
    SIMILARITY,
    Inputs,
    OnError,
    Quiet,
    Similarity,
    TextColumn,
    Workers,
    with_option_groups,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from stemmatic._run import Progress

app = typer.Typer(
    name="index",
    help="Index released data (band keys, shingle sets, ids) so new data can be deduplicated against it (dedup --against).",
    no_args_is_help=True,
)

IdColumn = Annotated[
    str | None, typer.Option(help="Column of row ids (default: the row's number in its file).")
]


def _print(info_dict: dict[str, object], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(info_dict, indent=2))
        return
    from rich.table import Table

    params = info_dict["parameters"]
    assert isinstance(params, dict)
    table = Table(title=f"stemmatic index {info_dict['path']}", show_header=False)
    table.add_row("format", f"{info_dict['format_version']} (stemmatic {info_dict['stemmatic_version']})")
    table.add_row("parameters", " ".join(f"{k}={v}" for k, v in sorted(params.items())))
    table.add_row("rows", f"{info_dict['rows']:,}")
    table.add_row("text bytes", f"{info_dict['text_bytes']:,}")
    table.add_row("index bytes", f"{info_dict['bytes']:,}")
    releases = info_dict["releases"]
    assert isinstance(releases, list)
    for release in releases:
        sources = release["sources"]
        shown = ", ".join(sources[:3]) + (f" (+{len(sources) - 3} more)" if len(sources) > 3 else "")
        table.add_row(
            release["name"],
            f"{release['rows']:,} rows, {release['bytes']:,} bytes, {release['created']}: {shown}",
        )
    literal_console().print(table)


@app.command()
@with_option_groups
def build(
    inputs: Inputs,
    output: Annotated[
        str,
        typer.Option("--output", "-o", help="Index directory to write, local or a URL (uploaded when done)."),
    ],
    text_column: TextColumn = "text",
    id_column: IdColumn = None,
    similarity: Similarity = SIMILARITY,
    on_error: OnError = "raise",
    workers: Workers = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing index directory.")
    ] = False,
    quiet: Quiet = False,
) -> None:
    """Build an index of a corpus (its first release), with the parameters a later dedup will use; OUTPUT/report.json."""
    from stemmatic.dedup import build_index

    with clean_errors():
        config = similarity.config(text_column=text_column, id_column=id_column, on_error=on_error)
        if not quiet:
            typer.echo(f"LSH {config.banding().describe()}", err=True)
    _write_release(
        "build",
        output,
        quiet,
        lambda progress: build_index(
            inputs, output, config=config, workers=workers, overwrite=overwrite, progress=progress
        ),
    )


@app.command()
def add(
    index: Annotated[str, typer.Argument(help="Index directory (local) to append a release to.")],
    inputs: Inputs,
    text_column: TextColumn = "text",
    id_column: IdColumn = None,
    on_error: OnError = "raise",
    workers: Workers = None,
    quiet: Quiet = False,
) -> None:
    """Append a release to an index, with the index's parameters (older releases are not rewritten); INDEX/report.json."""
    from stemmatic.dedup import add_to_index

    _write_release(
        "add",
        index,
        quiet,
        lambda progress: add_to_index(
            index,
            inputs,
            text_column=text_column,
            id_column=id_column,
            on_error=on_error,
            workers=workers,
            progress=progress,
        ),
    )


def _write_release(stage: str, index: str, quiet: bool, write: Callable[[Progress], Any]) -> None:
    """Run ``write`` (``index build`` or ``add``, the stage ``stage``), then write ``INDEX/report.json`` and describe the index."""
    from stemmatic._run import StageTimer
    from stemmatic.cli._progress import RichStages

    timer = StageTimer()
    with clean_errors():
        with timer.stage(stage):
            info = write(RichStages(literal_console(stderr=True), enabled=not quiet))
        _report(f"index {stage}", info, index, timer)
    _print(info.to_dict(), False)


def _report(command: str, info: Any, index: str, timer: Any) -> None:
    """``INDEX/report.json`` of the run that wrote the index's last release (a later add replaces it)."""
    from stemmatic._run import Rows, run_report, save_report

    release = info.releases[-1]
    rejected = int(release.get("rejected", 0))
    report = run_report(
        command,
        parameters=info.parameters,
        inputs=list(release["sources"]),
        rows=Rows(int(release["rows"]) + rejected, rejected=rejected),
        timer=timer,
        outputs={"release": f"{release['name']}/", "manifest": "manifest.json"},
        release={k: v for k, v in release.items() if k != "files"},
        index={"rows": info.rows, "bytes": info.bytes, "releases": len(info.releases)},
    )
    save_report(f"{str(index).rstrip('/')}/report.json", report)


@app.command()
def info(
    index: Annotated[str, typer.Argument(help="Index directory, local or a URL.")],
    verify: Annotated[
        bool, typer.Option("--verify", help="Also check every file's CRC-32 (reads the whole index).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the description as JSON.")] = False,
) -> None:
    """Describe an index: parameters, releases (rows, sources, bytes), format and version."""
    from stemmatic.dedup import index_info

    with clean_errors():
        described = index_info(index, verify=verify)
    _print(described.to_dict(), as_json)
