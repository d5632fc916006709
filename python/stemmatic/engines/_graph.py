"""Functions the engines ship to workers for the verified graph: large-star / small-star
rounds (Kiveris et al., SoCC 2014), the keep rule, decisions, the kept/removed split, and
the giant-component guard.

Split from :mod:`stemmatic.engines._common`, which drives them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stemmatic.dedup.clusters import REASON_EXACT, REASON_NEAR
from stemmatic.dedup.guard import split_giant_components
from stemmatic.dedup.index import reason_names
from stemmatic.engines._against import IndexedRows
from stemmatic.engines._backend import PART, ROW
from stemmatic.engines._batch import (
    EDGE_SCHEMA,
    VerifySecond,
    _as_i64,
    _as_u64,
    _i64,
    _payload_of,
    _schema,
    part_of,
)
from stemmatic.engines._shipped import Shipped


@dataclass(frozen=True)
class BothDirections(Shipped):
    """Edges (a, b) as directed records (u, v) both ways, grouped by ``u``."""

    partitions: int
    first: str = "a"
    second: str = "b"

    def __call__(self, table: pa.Table) -> pa.Table:
        a, b = _i64(table, self.first), _i64(table, self.second)
        u, v = np.concatenate([a, b]), np.concatenate([b, a])
        return pa.table({PART: part_of(u, self.partitions), "u": u, "v": v}, schema=EDGE_SCHEMA)


def _group_min(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sort records by u; return sorted u, v, the start of each u's run, and min(v) per record's u."""
    order = np.lexsort((v, u))
    u, v = u[order], v[order]
    starts = np.flatnonzero(np.r_[True, u[1:] != u[:-1]]) if len(u) else np.zeros(0, np.int64)
    mins = np.minimum.reduceat(v, starts) if len(u) else np.zeros(0, np.int64)
    per_record = np.repeat(mins, np.diff(np.r_[starts, len(u)]))
    return u, v, starts, per_record


@dataclass(frozen=True)
class LargeStar(Shipped):
    """Large-star: each node links its larger neighbours to min(itself, its neighbours)."""

    partitions: int

    def __call__(self, table: pa.Table) -> pa.Table:
        u, v, _, mins = _group_min(_i64(table, "u"), _i64(table, "v"))
        m = np.minimum(mins, u)
        larger = v > u
        big, small = v[larger], m[larger]
        return pa.table({PART: part_of(big, self.partitions), "u": big, "v": small}, schema=EDGE_SCHEMA)


@dataclass(frozen=True)
class SmallStar(Shipped):
    """Small-star over records (big u, small v): link u and its smaller neighbours to their min."""

    partitions: int

    def __call__(self, table: pa.Table) -> pa.Table:
        pairs = np.unique(np.stack([_i64(table, "u"), _i64(table, "v")], axis=1), axis=0)
        u, v, starts, mins = _group_min(pairs[:, 0], pairs[:, 1])
        # Every neighbour v links to the min; and u itself does.
        members = np.concatenate([v, u[starts]])
        targets = np.concatenate([mins, mins[starts]])
        keep = members != targets
        a, b = targets[keep], members[keep]
        return pa.table({PART: part_of(a, self.partitions), "u": a, "v": b}, schema=EDGE_SCHEMA)


@dataclass(frozen=True)
class Fingerprint(Shipped):
    """Count and order-free 64-bit hashes of a batch of edges (to detect a fixed point)."""

    SCHEMA = _schema(("count", pa.int64()), ("sum", pa.int64()), ("xor", pa.int64()))

    def __call__(self, table: pa.Table) -> pa.Table:
        u, v = _as_u64(_i64(table, "u")), _as_u64(_i64(table, "v"))
        with np.errstate(over="ignore"):
            h = (u * np.uint64(0x9E3779B97F4A7C15)) ^ (v * np.uint64(0xC2B2AE3D27D4EB4F) + np.uint64(1))
            h ^= h >> np.uint64(29)
            h *= np.uint64(0xBF58476D1CE4E5B9)
            total = np.add.reduce(h, dtype=np.uint64) if len(h) else np.uint64(0)
        xor = np.bitwise_xor.reduce(h) if len(h) else np.uint64(0)
        return pa.table(
            {
                "count": [len(u)],
                "sum": [int(_as_i64(np.array([total]))[0])],
                "xor": [int(_as_i64(np.array([xor]))[0])],
            },
            schema=self.SCHEMA,
        )


