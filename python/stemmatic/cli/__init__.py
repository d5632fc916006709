"""The ``stemmatic`` command line: one typer app per command group."""

from __future__ import annotations

import typer

from stemmatic.cli import resofilter, sample

app = typer.Typer(
    name="stemmatic",
    help="Curate LLM training data: dedup, contamination, diversity, lineage, ResoFilter.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.command("sample-data")(sample.sample_data)
app.add_typer(resofilter.app, name="resofilter")


@app.command()
def version() -> None:
    """Print the stemmatic version and the Unicode version of its tokenizer tables."""
    import stemmatic

    typer.echo(f"stemmatic {stemmatic.__version__} (Unicode {stemmatic.UNICODE_VERSION})")


def main() -> None:
    """Entry point of the ``stemmatic`` script."""
    app()
