"""Per-batch functions the engines ship to workers: sketch, exact-duplicate groups, band
records, bucket pairs and verification (the steps of :mod:`stemmatic.dedup.steps` on
engine tables: uint64 values travel as their int64 bits).

Split from :mod:`stemmatic.engines._common`, which drives them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from stemmatic import _core
from stemmatic.dedup import steps
from stemmatic.dedup.clusters import REASON_NEAR
from stemmatic.dedup.params import DedupParams
from stemmatic.engines._against import IndexedRows
from stemmatic.engines._backend import PART, ROW
from stemmatic.engines._shipped import Shipped
from stemmatic.exceptions import InvalidInputError
from stemmatic.minhash import RowStatus

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


def _schema(*pairs: tuple[str, pa.DataType]) -> pa.Schema:
    return pa.schema([pa.field(name, typ) for name, typ in pairs])


@dataclass(frozen=True)
class Sketch(Shipped):
    """Per batch: status, length, keep score, band keys (and signature, exact key) of each row."""

    config: DedupParams
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
        texts = steps.text_column(table, cfg.text_column)
        sketcher = steps.make_sketcher(
            num_perm=cfg.num_perm,
            ngram=cfg.ngram,
            tokenizer=cfg.tokenizer,
            seed=cfg.seed,
            bands=self.bands,
            rows=self.rows,
            exact=cfg.exact,
            keep_signatures=cfg.verify != "exact",
        )
        batch = steps.sketch(sketcher, texts, workers=self.threads)
        lengths = batch.lengths.astype(np.int64)
        if cfg.keep == "longest":
            score = lengths.astype(np.float64)
        elif cfg.keep_column:
            score = steps.keep_scores(table, cfg.keep_column)
        else:
            score = np.zeros(len(texts))
        out: dict[str, Any] = {
            ROW: table.column(ROW),
            "status": pa.array(batch.status.astype(np.int8)),
            "length": pa.array(lengths),
            "score": pa.array(score),
            "keys": _fixed_binary(batch.band_keys),
        }
        if batch.signatures is not None:
            out["sig"] = _fixed_binary(batch.signatures)
        if batch.exact_keys is not None:
            out["exact_lo"] = pa.array(_as_i64(batch.exact_keys[:, 0]))
            out["exact_hi"] = pa.array(_as_i64(batch.exact_keys[:, 1]))
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
        edges = steps.exact_edges(_i64(table, ROW), _i64(table, "exact_lo"), _i64(table, "exact_hi"))
        a, b = edges[:, 0], edges[:, 1]
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

    config: DedupParams
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
