"""Licence propagation along lineage, compatibility checks and attribution lists.

Licence names from cards and the DPI are free text ("CC BY-NC 4.0",
"cc-by-nc-4.0", "OpenAI"); :func:`licence_class` sorts them into classes
that decide use: ``permissive``, ``share-alike``, ``non-commercial``,
``terms`` (model-provider terms of use such as OpenAI's, which restrict
training competing models), ``research-only`` and ``unknown``. A derived
dataset inherits the obligations of everything upstream, so
:func:`inherited_licenses` unions a node's own licences with its ancestors'.

>>> licence_class("CC BY-NC 4.0"), licence_class("apache-2.0"), licence_class("OpenAI")
('non-commercial', 'permissive', 'terms')
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from stemmatic.exceptions import ParameterError
from stemmatic.lineage.graph import LineageGraph

__all__ = ["USES", "attribution", "inherited_licenses", "licence_class", "licences_allow"]

#: use -> licence classes that forbid it
USES: dict[str, frozenset[str]] = {
    "commercial": frozenset({"non-commercial", "research-only", "terms", "unknown"}),
    "research": frozenset(),
    "permissive-only": frozenset({"non-commercial", "research-only", "terms", "unknown", "share-alike"}),
}


def licence_class(name: str) -> str:
    """The class of one licence name (see the module docstring)."""
    text = re.sub(r"[\s_]+", "-", name.strip().lower())
    if not text or text in {"unspecified", "unknown", "other", "custom"}:
        return "unknown"
    if "nc" in text.split("-") or "non-commercial" in text or "noncommercial" in text:
        return "non-commercial"
    if any(w in text for w in ("research", "academic")):
        return "research-only"
    if any(w in text for w in ("openai", "anthropic", "google", "meta-llama", "llama", "terms")):
        return "terms"
    if "-sa" in text or "share-alike" in text or text.startswith(("gpl", "agpl", "lgpl", "gfdl", "odbl")):
        return "share-alike"
    if any(
        w in text
        for w in (
            "apache",
            "mit",
            "bsd",
            "cc0",
            "cc-by",
            "unlicense",
            "isc",
            "public-domain",
            "pddl",
            "odc-by",
        )
    ):
        return "permissive"
    return "unknown"


def inherited_licenses(graph: LineageGraph, key: str | int) -> dict[str, list[str]]:
    """Every licence binding ``key``: its own and its ancestors', each with the nodes that carry it."""
    index = graph.index(key)
    out: dict[str, list[str]] = {}
    for i in sorted(graph._rx.ancestors(graph.graph, index) | {index}):
        for name in graph.licenses[i]:
            out.setdefault(name, []).append(graph.keys[i])
    return dict(sorted(out.items()))


def licences_allow(licenses: Iterable[str], use: str = "commercial") -> bool:
    """Whether no licence in ``licenses`` forbids ``use`` (an empty list is ``unknown``).

    Raises:
        ParameterError: for an unknown use.
    """
    if use not in USES:
        raise ParameterError(f"use must be one of {', '.join(USES)}, not {use!r}")
    names = list(licenses) or ["unknown"]
    return not any(licence_class(n) in USES[use] for n in names)


def attribution(graph: LineageGraph, keys: Iterable[str]) -> list[dict[str, Any]]:
    """One record per dataset in ``keys`` and their ancestors: licences, creators, URLs, dates."""
    seen: set[int] = set()
    for key in keys:
        index = graph.index(key)
        seen |= graph._rx.ancestors(graph.graph, index) | {index}
    out = []
    for i in sorted(seen, key=lambda i: graph.keys[i]):
        if graph.kinds[i] not in ("dataset", "benchmark", "collection"):
            continue
        attrs = graph.attrs[i] or {}
        out.append(
            {
                "key": graph.keys[i],
                "name": graph.names[i],
                "licenses": list(graph.licenses[i]),
                "licence_classes": sorted({licence_class(n) for n in graph.licenses[i]} or {"unknown"}),
                "url": attrs.get("hf_url") or attrs.get("collection_url") or "",
                "creators": attrs.get("creators", []),
                "date": graph.dates[i],
            }
        )
    return out
