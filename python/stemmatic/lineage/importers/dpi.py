"""Import the Data Provenance Initiative's dataset summaries.

The DPI collection (Longpre et al., 2023, "The Data Provenance Initiative",
Apache-2.0) describes ~2,300 fine-tuning datasets in ~110 collection files,
each entry with a Hugging Face URL, licences, dates, creators and the
free-text names of the datasets it was "Derived from".

Mapping, chosen so that Hugging Face cards imported later land on the same
nodes:

* an entry whose Hugging Face repository no other entry shares becomes that
  repository's node (``tatsu-lab/alpaca``); entries sharing one repository
  become configs of it (``bigcode/commitpackft:commitpackft-abap``, the
  config being the DPI identifier), each ``merge``\\ d into the repository
  node (content flows from part to whole, which is what contamination
  propagation follows);
  entries with no repository get the pseudo-organisation ``dpi/``;
* a collection with several entries becomes a ``collection:`` node that each
  entry ``merge``\\ s into, unless they all share one repository, which then
  stands for the collection; a one-entry collection is just that entry;
* each "Derived from Datasets" name is resolved through the alias table
  (identifier, dataset name when unique and not a slice's, repository,
  collection name, bare repository name when unambiguous; not the generic
  "filter ids" such as ``c4``) to a ``derived`` edge, or kept as an
  ``unresolved:`` node; a name that resolves to the entry itself or to its own
  collection is a *self-inclusion*, reported and not added (it would be a cycle).

Evidence is ``manual`` (the DPI is a human audit), quoting the field.

The summaries ship with stemmatic (``stemmatic/lineage/data/dpi``: one
zstd-compressed JSON file, with the DPI's Apache-2.0 LICENSE and a NOTICE), so
``load_dpi()`` with no path, or ``stemmatic lineage build --dpi builtin``,
builds the graph offline; a path reads a checkout of the DPI repository instead.

>>> graph, report = load_dpi(collections=["Alpaca.json", "Thai Gen AI (Alpaca).json"])
>>> graph.parents("thaweewat/alpaca-cleaned-52k-th")
['tatsu-lab/alpaca']
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from stemmatic.exceptions import InvalidInputError
from stemmatic.lineage.domains import infer_domain
from stemmatic.lineage.graph import Evidence, LineageGraph
from stemmatic.lineage.importers._common import ImportReport, resolve_or_unresolved
from stemmatic.lineage.names import COLLECTION_PREFIX, canonical_repo, parse_url, quote_part

__all__ = ["BUILTIN", "builtin_commit", "load_dpi", "pack_summaries"]

_REQUIRED = ("Unique Dataset Identifier", "Collection", "Derived from Datasets")
_DATE_FIELDS = ("HF Date", "S2 Date", "PwC Date", "Github Date")


#: ``stemmatic lineage build --dpi builtin`` selects the packaged summaries.
BUILTIN = "builtin"
_PACKED_FORMAT = "stemmatic-dpi-summaries/1"


def pack_summaries(folder: str | Path, output: str | Path, *, commit: str) -> int:
    """Pack a DPI ``data_summaries`` folder into the one file stemmatic ships (maintainers' tool).

    Every ``*.json`` is validated as :func:`load_dpi` reads it, then stored
    under its file name, in file-name order, in one JSON object compressed
    with zstd (level 19): 8.9 MB of summaries become ~0.4 MB. The bytes depend
    only on the input, so a re-pack of the same commit changes nothing.

    Args:
        folder: the DPI checkout, or its ``data_summaries`` folder.
        output: the file to write (``data_summaries.json.zst``).
        commit: the DPI repository commit the summaries come from (recorded).

    Returns:
        The number of summary files packed.

    Raises:
        InvalidInputError: naming the file and entry of a malformed summary.
    """
    import zstandard

    summaries = {name: data for name, data in _summaries_from_folder(Path(folder), None)}
    payload = {"format": _PACKED_FORMAT, "commit": commit, "summaries": summaries}
    raw = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    Path(output).write_bytes(zstandard.ZstdCompressor(level=19).compress(raw))
    return len(summaries)


def _read_packed() -> dict[str, Any]:
    import zstandard

    packed = resources.files("stemmatic.lineage") / "data" / "dpi" / "data_summaries.json.zst"
    try:
        raw = zstandard.ZstdDecompressor().decompress(packed.read_bytes())
        payload = json.loads(raw)
    except (OSError, zstandard.ZstdError, ValueError) as err:
        raise InvalidInputError(f"{packed}: the packaged DPI summaries are unreadable ({err})") from err
    if not isinstance(payload, dict) or payload.get("format") != _PACKED_FORMAT:
        raise InvalidInputError(f"{packed}: not a {_PACKED_FORMAT} file")
    return payload


def builtin_commit() -> str:
    """The Data-Provenance-Collection commit the packaged summaries were copied from."""
    return str(_read_packed()["commit"])


def _summaries_from_folder(path: Path, collections: Iterable[str] | None) -> list[tuple[str, dict[str, Any]]]:
    """``(file name, parsed summary)`` of each summary file under ``path``."""
    if path.is_file():
        files = [path]
    else:
        folder = path / "data_summaries" if (path / "data_summaries").is_dir() else path
        if not folder.is_dir():
            raise InvalidInputError(f"{path}: no DPI data_summaries folder or summary file here")
        if collections is not None:
            files = [folder / name for name in collections]
            for file in files:
                if not file.is_file():
                    raise InvalidInputError(f"{file}: no such DPI summary file")
        else:
            files = sorted(folder.glob("*.json"))
            if not files:
                raise InvalidInputError(f"{folder}: no *.json DPI summaries")
    out = []
    for file in files:
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise InvalidInputError(f"{file}:{err.lineno}: not valid JSON ({err.msg})") from err
        except (OSError, UnicodeDecodeError) as err:
            raise InvalidInputError(f"{file}: cannot read ({err})") from err
        _check_entries(str(file), data)
        out.append((file.name, data))
    return out


def _builtin_summaries(collections: Iterable[str] | None) -> list[tuple[str, dict[str, Any]]]:
    summaries = _read_packed()["summaries"]
    names = sorted(summaries) if collections is None else list(collections)
    out = []
    for name in names:
        if name not in summaries:
            raise InvalidInputError(f"builtin DPI summaries: no collection file {name!r}")
        _check_entries(f"builtin DPI {name}", summaries[name])
        out.append((name, summaries[name]))
    return out


def _check_entries(label: str, data: Any) -> None:
    if not isinstance(data, dict):
        raise InvalidInputError(f"{label}: expected an object of entries keyed by identifier")
    for key, entry in data.items():
        if not isinstance(entry, dict):
            raise InvalidInputError(f"{label}: entry {key!r} is not an object")
        for name in _REQUIRED:
            if name not in entry:
                raise InvalidInputError(f"{label}: entry {key!r} has no field {name!r}")
        if not isinstance(entry["Derived from Datasets"], list):
            raise InvalidInputError(f"{label}: entry {key!r} field 'Derived from Datasets' is not a list")


def _hf_repo(entry: dict[str, Any]) -> str | None:
    url = str(entry.get("Hugging Face URL") or "").strip()
    parsed = parse_url(url) if url else None
    if parsed is None or parsed.kind not in ("dataset", "model") or "/" not in url:
        return None
    # DPI lists datasets; an org page (huggingface.co/project-baize) names no repository.
    if parsed.kind == "model" and "/" not in parsed.repo:
        return None
    return canonical_repo(parsed.repo)


def _earliest_date(entry: dict[str, Any]) -> str | None:
    meta = entry.get("Inferred Metadata") or {}
    dates = []
    for name in _DATE_FIELDS:
        value = str(meta.get(name) or "").strip()
        match = re.match(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?", value)
        if match:
            dates.append("-".join(part for part in match.groups() if part))
    return min(dates) if dates else None


def _source_kind(entry: dict[str, Any]) -> str:
    generated = bool(entry.get("Model Generated"))
    human = str(entry.get("Human Annotation", "")).strip().lower() == "yes"
    if generated and human:
        return "mixed"
    return "model-generated" if generated else "human"


def load_dpi(
    path: str | Path | None = None,
    *,
    graph: LineageGraph | None = None,
    collections: Iterable[str] | None = None,
) -> tuple[LineageGraph, ImportReport]:
    """Import DPI ``data_summaries/*.json`` into a lineage graph.

    Args:
        path: the DPI folder (holding ``data_summaries/``), the summaries
            folder itself, or one summary file; ``None`` (the default) reads
            the summaries packaged with stemmatic.
        graph: a graph to add to (a new one by default).
        collections: file names inside ``data_summaries/`` to read (all by default).

    Returns:
        The graph and an :class:`ImportReport` with the counts.

    Raises:
        InvalidInputError: naming the file and entry for malformed JSON or a
            missing field.
    """
    graph = graph if graph is not None else LineageGraph()
    if path is None:
        report = ImportReport(source=f"dpi:{BUILTIN}")
        summaries = _builtin_summaries(collections)
    else:
        report = ImportReport(source=str(path))
        summaries = _summaries_from_folder(Path(path), collections)
    entries: list[tuple[str, dict[str, Any]]] = []
    for file_name, data in summaries:
        report.files += 1
        entries.extend((file_name, entry) for entry in data.values())
    report.records = len(entries)
    nodes_before, edges_before = graph.num_nodes, graph.num_edges

    repo_count = Counter(repo for _, e in entries if (repo := _hf_repo(e)) is not None)
    collection_size = Counter(str(e["Collection"]) for _, e in entries)
    collection_repos: dict[str, str | None] = {}
    for _, e in entries:
        repo = _hf_repo(e)
        previous = collection_repos.setdefault(str(e["Collection"]), repo)
        if previous != repo:
            collection_repos[str(e["Collection"])] = None
    name_count = Counter(canonical_repo(str(e.get("Dataset Name", ""))) for _, e in entries)

    entry_keys: list[str] = []
    for file_name, entry in entries:
        uid = str(entry["Unique Dataset Identifier"]).strip()
        repo = _hf_repo(entry)
        if repo is not None and repo_count[repo] == 1:
            key = repo
        elif repo is not None:
            key = f"{repo}:{quote_part(uid)}"
        else:
            key = f"dpi/{canonical_repo(uid)}"
        metrics = entry.get("Text Metrics") or {}
        size = metrics.get("Num Dialogs") if isinstance(metrics, dict) else None
        categories = [str(c) for c in entry.get("Task Categories") or []]
        collection = str(entry["Collection"])
        index = graph.add_node(
            key,
            kind="dataset",
            name=str(entry.get("Dataset Name") or uid),
            size=int(size) if isinstance(size, int) and size >= 0 else None,
            domain=infer_domain([collection, str(entry.get("Dataset Name", ""))], categories),
            categories=categories,
            licenses=[
                str(lic.get("License", "")) for lic in entry.get("Licenses") or [] if lic.get("License")
            ],
            date=_earliest_date(entry),
            source_kind=_source_kind(entry),
            dpi_id=uid,
            dpi_file=file_name,
            collection=collection,
            model_generated=list(entry.get("Model Generated") or []),
            text_sources=list(entry.get("Text Sources") or []),
            hf_url=str(entry.get("Hugging Face URL") or ""),
            described_by=["dpi"],
        )
        key = graph.keys[index]
        entry_keys.append(key)
        graph.aliases.add(uid, key)
        dataset_name = str(entry.get("Dataset Name") or "")
        # A slice's name ("C4" for the C4 part of LongForm) would capture citations of its source.
        is_slice = repo is not None and repo_count[repo] > 1
        if dataset_name and not is_slice and name_count[canonical_repo(dataset_name)] == 1:
            graph.aliases.add(dataset_name, key)
        if repo is not None:
            if repo_count[repo] == 1:
                graph.aliases.add_repo(repo)
            else:
                repo_index = graph.add_node(repo, kind="dataset", domain=infer_domain([repo, collection]))
                graph.aliases.add_repo(graph.keys[repo_index])
                graph.add_edge(
                    index,
                    repo_index,
                    "merge",
                    evidence=Evidence(
                        "manual", quote=f"DPI entry {uid} of {repo}", url=str(entry["Hugging Face URL"])
                    ),
                )
        if collection_size[collection] == 1:
            graph.aliases.add(collection, key)
        elif collection_repos[collection] is not None:
            graph.aliases.add(collection, str(collection_repos[collection]))
        else:
            coll_key = COLLECTION_PREFIX + canonical_repo(collection)
            coll_index = graph.add_node(
                coll_key,
                kind="collection",
                name=collection,
                domain=infer_domain([collection]),
                collection_url=str(entry.get("Collection URL") or ""),
                described_by=["dpi"],
            )
            graph.aliases.add(collection, coll_key)
            graph.add_edge(
                index,
                coll_index,
                "merge",
                evidence=Evidence(
                    "manual",
                    quote=f'Collection: "{collection}"',
                    url=str(entry.get("Collection URL") or ""),
                ),
            )

    for (file_name, entry), key in zip(entries, entry_keys, strict=True):
        own_collection = str(entry["Collection"])
        own_collection_key = COLLECTION_PREFIX + canonical_repo(own_collection)
        for raw in entry["Derived from Datasets"]:
            name = str(raw).strip()
            if not name:
                continue
            parent = resolve_or_unresolved(graph, name, report)
            own = {key, own_collection_key, str(collection_repos.get(own_collection))}
            if parent in own or key.startswith(parent + ":"):
                report.self_inclusions.append((key, name))
                inclusions = graph.get_attr(key, "self_inclusion") or []
                graph.set_attr(key, "self_inclusion", [*inclusions, name])
                continue
            graph.add_edge(
                parent,
                key,
                "derived",
                evidence=Evidence(
                    "manual",
                    quote=f'Derived from Datasets: "{name}"',
                    url=f"dpi:{file_name}#{entry['Unique Dataset Identifier']}",
                ),
            )
    report.nodes_added = graph.num_nodes - nodes_before
    report.edges_added = graph.num_edges - edges_before
    return graph, report
