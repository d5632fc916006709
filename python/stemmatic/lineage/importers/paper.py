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

from pathlib import Path
from typing import Any

from stemmatic.exceptions import InvalidInputError
from stemmatic.lineage._files import describe, load_json, located, read_text
from stemmatic.lineage.graph import Evidence, LineageGraph
from stemmatic.lineage.importers._common import ImportReport, resolve_or_unresolved
from stemmatic.lineage.relations import check_relation

__all__ = ["load_paper_jsonl"]


def _jsonl(path: Path) -> list[tuple[int, dict[str, Any]]]:
    rows = []
    # Split on newlines only: JSON text may hold U+2028, which str.splitlines() also breaks at.
    for number, line in enumerate(read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        row = load_json(line, f"{path}:{number}", one_line=True)
        if not isinstance(row, dict):
            raise InvalidInputError(f"{path}:{number}: a line must be a JSON object")
        rows.append((number, row))
    return rows


def _text(meta: dict[str, Any], names: tuple[str, ...], where: str, default: str = "") -> str:
    """The first of ``names`` present in ``meta``, which must be text (a number is written out)."""
    for name in names:
        value = meta.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise InvalidInputError(f"{where}: field 'meta_info.{name}' is {describe(value)}, not text")
        return str(value)
    return default


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
            licenses = row.get("license", row.get("licenses"))
            with located(f"{data_path}:{number}"):
                graph._add_node(
                    name,
                    kind=row.get("kind"),
                    name=row.get("display_name") or name,
                    categories=row.get("categories"),
                    source_kind=row.get("source_kind"),
                    size=size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None,
                    domain=row.get("domain", row.get("category")),
                    licenses=[licenses] if isinstance(licenses, str) else licenses,
                    date=row.get("date", row.get("created_at")),
                    attrs=row["attrs"] if isinstance(row.get("attrs"), dict) else None,
                )
            graph.aliases.add(name, graph.resolve(name) or name)
    for number, row in _jsonl(graph_path):
        report.records += 1
        where = f"{graph_path}:{number}"
        for name in ("source", "target"):
            if not isinstance(row.get(name), str) or not row[name].strip():
                raise InvalidInputError(f"{where}: field {name!r} is missing or not a string")
        raw_meta = row.get("meta_info", "{}")
        meta = (
            load_json(raw_meta, f"{where}: field 'meta_info'", one_line=True)
            if isinstance(raw_meta, str)
            else raw_meta
        )
        if meta is None:
            meta = {}
        if not isinstance(meta, dict):
            raise InvalidInputError(f"{where}: field 'meta_info' must encode a JSON object")
        relation = check_relation(
            str(meta.get("relation", meta.get("relationship", meta.get("type", "derived")))), where=where
        )
        quote = _text(meta, ("evidence", "quote"), where)
        url = _text(meta, ("url", "source_url"), where)
        confidence = meta.get("confidence", 1.0)
        if (
            isinstance(confidence, bool)
            or not isinstance(confidence, (int, float))
            or not 0 <= confidence <= 1
        ):
            raise InvalidInputError(f"{where}: field 'meta_info.confidence' is {confidence!r}, not in [0, 1]")
        with located(where):
            source = resolve_or_unresolved(graph, row["source"], report)
            target = resolve_or_unresolved(graph, row["target"], report)
        if source == target:
            report.self_inclusions.append((target, row["source"]))
            continue
        kind = _text(meta, ("source_kind",), where, "llm")
        try:
            if isinstance(meta.get("all_evidence"), list):
                evidence = [Evidence.from_dict(e) for e in meta["all_evidence"]]
            else:
                evidence = [Evidence(kind, quote, url)]
        except (InvalidInputError, KeyError, TypeError) as err:
            raise InvalidInputError(f"{where}: field 'meta_info' evidence: {err}") from None
        fraction = meta.get("fraction")
        if fraction is not None and (
            isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction <= 1
        ):
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