@dataclass(frozen=True)
class StarLabels(Shipped):
    """Converged stars (u = centre, v = leaf) to (node, label) for leaves and centres."""

    partitions: int
    SCHEMA = _schema((PART, pa.int64()), ("node", pa.int64()), ("label", pa.int64()))

    def __call__(self, table: pa.Table) -> pa.Table:
        centre, leaf = _i64(table, "u"), _i64(table, "v")
        node, label = np.concatenate([leaf, centre]), np.concatenate([centre, centre])
        return pa.table(
            {PART: part_of(node, self.partitions), "node": node, "label": label}, schema=self.SCHEMA
        )


@dataclass(frozen=True)
class UniqueLabels(Shipped):
    """One (node, smallest label) per node."""

    partitions: int

    def __call__(self, table: pa.Table) -> pa.Table:
        node, label = _i64(table, "node"), _i64(table, "label")
        order = np.lexsort((label, node))
        node, label = node[order], label[order]
        first = np.r_[True, node[1:] != node[:-1]] if len(node) else np.zeros(0, bool)
        node, label = node[first], label[first]
        return pa.table(
            {PART: part_of(node, self.partitions), "node": node, "label": label}, schema=StarLabels.SCHEMA
        )


@dataclass(frozen=True)
class AttachScore(Shipped):
    """Co-group of labels (by node) with sketch rows: (part of label, node, label, score)."""

    partitions: int
    #: With ``against=``: indexed nodes are in no input row and score +inf.
    against: IndexedRows | None = None
    SCHEMA = _schema((PART, pa.int64()), ("node", pa.int64()), ("label", pa.int64()), ("score", pa.float64()))

    def __call__(self, labels: pa.Table, docs: pa.Table) -> pa.Table:
        node, label = _i64(labels, "node"), _i64(labels, "label")
        rows = _i64(docs, ROW)
        order = np.argsort(rows, kind="stable")
        run = node < self.against.first_node if self.against is not None else np.ones(len(node), bool)
        score = np.zeros(len(node))
        if run.any():
            take = _payload_of(node[run], order, rows[order])
            score[run] = np.asarray(docs.column("score").combine_chunks(), dtype=np.float64)[take]
        if self.against is not None:
            score = self.against.scores(node, score)
        return pa.table(
            {PART: part_of(label, self.partitions), "node": node, "label": label, "score": score},
            schema=self.SCHEMA,
        )


@dataclass(frozen=True)
class KeepRule(Shipped):
    """Per cluster: kept row = highest score, then smallest row (as ``decide_clusters``)."""

    partitions: int
    SCHEMA = _schema((PART, pa.int64()), ("node", pa.int64()), ("label", pa.int64()), ("kept", pa.int64()))

    def __call__(self, table: pa.Table) -> pa.Table:
        node, label = _i64(table, "node"), _i64(table, "label")
        score = np.asarray(table.column("score").combine_chunks(), dtype=np.float64)
        order = np.lexsort((node, -score, label))
        ordered_label = label[order]
        first = np.r_[True, ordered_label[1:] != ordered_label[:-1]] if len(node) else np.zeros(0, bool)
        group = np.cumsum(first) - 1
        kept = node[order][first][group]
        node = node[order]
        return pa.table(
            {PART: part_of(node, self.partitions), "node": node, "label": ordered_label, "kept": kept},
            schema=self.SCHEMA,
        )


