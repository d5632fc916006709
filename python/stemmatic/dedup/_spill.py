"""What the local pipeline's sketch stage holds between stages: the shingle sets of every
row (while they fit the budget) and the (band key, document) records, in memory or spilled
to partition files by their top bits, each file sorted when the candidates stage reads it.

Split from :mod:`stemmatic.dedup.pipeline`, whose stages use them.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import shutil
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa

from stemmatic._atomic import FileRecord, write_error


class SetCache:
    """Shingle sets of every row so far, as the (values, offsets) runs of rows the engine gave (`SketchBatch.set_batches`)."""

    def __init__(self) -> None:
        self.values: list[np.ndarray] = []
        self.offsets: list[np.ndarray] = []  # each batch's own, from 0
        self.first_docs: list[int] = []
        self.docs = 0
        self.nbytes = 0
        self.total = 0

    def add(self, values: np.ndarray, offsets: np.ndarray) -> None:
        if len(offsets) > 1:
            self.values.append(values)
            self.offsets.append(offsets)
            self.first_docs.append(self.docs)
        self.docs += len(offsets) - 1
        self.total += len(values)
        self.nbytes += values.nbytes + offsets.nbytes

    def outgrows(self, limit: int, total_docs: int | None) -> bool:
        """Whether the sets pass ``limit`` bytes, or will before ``total_docs`` (when known) are in.

        The projection waits for a sixteenth of the documents and allows twice
        the limit (documents differ in length along an input): a cache that
        cannot fit is let go early instead of growing to the limit first
        (at 1e9 tokens that was 1 GB of a 4 GB budget, the sketch's peak).
        """
        if self.nbytes > limit:
            return True
        if not total_docs or self.docs < total_docs // 16:
            return False
        return self.nbytes * total_docs > 2 * limit * self.docs

    def batches(self) -> tuple[list[int], list[np.ndarray], list[np.ndarray]]:
        """The batches as they are, for ``_core.verify_pairs_batched``: first docs, values, offsets."""
        return self.first_docs, self.values, self.offsets

    def flat(self) -> tuple[np.ndarray, np.ndarray]:
        """All sets as one (values, offsets), document ``d`` in slot ``d``.

        Each batch is released as soon as it is copied, so the sets are held
        about once, not twice (a concatenation would hold both copies).
        """
        values = np.empty(self.total, np.uint64)
        start = 0
        parts = [np.zeros(1, np.uint64)]
        batches, self.values = self.values, []
        for offsets in self.offsets:
            batch = batches.pop(0)
            values[start : start + len(batch)] = batch
            parts.append(offsets[1:] + np.uint64(start))
            start += len(batch)
            del batch
        self.offsets, self.first_docs = [], []
        return values, np.concatenate(parts)


def one_type(pieces: list[pa.Array]) -> list[pa.Array]:
    """Text arrays of one type (they may differ between input files): large string, or large binary if any is binary."""
    types = {p.type for p in pieces}
    if len(types) <= 1:
        return pieces
    binary = any(pa.types.is_binary(t) or pa.types.is_large_binary(t) for t in types)
    target = pa.large_binary() if binary else pa.large_string()
    return [p.cast(target) for p in pieces]


def read_partition(path: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The ``(key, doc)`` records of one band partition file, as one batch of (keys, docs)."""
    records = np.fromfile(path, dtype=np.uint64).reshape(-1, 2)
    return [np.ascontiguousarray(records[:, 0])], [np.ascontiguousarray(records[:, 1])]


def flat_records(keys: list[np.ndarray], docs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Batches of (keys, docs) as :meth:`BandRecords.add` takes them, as one record per key: (keys, docs)."""
    if not keys:
        return np.zeros(0, np.uint64), np.zeros(0, np.uint64)
    return (
        np.concatenate([k.ravel() for k in keys]),
        np.concatenate(
            [np.repeat(d, k.shape[1]) if k.ndim == 2 else d for k, d in zip(keys, docs, strict=True)]
        ),
    )


class BandRecords:
    """Band-key records ``(key, doc)``: spilled to ``partitions`` files by the key's top bits, or kept in memory (0).

    Spilled records wait in memory, up to ``buffer_bytes`` in all, and are
    then appended to their partitions' files one file at a time: the stage
    holds one file open whatever the number of partitions (one open file per
    partition, up to 4,096, failed under the usual limit of 1,024 or macOS'
    256). Each partition's records keep the order they were added in. The
    files appear under their names only when :meth:`commit` succeeds.
    """

    def __init__(
        self,
        directory: Path,
        partitions: int,
        buffer_bytes: int = 64 << 20,
        memory_bytes: int | None = None,
        spill_partitions: int = 16,
    ) -> None:
        self.directory = directory
        #: In memory: the (keys, docs) arrays of each batch added.
        self.memory: list[tuple[np.ndarray, np.ndarray]] = []
        self.buffer_bytes = max(1, buffer_bytes)
        #: In memory (0 partitions), the most record bytes held before they
        #: go to ``spill_partitions`` files after all (None: no bound).
        self.memory_bytes = memory_bytes
        self.spill_partitions = spill_partitions
        self.held_bytes = 0
        shutil.rmtree(directory, ignore_errors=True)
        self._partition(partitions)

    def _partition(self, partitions: int) -> None:
        self.partitions = partitions
        self.pending: list[list[np.ndarray]] = [[] for _ in range(partitions)]
        self.pending_bytes = 0
        self.paths = [self.directory / f"{p:05d}.bin" for p in range(partitions)]
        # Temporary names (no other writer picks them) until commit.
        token = f"{os.getpid()}.{secrets.token_hex(4)}"
        self.tmps = [path.with_name(f".{path.name}.{token}.tmp") for path in self.paths]
        self.sizes = [0] * partitions
        self.crcs = [0] * partitions
        if partitions:
            self.directory.mkdir(parents=True, exist_ok=True)
            self.shift = np.uint64(64 - int(math.log2(partitions)))

    def add(self, keys: np.ndarray, docs: np.ndarray) -> None:
        """Add the records of ``docs``: ``keys`` is ``(n,)`` (one per doc) or ``(n, bands)`` (each doc's band keys).

        In memory, a band-key matrix is held as it is (the records are made
        where they are sorted, see ``_core.candidate_pairs_batched``); it is
        counted at the bytes of its records.
        """
        if not self.partitions:
            self.memory.append((keys.astype(np.uint64, copy=False), docs.astype(np.uint64, copy=False)))
            self.held_bytes += 2 * keys.nbytes
            if self.memory_bytes is not None and self.held_bytes > self.memory_bytes:
                # More records than planned for: spill them, in the order they came.
                held, self.memory, self.held_bytes = self.memory, [], 0
                self._partition(self.spill_partitions)
                for held_keys, held_docs in held:
                    self.add(held_keys, held_docs)
            return
        if keys.ndim == 2:
            keys, docs = keys.ravel(), np.repeat(docs, keys.size // max(1, len(docs)))
        # As 16-bit integers (the pipeline makes at most 4,096 partitions), numpy's stable
        # sort is a radix sort: 0.6 ms against 6 ms for 131,072 records, a batch's band keys.
        part = (keys >> self.shift).astype(np.uint16 if self.partitions <= 1 << 16 else np.int64)
        order = np.argsort(part, kind="stable")
        rec = np.empty((len(order), 2), dtype=np.uint64)
        rec[:, 0] = keys[order]
        rec[:, 1] = docs[order]
        bounds = np.searchsorted(part[order], np.arange(self.partitions + 1))
        for p in np.flatnonzero(np.diff(bounds)):
            self.pending[p].append(rec[bounds[p] : bounds[p + 1]])
        self.pending_bytes += rec.nbytes
        if self.pending_bytes >= self.buffer_bytes:
            self.flush()

    def flush(self) -> None:
        """Append the waiting records to their partition files, one file open at a time."""
        for p, pieces in enumerate(self.pending):
            if not pieces:
                continue
            data = b"".join(piece.tobytes() for piece in pieces)
            try:
                with open(self.tmps[p], "ab") as fh:
                    fh.write(data)
            except OSError as err:
                self.discard()
                raise write_error(self.paths[p], "band partition", err) from err
            self.sizes[p] += len(data)
            self.crcs[p] = zlib.crc32(data, self.crcs[p])
            pieces.clear()
        self.pending_bytes = 0

    def in_memory(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """The records held in memory, as the (keys, docs) of each batch added; their memory is released."""
        held, self.memory, self.held_bytes = self.memory, [], 0
        return [k for k, _ in held], [d for _, d in held]

    def commit(self) -> dict[Path, FileRecord]:
        """Put the partition files under their names; what each holds."""
        if not self.partitions:
            return {}
        try:
            self.flush()
            for p, (tmp, path) in enumerate(zip(self.tmps, self.paths, strict=True)):
                try:
                    # Not fsynced, as the other checkpoints (see _Run._save).
                    with open(tmp, "ab"):  # creates the file of an empty partition
                        pass
                    os.replace(tmp, path)
                except OSError as err:
                    raise write_error(self.paths[p], "band partition", err) from err
        except BaseException:
            self.discard()
            raise
        return {
            path: FileRecord(size, crc)
            for path, size, crc in zip(self.paths, self.sizes, self.crcs, strict=True)
        }

    def discard(self) -> None:
        for pieces in self.pending:
            pieces.clear()
        self.pending_bytes = 0
        for tmp in self.tmps:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
