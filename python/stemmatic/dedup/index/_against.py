"""The dedup pipeline's side of an index: indexed rows as extra nodes ``n, n+1, ...``.

Part of :mod:`stemmatic.dedup.index`.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from stemmatic import _core
from stemmatic.dedup.clusters import REASON_EXACT, ClusterDecision
from stemmatic.dedup.index._read import DedupIndex, _ranges
from stemmatic.dedup.index._write import _append
from stemmatic.dedup.params import DedupParams
from stemmatic.exceptions import ParameterError, StemmaticError
from stemmatic.io import write_report
from stemmatic.io._remote import is_url

#: ``why`` code of a row removed as a duplicate of an indexed row (beside clusters.REASON_NEAR/EXACT).
REASON_INDEX = 2


def reason_names(codes: np.ndarray) -> pa.Array:
    """The ``reason`` of removed rows from their codes (near, exact, duplicate of an indexed row).

    >>> reason_names(np.array([0, 1, 2])).to_pylist()
    ['near_duplicate', 'exact', 'near_duplicate_of_index']
    """
    names = np.where(codes == REASON_EXACT, "exact", "near_duplicate")
    return pa.array(np.where(codes == REASON_INDEX, "near_duplicate_of_index", names), pa.string())


class Against:
    """What :func:`stemmatic.dedup.dedup` does with ``against=``: the pipeline calls it at four points.

    Rows of the run are nodes ``0..n-1``; the indexed rows that share a band
    key with one of them become nodes ``n + j`` (``j`` in the order of their
    global index row, so the smallest indexed row is the smallest extra
    node), listed in ``_work/index_rows.npy``.
    """

    def __init__(self, index: DedupIndex) -> None:
        self.index = index
        self.work = Path()
        self._external: list[np.ndarray] = []
        self._index_rows: np.ndarray | None = None
        #: Set by the write stage: which rows of the run were kept (for ``update_index``).
        self.kept: np.ndarray | None = None
        self._index_ids_integer: set[bool] | None = None

    def attach(self, run: Any) -> None:
        """Take part in ``run`` (a dedup pipeline run): it calls the methods below."""
        run.against = self
        self.work = run.work

    @property
    def index_rows(self) -> np.ndarray:
        if self._index_rows is None:
            self._index_rows = np.load(self.work / "index_rows.npy")
        return self._index_rows

    # candidates stage
    def candidate_pairs(
        self, keys: np.ndarray, docs: np.ndarray, *, clique_max: int, workers: int | None
    ) -> np.ndarray:
        """Candidate pairs among the run's rows as if the indexed rows came first in the same buckets.

        Pairs with an indexed row are kept aside for :meth:`external_pairs`.
        """
        inside, external = self.index.candidate_pairs(keys, docs, clique_max=clique_max, workers=workers)
        self._external.append(external)
        return inside

    def external_pairs(self, n: int, save: Callable[[str, np.ndarray], None]) -> np.ndarray:
        """The pairs (run row, ``n + j``) collected so far; saves ``index_rows.npy``."""
        pairs = np.concatenate(self._external) if self._external else np.zeros((0, 2), np.uint64)
        self._external = []
        rows, nodes = np.unique(pairs[:, 0], return_inverse=True)
        self._index_rows = rows.astype(np.uint64)
        save("index_rows.npy", self._index_rows)
        out = np.empty((len(pairs), 2), np.uint64)
        out[:, 0] = pairs[:, 1]
        out[:, 1] = np.uint64(n) + nodes.astype(np.uint64).ravel()
        return out

    # verify stage
    def verify_pairs(
        self,
        pairs: np.ndarray,
        slots: np.ndarray,
        values: np.ndarray,
        offsets: np.ndarray,
        *,
        n: int,
        workers: int | None,
    ) -> np.ndarray:
        """Exact Jaccard of every pair; a run row's set from ``slots``/``values``/``offsets``, an indexed one's from the index."""
        sims = np.zeros(len(pairs), np.float64)
        external = pairs[:, 1] >= np.uint64(n)
        slots = slots[slots < np.uint64(n)]
        if (~external).any():
            sims[~external] = _core.verify_pairs(
                np.ascontiguousarray(pairs[~external]), slots, values, offsets, workers=workers
            )
        if not external.any():
            return sims
        ext = np.ascontiguousarray(pairs[external])
        run_rows = np.unique(ext[:, 0])
        slot_of = np.searchsorted(slots, run_rows)
        starts = offsets[slot_of].astype(np.int64)
        ends = offsets[slot_of + 1].astype(np.int64)
        run_values = np.asarray(values[_ranges(starts, ends)], dtype=np.uint64)
        nodes = np.unique(ext[:, 1])
        old_values, old_offsets = self.index.shingle_sets(
            self.index_rows[(nodes - np.uint64(n)).astype(np.int64)]
        )
        lengths = np.concatenate([ends - starts, np.diff(old_offsets.astype(np.int64))])
        all_offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.uint64)
        sims[external] = _core.verify_pairs(
            ext,
            np.concatenate([run_rows, nodes]),
            np.concatenate([run_values, old_values]),
            all_offsets,
            workers=workers,
        )
        return sims

    # cluster stage
    def nodes(self, n: int) -> int:
        return n + len(self.index_rows)

    def keep_scores(self, score: np.ndarray | None, n: int) -> np.ndarray:
        """Indexed rows always win their cluster: they are released already."""
        head = np.zeros(n) if score is None else score
        return np.concatenate([head, np.full(len(self.index_rows), np.inf)])

    def restrict(self, decision: ClusterDecision, n: int) -> ClusterDecision:
        """The decision for the run's rows; those kept out by an indexed row say so."""
        removed = decision.removed[:n]
        duplicate_of = decision.duplicate_of[:n]
        reason = decision.reason[:n].copy()
        reason[removed & (duplicate_of >= n)] = REASON_INDEX
        return ClusterDecision(
            removed=removed,
            duplicate_of=duplicate_of,
            cluster_id=decision.cluster_id[:n],
            similarity=decision.similarity[:n],
            reason=reason,
            cluster_size=decision.cluster_size[:n],
        )

    # write stage
    def removed_columns(
        self, duplicate_of: np.ndarray, why: np.ndarray, ids: pa.Array, n: int
    ) -> tuple[pa.Array, pa.Array, pa.Array]:
        """``duplicate_of``, ``reason`` and ``duplicate_source`` of removed rows."""
        external = duplicate_of >= n
        dup_type = self.id_type(ids.type)
        values: list[Any] = [None] * len(duplicate_of)
        sources: list[str | None] = [None] * len(duplicate_of)
        inside = np.flatnonzero(~external)
        for slot, value in zip(inside, ids.take(pa.array(duplicate_of[inside])).to_pylist(), strict=True):
            values[slot] = value
        outside = np.flatnonzero(external)
        if len(outside):
            rows = self.index_rows[duplicate_of[outside] - n]
            old_ids, old_sources = self.index.ids_and_sources(rows)
            for slot, value, source in zip(outside, old_ids.to_pylist(), old_sources, strict=True):
                values[slot] = value
                sources[slot] = source
        if pa.types.is_large_string(dup_type):
            values = [None if v is None else str(v) for v in values]
        return pa.array(values, dup_type), reason_names(why), pa.array(sources, pa.string())

    def id_type(self, run_type: pa.DataType) -> pa.DataType:
        """The ``duplicate_of`` type: the run's id type, or text when the index's ids are of another kind."""
        if self._index_ids_integer is None:
            self._index_ids_integer = {
                pa.types.is_integer(pq.read_schema(release.rows_path).field("id").type)
                for release in self.index.releases
            }
        kinds = {pa.types.is_integer(run_type), *self._index_ids_integer}
        return run_type if len(kinds) == 1 else pa.large_string()

    def removed(self, decision: ClusterDecision) -> int:
        return int((decision.removed & (decision.reason == REASON_INDEX)).sum())

    def report(self) -> dict[str, Any]:
        return {
            "indexes": self.index.paths,
            "indexed_rows": self.index.rows,
            "releases": len(self.index.releases),
        }

    def update(self, run: Any) -> dict[str, Any]:
        """Append the rows ``run`` kept to the (one) index; its report, saying so."""
        if self.kept is None:  # pragma: no cover - the write stage always sets it
            raise StemmaticError("the run's kept rows are unknown; the index was not updated")
        self.index.close()
        config = run.config
        info = _append(
            self.index.paths[0],
            run.files,
            config.text_column,
            config.id_column,
            config.on_error,
            run.workers,
            run.progress,
            self.kept,
        )
        report_path = run.out / "report.json"
        report: dict[str, Any] = json.loads(report_path.read_bytes())
        report["index_update"] = {"index": info.path, "release": info.releases[-1]}
        write_report(report_path, report)
        return report


@contextlib.contextmanager
def opened_against(
    indexes: Sequence[str | os.PathLike[str]], config: DedupParams, *, update_index: bool
) -> Iterator[Against]:
    """The :class:`Against` of a dedup run: indexes opened and checked against ``config``, closed at the end."""
    if update_index and len(indexes) != 1:
        raise ParameterError("--update-index needs exactly one --against index (the one to append to)")
    index = DedupIndex.open(*indexes)
    try:
        index.check_config(config)
        if update_index and is_url(index.paths[0]):
            raise ParameterError(f"{index.paths[0]}: --update-index needs a local index directory")
        yield Against(index)
    finally:
        index.close()
