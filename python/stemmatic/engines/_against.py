"""Dedup against an index of earlier releases on Ray and Spark, deciding as the local engine does.

The local pipeline (:class:`stemmatic.dedup.index.Against`) treats the rows of
a :class:`~stemmatic.dedup.index.DedupIndex` that share a band key with a new
row as extra union-find nodes after the run's rows, which always win their
cluster. The engines do the same with node ``N + r`` for the indexed row
``r`` (``N`` = the run's row count): a monotone renumbering of the local
``n + j``, so components, kept rows, cluster ids and similarities come out
the same. Where the index takes part:

* **buckets** (on workers): each partition group looks up its band keys in
  the index and finds candidate pairs with the indexed records first in each
  bucket (:meth:`IndexedRows.candidate_pairs`, the local ``Against.candidate_pairs``);
* **verify** (on workers): a pair with an indexed row is verified against
  the index's stored shingle set (:meth:`IndexedRows.verify`);
* **keep rule**: indexed nodes score ``+inf`` (:meth:`IndexedRows.scores`);
* **split** (driver, then broadcast): the indexed rows that ended up as kept
  rows are few; their ids and source files are read on the driver and
  attached to the removed rows (:class:`AttachIndexed`).

Workers open the index at its path (memory-mapped, once per worker
process, sizes checked), so the path must be readable where the workers
run: the local machine, a shared filesystem, or an object-store URL (each
worker process then copies the index once).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from stemmatic import _core
from stemmatic.dedup.index import REASON_INDEX, DedupIndex, opened_against
from stemmatic.dedup.params import DedupParams
from stemmatic.engines._shipped import Shipped
from stemmatic.exceptions import InvalidInputError
from stemmatic.io._remote import is_url

__all__ = ["AttachIndexed", "IndexedRows", "against_index", "indexed_rows"]

# Indexes a worker process has opened, by handle key (the last few runs).
_OPENED: OrderedDict[str, DedupIndex] = OrderedDict()
_OPENED_LOCK = threading.Lock()
_OPENED_MAX = 2


@dataclass(frozen=True)
class IndexedRows(Shipped):
    """The index as workers see it: its paths, what identifies it, and where its nodes start.

    Pickles small (paths, not data); :meth:`index` opens it once per worker
    process and checks that it is the index the driver opened.
    """

    paths: tuple[str, ...]
    key: str
    fingerprint: str
    #: Rows in the index (the shift that puts indexed rows first in a bucket).
    rows: int
    #: Rows of the run: node ``first_node + r`` is the indexed row ``r``.
    first_node: int

    def index(self) -> DedupIndex:
        with _OPENED_LOCK:
            opened = _OPENED.get(self.key)
            if opened is not None:
                _OPENED.move_to_end(self.key)
                return opened
        opened = DedupIndex.open(*self.paths, verify=False)
        if _fingerprint(opened) != self.fingerprint:
            opened.close()
            raise InvalidInputError(
                f"{', '.join(self.paths)}: the index changed while the run read it "
                "(a release was added?); run again"
            )
        with _OPENED_LOCK:
            _OPENED[self.key] = opened
            while len(_OPENED) > _OPENED_MAX:
                _OPENED.popitem(last=False)[1].close()
        return opened

    def candidate_pairs(
        self, keys: np.ndarray, rows: np.ndarray, *, clique_max: int, threads: int
    ) -> np.ndarray:
        """Pairs of one partition group's buckets, indexed records first: (run row, run row) or (run row, node)."""
        inside, external = self.index().candidate_pairs(keys, rows, clique_max=clique_max, workers=threads)
        nodes = external[:, 0] + np.uint64(self.first_node)
        return np.concatenate([inside, np.stack([external[:, 1], nodes], axis=1)])

    def verify(self, texts: pa.Array, nodes: np.ndarray, config: DedupParams, threads: int) -> np.ndarray:
        """Exact Jaccard of each text with the stored shingle set of its indexed node."""
        n = len(texts)
        if not n:
            return np.zeros(0)
        values, offsets = _core.shingle_sets(
            pa.chunked_array([texts]),
            ngram=config.ngram,
            tokenizer=config.tokenizer,
            seed=config.seed,
            workers=threads,
        )
        old_values, old_offsets = self.index().shingle_sets(nodes - self.first_node)
        all_offsets = np.concatenate([offsets, old_offsets[1:] + offsets[-1]]).astype(np.uint64)
        slots = np.arange(2 * n, dtype=np.uint64)
        pairs = np.stack([slots[:n], slots[n:]], axis=1)
        return _core.verify_pairs(
            pairs, slots, np.concatenate([values, old_values]), all_offsets, workers=threads
        )

    def scores(self, nodes: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """Keep scores with indexed nodes at ``+inf``: they are released already and always win."""
        return np.where(nodes >= self.first_node, np.inf, scores)


def _fingerprint(index: DedupIndex) -> str:
    import hashlib
    import json

    releases = [manifest["releases"] for manifest in index.manifests]
    return hashlib.sha256(json.dumps(releases, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class AttachIndexed(Shipped):
    """Per batch of decisions: ``duplicate_id`` in its final type, ``duplicate_source``, reason 2 for indexed kept rows.

    ``nodes`` (sorted) are the indexed nodes that kept a run row out, with
    their ``ids`` and ``sources`` read on the driver.
    """

    first_node: int
    id_type: pa.DataType
    has_id: bool
    nodes: np.ndarray
    ids: pa.Array
    sources: pa.Array

    def schema(self, decisions: pa.Schema) -> pa.Schema:
        base = [f for f in decisions if f.name not in ("duplicate_id", "duplicate_source")]
        return pa.schema(
            [*base, pa.field("duplicate_id", self.id_type), pa.field("duplicate_source", pa.string())]
        )

    def __call__(self, decisions: pa.Table) -> pa.Table:
        dup = np.asarray(decisions.column("duplicate_row").combine_chunks().fill_null(-1), dtype=np.int64)
        external = dup >= self.first_node
        inside = np.flatnonzero((dup >= 0) & ~external)
        values: list[Any] = [None] * len(dup)
        local = decisions.column("duplicate_id") if self.has_id else pa.array(dup)
        for slot, value in zip(inside, local.take(pa.array(inside)).to_pylist(), strict=True):
            values[slot] = value
        sources: list[str | None] = [None] * len(dup)
        outside = np.flatnonzero(external)
        if len(outside):
            at = pa.array(np.searchsorted(self.nodes, dup[outside]))
            old_ids, old_sources = self.ids.take(at).to_pylist(), self.sources.take(at).to_pylist()
            for slot, value, source in zip(outside, old_ids, old_sources, strict=True):
                values[slot] = value
                sources[slot] = source
        if pa.types.is_string(self.id_type) or pa.types.is_large_string(self.id_type):
            values = [None if v is None else str(v) for v in values]
        reason = np.asarray(decisions.column("reason").combine_chunks(), dtype=np.int8).copy()
        reason[external] = REASON_INDEX
        out = decisions.set_column(
            decisions.schema.get_field_index("reason"), "reason", pa.array(reason, pa.int8())
        )
        out = out.drop_columns([c for c in ("duplicate_id", "duplicate_source") if c in out.column_names])
        out = out.append_column("duplicate_id", pa.array(values, self.id_type))
        return out.append_column("duplicate_source", pa.array(sources, pa.string()))


@contextlib.contextmanager
def against_index(
    indexes: Sequence[str | os.PathLike[str]], config: DedupParams
) -> Iterator[DedupIndex | None]:
    """The indexes of a ``against=`` engine run, opened and checked on the driver (none: ``None``)."""
    if not indexes:
        yield None
        return
    with opened_against(indexes, config, update_index=False) as hook:
        yield hook.index


def indexed_rows(index: DedupIndex, key: str, first_node: int) -> IndexedRows:
    """The worker-side handle of the driver's opened ``index``."""
    # Workers may run elsewhere than the driver's working directory: local paths travel absolute.
    paths = tuple(p if is_url(p) else os.path.abspath(p) for p in index.paths)
    return IndexedRows(paths, key, _fingerprint(index), index.rows, first_node)
