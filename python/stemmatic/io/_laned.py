"""One Parquet output shard written by several threads side by side, stitched when its input ends.

A writer of Parquet encodes and compresses one row group after another: an
input file written through one writer keeps one core busy, however many the
machine has. :class:`LanedShard` gives the chunks of one input to ``lanes``
writers instead, chunk ``seq`` to lane ``seq % lanes``, each writing its own
hidden part file (``.NAME.lane1-0``). :meth:`LanedShard.finish` then copies the
parts' row groups, in the order of the chunks they hold, into the shard
(:func:`stemmatic._core.stitch_parquet`: pages copied as they are, one
footer). Each chunk is its own row group either way, so the shard holds the
rows, the row groups and the pages that one writer would have written.

The stitched shard is the same bytes for any number of lanes (each row group
is encoded on its own, and the footer is made the same way). When the chunks
of one input bring different schemas (JSON lines whose later blocks hold a new
field, or lack one), a lane starts a new part at each change it meets, and the
chunks are read back and written again in the schema that unifies theirs, as
:class:`~stemmatic.io._sinks.MirroredWriter` joins its parts: whether the
chunks' schemas differ decides it, not which lanes met them.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from stemmatic.exceptions import InvalidInputError
from stemmatic.io._json_reader import _conform

#: The most row groups of one Parquet file (16-bit ordinals); a shard of more is written again.
MAX_ROW_GROUPS = 32_767


@dataclass
class _Lane:
    writer: Any = None  # the open pq.ParquetWriter of the lane's current part
    schema: pa.Schema | None = None
    part: int = -1  # index into LanedShard.parts of the current part


class LanedShard:
    """The output shard ``path`` of one input, its chunks written by ``lanes`` writers.

    :meth:`write` may be called from ``lanes`` threads at once, one per lane
    (the lane of chunk ``seq`` is ``seq % lanes``), each lane's chunks in
    order. :meth:`finish` (after every write returned) makes the shard.
    """

    def __init__(self, path: Path, lanes: int, compression: str, where: str) -> None:
        self.path = path
        self.compression = None if compression == "none" else compression
        self.where = where  # the input, for errors
        self._lanes = [_Lane() for _ in range(lanes)]
        self.parts: list[Path] = []
        self._written: list[tuple[int, int, int]] = []  # (seq, part, rows) of every chunk written
        self._schemas: list[tuple[int, pa.Schema]] = []  # (seq, schema) of every chunk, as it came
        self._lock = threading.Lock()

    def write(self, seq: int, table: pa.Table) -> None:
        """Write chunk ``seq`` of the input (``table``: its rows for this shard)."""
        if table.num_rows == 0:
            return
        with self._lock:
            self._schemas.append((seq, table.schema))
        lane = self._lanes[seq % len(self._lanes)]
        if lane.writer is not None and table.schema != lane.schema:
            with contextlib.suppress(pa.ArrowException):
                if set(table.schema.names) <= set(lane.schema.names):  # type: ignore[union-attr]
                    table = _conform(table, lane.schema).select(lane.schema.names)  # type: ignore[union-attr]
            if table.schema != lane.schema:
                lane.writer.close()
                lane.writer = None
        if lane.writer is None:
            with self._lock:
                lane.part = len(self.parts)
                part = self.path.with_name(f".{self.path.name}.lane{seq % len(self._lanes)}-{lane.part}")
                self.parts.append(part)
            part.parent.mkdir(parents=True, exist_ok=True)
            lane.schema = table.schema
            lane.writer = pq.ParquetWriter(part, table.schema, compression=self.compression)
        lane.writer.write_table(table)
        with self._lock:
            self._written.append((seq, lane.part, table.num_rows))

    def abort(self) -> None:
        """Close the lanes and remove their parts (after a failure)."""
        for lane in self._lanes:
            if lane.writer is not None:
                with contextlib.suppress(Exception):
                    lane.writer.close()
                lane.writer = None
        for part in self.parts:
            part.unlink(missing_ok=True)

    def finish(self) -> bool:
        """Make the shard from the parts (then removed); False when no row was written (no shard)."""
        try:
            for lane in self._lanes:
                if lane.writer is not None:
                    lane.writer.close()
                    lane.writer = None
            if not self._written:
                return False
            # The parts in the order of their first chunks (not of the threads that opened them),
            # so that the shard is the same bytes whatever ran first.
            first = {part: seq for seq, part, _ in sorted(self._written, reverse=True)}
            ranked = sorted(first, key=first.__getitem__)
            rank = {part: i for i, part in enumerate(ranked)}
            self.parts = [self.parts[part] for part in ranked]
            self._written = sorted((seq, rank[part], rows) for seq, part, rows in self._written)
            files = [pq.ParquetFile(part) for part in self.parts]
            groups = [[f.metadata.row_group(g).num_rows for g in range(f.num_row_groups)] for f in files]
            order = _row_group_order(self._written, groups)
            for f in files:
                f.close()
            # Stitched only when every chunk came in one schema: which lanes met which schemas
            # must not decide it, so that the shard is the same bytes for any number of lanes.
            schemas = [schema for _, schema in sorted(self._schemas, key=lambda pair: pair[0])]
            same = all(s.equals(schemas[0], check_metadata=True) for s in schemas)
            temporary = self.path.with_name(f".{self.path.name}.stitch")
            try:
                if same and order is not None and len(order) <= MAX_ROW_GROUPS:
                    from stemmatic import _core

                    _core.stitch_parquet(temporary, self.parts, order)
                else:
                    self._rewrite(temporary, schemas)
                temporary.replace(self.path)
            except BaseException:
                temporary.unlink(missing_ok=True)
                raise
            return True
        finally:
            self.abort()

    def _rewrite(self, target: Path, schemas: list[pa.Schema]) -> None:
        """Write the chunks again through one writer, in one schema that holds every chunk's
        (``schemas``, in chunk order)."""
        distinct = [
            s for i, s in enumerate(schemas) if i == 0 or not s.equals(schemas[i - 1], check_metadata=True)
        ]
        try:
            unified = pa.unify_schemas(distinct, promote_options="permissive")
        except (pa.ArrowException, TypeError) as err:
            raise InvalidInputError(f"{self.where}: a field changes type between rows: {err}") from None
        readers = [pq.ParquetFile(part).iter_batches() for part in self.parts]
        left: list[list[pa.Table]] = [[] for _ in self.parts]  # rows read from a part, not yet written
        with pq.ParquetWriter(target, unified, compression=self.compression) as writer:
            for _, part, rows in self._written:
                pieces = left[part]
                have = sum(p.num_rows for p in pieces)
                while have < rows:
                    batch = pa.Table.from_batches([next(readers[part])])
                    pieces.append(batch)
                    have += batch.num_rows
                table = pa.concat_tables(pieces)
                left[part] = [table.slice(rows)] if have > rows else []
                writer.write_table(_conform(table.slice(0, rows), unified).select(unified.names))


def _row_group_order(
    written: list[tuple[int, int, int]], groups: list[list[int]]
) -> list[tuple[int, int]] | None:
    """The ``(part, row group)`` list that holds the chunks ``written`` in order; None if the row
    groups of a part do not fall on its chunks' bounds."""
    cursor = [0] * len(groups)
    order: list[tuple[int, int]] = []
    for _, part, rows in written:
        left = rows
        while left > 0:
            if cursor[part] >= len(groups[part]) or groups[part][cursor[part]] > left:
                return None
            order.append((part, cursor[part]))
            left -= groups[part][cursor[part]]
            cursor[part] += 1
    return order if all(c == len(g) for c, g in zip(cursor, groups, strict=True)) else None


def join_parquet(parts: list[Path], target: Path) -> bool:
    """Write ``target`` with every row group of ``parts`` in order, pages copied as they are.

    False (nothing written) unless the parts share one schema, metadata
    included, and hold at most :data:`MAX_ROW_GROUPS` row groups together:
    the caller then writes them again.
    """
    files = [pq.ParquetFile(part) for part in parts]
    try:
        schemas = [f.schema_arrow for f in files]
        order = [(i, g) for i, f in enumerate(files) for g in range(f.num_row_groups)]
    finally:
        for f in files:
            f.close()
    if not all(s.equals(schemas[0], check_metadata=True) for s in schemas) or len(order) > MAX_ROW_GROUPS:
        return False
    from stemmatic import _core

    try:
        _core.stitch_parquet(target, parts, order)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return True
