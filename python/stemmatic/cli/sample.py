"""``stemmatic sample-data``: write a generated corpus with planted near-duplicates."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def sample_data(
    output: Annotated[Path, typer.Argument(help="Directory to write the shards into.")],
    docs: Annotated[int, typer.Option(help="Number of documents.")] = 2000,
    shards: Annotated[int, typer.Option(help="Number of shard files.")] = 4,
    fmt: Annotated[str, typer.Option("--format", help="parquet or jsonl.")] = "parquet",
    max_words: Annotated[int, typer.Option(help="Longest document, in words.")] = 2000,
    seed: Annotated[int, typer.Option(help="Seed of the generator.")] = 0,
) -> None:
    """Generate a corpus (Zipf-distributed words, planted near-duplicates) as shards."""
    from stemmatic.cli._errors import clean_errors
    from stemmatic.synthetic import generate_corpus, write_shards

    with clean_errors():
        corpus = generate_corpus(docs, seed=seed, max_words=max_words)
        paths = write_shards(corpus, output, shards=shards, fmt=fmt)
    typer.echo(
        f"wrote {len(corpus.table)} documents ({corpus.num_planted} planted near-duplicates) "
        f"to {len(paths)} {fmt} shards in {output}"
    )
