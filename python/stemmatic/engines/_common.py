"""The distributed near-duplicate algorithm, written once over a few engine primitives.

Ray and Spark each implement :class:`Backend` (map Arrow batches, apply a
function to the Arrow table of each partition group, co-group two datasets,
count, collect); :func:`run_dedup` is the algorithm, the same for both, and
built on the same Rust batch functions as the local engine, so all engines
give the same answer:

1. **rows** — every row gets a stable number: its position in input order
   (or its rank by ``id_column``), the row the local engine would give it.
2. **sketch** — per Arrow batch: MinHash signatures, LSH band keys, length,
   keep score (``_core.minhash_signatures``, ``_core.band_keys``) and, with
   ``exact=True``, the exact-duplicate key (``_core.exact_keys``).
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

Only int64 / float64 / int8 / binary / string columns cross the engines
(Spark has no unsigned integers): uint64 hashes travel as their int64 bits.
Every function shipped to workers is an instance of a small class that
pickles with a versioned state.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Generic, Protocol, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stemmatic import _core
from stemmatic._run import StageTimer
from stemmatic.dedup.clusters import REASON_EXACT, REASON_NEAR, decide_clusters
from stemmatic.dedup.guard import split_giant_components
from stemmatic.dedup.index import Against, DedupIndex, reason_names
from stemmatic.dedup.params import Banding
from stemmatic.dedup.pipeline import DedupConfig
from stemmatic.engines._against import AttachIndexed, IndexedRows, indexed_rows
from stemmatic.engines._shipped import Shipped
from stemmatic.exceptions import InvalidInputError, ParameterError
from stemmatic.minhash import MinHasher, RowStatus

__all__ = [
    "ROW",
    "Backend",
    "EngineDedupResult",
    "EngineOptions",
    "run_dedup",
]

#: Column holding the stable row number while the engines work.
ROW = "_stemmatic_row"
#: Column holding a row's partition group.
PART = "_stemmatic_part"
#: Extra columns of removed rows, as in the local engine's ``removed/``.
REMOVED_COLUMNS = ("duplicate_of", "cluster_id", "similarity", "reason")

D = TypeVar("D")
TableFn = Callable[[pa.Table], pa.Table]
CoFn = Callable[[pa.Table, pa.Table], pa.Table]
#: Names a row number of the ordered inputs for an error message (``file (row k)``).
Locate = Callable[[int], str]


class Backend(Protocol[D]):
    """The primitives an engine gives the algorithm; ``D`` is its dataset type."""

    def map_arrow(self, data: D, fn: TableFn, schema: pa.Schema) -> D:
        """Apply ``fn`` to each Arrow batch; the result has ``schema``."""
        ...

    def group_arrow(self, data: D, fn: TableFn, schema: pa.Schema, partitions: int) -> D:
        """Apply ``fn`` once per value of column ``part``, to the table of all its rows."""
        ...

    def cogroup_arrow(self, left: D, right: D, fn: CoFn, schema: pa.Schema, partitions: int) -> D:
        """Apply ``fn(left_rows, right_rows)`` per value of column ``part`` (either side may be empty)."""
        ...

    def materialize(self, data: D) -> D: ...
    def union(self, first: D, second: D) -> D: ...
    def select(self, data: D, columns: list[str]) -> D: ...
    def count(self, data: D) -> int: ...
    def collect(self, data: D) -> pa.Table: ...
    def from_arrow(self, table: pa.Table) -> D: ...
    def schema(self, data: D) -> pa.Schema: ...
    def with_row_index(self, data: D) -> D:
        """Add column ``ROW`` (int64): the row's position in input order."""
        ...


