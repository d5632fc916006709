"""The ``stemmatic`` command line: one typer app per command group."""

from __future__ import annotations

import typer

from stemmatic.cli import contamination, dedup, diversity, lineage, resofilter, sample

app = typer.Typer(
    name="stemmatic",
    help="Curate LLM training data: dedup, contamination, diversity, lineage, ResoFilter.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.command("sample-data")(sample.sample_data)
app.command("dedup")(dedup.dedup)
app.add_typer(resofilter.app, name="resofilter")
app.add_typer(lineage.app, name="lineage")
app.add_typer(diversity.app, name="diversity")
app.add_typer(contamination.app, name="contamination")


@app.command()
def version() -> None:
    """Print the stemmatic version and the Unicode version of its tokenizer tables."""
    import stemmatic

    typer.echo(f"stemmatic {stemmatic.__version__} (Unicode {stemmatic.UNICODE_VERSION})")


def main() -> None:
    """Entry point of the ``stemmatic`` script."""
    app()
