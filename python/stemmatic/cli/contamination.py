"""``stemmatic contamination index|scan``: find benchmark items inside training corpora."""

from __future__ import annotations

import contextlib
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

import typer

from stemmatic.cli._engine import given, refuse_local_only_options
from stemmatic.cli._errors import clean_errors as _clean_errors
from stemmatic.cli._errors import literal_console
from stemmatic.cli._options import (
    SHARDS,
    IdColumn,
    Inputs,
    OnError,
    OutAlias,
    Output,
    Overwrite,
    Quiet,
    RayAddress,
    Shards,
    SparkMaster,
    TextColumn,
    Workers,
    output_of,
    with_option_groups,
)
from stemmatic.cli.contamination_index import index_app, split_fields

if TYPE_CHECKING:
    from stemmatic.engines._scan import ScanParams

app = typer.Typer(
    name="contamination",
    help="Index benchmark items as n-grams, then find them (per item, with character spans) in corpora.",
    no_args_is_help=True,
)


app.add_typer(index_app)


@app.command()
@with_option_groups
def scan(
    ctx: typer.Context,
    inputs: Inputs,
    index_path: Annotated[
        str, typer.Option("--index", help="Index built by `stemmatic contamination index` (local or a URL).")
    ],
    output: Output = None,
    text_column: TextColumn = "text",
    id_column: IdColumn = None,
    min_ngrams: Annotated[int, typer.Option(help="Distinct n-grams of an item a document must contain.")] = 1,
    min_coverage: Annotated[
        float, typer.Option(help="Fraction of an item's n-grams a document must contain (0..1).")
    ] = 0.0,
    remove: Annotated[
        bool, typer.Option("--remove", help="Write OUT/clean/ and OUT/removed/ (contaminated documents).")
    ] = False,
    gpt3_cut: Annotated[
        bool,
        typer.Option(
            "--gpt3-cut",
            help="Cut each match ±200 characters out instead of dropping the document "
            "(pieces under 200 characters dropped; documents split more than 10 times removed).",
        ),
    ] = False,
    tokenizer: Annotated[
        str | None, typer.Option(help="Refuse to scan unless the index was built with this tokenizer.")
    ] = None,
    shards: Shards = SHARDS,
    on_error: OnError = "raise",
    workers: Workers = None,
    batch_rows: Annotated[
        int,
        typer.Option(help="Rows per Parquet batch (smaller batches overlap reading and scanning sooner)."),
    ] = 4_096,
    overwrite: Overwrite = False,
    engine: Annotated[
        str,
        typer.Option(
            help="local, ray or spark: ray/spark run the same scan as a job and write "
            "OUT/hits/ (and clean/, removed/) as Parquet part files plus report.json."
        ),
    ] = "local",
    ray_address: RayAddress = None,
    spark_master: SparkMaster = None,
    clean_benchmarks: Annotated[
        bool,
        typer.Option(
            "--clean-benchmarks",
            help="Also write OUT/clean_benchmarks/BENCH/: the items not found, in each benchmark's own "
            "files and format (re-read from where the index was built from).",
        ),
    ] = False,
    benchmark_source: Annotated[
        list[str] | None,
        typer.Option(help="NAME=PATH: read benchmark NAME from PATH for --clean-benchmarks (repeatable)."),
    ] = None,
    min_specific_tokens: Annotated[
        int,
        typer.Option(help="Hits on entries with fewer tokens are 'short': reported apart, not counted."),
    ] = 10,
    max_entry_docs: Annotated[
        int,
        typer.Option(
            help="Hits covering under half of an entry found in more documents than this are 'common': "
            "reported apart, not counted (0: never)."
        ),
    ] = 10,
    count_weak: Annotated[
        bool, typer.Option("--count-weak", help="Count 'short' and 'common' hits as contamination too.")
    ] = False,
    short_ngram: Annotated[
        int,
        typer.Option(
            help="Also match --short-fields by n-grams of this many tokens (short statements; 0: off). "
            "Needs an index that stores its texts."
        ),
    ] = 0,
    short_fields: Annotated[
        str | None,
        typer.Option(help="Comma-separated fields for --short-ngram (default: all indexed fields)."),
    ] = None,
    short_min_ngrams: Annotated[
        int, typer.Option(help="Distinct short n-grams a short-statement hit needs.")
    ] = 3,
    token_coverage: Annotated[
        bool,
        typer.Option(
            "--token-coverage",
            help="Measure the longest matched span of each hit and each entry's Llama-2 token coverage "
            "(clean / not clean / not dirty / dirty).",
        ),
    ] = False,
    coverage_min_span: Annotated[
        int,
        typer.Option(
            min=1,
            help="For --token-coverage: the shortest matched span (tokens) that counts "
            "(Llama 2's L; it reports 10 to 50).",
        ),
    ] = 10,
    semantic: Annotated[
        bool,
        typer.Option(
            "--semantic",
            help="Also find items whose nearest document chunks in embedding space are similar "
            "(paraphrases, renamed code): OUT/semantic.parquet, reported apart. Needs stemmatic[diversity].",
        ),
    ] = False,
    embedder: Annotated[
        str,
        typer.Option(
            help="For --semantic: minilm (offline all-MiniLM-L6-v2), hashing, or a model directory."
        ),
    ] = "minilm",
    semantic_threshold: Annotated[
        float, typer.Option(help="For --semantic: cosine similarity a chunk needs.")
    ] = 0.75,
    chunk_tokens: Annotated[int, typer.Option(help="For --semantic: words per document chunk.")] = 128,
    semantic_fields: Annotated[
        str | None, typer.Option(help="For --semantic: comma-separated fields to embed (default: all).")
    ] = None,
    quiet: Quiet = False,
    out: OutAlias = None,
) -> None:
    """Scan a corpus: OUT/hits.parquet, OUT/items.parquet, OUT/report.json (and clean/removed shards)."""
    from rich.table import Table

    from stemmatic._run import counts_callback, known_rows
    from stemmatic.cli._progress import stage_progress
    from stemmatic.contamination import scan_corpus
    from stemmatic.engines._scan import ScanParams
    from stemmatic.exceptions import ParameterError, StemmaticError
    from stemmatic.io import resolve_inputs
    from stemmatic.io._remote import is_url

    output = output_of(output, out)
    with _clean_errors():
        sources = _benchmark_sources(benchmark_source or [])
        # The parameters the local scan and the engines share.
        params = ScanParams(
            text_column=text_column, id_column=id_column, min_ngrams=min_ngrams,
            min_coverage=min_coverage, remove=remove, tokenizer=tokenizer,
            min_specific_tokens=min_specific_tokens, max_entry_docs=max_entry_docs or None,
            count_weak=count_weak, short_ngram=short_ngram or None,
            short_fields=tuple(split_fields(short_fields)) if short_fields else None,
            short_min_ngrams=short_min_ngrams, token_overlap=token_coverage,
            coverage_min_span=coverage_min_span,
        )  # fmt: skip
        if engine != "local":
            refuse_local_only_options(
                engine,
                workers=workers,
                batch_rows=given(ctx, "batch_rows"),
                compression=shards.compression,
                max_shard_size=shards.max_shard_size,
                max_shard_rows=shards.max_shard_rows,
            )
            local_only = {"--clean-benchmarks": clean_benchmarks, "--semantic": semantic}
            for option, value in local_only.items():
                if value:
                    raise ParameterError(f"{option} runs on the local engine only, not --engine {engine}")
            if gpt3_cut:
                raise ParameterError(f"--gpt3-cut runs on the local engine only, not --engine {engine}")
            _scan_on_engine(engine, inputs, index_path, output, params, on_error, ray_address, spark_master,
                            overwrite, shards.fmt, shards.max_shard_rows)  # fmt: skip
            return
        progress = stage_progress(quiet, literal_console(stderr=True))
        # A total (and so a time remaining) when the inputs' footers give it: local Parquet. Bad
        # inputs are left to the scan, which checks the index first and names the problem.
        total = None
        if not quiet and not any(is_url(str(i)) for i in inputs):
            with contextlib.suppress(StemmaticError):
                total = known_rows(resolve_inputs(inputs))
        try:
            report = scan_corpus(
                inputs,
                index_path,
                output,
                **asdict(params),
                gpt3_cut_mode=gpt3_cut,
                **shards.options(),
                on_error=on_error,
                workers=workers,
                batch_rows=batch_rows,
                overwrite=overwrite,
                progress=counts_callback(progress, "scan", total),
                clean_benchmarks=clean_benchmarks,
                benchmark_sources=sources,
                semantic=semantic,
                embedder=embedder,
                semantic_threshold=semantic_threshold,
                chunk_tokens=chunk_tokens,
                semantic_fields=split_fields(semantic_fields) if semantic_fields else None,
            )
        finally:
            progress.finish()
    rows = report["rows"]
    documents = rows["in"] - rows["rejected"]
    table = Table(title=f"contamination: {documents} documents, {report['text_bytes'] / 1e6:.1f} MB")
    for column in ("benchmark", "items contaminated", "docs contaminated", "% of corpus", "hits"):
        table.add_column(column, justify="left" if column == "benchmark" else "right")
    for name, bench in report["benchmarks"].items():
        table.add_row(
            name,
            f"{bench['items_contaminated']} / {bench['items']}",
            str(bench["docs_contaminated"]),
            f"{bench['docs_contaminated_pct']:.3f}",
            str(bench["hits"]),
        )
    literal_console().print(table)
    excluded = report["index"]["excluded_ngrams"]
    weak = {
        kind: sum(b["hits_by_evidence"][kind] for b in report["benchmarks"].values())
        for kind in ("short", "common")
    }
    if (weak["short"] or weak["common"]) and not count_weak:
        typer.echo(
            f"not counted: {weak['short']} hits on short entries (< {min_specific_tokens} tokens) and "
            f"{weak['common']} on common ones (in > {max_entry_docs} documents); "
            f"{rows['detail']['with_weak_hits_only']} documents have only such hits (see evidence in hits.parquet; "
            "--count-weak counts them)"
        )
    typer.echo(
        f"{rows['detail']['contaminated']} contaminated documents; n-grams excluded from the index: "
        f"{excluded['by_frequency']} by frequency, {excluded['by_allowlist']} by allowlist"
    )
    if rows["kept"] is not None:
        typer.echo(
            f"clean {rows['kept']} + removed {rows['removed']} = {rows['kept'] + rows['removed']} rows"
        )
    for name, bench in report["benchmarks"].items():
        if "clean_benchmark" in bench:
            counts = bench["clean_benchmark"]
            typer.echo(
                f"clean benchmark {name}: {counts['clean']} of {counts['rows']} items not found -> "
                f"{output}/clean_benchmarks/{name}/"
            )
    for name, found in report.get("semantic", {}).items():
        typer.echo(
            f"semantic {name}: {found['items']} items in {found['docs']} documents, "
            f"{found['items_without_ngram_hit']} without a counted n-gram hit -> {output}/semantic.parquet"
        )
    typer.echo(f"wrote {output}/hits.parquet, items.parquet, report.json")