@dataclass(frozen=True)
class EngineOptions:
    """How the engines split the work (the answer does not depend on these)."""

    #: Partition groups of each shuffle (default: from the row count).
    partitions: int | None = None
    #: A verified graph with at most this many edges is decided on the driver.
    small_graph_edges: int = 2_000_000
    #: Split clusters above this many rows by verified similarity (None: no guard).
    max_cluster_size: int | None = None
    #: Rust threads inside one engine task (the engine runs tasks in parallel).
    task_threads: int = 1
    #: Safety stop for the large-star / small-star rounds.
    max_rounds: int = 64

    def validate(self) -> None:
        if self.partitions is not None and self.partitions < 1:
            raise ParameterError(f"invalid parameter `partitions`: {self.partitions}; must be at least 1")
        if self.small_graph_edges < 0:
            raise ParameterError(f"invalid parameter `small_graph_edges`: {self.small_graph_edges}")
        if self.max_cluster_size is not None and self.max_cluster_size < 2:
            raise ParameterError(
                f"invalid parameter `max_cluster_size`: {self.max_cluster_size}; must be at least 2"
            )
        if self.task_threads < 1:
            raise ParameterError(f"invalid parameter `task_threads`: {self.task_threads}")


@dataclass
class EngineDedupResult(Generic[D]):
    """Kept rows, removed rows (with ``duplicate_of``, ...), clusters and counts."""

    kept: D
    removed: D
    clusters: D
    stats: dict[str, Any] = field(default_factory=dict)


def input_paths(files: Sequence[Any], engine: str) -> tuple[str, list[str]]:
    """The one format (``parquet`` or ``jsonl``) and the paths of resolved input files."""
    from stemmatic.exceptions import ParameterError

    formats = {f.format for f in files}
    if len(formats) != 1:
        raise ParameterError(f"--engine {engine} reads inputs of one format: all Parquet or all JSONL")
    return formats.pop(), [str(f.path) for f in files]


def build_config(config: DedupConfig | None, overrides: dict[str, Any]) -> DedupConfig:
    """A validated :class:`DedupConfig` from a base config and keyword overrides."""
    return DedupConfig.build(config, overrides)


# ---------------------------------------------------------------------------
# Functions shipped to workers: small classes with a versioned pickled state.


def part_of(values: np.ndarray, partitions: int) -> np.ndarray:
    """Partition group of int64/uint64 values: a multiplicative hash, mod ``partitions``."""
    mixed = values.astype(np.uint64, copy=False) * np.uint64(0x9E3779B97F4A7C15)
    return np.asarray((mixed >> np.uint64(32)) % np.uint64(partitions)).astype(np.int64)


def _i64(table: pa.Table, name: str) -> np.ndarray:
    return np.asarray(table.column(name).combine_chunks().fill_null(-1), dtype=np.int64)


def _as_u64(values: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.int64).view(np.uint64)


def _as_i64(values: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.uint64).view(np.int64)


def _fixed_binary(matrix: np.ndarray) -> pa.Array:
    """Rows of a 2-D array as a binary column (one value per row) without Python loops."""
    matrix = np.ascontiguousarray(matrix)
    n = matrix.shape[0]
    width = matrix.shape[1] * matrix.itemsize if matrix.ndim == 2 else 0
    offsets = (np.arange(n + 1, dtype=np.int64) * width).astype(np.int32)
    return pa.Array.from_buffers(
        pa.binary(), n, [None, pa.py_buffer(offsets.tobytes()), pa.py_buffer(matrix.tobytes())]
    )


