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
import io
from pathlib import Path
from typing import Any

from stemmatic.exceptions import InvalidInputError
from stemmatic.lineage._files import describe, load_yaml, located, read_text
from stemmatic.lineage.graph import Evidence, LineageGraph
from stemmatic.lineage.importers._common import ImportReport, resolve_or_unresolved
from stemmatic.lineage.relations import check_relation

__all__ = ["load_edges"]

#: Node fields a YAML ``nodes:`` entry may set; any other key becomes an extra attribute.
_NODE_FIELDS = ("kind", "name", "size", "domain", "categories", "licenses", "date", "source_kind")


def _float(value: Any, field: str, where: str) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InvalidInputError(f"{where}: field {field!r} is {describe(value)}, not a number")
    try:
        out = float(value)
    except (ValueError, OverflowError):
        raise InvalidInputError(f"{where}: field {field!r} is {value!r:.40}, not a number") from None
    if not 0.0 <= out <= 1.0:
        raise InvalidInputError(f"{where}: field {field!r} is {out}, not in [0, 1]")
    return out


def _text(row: dict[str, Any], field: str, where: str, default: str = "") -> str:
    value = row.get(field)
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InvalidInputError(f"{where}: field {field!r} is {describe(value)}, not text")
    return str(value)


def _add_row(graph: LineageGraph, row: dict[str, Any], where: str, report: ImportReport) -> None:
    for name in ("source", "target", "relation"):
        value = row.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise InvalidInputError(f"{where}: field {name!r} is missing")
        if not isinstance(value, str):
            raise InvalidInputError(f"{where}: field {name!r} is {describe(value)}, not a string")
    relation = check_relation(row["relation"], where=where)
    confidence = _float(row.get("confidence"), "confidence", where)
    fraction = _float(row.get("fraction"), "fraction", where)
    kind = _text(row, "source_kind", where, "manual")
    try:
        evidence = Evidence(kind, _text(row, "quote", where), _text(row, "url", where))
    except InvalidInputError as err:
        raise InvalidInputError(f"{where}: field 'source_kind': {err}") from None
    with located(where):
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
    text = read_text(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        # newline="" lets the csv module see line breaks inside quoted fields as data.
        reader = csv.DictReader(io.StringIO(text, newline=""))
        try:
            missing = {"source", "target", "relation"} - set(reader.fieldnames or [])
            if missing:
                raise InvalidInputError(f"{path}:1: CSV header lacks {', '.join(sorted(missing))}")
            for row in reader:
                report.records += 1
                _add_row(graph, row, f"{path}:{reader.line_num}", report)
        except csv.Error as err:
            # The reader counts a line once it has parsed it; the error is on the next one.
            raise InvalidInputError(f"{path}:{reader.line_num + 1}: malformed CSV ({err})") from None
    elif suffix in (".yaml", ".yml"):
        data = load_yaml(text, str(path))
        if isinstance(data, list):
            data = {"edges": data}
        if not isinstance(data, dict):
            raise InvalidInputError(f"{path}: expected a list of edges or a mapping with 'edges'")
        for field in ("nodes", "edges"):
            if not isinstance(data.get(field) or [], list):
                raise InvalidInputError(f"{path}: field {field!r} is {describe(data[field])}, not a list")
        for position, node in enumerate(data.get("nodes") or []):
            with located(f"{path}: nodes[{position}]"):
                if not isinstance(node, dict):
                    raise InvalidInputError(f"the entry is {describe(node)}, not a mapping")
                fields = {k: v for k, v in node.items() if k in _NODE_FIELDS}
                extra = {k: v for k, v in node.items() if k != "id" and k not in _NODE_FIELDS}
                graph._add_node(node.get("id"), **fields, attrs=extra)
        aliases = data.get("aliases") or {}
        if not isinstance(aliases, dict):
            raise InvalidInputError(f"{path}: field 'aliases' is {describe(aliases)}, not a mapping")
        for alias, key in aliases.items():
            if not isinstance(alias, str) or not isinstance(key, str):
                raise InvalidInputError(f"{path}: field 'aliases.{alias}' must map a name to a key")
            graph.aliases.add(alias, graph.resolve(key) or key)
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
