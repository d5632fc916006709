"""Near-duplicate and exact deduplication of sharded corpora (MinHash + LSH).

>>> from stemmatic.dedup import optimal_banding
>>> optimal_banding(0.8, 128).describe().startswith("bands=9 rows=13")
True
"""

from stemmatic.dedup.clusters import ClusterDecision, decide_clusters
from stemmatic.dedup.index import DedupIndex, IndexInfo, add_to_index, build_index, index_info
from stemmatic.dedup.params import Banding, candidate_probability, optimal_banding
from stemmatic.dedup.pipeline import DedupConfig, DedupResult, Progress, dedup

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