def _binary_rows(column: pa.ChunkedArray | pa.Array, dtype: np.dtype, width: int) -> np.ndarray:
    """Inverse of :func:`_fixed_binary`: a ``(n, width)`` array of ``dtype``."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    n = len(array)
    if n == 0:
        return np.zeros((0, width), dtype)
    if pa.types.is_large_binary(array.type):
        array = array.cast(pa.binary())
    offsets_type = np.int32
    offsets = np.frombuffer(array.buffers()[1], dtype=offsets_type)[array.offset : array.offset + n + 1]
    data = np.frombuffer(array.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    return data.view(dtype).reshape(n, width)


_TEXT_TYPES = (pa.string(), pa.large_string(), pa.string_view(), pa.binary(), pa.large_binary())


def check_text_type(column: str, kind: pa.DataType, where: str = "") -> None:
    """Refuse a text column that holds neither strings nor bytes (``where``: ``"FILE: "``)."""
    if kind not in _TEXT_TYPES:
        raise InvalidInputError(f"{where}column {column!r} has type {kind}, expected strings")


def _schema(*pairs: tuple[str, pa.DataType]) -> pa.Schema:
    return pa.schema([pa.field(name, typ) for name, typ in pairs])


@dataclass(frozen=True)
class Sketch(Shipped):
    """Per batch: status, length, keep score, band keys (and signature, exact key) of each row."""

    config: DedupConfig
    bands: int
    rows: int
    threads: int = 1

    def schema(self) -> pa.Schema:
        cols: list[tuple[str, pa.DataType]] = [
            (ROW, pa.int64()),
            ("status", pa.int8()),
            ("length", pa.int64()),
            ("score", pa.float64()),
            ("keys", pa.binary()),
        ]
        if self.config.verify != "exact":
            cols.append(("sig", pa.binary()))
        if self.config.exact:
            cols += [("exact_lo", pa.int64()), ("exact_hi", pa.int64())]
        return _schema(*cols)

    def __call__(self, table: pa.Table) -> pa.Table:
        cfg = self.config
        texts = table.column(cfg.text_column).combine_chunks()
        check_text_type(cfg.text_column, texts.type)
        hasher = MinHasher(num_perm=cfg.num_perm, ngram=cfg.ngram, tokenizer=cfg.tokenizer, seed=cfg.seed)
        batch = hasher.batch(texts, workers=self.threads, on_invalid="skip")
        keys = _core.band_keys(batch.signatures, bands=self.bands, rows=self.rows, workers=self.threads)
        binary = texts if pa.types.is_large_binary(texts.type) else texts.cast(pa.large_binary())
        lengths = np.asarray(pc.binary_length(binary).fill_null(0), dtype=np.int64)
        if cfg.keep == "longest":
            score = lengths.astype(np.float64)
        elif cfg.keep_column:
            column = table.column(cfg.keep_column)
            try:
                values = pc.cast(column, pa.float64())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
                raise InvalidInputError(
                    f"--keep column {cfg.keep_column!r} has type {column.type}, expected numbers"
                ) from err
            score = np.asarray(values.fill_null(-np.inf), dtype=np.float64)
        else:
            score = np.zeros(len(texts))
        out: dict[str, Any] = {
            ROW: table.column(ROW),
            "status": pa.array(batch.status.astype(np.int8)),
            "length": pa.array(lengths),
            "score": pa.array(score),
            "keys": _fixed_binary(keys),
        }
        if cfg.verify != "exact":
            out["sig"] = _fixed_binary(batch.signatures)
        if cfg.exact:
            exact = _core.exact_keys(pa.chunked_array([texts]), tokenizer=cfg.tokenizer, workers=self.threads)
            out["exact_lo"] = pa.array(_as_i64(exact[:, 0]))
            out["exact_hi"] = pa.array(_as_i64(exact[:, 1]))
        return pa.table(out, schema=self.schema())


@dataclass(frozen=True)
class ExactRecords(Shipped):
    """(part of the exact key, row, key) of rows with tokens."""

    partitions: int
    SCHEMA = _schema(
        (PART, pa.int64()), (ROW, pa.int64()), ("exact_lo", pa.int64()), ("exact_hi", pa.int64())
    )

    def __call__(self, table: pa.Table) -> pa.Table:
        ok = np.asarray(table.column("status")) == RowStatus.OK
        t = table.filter(pa.array(ok)).select([ROW, "exact_lo", "exact_hi"])
        part = part_of(_i64(t, "exact_hi"), self.partitions)
        return t.add_column(0, PART, pa.array(part)).cast(self.SCHEMA)


@dataclass(frozen=True)
class ExactGroups(Shipped):
    """Edges (representative = smallest row, duplicate) of rows with equal exact keys."""

    partitions: int
    SCHEMA = _schema((PART, pa.int64()), ("a", pa.int64()), ("b", pa.int64()))

    def __call__(self, table: pa.Table) -> pa.Table:
        docs, lo, hi = _i64(table, ROW), _i64(table, "exact_lo"), _i64(table, "exact_hi")
        order = np.lexsort((docs, lo, hi))
        docs, lo, hi = docs[order], lo[order], hi[order]
        same = np.zeros(len(docs), dtype=bool)
        same[1:] = (lo[1:] == lo[:-1]) & (hi[1:] == hi[:-1])
        start = np.maximum.accumulate(np.where(~same, np.arange(len(docs)), 0))
        a, b = docs[start][same], docs[same]
        return pa.table({PART: part_of(b, self.partitions), "a": a, "b": b}, schema=self.SCHEMA)


@dataclass(frozen=True)
class ByRow(Shipped):
    """Select ``columns`` (renamed by ``rename``) and add ``part`` of column ``key``."""

    key: str
    columns: tuple[str, ...]
    partitions: int
    rename: tuple[tuple[str, str], ...] = ()

    def output_schema(self, schema: pa.Schema) -> pa.Schema:
        names = dict(self.rename)
        return pa.schema(
            [pa.field(PART, pa.int64())]
            + [pa.field(names.get(c, c), schema.field(c).type) for c in self.columns]
        )

    def __call__(self, table: pa.Table) -> pa.Table:
        names = dict(self.rename)
        part = part_of(_i64(table, self.key), self.partitions)
        t = table.select(list(self.columns)).rename_columns([names.get(c, c) for c in self.columns])
        return t.add_column(0, PART, pa.array(part))


@dataclass(frozen=True)
class MarkExcluded(Shipped):
    """Co-group of sketch rows with exact-duplicate edges: drop rows that are duplicates."""

    def __call__(self, docs: pa.Table, edges: pa.Table) -> pa.Table:
        if not len(edges) or not len(docs):
            return docs
        excluded = np.isin(_i64(docs, ROW), _i64(edges, "b"))
        return docs.filter(pa.array(~excluded))


@dataclass(frozen=True)
class BandRecords(Shipped):
    """(part of the band key, band key, row) for every band of every row with tokens."""

    bands: int
    partitions: int
    SCHEMA = _schema((PART, pa.int64()), ("key", pa.int64()), (ROW, pa.int64()))

    def __call__(self, table: pa.Table) -> pa.Table:
        ok = np.asarray(table.column("status")) == RowStatus.OK
        keys = _binary_rows(table.column("keys"), np.dtype(np.uint64), self.bands)[ok]
        rows = _i64(table, ROW)[ok]
        flat = keys.ravel()
        part = ((flat >> np.uint64(32)) % np.uint64(self.partitions)).astype(np.int64)
        return pa.table(
            {PART: part, "key": _as_i64(flat), ROW: np.repeat(rows, self.bands)}, schema=self.SCHEMA
        )


@dataclass(frozen=True)
class BucketPairs(Shipped):
    """All buckets of one partition group to candidate pairs (``_core.candidate_pairs``)."""

    clique_max: int
    partitions: int
    threads: int = 1
    #: With ``against=``: the index's rows join their buckets first (pairs with them name node N + r).
    against: IndexedRows | None = None
    SCHEMA = _schema((PART, pa.int64()), ("a", pa.int64()), ("b", pa.int64()))

    def __call__(self, table: pa.Table) -> pa.Table:
        if not len(table):
            return self.SCHEMA.empty_table()
        keys, rows = _as_u64(_i64(table, "key")), _as_u64(_i64(table, ROW))
        if self.against is not None:
            found = self.against.candidate_pairs(keys, rows, clique_max=self.clique_max, threads=self.threads)
        else:
            found = _core.candidate_pairs(keys, rows, clique_max=self.clique_max, workers=self.threads)
        pairs = found.astype(np.int64)
        a, b = pairs[:, 0], pairs[:, 1]
        return pa.table({PART: part_of(a, self.partitions), "a": a, "b": b}, schema=self.SCHEMA)


def _payload_of(rows: np.ndarray, slots: np.ndarray, slot_rows: np.ndarray) -> np.ndarray:
    """Index into ``slot_rows`` of each row (every row must be there)."""
    index = np.searchsorted(slot_rows, rows)
    if len(rows) and ((index >= len(slot_rows)).any() or not np.array_equal(slot_rows[index], rows)):
        raise InvalidInputError("a candidate pair names a row that is missing from the input")
    return slots[index]


@dataclass(frozen=True)
class AttachFirst(Shipped):
    """Co-group of pairs (by ``a``) with payloads (by row): drop repeated pairs, attach ``a``'s payload."""

    partitions: int
    payload_type: pa.DataType

    def schema(self) -> pa.Schema:
        return _schema(
            (PART, pa.int64()), ("a", pa.int64()), ("b", pa.int64()), ("payload_a", self.payload_type)
        )

    def __call__(self, pairs: pa.Table, payloads: pa.Table) -> pa.Table:
        if not len(pairs):
            return self.schema().empty_table()
        ab = np.unique(np.stack([_i64(pairs, "a"), _i64(pairs, "b")], axis=1), axis=0)
        rows = _i64(payloads, ROW)
        order = np.argsort(rows, kind="stable")
        take = _payload_of(ab[:, 0], order, rows[order])
        payload = payloads.column("payload").combine_chunks().take(pa.array(take))
        return pa.table(
            {PART: part_of(ab[:, 1], self.partitions), "a": ab[:, 0], "b": ab[:, 1], "payload_a": payload},
            schema=self.schema(),
        )


