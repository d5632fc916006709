"""Import the lineage paper's released graph (``graph.jsonl``, ``data.jsonl``).

"Tracing the Roots" (arXiv 2604.10480) releases its graphs, one per modality, as
JSON lines with ``target``, ``source`` and ``meta_info`` — the latter a JSON
*string* — and a ``data.jsonl`` of node records. Its edges were extracted by
LLM agents from cards, papers and blogs, so their evidence kind is ``llm``.

``meta_info`` keys read: ``relationship`` (the paper's five labels, mapped one to
one by :data:`~stemmatic.lineage.relations.PAPER_RELATIONS`: Direct
Inclusion/Subset → ``subset``, Structured Fusion → ``merge``, Synthetic
Generation → ``synthesize``, Semantic Evolution → ``rewrite``, CoT Distillation →
``distill``) or ``relation``/``type`` (our vocabulary and its synonyms;
``derived`` when absent); ``evidence``/``quote``; ``url``/``source_url``;
``confidence``; ``fraction``; ``source`` (the document the extractor read:
"HuggingFace README", "Paper", ...); ``source_kind`` (``llm`` when absent) and
``all_evidence`` (stemmatic's own export writes them). The paper's label is kept
on the evidence as ``label``, with the document in parentheses:
``Direct Inclusion/Subset (HuggingFace README)``.

``data.jsonl`` records become nodes (not aliases): ``name`` is the key;
``categories`` the categories, and the first one, lower-cased, the domain (unless
the record has a ``domain`` field); the date is the first of ``date``,
``created_at``, ``year``, ``hf_year``, ``paper_year`` that is set; ``data_type``
is the origin (``source_kind``: manual → ``human``, synthetic →
``model-generated``); ``summary``, ``downloads``, ``paper_url``, ``hf_year``,
``paper_year``, ``data_type``, ``exists_on_hf``, ``is_terminal_node`` and
``terminal_reason`` are kept as attributes (``description``, the card's full
text, only with ``keep_descriptions=True``).

Names are resolved as every importer resolves them
(:func:`~stemmatic.lineage.importers._common.resolve_or_unresolved`), after
every repository id of both files is registered, so a bare ``C4`` finds
``allenai/c4`` wherever in the file either appears.

>>> import json, tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> line = {"target": "meta-math/MetaMathQA", "source": "GSM8K",
...         "meta_info": json.dumps({"relationship": "Semantic Evolution", "evidence": "augmented GSM8K"})}
>>> _ = (folder / "graph.jsonl").write_text(json.dumps(line) + "\\n")
>>> graph, report = load_paper_jsonl(folder / "graph.jsonl")
>>> [(e.source, e.relation, e.evidence[0].label) for e in graph.in_edges("meta-math/metamathqa")]
[('openai/gsm8k', 'rewrite', 'Semantic Evolution')]
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from stemmatic.exceptions import InvalidInputError
from stemmatic.lineage._files import describe, load_json, located, read_text
from stemmatic.lineage.graph import Evidence, LineageGraph
from stemmatic.lineage.importers._common import ImportReport, register_repo_ids, resolve_or_unresolved
from stemmatic.lineage.relations import check_relation

__all__ = ["ORIGINS", "load_paper_jsonl", "paper_files"]

#: The paper's ``data_type`` values and the node origin (``source_kind``) each becomes.
ORIGINS: dict[str, str] = {"manual": "human", "synthetic": "model-generated", "mixed": "mixed"}
_DATE_FIELDS = ("date", "created_at", "year", "hf_year", "paper_year")
_KEPT_FIELDS = (
    "summary",
    "downloads",
    "paper_url",
    "hf_year",
    "paper_year",
    "data_type",
    "exists_on_hf",
    "is_terminal_node",
    "terminal_reason",
)
_DATE = re.compile(r"^\d{4}(?:-\d{2}(?:-\d{2})?)?")


def paper_files(path: str | Path) -> tuple[Path, Path | None]:
    """``(graph.jsonl, data.jsonl or None)`` of a released folder (``output/multimodal``) or a file.

    Raises:
        InvalidInputError: if a folder holds no ``graph.jsonl``.
    """
    path = Path(path)
    if not path.is_dir():
        return path, None
    graph_file, data_file = path / "graph.jsonl", path / "data.jsonl"
    if not graph_file.is_file():
        raise InvalidInputError(f"{path}: no graph.jsonl in this folder")
    return graph_file, data_file if data_file.is_file() else None


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


def _date(row: dict[str, Any], where: str) -> str | None:
    for name in _DATE_FIELDS:
        value = row.get(name)
        if value is None or value == "":
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise InvalidInputError(f"{where}: field {name!r} is {describe(value)}, not a date")
        match = _DATE.match(str(value).strip())
        if match is None:
            raise InvalidInputError(f"{where}: field {name!r} is {str(value)!r:.40}, not YYYY[-MM[-DD]]")
        return match.group(0)
    return None


def _node(graph: LineageGraph, row: dict[str, Any], where: str, keep_descriptions: bool) -> None:
    name = row.get("name", row.get("id", row.get("dataset")))
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError(f"{where}: field 'name' (or 'id') is missing")
    size = row.get("size", row.get("num_examples"))
    licenses = row.get("license", row.get("licenses"))
    categories = row.get("categories")
    if "domain" in row or "category" in row:
        domain = row.get("domain", row.get("category"))
    elif isinstance(categories, list) and categories and isinstance(categories[0], str):
        domain = categories[0].strip().lower() or None
    else:
        domain = None
    data_type = row.get("data_type")
    origin = row.get("source_kind")
    if origin is None and isinstance(data_type, str) and data_type.strip():
        origin = ORIGINS.get(data_type.strip().lower(), data_type.strip().lower())
    attrs = dict(row["attrs"]) if isinstance(row.get("attrs"), dict) else {}
    for field in (*_KEPT_FIELDS, *(("description",) if keep_descriptions else ())):
        value = row.get(field)
        if value is not None and value != "":
            attrs.setdefault(field, value)
    with located(where):
        graph._add_node(
            name,
            kind=row.get("kind"),
            name=row.get("display_name") or name,
            categories=categories,
            source_kind=origin,
            size=size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None,
            domain=domain,
            licenses=[licenses] if isinstance(licenses, str) else licenses,
            date=_date(row, where),
            attrs=attrs or None,
        )


def _edge_fields(row: dict[str, Any], where: str) -> dict[str, Any]:
    """Everything an edge line says, checked, before any name is resolved."""
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
    label = _text(meta, ("relationship",), where)
    raw_relation = label or _text(meta, ("relation", "type"), where, "derived")
    relation = check_relation(raw_relation, where=where)
    document = _text(meta, ("source",), where)
    if label and document:
        label = f"{label} ({document})"
    confidence = meta.get("confidence", 1.0)
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 <= confidence <= 1:
        raise InvalidInputError(f"{where}: field 'meta_info.confidence' is {confidence!r}, not in [0, 1]")
    fraction = meta.get("fraction")
    if fraction is not None and (
        isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction <= 1
    ):
        raise InvalidInputError(f"{where}: field 'meta_info.fraction' is {fraction!r}, not in [0, 1]")
    kind = _text(meta, ("source_kind",), where, "llm")
    try:
        if isinstance(meta.get("all_evidence"), list):
            evidence = [Evidence.from_dict(e) for e in meta["all_evidence"]]
        else:
            quote = _text(meta, ("evidence", "quote"), where)
            evidence = [Evidence(kind, quote, _text(meta, ("url", "source_url"), where), label)]
    except (InvalidInputError, KeyError, TypeError) as err:
        raise InvalidInputError(f"{where}: field 'meta_info' evidence: {err}") from None
    return {
        "source": row["source"],
        "target": row["target"],
        "relation": relation,
        "confidence": float(confidence),
        "fraction": None if fraction is None else float(fraction),
        "evidence": evidence,
    }


def load_paper_jsonl(
    graph_path: str | Path,
    data_path: str | Path | None = None,
    *,
    graph: LineageGraph | None = None,
    keep_descriptions: bool = False,
) -> tuple[LineageGraph, ImportReport]:
    """Import the paper's ``graph.jsonl`` (and optionally its ``data.jsonl``).

    Args:
        graph_path: ``graph.jsonl``, or a released folder holding it and ``data.jsonl``.
        data_path: ``data.jsonl`` (found beside ``graph.jsonl`` when ``graph_path`` is a folder).
        graph: a graph to add to (a new one by default).
        keep_descriptions: also keep each record's ``description`` (the card's full text).

    Raises:
        InvalidInputError: naming file, line and field for malformed input.
    """
    graph = graph if graph is not None else LineageGraph()
    graph_path, found_data = paper_files(graph_path)
    data_path = data_path if data_path is not None else found_data
    report = ImportReport(source=str(graph_path), files=1)
    before = (graph.num_nodes, graph.num_edges)
    if data_path is not None:
        report.files += 1
        for number, row in _jsonl(Path(data_path)):
            _node(graph, row, f"{data_path}:{number}", keep_descriptions)
    lines = []
    for number, row in _jsonl(graph_path):
        report.records += 1
        where = f"{graph_path}:{number}"
        lines.append((where, _edge_fields(row, where)))
    # Every repository id first, so that a bare name finds its repository wherever either appears.
    with located(str(graph_path)):
        register_repo_ids(graph, (line[name] for _, line in lines for name in ("source", "target")))
    for where, line in lines:
        with located(where):
            source = resolve_or_unresolved(graph, line["source"], report)
            target = resolve_or_unresolved(graph, line["target"], report)
        if source == target:
            report.self_inclusions.append((target, line["source"]))
            continue
        graph.add_edge(
            source,
            target,
            line["relation"],
            confidence=line["confidence"],
            fraction=line["fraction"],
            evidence=line["evidence"],
        )
    report.nodes_added = graph.num_nodes - before[0]
    report.edges_added = graph.num_edges - before[1]
    return graph, report