@dataclass(frozen=True)
class EdgeEnds(Shipped):
    """Verified edges as (part of node, node, side, sim, reason) for both ends."""

    partitions: int
    SCHEMA = _schema(
        (PART, pa.int64()),
        ("node", pa.int64()),
        ("side", pa.int8()),
        ("sim", pa.float64()),
        ("reason", pa.int8()),
    )

    def __call__(self, table: pa.Table) -> pa.Table:
        a, b = _i64(table, "a"), _i64(table, "b")
        sim = np.asarray(table.column("sim").combine_chunks(), dtype=np.float64)
        reason = np.asarray(table.column("reason").combine_chunks(), dtype=np.int8)
        node = np.concatenate([a, b])
        return pa.table(
            {
                PART: part_of(node, self.partitions),
                "node": node,
                "side": np.r_[np.zeros(len(a), np.int8), np.ones(len(b), np.int8)],
                "sim": np.r_[sim, sim],
                "reason": np.r_[reason, reason],
            },
            schema=self.SCHEMA,
        )


def best_edge(
    node: np.ndarray, side: np.ndarray, sim: np.ndarray, reason: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Per node: similarity and reason of its best edge, with ``decide_clusters``' tie rules.

    ``decide_clusters`` passes over the edges' first ends, then their second
    ends; within a pass the highest similarity wins and, among equal ones, a
    near-duplicate edge (listed after the exact ones) wins; the second pass
    replaces the first only with a strictly higher similarity.
    """
    nodes = np.unique(node)
    best = np.full(len(nodes), np.nan)
    why = np.zeros(len(nodes), np.int8)
    for s in (0, 1):
        mask = side == s
        n_, sim_, near = node[mask], sim[mask], (reason[mask] == REASON_NEAR)
        order = np.lexsort((near, sim_, n_))
        n_, sim_, r_ = n_[order], sim_[order], reason[mask][order]
        last = np.r_[n_[1:] != n_[:-1], True] if len(n_) else np.zeros(0, bool)
        idx = np.searchsorted(nodes, n_[last])
        better = ~(best[idx] >= sim_[last])
        best[idx[better]] = sim_[last][better]
        why[idx[better]] = r_[last][better]
    return nodes, best, why


@dataclass(frozen=True)
class NodeBest(Shipped):
    """Per node: the similarity and reason of its best edge."""

    partitions: int
    SCHEMA = _schema((PART, pa.int64()), ("node", pa.int64()), ("sim", pa.float64()), ("reason", pa.int8()))

    def __call__(self, table: pa.Table) -> pa.Table:
        nodes, best, why = best_edge(
            _i64(table, "node"),
            np.asarray(table.column("side").combine_chunks(), dtype=np.int8),
            np.asarray(table.column("sim").combine_chunks(), dtype=np.float64),
            np.asarray(table.column("reason").combine_chunks(), dtype=np.int8),
        )
        return pa.table(
            {PART: part_of(nodes, self.partitions), "node": nodes, "sim": best, "reason": why},
            schema=self.SCHEMA,
        )


DECISION_SCHEMA = _schema(
    (PART, pa.int64()),
    (ROW, pa.int64()),
    ("cluster_id", pa.int64()),
    ("duplicate_row", pa.int64()),
    ("similarity", pa.float64()),
    ("reason", pa.int8()),
)


@dataclass(frozen=True)
class Decide(Shipped):
    """Co-group of (node, label, kept) with (node, sim, reason): the decision of every clustered row."""

    def __call__(self, kept: pa.Table, best: pa.Table) -> pa.Table:
        node, label, keep_row = _i64(kept, "node"), _i64(kept, "label"), _i64(kept, "kept")
        bnode = _i64(best, "node")
        order = np.argsort(bnode, kind="stable")
        take = _payload_of(node, order, bnode[order])
        sim = (
            np.asarray(best.column("sim").combine_chunks(), dtype=np.float64)[take]
            if len(node)
            else np.zeros(0)
        )
        why = (
            np.asarray(best.column("reason").combine_chunks(), dtype=np.int8)[take]
            if len(node)
            else np.zeros(0, np.int8)
        )
        part = _i64(kept, PART)
        return pa.table(
            {
                PART: part,
                ROW: node,
                "cluster_id": label,
                "duplicate_row": np.where(node == keep_row, -1, keep_row),
                "similarity": sim,
                "reason": why,
            },
            schema=DECISION_SCHEMA,
        )


# -- the split -------------------------------------------------------------


@dataclass(frozen=True)
class AttachDuplicateId(Shipped):
    """Co-group of removed decisions (by duplicate row) with (row, id): the id of the kept row."""

    partitions: int
    id_type: pa.DataType
    #: Duplicate rows from here on are indexed nodes (their ids come from the index).
    first_node: int = np.iinfo(np.int64).max

    def schema(self) -> pa.Schema:
        return DECISION_SCHEMA.append(pa.field("duplicate_id", self.id_type))

    def __call__(self, decisions: pa.Table, ids: pa.Table) -> pa.Table:
        dup = _i64(decisions, "duplicate_row")
        rows = _i64(ids, ROW)
        order = np.argsort(rows, kind="stable")
        removed = (dup >= 0) & (dup < self.first_node)
        take = np.zeros(len(dup), np.int64)
        take[removed] = _payload_of(dup[removed], order, rows[order])
        values = ids.column("payload").combine_chunks()
        dup_id = values.take(pa.array(take)) if len(values) else pa.nulls(len(dup), self.id_type)
        dup_id = pc.if_else(pa.array(removed), dup_id, pa.scalar(None, self.id_type))
        row = _i64(decisions, ROW)
        out = decisions.set_column(0, PART, pa.array(part_of(row, self.partitions)))
        return out.append_column("duplicate_id", dup_id.cast(self.id_type))


@dataclass(frozen=True)
class Split(Shipped):
    """Rows + their decisions (co-grouped by row, or broadcast) to kept or removed rows."""

    removed: bool
    id_type: pa.DataType | None
    drop: tuple[str, ...] = (PART,)
    decisions: pa.Table | None = None
    #: With ``against=``: decisions carry ``duplicate_id`` and ``duplicate_source`` (:class:`AttachIndexed`).
    against: bool = False

    def __call__(self, rows: pa.Table, decisions: pa.Table | None = None) -> pa.Table:
        decisions = self.decisions if decisions is None else decisions
        assert decisions is not None
        row = _i64(rows, ROW)
        drow = _i64(decisions, ROW)
        dup = _i64(decisions, "duplicate_row")
        mask = dup >= 0
        removed_rows = drow[mask]
        order = np.argsort(removed_rows, kind="stable")
        sorted_removed = removed_rows[order]
        pos = np.searchsorted(sorted_removed, row)
        hit = pos < len(sorted_removed)
        hit[hit] = sorted_removed[pos[hit]] == row[hit]
        base = rows.drop_columns([c for c in self.drop if c in rows.column_names])
        if not self.removed:
            return base.filter(pa.array(~hit))
        take = np.flatnonzero(mask)[order][pos[hit]]
        sub = base.filter(pa.array(hit))
        picked = decisions.take(pa.array(take))
        with_id = self.id_type is not None or self.against
        dup_of = picked.column("duplicate_id") if with_id else picked.column("duplicate_row")
        sub = sub.append_column("duplicate_of", dup_of)
        sub = sub.append_column("cluster_id", picked.column("cluster_id"))
        sub = sub.append_column("similarity", picked.column("similarity"))
        sub = sub.append_column("reason", reason_names(np.asarray(picked.column("reason"))))
        return (
            sub.append_column("duplicate_source", picked.column("duplicate_source")) if self.against else sub
        )


@dataclass(frozen=True)
class ClusterRows(Shipped):
    """Decisions to the ``clusters.parquet`` rows: (row, id, cluster_id, is_kept)."""

    id_type: pa.DataType | None

    def schema(self) -> pa.Schema:
        return _schema(
            (ROW, pa.int64()),
            ("id", self.id_type or pa.int64()),
            ("cluster_id", pa.int64()),
            ("is_kept", pa.bool_()),
        )

    def __call__(self, rows: pa.Table, decisions: pa.Table) -> pa.Table:
        drow = _i64(decisions, ROW)
        row = _i64(rows, ROW)
        order = np.argsort(row, kind="stable")
        take = _payload_of(drow, order, row[order])
        ids = rows.column("payload").combine_chunks().take(pa.array(take)) if self.id_type else pa.array(drow)
        return pa.table(
            {
                ROW: drow,
                "id": ids,
                "cluster_id": decisions.column("cluster_id"),
                "is_kept": pa.array(_i64(decisions, "duplicate_row") < 0),
            },
            schema=self.schema(),
        )


@dataclass(frozen=True)
class _AddPart(Shipped):
    key: str
    partitions: int

    def __call__(self, table: pa.Table) -> pa.Table:
        return table.add_column(0, PART, pa.array(part_of(_i64(table, self.key), self.partitions)))


@dataclass(frozen=True)
class _RepartBy(Shipped):
    """Set ``part`` from another column (rows with -1 there go to group 0)."""

    key: str
    partitions: int

    def __call__(self, table: pa.Table) -> pa.Table:
        key = np.maximum(_i64(table, self.key), 0)
        return table.set_column(
            table.schema.get_field_index(PART), PART, pa.array(part_of(key, self.partitions))
        )


@dataclass(frozen=True)
class _ExactAsEdges(Shipped):
    def __call__(self, table: pa.Table) -> pa.Table:
        n = len(table)
        return pa.table(
            {
                "a": table.column("a"),
                "b": table.column("b"),
                "sim": np.ones(n),
                "reason": np.full(n, REASON_EXACT, np.int8),
            },
            schema=VerifySecond.SCHEMA,
        )


@dataclass(frozen=True)
class _ClusterRowsNoId(Shipped):
    def __call__(self, table: pa.Table) -> pa.Table:
        row = _i64(table, ROW)
        return pa.table(
            {
                ROW: row,
                "id": row,
                "cluster_id": table.column("cluster_id"),
                "is_kept": pa.array(_i64(table, "duplicate_row") < 0),
            },
            schema=ClusterRows(None).schema(),
        )


# -- the guard on the engine path ------------------------------------------------


@dataclass(frozen=True)
class _GuardComponent(Shipped):
    """Per group of components (edges keyed by label): apply the giant-component guard."""

    max_size: int

    def __call__(self, table: pa.Table) -> pa.Table:
        a, b = _i64(table, "a"), _i64(table, "b")
        sim = np.asarray(table.column("sim").combine_chunks(), dtype=np.float64)
        if not len(a):
            return table.select(VerifySecond.SCHEMA.names)
        nodes = np.unique(np.concatenate([a, b]))
        dense = np.stack([np.searchsorted(nodes, a), np.searchsorted(nodes, b)], axis=1).astype(np.uint64)
        result = split_giant_components(len(nodes), dense, sim, self.max_size)
        return table.filter(pa.array(result.keep)).select(VerifySecond.SCHEMA.names)


@dataclass(frozen=True)
class _EdgeLabel(Shipped):
    """Co-group of edges (by a) with labels (by node): part = part of the edge's component."""

    partitions: int
    SCHEMA = _schema(
        (PART, pa.int64()), ("a", pa.int64()), ("b", pa.int64()), ("sim", pa.float64()), ("reason", pa.int8())
    )

    def __call__(self, edges: pa.Table, labels: pa.Table) -> pa.Table:
        a = _i64(edges, "a")
        node = _i64(labels, "node")
        order = np.argsort(node, kind="stable")
        take = _payload_of(a, order, node[order])
        label = _i64(labels, "label")[take] if len(a) else np.zeros(0, np.int64)
        return pa.table(
            {
                PART: part_of(label, self.partitions),
                "a": a,
                "b": edges.column("b"),
                "sim": edges.column("sim"),
                "reason": edges.column("reason"),
            },
            schema=self.SCHEMA,
        )