@dataclass(frozen=True)
class VerifySecond(Shipped):
    """Co-group of half-joined pairs (by ``b``) with payloads: verify, keep pairs at the threshold."""

    config: DedupConfig
    threads: int = 1
    #: With ``against=``: pairs whose ``b`` is an indexed node are verified against the index.
    against: IndexedRows | None = None
    SCHEMA = _schema(("a", pa.int64()), ("b", pa.int64()), ("sim", pa.float64()), ("reason", pa.int8()))

    def __call__(self, pairs: pa.Table, payloads: pa.Table) -> pa.Table:
        if not len(pairs):
            return self.SCHEMA.empty_table()
        if self.against is not None:
            b = _i64(pairs, "b")
            indexed = b >= self.against.first_node
            if indexed.any():
                texts = pairs.column("payload_a").combine_chunks().filter(pa.array(indexed))
                sims = self.against.verify(texts, b[indexed], self.config, self.threads)
                keep = sims >= self.config.threshold
                external = pa.table(
                    {
                        "a": _i64(pairs, "a")[indexed][keep],
                        "b": b[indexed][keep],
                        "sim": sims[keep],
                        "reason": np.full(int(keep.sum()), REASON_NEAR, np.int8),
                    },
                    schema=self.SCHEMA,
                )
                inside = self._verify(pairs.filter(pa.array(~indexed)), payloads)
                return pa.concat_tables([inside, external])
        return self._verify(pairs, payloads)

    def _verify(self, pairs: pa.Table, payloads: pa.Table) -> pa.Table:
        if not len(pairs):
            return self.SCHEMA.empty_table()
        a, b = _i64(pairs, "a"), _i64(pairs, "b")
        rows = _i64(payloads, ROW)
        order = np.argsort(rows, kind="stable")
        take = _payload_of(b, order, rows[order])
        payload_b = payloads.column("payload").combine_chunks().take(pa.array(take))
        payload_a = pairs.column("payload_a").combine_chunks()
        cfg = self.config
        if cfg.verify == "exact":
            sims = self._exact(payload_a, payload_b)
        else:
            dtype = np.dtype(np.uint32)
            sig_a = _binary_rows(payload_a, dtype, cfg.num_perm)
            sig_b = _binary_rows(payload_b, dtype, cfg.num_perm)
            sims = np.mean(sig_a == sig_b, axis=1) if len(a) else np.zeros(0)
        keep = sims >= cfg.threshold if cfg.verify != "none" else np.ones(len(sims), dtype=bool)
        return pa.table(
            {
                "a": a[keep],
                "b": b[keep],
                "sim": sims[keep],
                "reason": np.full(int(keep.sum()), REASON_NEAR, np.int8),
            },
            schema=self.SCHEMA,
        )

    def _exact(self, texts_a: pa.Array, texts_b: pa.Array) -> np.ndarray:
        cfg = self.config
        n = len(texts_a)
        values, offsets = _core.shingle_sets(
            pa.chunked_array([texts_a, texts_b.cast(texts_a.type)]),
            ngram=cfg.ngram,
            tokenizer=cfg.tokenizer,
            seed=cfg.seed,
            workers=self.threads,
        )
        slots = np.arange(2 * n, dtype=np.uint64)
        pairs = np.stack([slots[:n], slots[n:]], axis=1)
        return _core.verify_pairs(pairs, slots, values, offsets, workers=self.threads)


