"""Coarse domain labels for datasets, inferred from names and categories.

The lineage paper's Table 1 compares domains (math chains deep, general
aggregations shallow); documentation rarely states a domain, so importers
infer one from the dataset's name, collection and task categories with the
keyword rules below. The first matching domain wins; ``general`` otherwise.

>>> infer_domain(["MetaMathQA"], ["Mathematical Reasoning"])
'math'
>>> infer_domain(["Dolly 15k"], ["Open-form QA"])
'general'
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["DOMAIN_KEYWORDS", "infer_domain"]

DOMAIN_KEYWORDS: dict[str, tuple[str, ...]] = {
    "math": ("math", "gsm", "arithmetic", "algebra", "theorem", "aqua", "asdiv", "numglue", "prm800k"),
    "code": ("code", "coding", "program", "commit", "sql", "python", "software", "github"),
    "medical": ("medic", "clinical", "health", "doctor", "biomed", "pubmed", "medqa"),
    "safety": ("toxic", "safety", "harmless", "red team", "red-team", "hh-rlhf", "pii"),
    "multilingual": ("translat", "multilingual", "xp3", "aya", "bactrian", "opus", "tatoeba"),
    "science": ("science", "scientific", "physics", "chemistry", "biology"),
}


def _match(text: str) -> str | None:
    lowered = text.lower()
    for domain, words in DOMAIN_KEYWORDS.items():
        if any(re.search(r"(?<![a-z])" + re.escape(word), lowered) for word in words):
            return domain
    return None


def infer_domain(names: Iterable[str], categories: Iterable[str] = ()) -> str:
    """The first domain whose keyword appears in ``names`` (case-insensitive); failing
    that, the domain of at least half of ``categories``; else ``general``.

    >>> infer_domain(["10k Prompts Ranked"], ["Math", "Roleplay", "Summarization"])
    'general'
    """
    found = _match(" ".join(t for t in names if t))
    if found is not None:
        return found
    labels = [_match(c) for c in categories if c]
    if labels:
        best = max(set(labels) - {None}, key=labels.count, default=None)
        if best is not None and labels.count(best) * 2 >= len(labels):
            return best
    return "general"
