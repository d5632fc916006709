"""Text exports: paper JSONL, node-link JSON, GraphML, OpenLineage, PROV-JSON, DOT, Mermaid.

Every writer produces a well-formed file for any key, name or attribute (control
characters, markup, lone surrogates); :mod:`stemmatic.lineage.export._text` says how
each format escapes what it cannot carry, and every reader undoes it.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from stemmatic.exceptions import InvalidInputError
from stemmatic.lineage._files import dumps_json, load_json, read_text
from stemmatic.lineage.export._text import escape_chars, mermaid_label, mermaid_unlabel, unescape_chars
from stemmatic.lineage.graph import Evidence, LineageGraph
from stemmatic.lineage.relations import RELATIONS

__all__ = [
    "from_dot",
    "from_mermaid",
    "from_openlineage",
    "from_prov_json",
    "openlineage_events",
    "prov_json",
    "read_graphml",
    "read_node_link",
    "to_dot",
    "to_mermaid",
    "write_graphml",
    "write_node_link",
    "write_paper_jsonl",
]

PRODUCER = "https://github.com/stemmatic/stemmatic"
_OL_EVENT = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent"
_OL_FACET = "https://openlineage.io/spec/facets/1-0-0/LineageDatasetFacet.json#/$defs/LineageDatasetFacet"
_OL_SUBTYPE = {
    "subset": "FILTER",
    "filter": "FILTER",
    "merge": "AGGREGATION",
    "format": "IDENTITY",
    "version": "IDENTITY",
}


def _color(relation: str) -> str:
    from stemmatic.lineage.export.render import RELATION_COLORS

    return RELATION_COLORS.get(relation, "#888888")


# ------------------------------------------------------------------ paper
def write_paper_jsonl(graph: LineageGraph, folder: str | Path) -> tuple[Path, Path]:
    """Write ``graph.jsonl`` (``target``, ``source``, ``meta_info`` as a JSON string) and ``data.jsonl``.

    ``meta_info`` holds ``relation``, ``evidence``, ``url``, ``confidence``,
    ``source_kind`` of the first evidence, and ``all_evidence``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data_path, graph_path = folder / "data.jsonl", folder / "graph.jsonl"
    with data_path.open("w", encoding="utf-8") as out:
        for node in graph.nodes():
            record = node.to_dict()
            record["name"] = record.pop("id")
            record["display_name"] = node.name
            # Written even when unset, so the importer does not take the first category for it.
            record.setdefault("domain", None)
            if node.licenses:
                record["license"] = record.pop("licenses")
            out.write(dumps_json(record, sort_keys=True) + "\n")
    with graph_path.open("w", encoding="utf-8") as out:
        for edge in graph.edges():
            first = edge.evidence[0] if edge.evidence else Evidence("manual")
            meta = {
                "relation": edge.relation,
                "evidence": first.quote,
                "url": first.url,
                "source_kind": first.source_kind,
                "confidence": edge.confidence,
                "all_evidence": [e.to_dict() for e in edge.evidence],
            }
            if edge.fraction is not None:
                meta["fraction"] = edge.fraction
            line = {
                "target": edge.target,
                "source": edge.source,
                "meta_info": dumps_json(meta),
            }
            out.write(dumps_json(line) + "\n")
    return graph_path, data_path


# -------------------------------------------------------------- node-link
def write_node_link(graph: LineageGraph, path: str | Path) -> Path:
    """Write node-link JSON (the form of :meth:`LineageGraph.to_dict`, readable by networkx)."""
    path = Path(path)
    path.write_text(dumps_json(graph.to_dict(), indent=1), encoding="utf-8")
    return path


def read_node_link(path: str | Path) -> LineageGraph:
    """Read node-link JSON.

    Raises:
        InvalidInputError: naming the file, entry and field for unreadable or invalid JSON (nesting
            deeper than 64 levels included) or entries of the wrong type.
    """
    path = Path(path)
    data = load_json(read_text(path), str(path))
    return LineageGraph.from_dict(data, where=str(path))


# ---------------------------------------------------------------- GraphML
_GML = "http://graphml.graphdrawing.org/xmlns"
_NODE_FIELDS = ("kind", "name", "size", "domain", "date", "source_kind", "categories", "licenses", "attrs")
_EDGE_FIELDS = ("relation", "confidence", "fraction", "evidence")


