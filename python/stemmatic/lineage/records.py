"""The records of a lineage graph: an edge's evidence, and snapshots of a node and of an edge.

:class:`~stemmatic.lineage.graph.LineageGraph` stores its attributes in
columns; these frozen records are what it hands out (``graph.node(key)``,
``graph.edges()``) and what its node-link JSON is written from.

>>> Evidence("card", quote="cleaned version of Alpaca").to_dict()
{'source_kind': 'card', 'quote': 'cleaned version of Alpaca', 'url': ''}
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from stemmatic.exceptions import InvalidInputError
from stemmatic.lineage._files import check_json_value, describe
from stemmatic.lineage.names import normalize_key
from stemmatic.lineage.relations import SOURCE_KINDS

__all__ = ["NODE_KINDS", "Edge", "Evidence", "Node"]

NODE_KINDS: tuple[str, ...] = ("dataset", "benchmark", "model", "collection", "unresolved")
_DATE = re.compile(r"^\d{4}(?:-\d{2}(?:-\d{2})?)?$")
#: Sizes are row counts that numpy and Arrow hold as int64.
_MAX_SIZE = 2**63 - 1


def _optional_text(value: Any, field: str, key: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise InvalidInputError(f"node {key!r}: field {field!r} is {describe(value)}, not a string")


def _texts(value: Any, field: str, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, bytes, dict)) or not isinstance(value, Iterable):
        raise InvalidInputError(f"node {key!r}: field {field!r} is {describe(value)}, not a list of strings")
    items = tuple(value)
    for item in items:
        if not isinstance(item, str):
            raise InvalidInputError(f"node {key!r}: field {field!r} holds {describe(item)}, not a string")
    return items


@dataclass(frozen=True)
class Evidence:
    """Why an edge is believed: a quote, where it is from, and what kind of source.

    ``source_kind`` is one of ``card``, ``paper``, ``manual`` (human-curated,
    including the Data Provenance Initiative audit), ``measured`` (content
    overlap computed by stemmatic) or ``llm`` (an extractor's reading, which
    must quote its source).
    """

    source_kind: str
    quote: str = ""
    url: str = ""
    #: What the source itself called the relation or where it read it, kept as written
    #: (the lineage paper's ``Direct Inclusion/Subset``, with the document it was read from).
    label: str = ""

    def __post_init__(self) -> None:
        if self.source_kind not in SOURCE_KINDS:
            raise InvalidInputError(
                f"evidence source kind {self.source_kind!r} is not one of {', '.join(SOURCE_KINDS)}"
            )

    def to_dict(self) -> dict[str, str]:
        """A JSON-ready dict (``label`` only when set)."""
        out = {"source_kind": self.source_kind, "quote": self.quote, "url": self.url}
        if self.label:
            out["label"] = self.label
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evidence:
        """Inverse of :meth:`to_dict`.

        Raises:
            InvalidInputError: naming the field that is missing or not a string.
        """
        if not isinstance(data, dict):
            raise InvalidInputError(f"evidence is {describe(data)}, not an object")
        fields = []
        for name, default in (("source_kind", None), ("quote", ""), ("url", ""), ("label", "")):
            value = data.get(name, default)
            if value is None and default is not None:
                value = default
            if not isinstance(value, str):
                problem = "missing" if value is None else f"{describe(value)}, not a string"
                raise InvalidInputError(f"evidence field {name!r} is {problem}")
            fields.append(value)
        return cls(*fields)


@dataclass(frozen=True)
class Node:
    """A snapshot of one node's attributes."""

    index: int
    key: str
    kind: str
    name: str
    size: int | None = None
    domain: str | None = None
    categories: tuple[str, ...] = ()
    licenses: tuple[str, ...] = ()
    date: str | None = None
    source_kind: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def checked(
        cls,
        key: Any,
        *,
        kind: Any = None,
        name: Any = None,
        size: Any = None,
        domain: Any = None,
        categories: Any = (),
        licenses: Any = (),
        date: Any = None,
        source_kind: Any = None,
        attrs: Any = None,
        normalize: bool = True,
    ) -> Node:
        """A node's fields as a file holds them, checked (``index`` -1, ``kind`` and ``name`` "" when not given).

        Raises:
            InvalidInputError: naming the node and the field that is missing or malformed.
        """
        if not isinstance(key, str):
            problem = "missing" if key is None else f"{describe(key)}, not a string"
            raise InvalidInputError(f"field 'id' (the node key) is {problem}")
        node_key = normalize_key(key) if normalize else key
        if not node_key:
            raise InvalidInputError("field 'id' (the node key) is empty")
        if kind is not None and (not isinstance(kind, str) or kind not in NODE_KINDS):
            raise InvalidInputError(
                f"node {key!r}: field 'kind' is {kind!r}, not one of {', '.join(NODE_KINDS)}"
            )
        if size is not None and (
            not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= _MAX_SIZE
        ):
            raise InvalidInputError(
                f"node {key!r}: field 'size' is {size!r:.60}, not an integer in [0, 2**63)"
            )
        name = _optional_text(name, "name", key)
        domain = _optional_text(domain, "domain", key)
        source_kind = _optional_text(source_kind, "source_kind", key)
        categories = _texts(categories, "categories", key)
        licenses = _texts(licenses, "licenses", key)
        if date is not None:
            if isinstance(date, bool) or not isinstance(date, (str, int)):
                raise InvalidInputError(f"node {key!r}: field 'date' is {describe(date)}, not a string")
            date = str(date).strip()[:10] or None
            if date is not None and not _DATE.match(date):
                raise InvalidInputError(f"node {key!r}: field 'date' {date!r} is not YYYY[-MM[-DD]]")
        if attrs is None:
            attrs = {}
        if not isinstance(attrs, dict):
            raise InvalidInputError(f"node {key!r}: field 'attrs' is {describe(attrs)}, not an object")
        check_json_value(attrs, f"node {key!r}", "attrs")
        return cls(
            -1, node_key, kind or "", name or "", size, domain, categories, licenses, date, source_kind, attrs
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (empty attributes left out)."""
        out: dict[str, Any] = {"id": self.key, "kind": self.kind, "name": self.name}
        for name in ("size", "domain", "date", "source_kind"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.categories:
            out["categories"] = list(self.categories)
        if self.licenses:
            out["licenses"] = list(self.licenses)
        if self.attrs:
            out["attrs"] = dict(self.attrs)
        return out


@dataclass(frozen=True)
class Edge:
    """A snapshot of one edge."""

    index: int
    source: str
    target: str
    relation: str
    confidence: float
    fraction: float | None
    evidence: tuple[Evidence, ...]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        out: dict[str, Any] = {
            "source": self.source,
            "target": self.target,
            "relation": self.relation,
            "confidence": self.confidence,
            "evidence": [e.to_dict() for e in self.evidence],
        }
        if self.fraction is not None:
            out["fraction"] = self.fraction
        return out

    @property
    def source_kinds(self) -> tuple[str, ...]:
        """The distinct kinds of source behind this edge, in order of first appearance."""
        return tuple(dict.fromkeys(e.source_kind for e in self.evidence))
