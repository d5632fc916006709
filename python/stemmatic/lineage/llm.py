"""Optional LLM extraction of lineage edges from free text (off by default).

:class:`EdgeExtractor` is the plug-in interface: ``extract(text, subject,
url)`` returns proposed edges. :class:`OpenAICompatibleExtractor` asks any
OpenAI-compatible ``/chat/completions`` endpoint for JSON edges and keeps only
those whose ``quote`` occurs verbatim in the text — an edge without evidence is
dropped, never guessed. Nothing here runs unless a caller constructs an
extractor with an endpoint; the HTTP transport is injectable for tests.

>>> def fake(url, payload, headers):
...     content = '{"edges": [{"source": "openai/gsm8k", "relation": "rewrite", "quote": "rewrites GSM8K"}]}'
...     return {"choices": [{"message": {"content": content}}]}
>>> extractor = OpenAICompatibleExtractor("http://127.0.0.1:1/v1", model="stub", transport=fake)
>>> [e.source for e in extractor.extract("MetaMathQA rewrites GSM8K questions.", "meta-math/MetaMathQA")]
['openai/gsm8k']
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from stemmatic.exceptions import InvalidInputError, ParameterError
from stemmatic.lineage.graph import Evidence, LineageGraph
from stemmatic.lineage.relations import RELATIONS, check_relation

__all__ = ["EdgeExtractor", "ExtractedEdge", "OpenAICompatibleExtractor", "add_extracted"]

Transport = Callable[[str, dict[str, Any], dict[str, str]], dict[str, Any]]

_PROMPT = (
    "You read dataset documentation and list the datasets the subject was built from. "
    'Answer with JSON only: {"edges": [{"source": <dataset name or Hugging Face id>, '
    '"relation": <one of ' + ", ".join(RELATIONS) + '>, "quote": <exact sentence from the text '
    'that says so>, "confidence": <0..1>}]}. Use only what the text states; copy quotes verbatim.'
)


@dataclass(frozen=True)
class ExtractedEdge:
    """An edge an extractor proposes: ``source -relation-> subject``, with its verbatim quote."""

    source: str
    target: str
    relation: str
    quote: str
    url: str = ""
    confidence: float = 0.5


class EdgeExtractor(Protocol):
    """What an extractor plug-in provides."""

    def extract(self, text: str, subject: str, url: str = "") -> list[ExtractedEdge]:
        """Edges into ``subject`` that ``text`` documents."""
        ...


def _post_json(url: str, payload: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json", **headers}
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        answer: dict[str, Any] = json.loads(response.read().decode())
        return answer


class OpenAICompatibleExtractor:
    """Edges from an OpenAI-compatible chat endpoint, evidence quote required.

    Args:
        base_url: e.g. ``http://127.0.0.1:8000/v1`` (``/chat/completions`` is appended).
        model: the model name the endpoint serves.
        api_key: sent as a bearer token when given.
        transport: ``(url, payload, headers) -> response JSON``; the default
            posts with urllib. Tests inject a fake.
        max_chars: the text is cut to this many characters.
    """

    def __init__(
        self,
        base_url: str,
        *,
        model: str,
        api_key: str | None = None,
        transport: Transport | None = None,
        max_chars: int = 20_000,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ParameterError(f"base_url must be an http(s) URL, not {base_url!r}")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.transport = transport or _post_json
        self.max_chars = max_chars

    def extract(self, text: str, subject: str, url: str = "") -> list[ExtractedEdge]:
        """Ask the endpoint, then keep only well-formed edges whose quote is in ``text``.

        Raises:
            InvalidInputError: if the endpoint's answer is not the JSON asked for.
        """
        text = text[: self.max_chars]
        payload = {
            "model": self.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": _PROMPT},
                {"role": "user", "content": f"Subject: {subject}\n\nText:\n{text}"},
            ],
        }
        response = self.transport(self.url, payload, self.headers)
        try:
            content = response["choices"][0]["message"]["content"]
            data = json.loads(content.strip().removeprefix("```json").removesuffix("```"))
            items = data["edges"]
        except (KeyError, IndexError, TypeError, json.JSONDecodeError) as err:
            raise InvalidInputError(f"LLM endpoint {self.url}: answer is not the edges JSON ({err})") from err
        folded = " ".join(text.split()).lower()
        out = []
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict):
                continue
            quote = str(item.get("quote", "")).strip()
            source = str(item.get("source", "")).strip()
            if not quote or not source or " ".join(quote.split()).lower() not in folded:
                continue
            try:
                relation = check_relation(str(item.get("relation", "derived")))
            except InvalidInputError:
                relation = "derived"
            confidence = item.get("confidence", 0.5)
            if not isinstance(confidence, (int, float)) or not 0 <= confidence <= 1:
                confidence = 0.5
            out.append(ExtractedEdge(source, subject, relation, quote, url, float(confidence)))
        return out


def add_extracted(graph: LineageGraph, edges: Iterable[ExtractedEdge]) -> int:
    """Add extracted edges with ``llm`` evidence; returns how many were added or reinforced."""
    from stemmatic.lineage.importers._common import ImportReport, resolve_or_unresolved

    report = ImportReport(source="llm")
    count = 0
    for edge in edges:
        source = resolve_or_unresolved(graph, edge.source, report)
        target = resolve_or_unresolved(graph, edge.target, report)
        if source == target:
            continue
        graph.add_edge(
            source,
            target,
            edge.relation,
            confidence=edge.confidence,
            evidence=Evidence("llm", edge.quote, edge.url),
        )
        count += 1
    return count