def write_graphml(graph: LineageGraph, path: str | Path) -> Path:
    """Write GraphML; list and dict attributes are JSON strings, numbers typed.

    Characters XML 1.0 cannot carry (C0 controls but tab, lone surrogates, U+FFFE, U+FFFF) are
    written as ``_xHHHH_`` in every id and value (see :mod:`~stemmatic.lineage.export._text`);
    :func:`read_graphml` restores them.
    """
    ET.register_namespace("", _GML)
    root = ET.Element(f"{{{_GML}}}graphml")
    types = {"size": "long", "confidence": "double", "fraction": "double"}
    for domain, fields in (("node", _NODE_FIELDS), ("edge", _EDGE_FIELDS)):
        for name in fields:
            ET.SubElement(
                root,
                f"{{{_GML}}}key",
                {"id": name, "for": domain, "attr.name": name, "attr.type": types.get(name, "string")},
            )
    body = ET.SubElement(root, f"{{{_GML}}}graph", {"id": "lineage", "edgedefault": "directed"})
    for node in graph.nodes():
        element = ET.SubElement(body, f"{{{_GML}}}node", {"id": escape_chars(node.key)})
        record = node.to_dict()
        for name in _NODE_FIELDS:
            if name in record:
                value = record[name]
                text = dumps_json(value) if isinstance(value, (list, dict)) else str(value)
                ET.SubElement(element, f"{{{_GML}}}data", {"key": name}).text = escape_chars(text)
    for edge in graph.edges():
        ends = {
            "id": f"e{edge.index}",
            "source": escape_chars(edge.source),
            "target": escape_chars(edge.target),
        }
        element = ET.SubElement(body, f"{{{_GML}}}edge", ends)
        record = edge.to_dict()
        for name in _EDGE_FIELDS:
            if name in record:
                value = record[name]
                text = dumps_json(value) if isinstance(value, list) else repr(value)
                if isinstance(value, str):
                    text = value
                ET.SubElement(element, f"{{{_GML}}}data", {"key": name}).text = escape_chars(text)
    path = Path(path)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path


