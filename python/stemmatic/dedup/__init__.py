"""Near-duplicate and exact deduplication of sharded corpora (MinHash + LSH).

>>> from stemmatic.dedup import optimal_banding
>>> optimal_banding(0.8, 128).describe().startswith("bands=9 rows=13")
True
"""

from stemmatic.dedup.clusters import ClusterDecision, decide_clusters
from stemmatic.dedup.params import Banding, candidate_probability, optimal_banding
from stemmatic.dedup.pipeline import DedupConfig, DedupResult, Progress, dedup

__all__ = [
    "Banding",
    "ClusterDecision",
    "DedupConfig",
    "DedupResult",
    "Progress",
    "candidate_probability",
    "decide_clusters",
    "dedup",
    "optimal_banding",
]
