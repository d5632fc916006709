"""``stemmatic lineage``: build, inspect and export dataset lineage graphs.

A graph is stored as node-link JSON (``build`` writes it, every other command
reads it).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.table import Table

from stemmatic.cli._errors import clean_errors, fail, literal_console
from stemmatic.cli._options import TextColumn
from stemmatic.exceptions import InvalidInputError, StemmaticError
from stemmatic.lineage.export.files import ExportFormat

app = typer.Typer(
    name="lineage",
    help="Dataset lineage: build a graph from cards, DPI summaries and edge files; query, check, export.",
    no_args_is_help=True,
)
console = literal_console()

GraphArg = Annotated[Path, typer.Argument(help="Lineage graph (node-link JSON written by `build`).")]
JsonOpt = Annotated[Path | None, typer.Option("--json", help="Also write the full report as JSON here.")]
TextsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--texts",
        help="KEY=PATH: a dataset's documents: Parquet, JSON(L), CSV/TSV or Arrow files (.gz/.zst/.bz2), "
        "directories, globs or URLs (s3://, gs://, hf://, memory://) with a --text-column, or .txt "
        "(one document per line); a key given again adds files.",
    ),
]


def _load(path: Path) -> Any:
    from stemmatic.lineage.export import read_node_link

    try:
        return read_node_link(path)
    except StemmaticError as err:
        fail(err)


def _write_json(path: Path | None, data: Any) -> None:
    from stemmatic.lineage._files import dumps_json

    if path is not None:
        path.write_text(dumps_json(data, indent=1), encoding="utf-8")
        console.print(f"wrote {path}")


def _report(
    command: str,
    started: float,
    output: Path,
    parameters: dict[str, Any],
    inputs: list[Any],
    rows: int,
    **blocks: Any,
) -> None:
    """``NAME.report.json`` beside the ``output`` a lineage command wrote (the one report schema).

    The command, from ``started`` (``time.perf_counter()``) to now, is its one stage.
    """
    from stemmatic._run import Rows, StageTimer, peak_rss_bytes, report_beside, run_report, save_report

    timer = StageTimer(started=started)
    seconds = timer.elapsed()
    timer.stages[command.split()[-1]] = {"seconds": round(seconds, 4), "peak_rss_bytes": peak_rss_bytes()}
    paths = [str(p) for p in inputs if p is not None and p != "builtin"]
    report = run_report(
        command,
        parameters=parameters,
        inputs=paths,
        rows=Rows(rows),
        timer=timer,
        seconds=seconds,
        outputs={"output": output.name},
        **blocks,
    )
    console.print(f"wrote {save_report(report_beside(output), report)}")


def _texts(pairs: list[str] | None, text_column: str) -> dict[str, list[str]]:
    """``--texts KEY=PATH`` pairs: the documents of each key (a key given again adds files)."""
    from stemmatic.lineage.texts import read_texts

    sources: dict[str, list[str]] = {}
    for pair in pairs or []:
        key, sep, path = pair.partition("=")
        if not sep or not key or not path:
            raise InvalidInputError(f"--texts {pair!r}: expected KEY=PATH")
        sources.setdefault(key, []).append(path)
    return {key: read_texts(paths, text_column) for key, paths in sources.items()}


@app.command()
def build(
    output: Annotated[Path, typer.Argument(help="Where to write the graph (node-link JSON).")],
    dpi: Annotated[
        str | None,
        typer.Option(
            help="Data Provenance Initiative summaries: `builtin` for the ~2,300 datasets shipped with "
            "stemmatic (offline), or a DPI checkout, its data_summaries folder or one summary file "
            "(a folder named builtin: ./builtin)."
        ),
    ] = None,
    card: Annotated[
        list[Path] | None, typer.Option(help="Hugging Face card README.md (repo read from .../org/name/).")
    ] = None,
    hub: Annotated[
        list[str] | None,
        typer.Option(
            help="A Hub repository's card by id (org/name: a dataset, else a model; model:org/name: a model), "
            "through huggingface_hub and its cache (HF_HUB_OFFLINE=1: the cache only)."
        ),
    ] = None,
    benchmark_card: Annotated[
        list[Path] | None, typer.Option(help="A card of a benchmark: its test splits become benchmark nodes.")
    ] = None,
    paper: Annotated[
        Path | None,
        typer.Option(
            help="The lineage paper's graph.jsonl, or a released folder holding graph.jsonl and data.jsonl."
        ),
    ] = None,
    paper_data: Annotated[
        Path | None, typer.Option(help="The lineage paper's data.jsonl (found beside --paper in a folder).")
    ] = None,
    edges: Annotated[list[Path] | None, typer.Option(help="Hand-written edges (.csv, .yaml).")] = None,
    cut_cycles: Annotated[bool, typer.Option(help="Cut the weakest edge of every cycle.")] = False,
) -> None:
    """Import every given source into one graph, rebind names, report hygiene, and save it (and its report)."""
    started = time.perf_counter()
    from stemmatic.lineage.build import build_graph
    from stemmatic.lineage.export import write_node_link

    with clean_errors():
        built = build_graph(
            dpi=dpi,
            cards=card or [],
            hub=hub or [],
            benchmark_cards=benchmark_card or [],
            paper=paper,
            paper_data=paper_data,
            edges=edges or [],
            cut_cycles=cut_cycles,
        )
    graph, reports, hygiene = built.graph, built.reports, built.hygiene
    table = Table(title="imported")
    for column in ("source", "records", "nodes", "edges", "names resolved", "unresolved", "self-incl."):
        table.add_column(column)
    for report in reports:
        table.add_row(
            report.source,
            str(report.records),
            str(report.nodes_added),
            str(report.edges_added),
            f"{report.names_resolved}/{report.names_seen}",
            str(len(report.unresolved)),
            str(len(report.self_inclusions)),
        )
    console.print(table)
    merged = sum(len(report.merged) for report in reports)
    console.print(
        f"{merged} names merged onto a repository of another spelling (alias, benchmark, name part)"
    )
    console.print(f"rebound {len(built.rebound)} unresolved names; cut {len(built.cut)} cycle edges")
    console.print(f"hygiene: {hygiene.summary()}")
    write_node_link(graph, output)
    console.print(f"wrote {graph!r} to {output}")
    files = {"card": card, "benchmark_card": benchmark_card, "paper": [paper], "paper_data": [paper_data]}
    named = {name: [str(p) for p in paths or [] if p is not None] for name, paths in files.items()}
    _report(
        "lineage build",
        started,
        output,
        {
            "dpi": dpi,
            "hub": hub or [],
            **named,
            "edges": [str(p) for p in edges or []],
            "cut_cycles": cut_cycles,
        },
        [*(card or []), *(benchmark_card or []), paper, paper_data, *(edges or [])],
        sum(r.records for r in reports),
        graph={"nodes": graph.num_nodes, "edges": graph.num_edges},
        imports=[r.as_dict() for r in reports],
    )


@app.command()
def show(
    graph_path: GraphArg,
    key: Annotated[str | None, typer.Argument(help="A node; without it, the whole graph's summary.")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Only what existed on this date.")] = None,
    by: Annotated[
        str,
        typer.Option(help="Per-domain table by `domain` (one per node) or `category` (each of a node's)."),
    ] = "domain",
    json_out: JsonOpt = None,
) -> None:
    """A node's attributes, parents with evidence and roots; or the graph's summary and per-domain table."""
    from stemmatic.lineage import as_of as as_of_fn
    from stemmatic.lineage import domain_stats, hygiene_report, roots
    from stemmatic.lineage.ops import counts

    graph = _load(graph_path)
    if as_of is not None:
        graph = as_of_fn(graph, as_of)
    with clean_errors():
        if key is None:
            found = counts(graph)
            kinds, relations = found["kinds"], found["relations"]
            stats = domain_stats(graph, by=by)
            table = Table(title=f"{graph!r}: structure per {by}")
            for column in (by, "nodes", "mean depth", "max depth", "roots", "leaves", "mean in", "mean out"):
                table.add_column(column)
            for s in stats:
                table.add_row(
                    s.domain,
                    str(s.nodes),
                    f"{s.mean_depth:.2f}",
                    str(s.max_depth),
                    str(s.roots),
                    str(s.leaves),
                    f"{s.mean_in_degree:.2f}",
                    f"{s.mean_out_degree:.2f}",
                )
            console.print(f"kinds: {kinds}")
            console.print(f"edges per relation: {relations}")
            console.print(table)
            hygiene = hygiene_report(graph)
            console.print(f"hygiene: {hygiene.summary()}")
            _write_json(
                json_out,
                {
                    "kinds": kinds,
                    "relations": relations,
                    "domains": [s.__dict__ for s in stats],
                    "hygiene": hygiene.to_dict(),
                },
            )
            return
        node = graph.node(key)
        console.print(node.to_dict())
        table = Table(title=f"parents of {node.key}")
        for column in ("parent", "relation", "confidence", "evidence"):
            table.add_column(column)
        for edge in graph.in_edges(node.index):
            evidence = "; ".join(f"[{e.source_kind}] {e.quote}" for e in edge.evidence)
            table.add_row(edge.source, edge.relation, f"{edge.confidence:.2f}", evidence)
        console.print(table)
        found_roots = roots(graph, node.index)
        console.print(f"roots ({len(found_roots)}): {', '.join(found_roots[:30])}")
        _write_json(
            json_out,
            {
                "node": node.to_dict(),
                "parents": [e.to_dict() for e in graph.in_edges(node.index)],
                "roots": found_roots,
            },
        )


@app.command()
def impact(
    graph_path: GraphArg,
    key: Annotated[str, typer.Argument(help="The node whose downstream to list.")],
    max_depth: Annotated[int | None, typer.Option(help="Stop after this many edges.")] = None,
    json_out: JsonOpt = None,
) -> None:
    """Everything downstream of a node (datasets, models, benchmarks), by depth."""
    from stemmatic.lineage import impact as impact_fn

    graph = _load(graph_path)
    with clean_errors():
        result = impact_fn(graph, key, max_depth=max_depth)
    table = Table(title=f"downstream of {result.start}: {result.counts()}")
    for column in ("depth", "node", "kind", "via"):
        table.add_column(column)
    for item in result.reached[:200]:
        table.add_row(str(item.depth), item.key, item.kind, item.via)
    console.print(table)
    _write_json(json_out, result.to_dict())


@app.command()
def contamination(
    graph_path: GraphArg,
    benchmark: Annotated[list[str] | None, typer.Option(help="Benchmark name or key (repeatable).")] = None,
    flagged: Annotated[
        list[str] | None, typer.Option(help="KEY=RISK: a dataset the contamination scanner flagged.")
    ] = None,
    unsplit_factor: Annotated[
        float, typer.Option(help="Risk that a whole-dataset citation includes its test split.")
    ] = 0.5,
    split_evidence: Annotated[
        bool,
        typer.Option(
            help="Read which part of a whole-dataset benchmark an edge's evidence says was used: "
            "'training set'/'train split' only passes nothing, a test set passes the whole risk."
        ),
    ] = True,
    json_out: JsonOpt = None,
) -> None:
    """Propagate benchmark contamination along lineage; list every reached dataset and model with its path."""
    from stemmatic.lineage import propagate_contamination

    graph = _load(graph_path)
    try:
        flags = {}
        for pair in flagged or []:
            name, sep, value = pair.rpartition("=")
            if not sep:
                raise InvalidInputError(f"--flagged {pair!r}: expected KEY=RISK")
            flags[name] = float(value)
        report = propagate_contamination(
            graph,
            benchmarks=benchmark or [],
            flagged=flags,
            unsplit_factor=unsplit_factor,
            read_split_evidence=split_evidence,
        )
    except (StemmaticError, ValueError) as err:
        fail(err)
    console.print(f"seeds: {report.seeds}")
    for warning in report.warnings:
        console.print(f"warning: {warning}")
    for edge in report.cleared:
        quote = edge.evidence[0].quote if edge.evidence else ""
        console.print(
            f"cleared {edge.source} -{edge.relation}-> {edge.target}: evidence says train split: {quote}"
        )
    table = Table(title=f"{len(report.hits)} datasets and models at risk")
    for column in ("risk", "node", "kind", "path"):
        table.add_column(column)
    for hit in report.hits[:200]:
        path = " → ".join([hit.seed, *(f"{e.relation}:{e.target}" for e in hit.path)])
        table.add_row(f"{hit.risk:.3f}", hit.key, hit.kind, path)
    console.print(table)
    _write_json(json_out, report.to_dict())


@app.command()
def redundancy(
    graph_path: GraphArg,
    keys: Annotated[list[str], typer.Argument(help="Datasets to compare.")],
    texts: TextsOpt = None,
    text_column: TextColumn = "text",
    threshold: Annotated[float, typer.Option(help="Jaccard of a near-duplicate.")] = 0.8,
    json_out: JsonOpt = None,
) -> None:
    """Shared-root (structural) and measured-containment redundancy, diamonds, and disagreements."""
    from stemmatic.lineage import redundancy_report

    graph = _load(graph_path)
    with clean_errors():
        contents = _texts(texts, text_column) or None
        report = redundancy_report(graph, keys, contents=contents, threshold=threshold)
    table = Table(title="shared roots (upper) / measured containment (lower)")
    table.add_column("")
    for key in report.keys:
        table.add_column(key[:24])
    for i, key in enumerate(report.keys):
        cells = []
        for j in range(len(report.keys)):
            if j >= i or report.empirical is None:
                cells.append(f"{report.structural[i, j]:.2f}")
            else:
                cells.append(f"{report.empirical[i, j]:.2f}")
        table.add_row(key[:24], *cells)
    console.print(table)
    for diamond in report.diamonds[:50]:
        console.print(f"diamond: {diamond.child} gets {diamond.direct} directly and via {diamond.via}")
    for item in report.disagreements:
        console.print(f"disagreement: {item}")
    _write_json(json_out, report.to_dict())


@app.command()
def sample(
    graph_path: GraphArg,
    budget: Annotated[int, typer.Option(help="Documents to sample.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Sampled documents (.jsonl with root key and row).")
    ],
    texts: TextsOpt = None,
    text_column: TextColumn = "text",
    target: Annotated[
        list[str] | None, typer.Option(help="Sample from this dataset's roots (repeatable).")
    ] = None,
    allocation: Annotated[str, typer.Option(help="uniform, size_capped or sqrt.")] = "sqrt",
    cap: Annotated[int | None, typer.Option(help="Size cap for size_capped.")] = None,
    use: Annotated[
        str, typer.Option(help="Licence use to respect: research, commercial, permissive-only.")
    ] = "research",
    benchmark: Annotated[
        list[str] | None, typer.Option(help="Exclude roots contaminated by this benchmark.")
    ] = None,
    baseline: Annotated[
        list[str] | None,
        typer.Option(help="Documents of a baseline mixture to compare with (read as --texts; repeatable)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the baseline draw.")] = 0,
) -> None:
    """Sample a diverse, deduplicated mixture from root sources; report Vendi vs a baseline; attribution."""
    started = time.perf_counter()
    from stemmatic.lineage import attribution, propagate_contamination, root_sample
    from stemmatic.lineage._files import dumps_json
    from stemmatic.lineage.texts import read_texts

    graph = _load(graph_path)
    with clean_errors():
        contents = _texts(texts, text_column)
        contaminated: list[str] = []
        if benchmark:
            report = propagate_contamination(graph, benchmarks=benchmark)
            contaminated = [*report.seeds, *report.at_risk()]
        base = read_texts(baseline, text_column) if baseline else None
        result = root_sample(
            graph,
            contents,
            budget,
            targets=target,
            allocation=allocation,
            cap=cap,
            contaminated=contaminated,
            use=use,
            baseline=base,
            seed=seed,
        )
    with output.open("w", encoding="utf-8") as out:
        for root, row, text in result.texts:
            out.write(dumps_json({"root": root, "row": row, "text": text}) + "\n")
    summary = result.to_dict()
    summary["attribution"] = attribution(graph, result.roots)
    attribution_path = output.with_suffix(".attribution.json")
    _write_json(attribution_path, summary)
    console.print(f"allocation: {result.allocation}")
    for key, why in result.excluded.items():
        console.print(f"excluded {key}: {why}")
    console.print(
        f"wrote {len(result.texts)} documents to {output}; Vendi {result.vendi:.2f} "
        f"(baseline {result.baseline_vendi if result.baseline_vendi is None else round(result.baseline_vendi, 2)}), "
        f"centroid distance {result.centroid_distance:.3f}, cross-root duplicates dropped {result.cross_root_duplicates}"
    )
    _report(
        "lineage sample",
        started,
        output,
        {
            "budget": budget,
            "targets": target,
            "allocation": allocation,
            "cap": cap,
            "use": use,
            "benchmarks": benchmark,
            "seed": seed,
        },
        [graph_path, *[pair.partition("=")[2] for pair in texts or []], *(baseline or [])],
        sum(len(docs) for docs in contents.values()),
        sampled=len(result.texts),
    )


@app.command()
def export(
    graph_path: GraphArg,
    output: Annotated[Path, typer.Argument(help="Output file (a folder for `paper`).")],
    fmt: Annotated[ExportFormat, typer.Option("--format", help="The format to write.")] = "node-link",
    node: Annotated[
        str | None, typer.Option(help="svg, png: the node whose ancestry to draw; html: first node shown.")
    ] = None,
    direction: Annotated[
        Literal["ancestors", "descendants", "both"], typer.Option(help="svg, png: what to draw from --node.")
    ] = "ancestors",
    dpi: Annotated[float, typer.Option(help="png: pixels per inch (96 is the SVG's size).")] = 192,
    max_nodes: Annotated[
        int, typer.Option(help="svg, png: the most nodes drawn one by one; beyond, see --collapse.")
    ] = 150,
    collapse: Annotated[
        Literal["auto", "domain", "depth", "none"],
        typer.Option(
            help="svg, png, beyond --max-nodes: auto or domain (group far nodes by domain and layer), "
            "depth (by layer), none (cut to the nearest nodes); the picture says which at its top."
        ),
    ] = "auto",
    keep_hops: Annotated[
        int, typer.Option(help="svg, png, collapsed: nodes within this many edges stay single.")
    ] = 1,
) -> None:
    """Write the graph in another format (and OUTPUT.report.json beside it)."""
    started = time.perf_counter()
    from stemmatic.lineage.export import export_graph

    graph = _load(graph_path)
    with clean_errors():
        written = export_graph(
            graph,
            output,
            fmt,
            node=node,
            direction=direction,
            dpi=dpi,
            max_nodes=max_nodes,
            collapse=collapse,
            keep_hops=keep_hops,
        )
    console.print(f"wrote {' and '.join(str(p) for p in written)}")
    _report(
        "lineage export",
        started,
        output,
        {"format": fmt, "node": node, "direction": direction, "max_nodes": max_nodes, "collapse": collapse},
        [graph_path],
        graph.num_nodes,
        graph={"nodes": graph.num_nodes, "edges": graph.num_edges},
    )
