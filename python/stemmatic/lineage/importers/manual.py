"""Import hand-written edges from CSV or YAML.

CSV columns: ``source``, ``target``, ``relation`` (required), ``confidence``,
``fraction``, ``quote``, ``url``, ``source_kind`` (``manual`` by default).
YAML: a list of such mappings, or a mapping with ``edges:``, optional
``nodes:`` (``id`` plus node attributes) and ``aliases:`` (``alias: key``).

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "edges.csv"
>>> _ = path.write_text("source,target,relation,quote\\nopenai/gsm8k,my/math-mix,subset,we took GSM8K\\n")
>>> graph, _ = load_edges(path)
>>> graph.parents("my/math-mix")
['openai/gsm8k']
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from stemmatic._extras import require
from stemmatic.exceptions import InvalidInputError
from stemmatic.lineage.graph import Evidence, LineageGraph
from stemmatic.lineage.importers._common import ImportReport, resolve_or_unresolved
from stemmatic.lineage.relations import check_relation

__all__ = ["load_edges"]


def _float(value: Any, field: str, where: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{where}: field {field!r} is {value!r}, not a number") from None
    if not 0.0 <= out <= 1.0:
        raise InvalidInputError(f"{where}: field {field!r} is {out}, not in [0, 1]")
    return out


def _add_row(graph: LineageGraph, row: dict[str, Any], where: str, report: ImportReport) -> None:
    for name in ("source", "target", "relation"):
        if not isinstance(row.get(name), str) or not str(row[name]).strip():
            raise InvalidInputError(f"{where}: field {name!r} is missing")
    relation = check_relation(row["relation"], where=where)
    confidence = _float(row.get("confidence"), "confidence", where)
    fraction = _float(row.get("fraction"), "fraction", where)
    kind = str(row.get("source_kind") or "manual")
    try:
        evidence = Evidence(kind, str(row.get("quote") or ""), str(row.get("url") or ""))
    except InvalidInputError as err:
        raise InvalidInputError(f"{where}: field 'source_kind': {err}") from None
    source = resolve_or_unresolved(graph, row["source"], report)
    target = resolve_or_unresolved(graph, row["target"], report)
    if source == target:
        raise InvalidInputError(f"{where}: source and target are the same dataset {source!r}")
    graph.add_edge(
        source,
        target,
        relation,
        confidence=1.0 if confidence is None else confidence,
        fraction=fraction,
        evidence=evidence,
    )


def load_edges(path: str | Path, *, graph: LineageGraph | None = None) -> tuple[LineageGraph, ImportReport]:
    """Import a ``.csv``, ``.yaml`` or ``.yml`` file of hand-written edges.

    Raises:
        InvalidInputError: naming the file, row or line, and field at fault.
    """
    path = Path(path)
    graph = graph if graph is not None else LineageGraph()
    report = ImportReport(source=str(path), files=1)
    before = (graph.num_nodes, graph.num_edges)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise InvalidInputError(f"{path}: cannot read ({err.strerror})") from err
    suffix = path.suffix.lower()
    if suffix == ".csv":
        reader = csv.DictReader(text.splitlines())
        missing = {"source", "target", "relation"} - set(reader.fieldnames or [])
        if missing:
            raise InvalidInputError(f"{path}:1: CSV header lacks {', '.join(sorted(missing))}")
        for number, row in enumerate(reader, start=2):
            report.records += 1
            _add_row(graph, row, f"{path}:{number}", report)
    elif suffix in (".yaml", ".yml"):
        yaml = require("yaml", "reading YAML lineage edges")
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            line = f":{mark.line + 1}" if mark is not None else ""
            raise InvalidInputError(f"{path}{line}: malformed YAML ({err})") from err
        if isinstance(data, list):
            data = {"edges": data}
        if not isinstance(data, dict):
            raise InvalidInputError(f"{path}: expected a list of edges or a mapping with 'edges'")
        for position, node in enumerate(data.get("nodes") or []):
            if not isinstance(node, dict) or not isinstance(node.get("id"), str):
                raise InvalidInputError(f"{path}: nodes[{position}]: field 'id' is missing")
            attrs = {k: v for k, v in node.items() if k != "id"}
            try:
                graph.add_node(node["id"], **attrs)
            except TypeError as err:
                raise InvalidInputError(f"{path}: nodes[{position}]: {err}") from None
        for alias, key in (data.get("aliases") or {}).items():
            graph.aliases.add(str(alias), graph.resolve(str(key)) or str(key))
        for position, row in enumerate(data.get("edges") or []):
            report.records += 1
            if not isinstance(row, dict):
                raise InvalidInputError(f"{path}: edges[{position}] is not a mapping")
            _add_row(graph, row, f"{path}: edges[{position}]", report)
    else:
        raise InvalidInputError(f"{path}: expected a .csv, .yaml or .yml file of edges")
    report.nodes_added = graph.num_nodes - before[0]
    report.edges_added = graph.num_edges - before[1]
    return graph, report
