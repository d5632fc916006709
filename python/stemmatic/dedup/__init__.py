"""Near-duplicate and exact deduplication of sharded corpora (MinHash + LSH).

>>> from stemmatic.dedup import optimal_banding
>>> optimal_banding(0.8, 128).describe().startswith("bands=9 rows=13")
True
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from stemmatic.dedup.clusters import ClusterDecision, decide_clusters
from stemmatic.dedup.params import Banding, candidate_probability, optimal_banding
from stemmatic.dedup.pipeline import DedupConfig, DedupResult, Progress, dedup

if TYPE_CHECKING:
    from stemmatic.dedup.index import DedupIndex, IndexInfo, add_to_index, build_index, index_info

#: Names of :mod:`stemmatic.dedup.index`, imported when first used (PEP 562): a dedup that is not
#: against an index never loads that module (0.01-0.02 s of a short run's start).
_FROM_INDEX = frozenset({"DedupIndex", "IndexInfo", "add_to_index", "build_index", "index_info"})

__all__ = [
    "Banding",
    "ClusterDecision",
    "DedupConfig",
    "DedupIndex",
    "DedupResult",
    "IndexInfo",
    "Progress",
    "add_to_index",
    "build_index",
    "candidate_probability",
    "decide_clusters",
    "dedup",
    "index_info",
    "optimal_banding",
]


def __getattr__(name: str) -> Any:
    if name not in _FROM_INDEX:
        raise AttributeError(f"module 'stemmatic.dedup' has no attribute {name!r}")
    value = getattr(importlib.import_module("stemmatic.dedup.index"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
