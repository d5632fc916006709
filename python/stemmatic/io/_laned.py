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
        # (seq, part, rows, schema as it came) of every chunk written
        self._written: list[tuple[int, int, int, pa.Schema]] = []
        self._lock = threading.Lock()

    def write(self, seq: int, table: pa.Table) -> None:
        """Write chunk ``seq`` of the input (``table``: its rows for this shard)."""
        if table.num_rows == 0:
            return
        came_in = table.schema
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
            self._written.append((seq, lane.part, table.num_rows, came_in))

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
            self._written.sort(key=lambda chunk: chunk[0])
            ranked = list(dict.fromkeys(part for _, part, _, _ in self._written))
            rank = {part: i for i, part in enumerate(ranked)}
            self.parts = [self.parts[part] for part in ranked]
            self._written = [(seq, rank[part], rows, schema) for seq, part, rows, schema in self._written]
            # Stitched only when every chunk came in one schema: which lanes met which schemas
            # must not decide it, so that the shard is the same bytes for any number of lanes.
            schemas = [schema for _, _, _, schema in self._written]
            order = self._row_group_order() if _one_schema(schemas) else None
            temporary = self.path.with_name(f".{self.path.name}.stitch")
            if order is not None and len(order) <= MAX_ROW_GROUPS:
                _stitch(temporary, self.parts, order)
            else:
                try:
                    self._rewrite(temporary, schemas)
                except BaseException:
                    temporary.unlink(missing_ok=True)
                    raise
            temporary.replace(self.path)
            return True
        finally:
            self.abort()

    def _rewrite(self, target: Path, schemas: list[pa.Schema]) -> None:
        """Write the chunks again through one writer, in one schema that holds every chunk's
        (``schemas``, in chunk order)."""
        distinct = [s for i, s in enumerate(schemas) if i == 0 or not _one_schema(schemas[i - 1 : i + 1])]
        try:
            unified = pa.unify_schemas(distinct, promote_options="permissive")
        except (pa.ArrowException, TypeError) as err:
            raise InvalidInputError(f"{self.where}: a field changes type between rows: {err}") from None
        readers = [pq.ParquetFile(part).iter_batches() for part in self.parts]
        left: list[list[pa.Table]] = [[] for _ in self.parts]  # rows read from a part, not yet written
        with pq.ParquetWriter(target, unified, compression=self.compression) as writer:
            for _, part, rows, _ in self._written:
                pieces = left[part]
                have = sum(p.num_rows for p in pieces)
                while have < rows:
                    batch = pa.Table.from_batches([next(readers[part])])
                    pieces.append(batch)
                    have += batch.num_rows
                table = pa.concat_tables(pieces)
                left[part] = [table.slice(rows)] if have > rows else []
                writer.write_table(_conform(table.slice(0, rows), unified).select(unified.names))

    def _row_group_order(self) -> list[tuple[int, int]] | None:
        """The ``(part, row group)`` list that holds the chunks in order; None if the row groups
        of a part do not fall on its chunks' bounds."""
        groups = []
        for path in self.parts:
            with pq.ParquetFile(path) as f:
                groups.append([f.metadata.row_group(g).num_rows for g in range(f.num_row_groups)])
        cursor = [0] * len(groups)
        order: list[tuple[int, int]] = []
        for _, part, rows, _ in self._written:
            left = rows
            while left > 0:
                if cursor[part] >= len(groups[part]) or groups[part][cursor[part]] > left:
                    return None
                order.append((part, cursor[part]))
                left -= groups[part][cursor[part]]
                cursor[part] += 1
        return order if all(c == len(g) for c, g in zip(cursor, groups, strict=True)) else None


def _one_schema(schemas: list[pa.Schema]) -> bool:
    """Whether ``schemas`` are all one schema, metadata included."""
    return all(s.equals(schemas[0], check_metadata=True) for s in schemas)


def _stitch(target: Path, parts: list[Path], order: list[tuple[int, int]]) -> None:
    """:func:`stemmatic._core.stitch_parquet`, leaving no ``target`` when it fails."""
    from stemmatic import _core

    try:
        _core.stitch_parquet(target, parts, order)
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def join_parquet(parts: list[Path], target: Path) -> bool:
    """Write ``target`` with every row group of ``parts`` in order, pages copied as they are.

    False (nothing written) unless the parts share one schema, metadata
    included, and hold at most :data:`MAX_ROW_GROUPS` row groups together:
    the caller then writes them again.
    """
    schemas: list[pa.Schema] = []
    order: list[tuple[int, int]] = []
    for i, part in enumerate(parts):
        with pq.ParquetFile(part) as f:
            schemas.append(f.schema_arrow)
            order += [(i, g) for g in range(f.num_row_groups)]
    if not _one_schema(schemas) or len(order) > MAX_ROW_GROUPS:
        return False
    _stitch(target, parts, order)
    return True
