"""The distributed near-duplicate algorithm, written once over a few engine primitives.

Ray and Spark each implement :class:`Backend` (map Arrow batches, apply a
function to the Arrow table of each partition group, co-group two datasets,
count, collect); :func:`run_dedup` is the algorithm, the same for both, and
built on the same Rust batch functions as the local engine, so all engines
give the same answer:

1. **rows** — every row gets a stable number: its position in input order
   (or its rank by ``id_column``), the row the local engine would give it.
2. **sketch** — per Arrow batch, one engine call (the local engine's step,
   :func:`stemmatic.dedup.steps.sketch`): MinHash signatures, LSH band keys,
   length and, with ``exact=True``, the exact-duplicate key; and the keep
   score (:func:`stemmatic.dedup.steps.keep_scores`).
3. **shuffle by band key** — (band key, row) records go to partition
   ``key mod P``, so every bucket is whole in one group, where
   ``_core.candidate_pairs`` yields its pairs (all pairs of a small bucket, a
   star of a large one: never quadratic).
4. **verify** — pairs are co-grouped with the texts (or signatures) of their
   first row, then of their second, and verified in batch
   (``_core.shingle_sets`` + ``_core.verify_pairs``); repeats of a pair meet
   in the first co-group and are dropped there.
5. **components** — if the verified graph has at most ``small_graph_edges``
   edges it is collected and decided on the driver by
   :func:`stemmatic.dedup.decide_clusters`, as the local engine does;
   otherwise large-star / small-star rounds (Kiveris et al., "Connected
   Components in MapReduce and Beyond", SoCC 2014) run on the engine until
   the graph is that small (then ``_core.connected_components`` on the
   driver) or converges to stars; the keep rule then runs per cluster.
6. **split** — a co-group (or, for a small decision table, a broadcast) of
   the rows with the decisions gives kept rows and removed rows with
   ``duplicate_of``, ``cluster_id``, ``similarity`` and ``reason``.

The functions shipped to workers live in :mod:`~stemmatic.engines._batch` (sketch to
verification) and :mod:`~stemmatic.engines._graph` (components to split), the id check in
:mod:`~stemmatic.engines._ids`, the :class:`Backend` protocol in
:mod:`~stemmatic.engines._backend`, :class:`EngineOptions` in
:mod:`~stemmatic.engines._options` and the report of a directory run in
:mod:`~stemmatic.engines._directory`; this module is the driver.

Only int64 / float64 / int8 / binary / string columns cross the engines
(Spark has no unsigned integers): uint64 hashes travel as their int64 bits.
Every function shipped to workers is an instance of a small class that
pickles with a versioned state.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Generic

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stemmatic import _core
from stemmatic.dedup.clusters import REASON_EXACT, REASON_NEAR, decide_clusters
from stemmatic.dedup.guard import split_giant_components
from stemmatic.dedup.index import Against, DedupIndex
from stemmatic.dedup.params import Banding, DedupParams
from stemmatic.dedup.steps import check_text_type
from stemmatic.engines._against import AttachIndexed, IndexedRows, indexed_rows
from stemmatic.engines._backend import PART, ROW, Backend, CoFn, D, Locate, TableFn, _select, _union
from stemmatic.engines._batch import (
    EDGE_SCHEMA,
    AttachFirst,
    BandRecords,
    BucketPairs,
    ByRow,
    ExactGroups,
    ExactRecords,
    MarkExcluded,
    Sketch,
    VerifySecond,
    _as_u64,
    _i64,
    _schema,
    part_of,
)
from stemmatic.engines._graph import (
    DECISION_SCHEMA,
    AttachDuplicateId,
    AttachScore,
    BothDirections,
    ClusterRows,
    Decide,
    EdgeEnds,
    Fingerprint,
    KeepRule,
    LargeStar,
    NodeBest,
    SmallStar,
    Split,
    StarLabels,
    UniqueLabels,
    _AddPart,
    _ClusterRowsNoId,
    _EdgeLabel,
    _ExactAsEdges,
    _GuardComponent,
    _RepartBy,
)
from stemmatic.engines._ids import _row_name, check_ids
from stemmatic.engines._options import EngineOptions, build_params
from stemmatic.engines._shipped import Shipped
from stemmatic.exceptions import InvalidInputError, ParameterError

__all__ = [
    "PART",
    "ROW",
    "Backend",
    "BucketPairs",
    "CoFn",
    "EngineDedupResult",
    "EngineOptions",
    "Locate",
    "Sketch",
    "TableFn",
    "VerifySecond",
    "build_params",
    "run_dedup",
]


@dataclass
class EngineDedupResult(Generic[D]):
    """Kept rows, removed rows (with ``duplicate_of``, ...), clusters and counts."""

    kept: D
    removed: D
    clusters: D
    stats: dict[str, Any] = field(default_factory=dict)


def default_partitions(rows: int, bands: int) -> int:
    """Partition groups so that a group holds about 4 million band records."""
    return int(min(4096, max(2, -(-rows * bands // 4_000_000))))


class _Driver:
    """Small tables the driver decides on."""

    @staticmethod
    def decide(
        edges: pa.Table, scores: pa.Table | None, guard: int | None, against: IndexedRows | None = None
    ) -> tuple[pa.Table, dict[str, Any]]:
        a, b = _i64(edges, "a"), _i64(edges, "b")
        sim = np.asarray(edges.column("sim").combine_chunks(), dtype=np.float64)
        reason = np.asarray(edges.column("reason").combine_chunks(), dtype=np.uint8)
        # Local order: exact edges first, then near edges sorted by (a, b).
        order = np.lexsort((b, a, reason == REASON_NEAR))
        a, b, sim, reason = a[order], b[order], sim[order], reason[order]
        nodes = np.unique(np.concatenate([a, b]))
        dense = np.stack([np.searchsorted(nodes, a), np.searchsorted(nodes, b)], axis=1).astype(np.uint64)
        stats: dict[str, Any] = {}
        if guard is not None:
            result = split_giant_components(len(nodes), dense, sim, guard)
            dense, sim, reason = dense[result.keep], sim[result.keep], reason[result.keep]
            report = result.report()
            for comp in report["components"]:  # type: ignore[attr-defined]
                comp["label"] = int(nodes[comp["label"]])
            stats["guard"] = report
        score = None
        if scores is not None:
            srow = _i64(scores, ROW)
            o = np.argsort(srow)
            run = nodes < against.first_node if against is not None else np.ones(len(nodes), bool)
            score = np.zeros(len(nodes))
            score[run] = np.asarray(scores.column("score").combine_chunks(), dtype=np.float64)[o][
                np.searchsorted(srow[o], nodes[run])
            ]
            if against is not None:
                score = against.scores(nodes, score)
        d = decide_clusters(len(nodes), dense, sim, reason, score)
        clustered = d.cluster_id >= 0
        dup = np.where(d.removed, nodes[np.maximum(d.duplicate_of, 0)], -1)
        table = pa.table(
            {
                PART: np.zeros(int(clustered.sum()), np.int64),
                ROW: nodes[clustered],
                "cluster_id": nodes[d.cluster_id[clustered]],
                "duplicate_row": dup[clustered],
                "similarity": d.similarity[clustered],
                "reason": d.reason[clustered].astype(np.int8),
            },
            schema=DECISION_SCHEMA,
        )
        return table, stats


@dataclass(frozen=True)
class RowsIn(Shipped):
    """Keep the rows whose ``ROW`` is in a broadcast set (sorted int64)."""

    rows: np.ndarray

    def __call__(self, table: pa.Table) -> pa.Table:
        row = _i64(table, ROW)
        pos = np.searchsorted(self.rows, row)
        hit = pos < len(self.rows)
        hit[hit] = self.rows[pos[hit]] == row[hit]
        return table.filter(pa.array(hit))


def _collect_fingerprint(backend: Backend[D], edges: D) -> tuple[int, int, int]:
    t = backend.collect(backend.map_arrow(edges, Fingerprint(), Fingerprint.SCHEMA))
    if not len(t):
        return (0, 0, 0)
    count = int(pc.sum(t.column("count")).as_py() or 0)
    total = int(_as_u64(_i64(t, "sum")).sum(dtype=np.uint64))
    xor = int(np.bitwise_xor.reduce(_as_u64(_i64(t, "xor"))))
    return count, total, xor


def engine_components(
    backend: Backend[D], edges: D, partitions: int, small_graph_edges: int, max_rounds: int
) -> tuple[D, dict[str, Any]]:
    """(node, label = smallest node of its component) for every node of ``edges`` (columns a, b)."""
    current = backend.materialize(backend.map_arrow(edges, BothDirections(partitions), EDGE_SCHEMA))
    previous: tuple[int, int, int] | None = None
    rounds = 0
    while True:
        if rounds >= max_rounds:
            raise ParameterError(f"connected components did not converge in {max_rounds} rounds")
        large = backend.group_arrow(current, LargeStar(partitions), EDGE_SCHEMA, partitions)
        small = backend.materialize(
            backend.group_arrow(large, SmallStar(partitions), EDGE_SCHEMA, partitions)
        )
        rounds += 1
        fingerprint = _collect_fingerprint(backend, small)
        if fingerprint[0] <= small_graph_edges:
            table = backend.collect(small)
            u, v = _i64(table, "u"), _i64(table, "v")
            nodes = np.unique(np.concatenate([u, v]))
            dense = np.stack([np.searchsorted(nodes, u), np.searchsorted(nodes, v)], axis=1).astype(np.uint64)
            labels = _core.connected_components(len(nodes), dense).astype(np.int64)
            labelled = pa.table(
                {PART: part_of(nodes, partitions), "node": nodes, "label": nodes[labels]},
                schema=StarLabels.SCHEMA,
            )
            return backend.from_arrow(labelled), {
                "rounds": rounds,
                "finished_on": "driver",
                "final_edges": fingerprint[0],
            }
        if fingerprint == previous:
            stars = backend.map_arrow(small, StarLabels(partitions), StarLabels.SCHEMA)
            labelled = backend.group_arrow(stars, UniqueLabels(partitions), StarLabels.SCHEMA, partitions)
            return backend.materialize(labelled), {
                "rounds": rounds,
                "finished_on": "engine",
                "final_edges": fingerprint[0],
            }
        previous = fingerprint
        current = backend.materialize(
            backend.map_arrow(small, BothDirections(partitions, "u", "v"), EDGE_SCHEMA)
        )


def run_dedup(
    backend: Backend[D],
    data: D,
    params: DedupParams,
    banding: Banding,
    options: EngineOptions,
    locate: Locate | None = None,
    against: DedupIndex | None = None,
) -> EngineDedupResult[D]:
    """The distributed near-duplicate pipeline (see the module docstring).

    ``locate`` names a row number in error messages (default ``row N``).
    ``against``: an opened index of earlier releases (checked against
    ``params``); rows that duplicate an indexed row are removed as the local
    ``dedup(..., against=...)`` removes them (:mod:`stemmatic.engines._against`).
    """
    cfg = params
    options.validate()
    if cfg.clustering != "components":
        # Star verifies pairs after the first decision (texts needed on the driver); not on the engines yet.
        raise ParameterError(
            f"clustering={cfg.clustering!r} runs on the local engine only; the Ray and Spark engines "
            "cluster by connected components (clustering='components')"
        )
    threads = options.task_threads
    input_schema = backend.schema(data)
    for name in [cfg.text_column, cfg.id_column, cfg.keep_column]:
        if name and name not in input_schema.names:
            raise InvalidInputError(
                f"column {name!r} is not in the input (columns: {', '.join(input_schema.names)})"
            )
    if ROW in input_schema.names:
        raise InvalidInputError(f"the input has a column named {ROW!r}, which stemmatic uses internally")
    check_text_type(cfg.text_column, input_schema.field(cfg.text_column).type)
    # Rows are numbered in input order, as the local engine numbers them, so
    # "first", cluster ids and output order agree with it for any id column.
    indexed = backend.materialize(backend.with_row_index(data))
    n = backend.count(indexed)
    P = options.partitions or default_partitions(n, banding.bands)
    stats: dict[str, Any] = {"input_rows": n, "partitions": P, "banding": banding.describe()}
    if cfg.id_column:
        check_ids(
            backend, indexed, cfg.id_column, input_schema.field(cfg.id_column).type, P, locate or _row_name
        )
    handle = indexed_rows(against, uuid.uuid4().hex, n) if against is not None else None

    sketch = Sketch(cfg, banding.bands, banding.rows, threads)
    cols = [ROW, cfg.text_column] + ([cfg.keep_column] if cfg.keep_column else [])
    docs = backend.materialize(backend.map_arrow(_select(backend, indexed, cols), sketch, sketch.schema()))

    exact_edges = None
    lsh_docs = docs
    if cfg.exact:
        records = backend.map_arrow(docs, ExactRecords(P), ExactRecords.SCHEMA)
        exact_edges = backend.materialize(backend.group_arrow(records, ExactGroups(P), ExactGroups.SCHEMA, P))
        by_row = ByRow(ROW, tuple(sketch.schema().names), P)
        keyed = backend.map_arrow(docs, by_row, by_row.output_schema(sketch.schema()))
        lsh_docs = backend.cogroup_arrow(
            keyed, exact_edges, MarkExcluded(), by_row.output_schema(sketch.schema()), P
        )

    records = backend.map_arrow(lsh_docs, BandRecords(banding.bands, P), BandRecords.SCHEMA)
    pairs = backend.materialize(
        backend.group_arrow(records, BucketPairs(cfg.clique_max, P, threads, handle), BucketPairs.SCHEMA, P)
    )

    if cfg.verify == "exact":
        payload_source, payload_column = _select(backend, indexed, [ROW, cfg.text_column]), cfg.text_column
        payload_type = input_schema.field(cfg.text_column).type
    else:
        payload_source, payload_column, payload_type = docs, "sig", pa.binary()
    by_row = ByRow(ROW, (ROW, payload_column), P, ((payload_column, "payload"),))
    payloads = backend.materialize(
        backend.map_arrow(payload_source, by_row, by_row.output_schema(backend.schema(payload_source)))
    )
    attach = AttachFirst(P, payload_type)
    half = backend.cogroup_arrow(pairs, payloads, attach, attach.schema(), P)
    near = backend.materialize(
        backend.cogroup_arrow(half, payloads, VerifySecond(cfg, threads, handle), VerifySecond.SCHEMA, P)
    )
    stats["candidate_pairs_with_repeats"] = backend.count(pairs)
    stats["verified_pairs"] = backend.count(near)
    edges = near
    if exact_edges is not None:
        as_edges = backend.map_arrow(exact_edges, _ExactAsEdges(), VerifySecond.SCHEMA)
        edges = backend.materialize(_union(backend, as_edges, near))
    num_edges = backend.count(edges)
    stats["edges"] = num_edges

    if num_edges <= options.small_graph_edges:
        edge_table = backend.collect(edges)
        nodes = np.unique(np.concatenate([_i64(edge_table, "a"), _i64(edge_table, "b")]))
        scores = None
        if cfg.keep != "first" or handle is not None:
            scores = backend.collect(
                backend.map_arrow(
                    _select(backend, docs, [ROW, "score"]),
                    RowsIn(nodes),
                    _schema((ROW, pa.int64()), ("score", pa.float64())),
                )
            )
        decisions_table, guard_stats = _Driver.decide(edge_table, scores, cfg.max_cluster_size, handle)
        stats.update(guard_stats)
        stats["components"] = {"finished_on": "driver", "rounds": 0}
        decisions = backend.from_arrow(decisions_table)
    else:
        if cfg.max_cluster_size is not None:
            edges, guard_stats = _engine_guard(backend, edges, options, P, cfg.max_cluster_size)
            stats.update(guard_stats)
        labels, comp_stats = engine_components(
            backend, edges, P, options.small_graph_edges, options.max_rounds
        )
        stats["components"] = comp_stats
        doc_scores = backend.map_arrow(
            docs,
            ByRow(ROW, (ROW, "score"), P),
            _schema((PART, pa.int64()), (ROW, pa.int64()), ("score", pa.float64())),
        )
        scored = backend.cogroup_arrow(labels, doc_scores, AttachScore(P, handle), AttachScore.SCHEMA, P)
        kept = backend.group_arrow(scored, KeepRule(P), KeepRule.SCHEMA, P)
        ends = backend.map_arrow(edges, EdgeEnds(P), EdgeEnds.SCHEMA)
        best = backend.group_arrow(ends, NodeBest(P), NodeBest.SCHEMA, P)
        decisions = backend.materialize(backend.cogroup_arrow(kept, best, Decide(), DECISION_SCHEMA, P))
        decisions_table = None

    stats.update(
        _decision_counts(
            backend.collect(_select(backend, decisions, [ROW, "duplicate_row", "reason", "cluster_id"])),
            None if handle is None else n,
        )
    )
    indexed_kept = None
    if handle is not None:
        # Indexed nodes are no rows of the run; those that kept a run row out are few, named on the driver.
        indexed_kept = _indexed_kept(backend, decisions, n)
        decisions = backend.map_arrow(decisions, RowsBelow(n), DECISION_SCHEMA)
        if decisions_table is not None:
            decisions_table = RowsBelow(n)(decisions_table)
            decisions = backend.from_arrow(decisions_table)
        else:
            decisions = backend.materialize(decisions)

    id_column = cfg.id_column
    id_type = input_schema.field(id_column).type if id_column else None
    small = decisions_table is not None
    if id_column and id_type is not None:
        ids = backend.map_arrow(
            _select(backend, indexed, [ROW, id_column]),
            ByRow(ROW, (ROW, id_column), P, ((id_column, "payload"),)),
            _schema((PART, pa.int64()), (ROW, pa.int64()), ("payload", id_type)),
        )
        attach_id = AttachDuplicateId(P, id_type, n if handle is not None else np.iinfo(np.int64).max)
        keyed = backend.map_arrow(decisions, _RepartBy("duplicate_row", P), DECISION_SCHEMA)
        decisions = backend.materialize(backend.cogroup_arrow(keyed, ids, attach_id, attach_id.schema(), P))
        cluster_rows = backend.cogroup_arrow(
            ids,
            backend.map_arrow(decisions, _RepartBy(ROW, P), attach_id.schema()),
            ClusterRows(id_type),
            ClusterRows(id_type).schema(),
            P,
        )
    else:
        cluster_rows = backend.map_arrow(decisions, _ClusterRowsNoId(), ClusterRows(None).schema())
    duplicate_type = id_type
    if against is not None and indexed_kept is not None:
        # duplicate_of: the run's id type, or text when the index's ids are of another kind (as locally).
        hook = Against(against)
        duplicate_type = hook.id_type(id_type or pa.int64())
        if pa.types.is_large_string(duplicate_type):
            duplicate_type = pa.string()  # Spark holds no large strings; the values are the local ones
        stats["against"] = hook.report()
        old_ids, old_sources = (
            against.ids_and_sources(indexed_kept - n) if len(indexed_kept) else (pa.array([], pa.int64()), [])
        )
        attach_indexed = AttachIndexed(
            n, duplicate_type, id_type is not None, indexed_kept, old_ids, pa.array(old_sources, pa.string())
        )
        decisions = backend.materialize(
            backend.map_arrow(decisions, attach_indexed, attach_indexed.schema(backend.schema(decisions)))
        )
    if small:
        decisions_table = backend.collect(decisions)

    with_index = handle is not None
    removed_schema = _removed_schema(_with_row(input_schema), duplicate_type, with_index)
    if small:
        assert decisions_table is not None
        kept_rows = backend.map_arrow(
            indexed, Split(False, id_type, (), decisions_table, with_index), _with_row(input_schema)
        )
        removed_rows = backend.map_arrow(
            indexed, Split(True, id_type, (), decisions_table, with_index), removed_schema
        )
    else:
        keyed_rows = backend.map_arrow(indexed, _AddPart(ROW, P), _with_part(_with_row(input_schema)))
        kept_rows = backend.cogroup_arrow(
            keyed_rows, decisions, Split(False, id_type, against=with_index), _with_row(input_schema), P
        )
        removed_rows = backend.cogroup_arrow(
            keyed_rows, decisions, Split(True, id_type, against=with_index), removed_schema, P
        )
    stats["kept_rows"] = n - stats["removed_rows"]
    return EngineDedupResult(kept=kept_rows, removed=removed_rows, clusters=cluster_rows, stats=stats)


@dataclass(frozen=True)
class RowsBelow(Shipped):
    """Keep the decisions of the run's rows (``ROW`` below ``limit``; indexed nodes from there on)."""

    limit: int

    def __call__(self, table: pa.Table) -> pa.Table:
        return table.filter(pa.array(_i64(table, ROW) < self.limit))