def read_graphml(path: str | Path) -> LineageGraph:
    """Read GraphML written by :func:`write_graphml`.

    Raises:
        InvalidInputError: for malformed XML, entity declarations (refused: GraphML needs none,
            and they can expand a small file enormously) or attributes of the wrong type, naming
            the file, element and field.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise InvalidInputError(f"{path}: cannot read ({err.strerror})") from err
    if b"<!ENTITY" in raw:
        raise InvalidInputError(f"{path}: GraphML with entity declarations (<!ENTITY) is not read")
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as err:
        raise InvalidInputError(f"{path}:{err.position[0]}: malformed GraphML ({err})") from err
    body = root.find(f"{{{_GML}}}graph")
    if body is None:
        raise InvalidInputError(f"{path}: no <graph> element")

    def text_of(value: str | None) -> str | None:
        return None if value is None else unescape_chars(value)

    def fields(element: ET.Element) -> dict[str, str]:
        return {d.get("key", ""): unescape_chars(d.text or "") for d in element.findall(f"{{{_GML}}}data")}

    def number(text: str, where: str, name: str) -> float:
        try:
            return float(text)
        except ValueError:
            raise InvalidInputError(f"{where}: field {name!r} is {text[:40]!r}, not a number") from None

    nodes, links = [], []
    for position, element in enumerate(body.findall(f"{{{_GML}}}node")):
        where = f"{path}: node {position}"
        data: dict[str, Any] = {"id": text_of(element.get("id"))}
        for name, text in fields(element).items():
            if name == "size":
                digits = text.strip()
                if not (digits.isascii() and digits.isdigit()) or len(digits) > 19:
                    raise InvalidInputError(
                        f"{where}: field 'size' is {text[:40]!r}, not a count below 2**63"
                    )
                data[name] = int(digits)
            elif name in ("categories", "licenses", "attrs"):
                data[name] = load_json(text, f"{where}: field {name!r}", one_line=True)
            else:
                data[name] = text
        nodes.append(data)
    for position, element in enumerate(body.findall(f"{{{_GML}}}edge")):
        where = f"{path}: edge {position}"
        link: dict[str, Any] = {
            "source": text_of(element.get("source")),
            "target": text_of(element.get("target")),
        }
        for name, text in fields(element).items():
            if name in ("confidence", "fraction"):
                link[name] = number(text, where, name)
            elif name == "evidence":
                link[name] = load_json(text, f"{where}: field 'evidence'", one_line=True)
            else:
                link[name] = text
        links.append(link)
    return LineageGraph.from_dict({"nodes": nodes, "links": links}, where=str(path))


# ------------------------------------------------------------- OpenLineage
def openlineage_events(
    graph: LineageGraph, *, namespace: str = "huggingface", event_time: str | None = None
) -> list[dict[str, Any]]:
    """One OpenLineage ``DatasetEvent`` per node with parents, carrying a ``LineageDatasetFacet``.

    Each input's transformation is ``DIRECT`` for relations that copy text
    (subset, filter, merge, format, version, extend) and ``INDIRECT``
    otherwise, with ``subtype`` and the relation's name; stemmatic's own
    fields (``stemmatic_relation``, ``stemmatic_confidence``,
    ``stemmatic_evidence``) ride along as the facet's additional properties.
    Nodes without parents get an event with an empty ``inputs`` list (the
    spec's way to say "no tracked upstream").
    """
    when = event_time or datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    events = []
    for node in graph.nodes():
        inputs = []
        for edge in graph.in_edges(node.index):
            direct = edge.relation in ("subset", "filter", "merge", "format", "version", "extend")
            inputs.append(
                {
                    "namespace": namespace,
                    "name": edge.source,
                    "type": "DATASET",
                    "transformations": [
                        {
                            "type": "DIRECT" if direct else "INDIRECT",
                            "subtype": _OL_SUBTYPE.get(edge.relation, edge.relation.upper()),
                            "description": edge.relation,
                        }
                    ],
                    "stemmatic_relation": edge.relation,
                    "stemmatic_confidence": edge.confidence,
                    "stemmatic_fraction": edge.fraction,
                    "stemmatic_evidence": [e.to_dict() for e in edge.evidence],
                }
            )
        record = node.to_dict()
        record.pop("id")
        events.append(
            {
                "eventTime": when,
                "producer": PRODUCER,
                "schemaURL": _OL_EVENT,
                "dataset": {
                    "namespace": namespace,
                    "name": node.key,
                    "facets": {
                        "lineage": {"_producer": PRODUCER, "_schemaURL": _OL_FACET, "inputs": inputs},
                        "stemmatic_node": {"_producer": PRODUCER, "_schemaURL": PRODUCER, **record},
                    },
                },
            }
        )
    return events


def from_openlineage(events: list[dict[str, Any]]) -> LineageGraph:
    """Rebuild a graph from :func:`openlineage_events` (or any DatasetEvents with a lineage facet).

    Raises:
        InvalidInputError: naming the event index and missing field.
    """
    nodes, links = [], []
    for position, event in enumerate(events):
        try:
            dataset = event["dataset"]
            facets = dataset.get("facets", {})
            extra = {k: v for k, v in facets.get("stemmatic_node", {}).items() if not k.startswith("_")}
            nodes.append({"id": dataset["name"], **extra})
            for item in facets.get("lineage", {}).get("inputs", []):
                relation = item.get("stemmatic_relation")
                if relation is None:
                    description = (item.get("transformations") or [{}])[0].get("description", "derived")
                    relation = description if description in RELATIONS else "derived"
                links.append(
                    {
                        "source": item["name"],
                        "target": dataset["name"],
                        "relation": relation,
                        "confidence": item.get("stemmatic_confidence", 1.0),
                        "fraction": item.get("stemmatic_fraction"),
                        "evidence": item.get("stemmatic_evidence", []),
                    }
                )
        except (KeyError, TypeError, AttributeError) as err:
            raise InvalidInputError(f"OpenLineage events[{position}]: missing field {err}") from err
    known = {n["id"] for n in nodes}
    nodes.extend({"id": key} for key in dict.fromkeys(link["source"] for link in links) if key not in known)
    return LineageGraph.from_dict({"nodes": nodes, "links": links}, where="OpenLineage events")


# ---------------------------------------------------------------- PROV-JSON
def _prov_id(key: str) -> str:
    # surrogatepass: a lone surrogate (reachable from JSON input) percent-encodes and decodes back.
    return "stm:" + quote(key, safe="", errors="surrogatepass")


def _prov_key(ident: str) -> str:
    return unquote(ident[4:], errors="surrogatepass")


def prov_json(graph: LineageGraph) -> dict[str, Any]:
    """W3C PROV-JSON: one ``entity`` per node, one ``wasDerivedFrom`` per edge.

    Identifiers are ``stm:<percent-encoded key>``; attributes use the ``stm``
    namespace (``stm:relation``, ``stm:confidence``, ``stm:evidence`` as JSON).
    """
    entities = {}
    for node in graph.nodes():
        record = node.to_dict()
        record.pop("id")
        entity: dict[str, Any] = {"prov:type": f"stm:{node.kind}", "prov:label": node.name}
        entity.update({f"stm:{k}": v for k, v in record.items() if k != "name"})
        entities[_prov_id(node.key)] = entity
    derivations = {}
    for edge in graph.edges():
        derivation: dict[str, Any] = {
            "prov:generatedEntity": _prov_id(edge.target),
            "prov:usedEntity": _prov_id(edge.source),
            "prov:type": f"stm:{edge.relation}",
            "stm:confidence": edge.confidence,
            "stm:evidence": dumps_json([e.to_dict() for e in edge.evidence]),
        }
        if edge.fraction is not None:
            derivation["stm:fraction"] = edge.fraction
        derivations[f"_:d{edge.index}"] = derivation
    return {
        "prefix": {"stm": "https://github.com/stemmatic/stemmatic/lineage#"},
        "entity": entities,
        "wasDerivedFrom": derivations,
    }


def from_prov_json(document: dict[str, Any]) -> LineageGraph:
    """Inverse of :func:`prov_json`.

    Raises:
        InvalidInputError: naming the record and field that is missing.
    """
    nodes, links = [], []
    current = ""
    try:
        for ident, entity in document.get("entity", {}).items():
            current = ident
            record = {k[4:]: v for k, v in entity.items() if k.startswith("stm:")}
            record["kind"] = str(entity.get("prov:type", "stm:dataset"))[4:]
            record["name"] = entity.get("prov:label")
            nodes.append({"id": _prov_key(ident), **record})
        for ident, derivation in document.get("wasDerivedFrom", {}).items():
            current = ident
            links.append(
                {
                    "source": _prov_key(derivation["prov:usedEntity"]),
                    "target": _prov_key(derivation["prov:generatedEntity"]),
                    "relation": str(derivation.get("prov:type", "stm:derived"))[4:],
                    "confidence": derivation.get("stm:confidence", 1.0),
                    "fraction": derivation.get("stm:fraction"),
                    "evidence": load_json(derivation.get("stm:evidence", "[]"), f"PROV-JSON {ident!r}"),
                }
            )
    except (KeyError, TypeError) as err:
        raise InvalidInputError(f"PROV-JSON {current!r}: missing or bad field {err}") from err
    return LineageGraph.from_dict({"nodes": nodes, "links": links}, where="PROV-JSON")


# ------------------------------------------------------------ DOT, Mermaid
def _dot_escape(text: str) -> str:
    return escape_chars(text).replace("\\", "\\\\").replace('"', '\\"')


def to_dot(graph: LineageGraph, *, name: str = "lineage") -> str:
    """Graphviz DOT: nodes shaped by kind, edges labelled and coloured by relation."""
    shapes = {"dataset": "box", "benchmark": "octagon", "model": "ellipse", "collection": "folder"}
    lines = [f'digraph "{_dot_escape(name)}" {{', "  rankdir=LR;", "  node [fontname=Helvetica];"]
    for node in graph.nodes():
        style = ", style=dashed" if node.kind == "unresolved" else ""
        lines.append(
            f'  "{_dot_escape(node.key)}" [kind="{node.kind}", shape={shapes.get(node.kind, "box")}{style}];'
        )
    for edge in graph.edges():
        lines.append(
            f'  "{_dot_escape(edge.source)}" -> "{_dot_escape(edge.target)}" '
            f'[label="{edge.relation}", color="{_color(edge.relation)}", confidence={edge.confidence:g}];'
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


_DOT_STRING = r'"((?:[^"\\]|\\.)*)"'
_DOT_NODE = re.compile(rf"^\s*{_DOT_STRING}\s*\[kind=\"(\w+)\"")
_DOT_EDGE = re.compile(
    rf"^\s*{_DOT_STRING}\s*->\s*{_DOT_STRING}\s*\[label=\"(\w+)\".*confidence=([0-9.e+-]+)"
)


def _dot_unescape(text: str) -> str:
    return unescape_chars(re.sub(r"\\(.)", r"\1", text))


def from_dot(text: str) -> LineageGraph:
    """Read DOT written by :func:`to_dot` (keys, kinds, relations, confidences).

    Raises:
        InvalidInputError: naming the line that is neither a node nor an edge statement.
    """
    nodes, links = [], []
    # Split on newlines only: a key may hold U+2028 or U+0085, which str.splitlines() also breaks at.
    for number, line in enumerate(text.split("\n"), start=1):
        stripped = line.strip()
        if not stripped or stripped in ("}", "rankdir=LR;") or stripped.startswith(("digraph", "node [")):
            continue
        edge = _DOT_EDGE.match(line)
        if edge:
            links.append(
                {
                    "source": _dot_unescape(edge.group(1)),
                    "target": _dot_unescape(edge.group(2)),
                    "relation": edge.group(3),
                    "confidence": float(edge.group(4)),
                }
            )
            continue
        node = _DOT_NODE.match(line)
        if node:
            nodes.append({"id": _dot_unescape(node.group(1)), "kind": node.group(2)})
            continue
        raise InvalidInputError(f"DOT line {number}: not a stemmatic node or edge statement: {stripped!r}")
    return LineageGraph.from_dict({"nodes": nodes, "links": links}, where="DOT")


def to_mermaid(graph: LineageGraph) -> str:
    """A Mermaid ``flowchart`` (nodes ``n<i>`` labelled with their keys), links coloured by relation.

    Labels use Mermaid's entity codes (``#quot;``, ``#60;``) for quotes, markup and control
    characters, so a key never renders as HTML.
    """
    shape = {
        "benchmark": ("{{", "}}"),
        "model": ("([", "])"),
        "unresolved": ("[/", "/]"),
        "collection": ("[[", "]]"),
    }
    lines = ["flowchart LR"]
    for node in graph.nodes():
        left, right = shape.get(node.kind, ("[", "]"))
        lines.append(f'  n{node.index}{left}"{mermaid_label(node.key)}"{right}')
    styles = []
    for position, edge in enumerate(graph.edges()):
        u, v = graph.index(edge.source), graph.index(edge.target)
        lines.append(f"  n{u} -->|{edge.relation}| n{v}")
        styles.append(f"  linkStyle {position} stroke:{_color(edge.relation)}")
    return "\n".join(lines + styles)


_MERMAID_NODE = re.compile(r'^\s*n(\d+)(\[\[|\[/|\(\[|\{\{|\[)"(.*)"(\]\]|/\]|\]\)|\}\}|\])\s*$')
_MERMAID_EDGE = re.compile(r"^\s*n(\d+)\s*-->\|(\w+)\|\s*n(\d+)\s*$")
_MERMAID_KIND = {"[/": "unresolved", "([": "model", "{{": "benchmark", "[[": "collection"}


def from_mermaid(text: str) -> LineageGraph:
    """Read a flowchart written by :func:`to_mermaid` (keys, kinds, relations).

    Raises:
        InvalidInputError: naming a line that is not understood or a link to an undeclared node.
    """
    names: dict[str, str] = {}
    nodes, links = [], []
    for number, line in enumerate(text.split("\n"), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith(("flowchart", "linkStyle", "%%")):
            continue
        node = _MERMAID_NODE.match(line)
        if node:
            key = mermaid_unlabel(node.group(3))
            names[node.group(1)] = key
            nodes.append({"id": key, "kind": _MERMAID_KIND.get(node.group(2), "dataset")})
            continue
        edge = _MERMAID_EDGE.match(line)
        if edge:
            if edge.group(1) not in names or edge.group(3) not in names:
                raise InvalidInputError(f"Mermaid line {number}: link between undeclared nodes")
            links.append(
                {"source": names[edge.group(1)], "target": names[edge.group(3)], "relation": edge.group(2)}
            )
            continue
        raise InvalidInputError(f"Mermaid line {number}: not a stemmatic node or link: {stripped!r}")
    return LineageGraph.from_dict({"nodes": nodes, "links": links}, where="Mermaid")