# -- components ---------------------------------------------------------------

EDGE_SCHEMA = _schema((PART, pa.int64()), ("u", pa.int64()), ("v", pa.int64()))


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


# ---------------------------------------------------------------------------


_ID_SCALARS = (
    pa.types.is_integer,
    pa.types.is_floating,
    pa.types.is_boolean,
    pa.types.is_string,
    pa.types.is_large_string,
    pa.types.is_binary,
    pa.types.is_large_binary,
    pa.types.is_fixed_size_binary,
    pa.types.is_temporal,
    pa.types.is_decimal,
)


def id_hash(ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A uint64 per id value, equal for equal values (nulls: 0): the id check's partition key."""
    array = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
    n = len(array)
    if pa.types.is_integer(array.type) or pa.types.is_boolean(array.type) or pa.types.is_temporal(array.type):
        try:
            return _as_u64(np.asarray(pc.cast(array, pa.int64(), safe=False).fill_null(0), dtype=np.int64))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    if pa.types.is_floating(array.type):
        values = (
            np.asarray(pc.cast(array, pa.float64()).fill_null(0.0), dtype=np.float64) + 0.0
        )  # -0.0 == 0.0
        return values.view(np.uint64)
    try:
        binary = pc.cast(array, pa.large_binary())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return np.zeros(n, np.uint64)
    binary = binary.fill_null(b"")
    offsets = np.frombuffer(binary.buffers()[1], dtype=np.int64)[binary.offset : binary.offset + n + 1]
    data = binary.buffers()[2]
    raw = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    raw = raw[offsets[0] : offsets[-1]].astype(np.uint64)
    starts = offsets[:-1] - offsets[0]
    lengths = np.diff(offsets)
    if not len(raw):
        return lengths.astype(np.uint64)
    # Polynomial hash: sum of byte[k] * P**k within each value (mod 2**64).
    powers = np.cumprod(np.full(int(lengths.max()), 0x100000001B3, dtype=np.uint64))
    position = np.arange(len(raw), dtype=np.int64) - np.repeat(starts, lengths)
    terms = raw * powers[position]
    sums = np.add.reduceat(terms, np.minimum(starts, len(raw) - 1)) if n else np.zeros(0, np.uint64)
    return np.where(lengths > 0, sums, np.uint64(0)) ^ lengths.astype(np.uint64)


@dataclass(frozen=True)
class IdKeys(Shipped):
    """(part of the id's hash, row, id) of every row, so equal ids meet in one group."""

    id_column: str
    partitions: int

    def schema(self, id_type: pa.DataType) -> pa.Schema:
        return _schema((PART, pa.int64()), (ROW, pa.int64()), ("id", id_type))

    def __call__(self, table: pa.Table) -> pa.Table:
        ids = table.column(self.id_column)
        part = part_of(id_hash(ids), self.partitions)
        return pa.table({PART: part, ROW: table.column(ROW), "id": ids})


@dataclass(frozen=True)
class IdProblems(Shipped):
    """Per group: the first null id (``second`` = -1) and the first repeated id (its first two rows)."""

    id_type: pa.DataType

    def schema(self) -> pa.Schema:
        return _schema(("first", pa.int64()), ("second", pa.int64()), ("id", self.id_type))

    def __call__(self, table: pa.Table) -> pa.Table:
        rows = _i64(table, ROW)
        ids = table.column("id").combine_chunks()
        null = np.asarray(pc.is_null(ids).fill_null(True), dtype=bool) if len(ids) else np.zeros(0, bool)
        first: list[int] = []
        second: list[int] = []
        values: list[Any] = []
        if null.any():
            first.append(int(rows[null].min()))
            second.append(-1)
            values.append(None)
        valid = table.filter(pa.array(~null)) if null.any() else table
        if len(valid) > 1:
            order = pc.sort_indices(valid, [("id", "ascending"), (ROW, "ascending")])
            ids_sorted = valid.column("id").take(order).combine_chunks()
            rows_sorted = _i64(valid, ROW)[np.asarray(order)]
            same = np.asarray(pc.equal(ids_sorted[1:], ids_sorted[:-1]).fill_null(False), dtype=bool)
            if same.any():
                # A run's first pair is (first, second occurrence); the smallest first row wins,
                # as the local engine names the repeated id that appears first.
                starts = np.flatnonzero(same & ~np.r_[False, same[:-1]])
                best = int(starts[np.argmin(rows_sorted[starts])])
                first.append(int(rows_sorted[best]))
                second.append(int(rows_sorted[best + 1]))
                values.append(ids_sorted[best].as_py())
        return pa.table(
            {"first": pa.array(first, pa.int64()), "second": pa.array(second, pa.int64()), "id": values},
            schema=self.schema(),
        )


def check_ids(
    backend: Backend[D], indexed: D, id_column: str, id_type: pa.DataType, partitions: int, locate: Locate
) -> None:
    """The local engine's id rules on the engine: no null id, no id twice (raised naming the rows)."""
    if not any(test(id_type) for test in _ID_SCALARS):
        raise InvalidInputError(
            f"id column {id_column!r} has type {id_type}; ids must be strings, numbers, booleans or dates"
        )
    keys = IdKeys(id_column, partitions)
    keyed = backend.map_arrow(_select(backend, indexed, [ROW, id_column]), keys, keys.schema(id_type))
    problems = backend.collect(
        backend.group_arrow(keyed, IdProblems(id_type), IdProblems(id_type).schema(), partitions)
    )
    first, second = _i64(problems, "first"), _i64(problems, "second")
    nulls = first[second < 0]
    if len(nulls):
        raise InvalidInputError(f"{locate(int(nulls.min()))}: id column {id_column!r} is null")
    if len(first):
        best = int(np.argmin(first))
        value = problems.column("id")[best].as_py()
        raise InvalidInputError(
            f"duplicate id {value!r} in column {id_column!r}: {locate(int(first[best]))} "
            f"and {locate(int(second[best]))}; ids must be unique"
        )


def _row_name(row: int) -> str:
    return f"row {row}"


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
    config: DedupConfig,
    banding: Banding,
    options: EngineOptions,
    locate: Locate | None = None,
    against: DedupIndex | None = None,
) -> EngineDedupResult[D]:
    """The distributed near-duplicate pipeline (see the module docstring).

    ``locate`` names a row number in error messages (default ``row N``).
    ``against``: an opened index of earlier releases (checked against
    ``config``); rows that duplicate an indexed row are removed as the local
    ``dedup(..., against=...)`` removes them (:mod:`stemmatic.engines._against`).
    """
    cfg = config
    if options.max_cluster_size is None and cfg.max_cluster_size is not None:
        # The guard may come with the shared DedupConfig, as for the local engine.
        options = replace(options, max_cluster_size=cfg.max_cluster_size)
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
        decisions_table, guard_stats = _Driver.decide(edge_table, scores, options.max_cluster_size, handle)
        stats.update(guard_stats)
        stats["components"] = {"finished_on": "driver", "rounds": 0}
        decisions = backend.from_arrow(decisions_table)
    else:
        if options.max_cluster_size is not None:
            edges, guard_stats = _engine_guard(backend, edges, options, P)
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