@dataclass(frozen=True)
class _IndexedKept(Shipped):
    """The indexed nodes a run row is removed in favour of (distinct per batch)."""

    first_node: int
    SCHEMA = _schema(("node", pa.int64()))

    def __call__(self, table: pa.Table) -> pa.Table:
        dup = _i64(table, "duplicate_row")
        nodes = np.unique(dup[(_i64(table, ROW) < self.first_node) & (dup >= self.first_node)])
        return pa.table({"node": nodes}, schema=self.SCHEMA)


def _indexed_kept(backend: Backend[D], decisions: D, first_node: int) -> np.ndarray:
    """Sorted distinct indexed nodes that kept a run row out (collected: at most one per removed row)."""
    columns = _select(backend, decisions, [ROW, "duplicate_row"])
    table = backend.collect(backend.map_arrow(columns, _IndexedKept(first_node), _IndexedKept.SCHEMA))
    return np.unique(_i64(table, "node"))


def _with_row(schema: pa.Schema) -> pa.Schema:
    return schema.append(pa.field(ROW, pa.int64()))


def _with_part(schema: pa.Schema) -> pa.Schema:
    return pa.schema([pa.field(PART, pa.int64()), *schema])


def _removed_schema(schema: pa.Schema, id_type: pa.DataType | None, against: bool = False) -> pa.Schema:
    return pa.schema(
        [
            *schema,
            pa.field("duplicate_of", id_type or pa.int64()),
            pa.field("cluster_id", pa.int64()),
            pa.field("similarity", pa.float64()),
            pa.field("reason", pa.string()),
            *([pa.field("duplicate_source", pa.string())] if against else []),
        ]
    )


