"""Run the near-duplicate pipeline on Ray Data or PySpark, with the local engine's answer.

``stemmatic.engines.ray`` and ``stemmatic.engines.spark`` import their engine
lazily (extras ``[ray]`` and ``[spark]``); :mod:`stemmatic.dedup.guard`
(the giant-component guard) needs neither.

>>> from stemmatic.engines import EngineOptions
>>> EngineOptions(partitions=8).small_graph_edges
2000000
"""

from stemmatic.dedup.guard import GuardResult, SplitCluster, split_giant_components
from stemmatic.engines._common import EngineDedupResult
from stemmatic.engines._options import EngineOptions

__all__ = ["EngineDedupResult", "EngineOptions", "GuardResult", "SplitCluster", "split_giant_components"]