def _select(backend: Backend[D], data: D, columns: Sequence[str]) -> D:
    return backend.select(data, list(dict.fromkeys(columns)))


def _union(backend: Backend[D], a: D, b: D) -> D:
    return backend.union(a, b)


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


def _engine_guard(backend: Backend[D], edges: D, options: EngineOptions, P: int) -> tuple[D, dict[str, Any]]:
    """Guard on the engine: label components, then split each large one within its group.

    Edges are grouped by component (a component's edges meet in one group),
    so a component must fit one task; the guard is meant for components the
    cap keeps small, and the largest ones are exactly what it reports.
    """
    assert options.max_cluster_size is not None
    labels, _ = engine_components(backend, edges, P, options.small_graph_edges, options.max_rounds)
    keyed = backend.map_arrow(edges, _AddPart("a", P), _EdgeLabel.SCHEMA)
    labelled = backend.cogroup_arrow(keyed, labels, _EdgeLabel(P), _EdgeLabel.SCHEMA, P)
    guarded = backend.materialize(
        backend.group_arrow(labelled, _GuardComponent(options.max_cluster_size), VerifySecond.SCHEMA, P)
    )
    return guarded, {"guard": {"edges_before": backend.count(edges), "edges_after": backend.count(guarded)}}


# -- the CLI's directory layout --------------------------------------------------