def _decision_counts(table: pa.Table, first_node: int | None = None) -> dict[str, Any]:
    """Row and cluster counts of the decisions of every clustered node.

    With ``against=``, indexed nodes (from ``first_node`` on) count in their
    cluster's size, as the local engine counts them, but are no rows of the run.
    """
    row = _i64(table, ROW)
    dup = _i64(table, "duplicate_row")
    reason = np.asarray(table.column("reason").combine_chunks(), dtype=np.int8)
    cluster = _i64(table, "cluster_id")
    run = row < first_node if first_node is not None else np.ones(len(row), bool)
    removed = run & (dup >= 0)
    sizes = np.unique(cluster, return_counts=True)[1] if len(cluster) else np.zeros(0, np.int64)
    histogram = np.bincount(sizes) if len(sizes) else np.zeros(0, np.int64)
    counts: dict[str, Any] = {
        "removed_rows": int(removed.sum()),
        "removed_exact": int((removed & (reason == REASON_EXACT)).sum()),
        "clusters": len(sizes),
        "rows_in_clusters": int(run.sum()),
        "cluster_size_histogram": {str(s): int(c) for s, c in enumerate(histogram) if c},
    }
    if first_node is not None:
        counts["removed_against_index"] = int((removed & (dup >= first_node)).sum())
    return counts


def _engine_guard(
    backend: Backend[D], edges: D, options: EngineOptions, P: int, max_cluster_size: int
) -> tuple[D, dict[str, Any]]:
    """Guard on the engine: label components, then split each large one within its group.

    Edges are grouped by component (a component's edges meet in one group),
    so a component must fit one task; the guard is meant for components the
    cap keeps small, and the largest ones are exactly what it reports.
    """
    labels, _ = engine_components(backend, edges, P, options.small_graph_edges, options.max_rounds)
    keyed = backend.map_arrow(edges, _AddPart("a", P), _EdgeLabel.SCHEMA)
    labelled = backend.cogroup_arrow(keyed, labels, _EdgeLabel(P), _EdgeLabel.SCHEMA, P)
    guarded = backend.materialize(
        backend.group_arrow(labelled, _GuardComponent(max_cluster_size), VerifySecond.SCHEMA, P)
    )
    return guarded, {"guard": {"edges_before": backend.count(edges), "edges_after": backend.count(guarded)}}
