"""Coarse domain labels for datasets, inferred from names and categories.

The lineage paper's Table 1 compares domains (math chains deep, general
aggregations shallow); documentation rarely states a domain, so importers
infer one from the dataset's name, collection and task categories with the
keyword rules below. The first matching domain wins; ``general`` otherwise.

>>> infer_domain(["MetaMathQA", "Mathematical Reasoning"])
'math'
>>> infer_domain(["Dolly 15k", "Open-form QA"])
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


def infer_domain(texts: Iterable[str]) -> str:
    """The first domain whose keyword appears in any of ``texts`` (case-insensitive)."""
    joined = " ".join(t for t in texts if t).lower()
    for domain, words in DOMAIN_KEYWORDS.items():
        if any(re.search(r"(?<![a-z])" + re.escape(word), joined) for word in words):
            return domain
    return "general"