def engine_report(
    engine: str,
    files: Sequence[Any],
    config: DedupConfig,
    options: EngineOptions,
    stats: dict[str, Any],
    rejected: int = 0,
    timer: StageTimer | None = None,
) -> dict[str, Any]:
    """``report.json`` of an engine run: the local report's schema (:func:`stemmatic._run.run_report`).

    As in the local report, ``rows.in`` counts the ``rejected`` lines too, so
    ``kept + removed + rejected == in``; the engine's own statistics are in
    ``engine_stats``.
    """
    from stemmatic._run import Rows, run_report

    return run_report(
        "dedup",
        parameters={**asdict(config), **asdict(options), "engine": engine, "banding": stats.get("banding")},
        inputs=files,
        rows=Rows(
            stats["input_rows"] + rejected,
            kept=stats["kept_rows"],
            removed=stats["removed_rows"],
            rejected=rejected,
            detail={
                "removed_near_duplicate": stats["removed_rows"]
                - stats["removed_exact"]
                - stats.get("removed_against_index", 0),
                "removed_exact_duplicate": stats["removed_exact"],
                **{k: stats[k] for k in ("removed_against_index",) if k in stats},
            },
        ),
        timer=timer,
        outputs={
            "kept": "kept/",
            "removed": "removed/",
            "clusters": "clusters/",
            **({"rejected": "rejected/rejected.jsonl"} if rejected else {}),
        },
        pairs={
            "candidates_with_repeats": stats.get("candidate_pairs_with_repeats", 0),
            "verified": stats.get("verified_pairs", 0),
        },
        clusters={
            "count": stats["clusters"],
            "rows_in_clusters": stats["rows_in_clusters"],
            "size_histogram": stats["cluster_size_histogram"],
        },
        engine_stats={k: v for k, v in stats.items() if k in ("partitions", "edges", "components", "guard")},
        **{k: stats[k] for k in ("against",) if k in stats},
    )