def _benchmark_sources(pairs: list[str]) -> dict[str, str]:
    """``--benchmark-source NAME=PATH`` values as a mapping (a malformed or repeated one is refused)."""
    from stemmatic.exceptions import ParameterError

    sources: dict[str, str] = {}
    for pair in pairs:
        name, sep, path = pair.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise ParameterError(f"invalid --benchmark-source {pair!r}; expected NAME=PATH")
        if name in sources:
            raise ParameterError(f"--benchmark-source names benchmark {name!r} twice")
        sources[name] = path
    return sources


def _scan_on_engine(
    engine: str,
    inputs: list[str],
    index_path: str,
    output: str,
    params: ScanParams,
    on_error: str,
    ray_address: str | None,
    spark_master: str | None,
    overwrite: bool,
    fmt: str,
    max_shard_rows: int | None = None,
) -> None:
    """``--engine ray|spark``: the same scan as a Ray or Spark job (hits, and the --remove split)."""
    from stemmatic.exceptions import ParameterError

    paths = list(inputs)
    common: dict[str, Any] = {"params": params, "overwrite": overwrite, "on_error": on_error, "fmt": fmt}
    if engine == "ray":
        from stemmatic.engines.ray import scan_to_directory as run_ray

        report = run_ray(paths, str(index_path), str(output), address=ray_address, **common)
    elif engine == "spark":
        from stemmatic.engines.spark import scan_to_directory as run_spark

        report = run_spark(
            paths, str(index_path), str(output), master=spark_master, max_shard_rows=max_shard_rows, **common
        )
    else:
        raise ParameterError(f"invalid parameter `engine`: {engine!r}; expected local, ray or spark")
    rows = report["rows"]
    typer.echo(
        f"contamination scan ({engine}) → {output}: {rows['in'] - rows['rejected']:,} documents, "
        f"{rows['detail']['contaminated']:,} contaminated, {report['hits']:,} hits"
        + (f"; clean {rows['kept']:,} + removed {rows['removed']:,}" if params.remove else "")
        + (f"; rejected lines {rows['rejected']:,}" if rows["rejected"] else "")
    )
