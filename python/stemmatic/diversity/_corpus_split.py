"""A corpus run that reads rows and their vectors and splits them into kept and removed rows.

The plumbing :func:`~stemmatic.diversity.semdedup_corpus` and
:func:`~stemmatic.diversity.select_corpus` share: open the run
(:func:`~stemmatic.diversity._corpus_io.corpus_run`), read and embed the rows,
then write the split, the report and the result (:class:`SplitResult`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pyarrow as pa

from stemmatic.diversity._corpus_io import CorpusRun, Decision, EmbeddingSource, Loaded, corpus_run
from stemmatic.exceptions import StemmaticError

if TYPE_CHECKING:
    from stemmatic._run import Progress, StageTimer
    from stemmatic.io._sinks import ShardCaps

__all__ = ["ReadCorpus", "SplitResult", "read_corpus"]

PathLike = str | os.PathLike[str]


@dataclass
class SplitResult:
    """Where the rows of a corpus went (kept or removed), and the run's report.

    Attributes:
        input_rows: rows read, malformed lines included.
        kept_rows, removed_rows: kept + removed + rejected = input.
        rejected_rows: malformed lines skipped (``on_error="skip"``).
        report: what ``report.json`` holds.
        output: the output directory (a URL as given); ``None`` for a run in memory.
        kept, removed: with ``output=None``, the rows as Arrow tables
            (the removed rows with ``duplicate_of``, ``cluster_id``,
            ``similarity``, ``reason``); ``None`` when written to files.
        rejected: with ``output=None`` and ``on_error="skip"``, the skipped
            lines (``path``, ``line``, ``error``, ``raw``).
    """

    input_rows: int
    kept_rows: int
    removed_rows: int
    rejected_rows: int
    report: dict[str, Any]
    output: Path | str | None = None
    kept: pa.Table | None = None
    removed: pa.Table | None = None
    rejected: pa.Table | None = None


Split = TypeVar("Split", bound=SplitResult)


@dataclass
class ReadCorpus:
    """A corpus run whose rows are read and embedded: the run, its stage timer, the rows, their unit vectors."""

    run: CorpusRun
    timer: StageTimer
    loaded: Loaded
    x: np.ndarray

    def split(
        self,
        command: str,
        decision: Decision,
        result: type[Split],
        *,
        output_format: str,
        compression: str | None,
        caps: ShardCaps,
        parameters: dict[str, Any],
        outputs: dict[str, str],
        blocks: dict[str, Any],
        also_write: Callable[[Path], None] | None = None,
        **fields: Any,
    ) -> Split:
        """Write the kept/removed split (and ``also_write`` into the output directory), the report, the result."""
        with self.timer.stage("write"):
            counts, kept, removed = self.run.split(
                self.loaded, decision, fmt=output_format, compression=compression, caps=caps
            )
            if also_write is not None and self.run.target is not None:
                also_write(self.run.target)
        n = len(self.x)
        if counts["kept"] + counts["removed"] != n:
            raise StemmaticError(f"internal error: kept + removed != {n} rows read ({counts})")
        report = self.run.report(
            command,
            self.loaded,
            parameters=parameters,
            timer=self.timer,
            kept=counts["kept"],
            removed=counts["removed"],
            outputs=outputs,
            **blocks,
        )
        self.run.finish(report)
        return result(
            n + self.loaded.rejected,
            counts["kept"],
            counts["removed"],
            self.loaded.rejected,
            report,
            self.run.location,
            kept,
            removed,
            self.run.rejected_table(),
            **fields,
        )


@contextlib.contextmanager
def read_corpus(
    inputs: Any,
    output: PathLike | None,
    source: EmbeddingSource,
    *,
    id_column: str | None,
    score_column: str | None,
    on_error: str,
    overwrite: bool,
    progress: Progress | None,
    also_read: Sequence[PathLike | None] = (),
) -> Iterator[ReadCorpus]:
    """Open a corpus run (:func:`corpus_run`) and read its rows and their unit vectors (stage ``read``)."""
    from stemmatic.io import StageTimer

    with corpus_run(
        inputs,
        output,
        overwrite=overwrite,
        on_error=on_error,
        progress=progress,
        also_read=[source.vectors_path(), *also_read],
    ) as run:
        timer = StageTimer()
        with timer.stage("read"):
            loaded = run.load(source, id_column=id_column, score_column=score_column)
            x = loaded.unit_vectors()
        yield ReadCorpus(run, timer, loaded, x)
