"""Import the lineage paper's released graph (``graph.jsonl``, ``data.jsonl``).

"Tracing the Roots" (arXiv 2604.10480) releases its graph as JSON lines with
``target``, ``source`` and ``meta_info`` — the latter a JSON *string* — and a
``data.jsonl`` of node records. Its edges were extracted by LLM agents from
cards and papers, so their evidence kind is ``llm``. Recognised
``meta_info`` keys: ``relation``/``relationship``/``type`` (relation,
``derived`` when absent), ``evidence``/``quote``, ``url``/``source_url``,
``confidence``, ``fraction`` and ``source_kind`` (``llm`` when absent; stemmatic's own
export writes it).

>>> import json, tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> line = {"target": "meta-math/MetaMathQA", "source": "openai/gsm8k",
...         "meta_info": json.dumps({"relation": "rewrite", "evidence": "augmented GSM8K"})}
>>> _ = (folder / "graph.jsonl").write_text(json.dumps(line) + "\\n")
>>> graph, report = load_paper_jsonl(folder / "graph.jsonl")
>>> [(e.source, e.relation) for e in graph.in_edges("meta-math/metamathqa")]
[('openai/gsm8k', 'rewrite')]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stemmatic.exceptions import InvalidInputError
from stemmatic.lineage.graph import Evidence, LineageGraph
from stemmatic.lineage.importers._common import ImportReport, resolve_or_unresolved
from stemmatic.lineage.relations import check_relation

__all__ = ["load_paper_jsonl"]


def _jsonl(path: Path) -> list[tuple[int, dict[str, Any]]]:
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise InvalidInputError(f"{path}: cannot read ({err.strerror})") from err
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise InvalidInputError(f"{path}:{number}: not valid JSON ({err.msg})") from err
        if not isinstance(row, dict):
            raise InvalidInputError(f"{path}:{number}: a line must be a JSON object")
        rows.append((number, row))
    return rows


def load_paper_jsonl(
    graph_path: str | Path, data_path: str | Path | None = None, *, graph: LineageGraph | None = None
) -> tuple[LineageGraph, ImportReport]:
    """Import the paper's ``graph.jsonl`` (and optionally its ``data.jsonl``).

    Raises:
        InvalidInputError: naming file, line and field for malformed input.
    """
    graph = graph if graph is not None else LineageGraph()
    graph_path = Path(graph_path)
    report = ImportReport(source=str(graph_path), files=1)
    before = (graph.num_nodes, graph.num_edges)
    if data_path is not None:
        report.files += 1
        for number, row in _jsonl(Path(data_path)):
            name = row.get("name", row.get("id", row.get("dataset")))
            if not isinstance(name, str) or not name.strip():
                raise InvalidInputError(f"{data_path}:{number}: field 'name' (or 'id') is missing")
            size = row.get("size", row.get("num_examples"))
            licenses = row.get("license", row.get("licenses", []))
            attrs: dict[str, Any] = row["attrs"] if isinstance(row.get("attrs"), dict) else {}
            graph.add_node(
                name,
                kind=row.get("kind"),
                name=row.get("display_name") or name,
                categories=list(row.get("categories") or []),
                source_kind=row.get("source_kind"),
                **attrs,
                size=size if isinstance(size, int) and size >= 0 else None,
                domain=row.get("domain", row.get("category")),
                licenses=[licenses] if isinstance(licenses, str) else list(licenses or []),
                date=row.get("date", row.get("created_at")),
            )
            graph.aliases.add(name, graph.resolve(name) or name)
    for number, row in _jsonl(graph_path):
        report.records += 1
        where = f"{graph_path}:{number}"
        for name in ("source", "target"):
            if not isinstance(row.get(name), str) or not row[name].strip():
                raise InvalidInputError(f"{where}: field {name!r} is missing or not a string")
        raw_meta = row.get("meta_info", "{}")
        try:
            meta = json.loads(raw_meta) if isinstance(raw_meta, str) else raw_meta
        except json.JSONDecodeError as err:
            raise InvalidInputError(f"{where}: field 'meta_info' is not a JSON string ({err.msg})") from err
        if meta is None:
            meta = {}
        if not isinstance(meta, dict):
            raise InvalidInputError(f"{where}: field 'meta_info' must encode a JSON object")
        relation = check_relation(
            str(meta.get("relation", meta.get("relationship", meta.get("type", "derived")))), where=where
        )
        quote = str(meta.get("evidence", meta.get("quote", "")))
        url = str(meta.get("url", meta.get("source_url", "")))
        confidence = meta.get("confidence", 1.0)
        if not isinstance(confidence, (int, float)) or not 0 <= confidence <= 1:
            raise InvalidInputError(f"{where}: field 'meta_info.confidence' is {confidence!r}, not in [0, 1]")
        source = resolve_or_unresolved(graph, row["source"], report)
        target = resolve_or_unresolved(graph, row["target"], report)
        if source == target:
            report.self_inclusions.append((target, row["source"]))
            continue
        kind = str(meta.get("source_kind", "llm"))
        try:
            if isinstance(meta.get("all_evidence"), list):
                evidence = [Evidence.from_dict(e) for e in meta["all_evidence"]]
            else:
                evidence = [Evidence(kind, quote, url)]
        except (InvalidInputError, KeyError, TypeError) as err:
            raise InvalidInputError(f"{where}: field 'meta_info' evidence: {err}") from None
        fraction = meta.get("fraction")
        if fraction is not None and (not isinstance(fraction, (int, float)) or not 0 <= fraction <= 1):
            raise InvalidInputError(f"{where}: field 'meta_info.fraction' is {fraction!r}, not in [0, 1]")
        graph.add_edge(
            source,
            target,
            relation,
            confidence=float(confidence),
            fraction=None if fraction is None else float(fraction),
            evidence=evidence,
        )
    report.nodes_added = graph.num_nodes - before[0]
    report.edges_added = graph.num_edges - before[1]
    return graph, report
