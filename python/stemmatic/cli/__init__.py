"""The ``stemmatic`` command line: one typer app per command group."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from stemmatic.cli import contamination, dedup, diversity, lineage, resofilter, sample
from stemmatic.cli._errors import EXIT_INTERRUPTED, debug_enabled, describe_unexpected

app = typer.Typer(
    name="stemmatic",
    help="Curate LLM training data: dedup, contamination, diversity, lineage, ResoFilter.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    # Help and usage errors print as written: in rich mode "local[8]" prints as "local".
    rich_markup_mode=None,
)
app.command("sample-data")(sample.sample_data)
app.command("dedup")(dedup.dedup)
app.add_typer(resofilter.app, name="resofilter")
app.add_typer(lineage.app, name="lineage")
app.add_typer(diversity.app, name="diversity")
app.add_typer(contamination.app, name="contamination")


def _version_line() -> str:
    import stemmatic

    return f"stemmatic {stemmatic.__version__} (Unicode {stemmatic.UNICODE_VERSION})"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(_version_line())
        raise typer.Exit()


@app.callback()
def _root(
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Curate LLM training data: dedup, contamination, diversity, lineage, ResoFilter."""


@app.command()
def version() -> None:
    """Print the stemmatic version and the Unicode version of its tokenizer tables."""
    typer.echo(_version_line())


def main() -> None:
    """Entry point of the ``stemmatic`` script: no traceback reaches the user.

    Each command prints stemmatic's own errors as one ``error:`` line (exit 2);
    what escapes a command (out of memory, a file system error, an interrupt, a
    bug) is printed here as one line too, with its exit code (see
    :mod:`stemmatic.cli._errors`). ``STEMMATIC_DEBUG=1`` shows the traceback instead.
    """
    try:
        app()
    except SystemExit as exit_:
        # typer turns Ctrl-C inside a command into a silent exit 130; no command exits 130 itself.
        if exit_.code == EXIT_INTERRUPTED:
            typer.echo("interrupted", err=True)
        raise
    except (Exception, KeyboardInterrupt) as err:
        if debug_enabled():
            raise
        line, code = describe_unexpected(err)
        typer.echo(line, err=True)
        sys.exit(code)
