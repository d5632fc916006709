"""How the engines split the work (:class:`EngineOptions`), and the dedup parameters they take.

The answer depends on the dedup parameters alone
(:class:`~stemmatic.dedup.params.DedupParams`, the local engine's); these
options say how Ray or Spark spread the work.
"""

from __future__ import annotations

from dataclasses import InitVar, dataclass
from typing import Any

from stemmatic.dedup.config import DedupConfig
from stemmatic.dedup.params import DedupParams
from stemmatic.exceptions import ParameterError

__all__ = ["EngineOptions", "build_params"]


@dataclass(frozen=True)
class EngineOptions:
    """How the engines split the work (the answer does not depend on these).

    The giant-component guard ``max_cluster_size`` changes the answer: it is a
    dedup parameter (:class:`~stemmatic.dedup.params.DedupParams`), given with
    the others (``dedup_split(ds, max_cluster_size=1000)``).
    """

    #: Partition groups of each shuffle (default: from the row count).
    partitions: int | None = None
    #: A verified graph with at most this many edges is decided on the driver.
    small_graph_edges: int = 2_000_000
    #: Rust threads inside one engine task (the engine runs tasks in parallel).
    task_threads: int = 1
    #: Safety stop for the large-star / small-star rounds.
    max_rounds: int = 64
    #: Refused: a dedup parameter now (it was an option here before).
    max_cluster_size: InitVar[int | None] = None

    def __post_init__(self, max_cluster_size: int | None) -> None:
        if max_cluster_size is not None:
            raise ParameterError(
                "max_cluster_size is a dedup parameter, not an EngineOptions field: pass it with the "
                f"other parameters (dedup_split(..., max_cluster_size={max_cluster_size}) or in config)"
            )

    def validate(self) -> None:
        if self.partitions is not None and self.partitions < 1:
            raise ParameterError(f"invalid parameter `partitions`: {self.partitions}; must be at least 1")
        if self.small_graph_edges < 0:
            raise ParameterError(f"invalid parameter `small_graph_edges`: {self.small_graph_edges}")
        if self.task_threads < 1:
            raise ParameterError(f"invalid parameter `task_threads`: {self.task_threads}")


def build_params(config: DedupParams | None, overrides: dict[str, Any]) -> DedupParams:
    """The validated algorithm parameters of a base config and keyword overrides.

    Every :class:`DedupConfig` name is accepted (as it always was); the options that do not apply
    to an engine's in-memory split (``memory_limit``, ``fmt``, ...) are checked and then unused.
    """
    return DedupConfig.build(config, overrides).params
