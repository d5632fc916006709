"""What ``stemmatic dedup|contamination scan --engine ray|spark`` do, once for both engines.

Resolve and hold the output directory (:func:`stemmatic.io.output_dir`, which
refuses an output that overlaps an input), read the inputs with the local
reader (:mod:`stemmatic.engines._read`), write rejected lines, run the
engine, write its outputs as Parquet or JSONL part files and ``report.json``.
An engine module supplies an :class:`EngineIO` (how it reads and writes) and
the split function. :func:`engine_report` is the dedup's ``report.json``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from stemmatic.engines._against import against_index
from stemmatic.engines._common import EngineDedupResult, EngineOptions, Locate
from stemmatic.engines._read import ColumnRules, InputLayout, ShardInfo, clean_engine_errors, write_rejected
from stemmatic.engines._scan import EngineScanResult, ScanParams, load_index, scan_report

if TYPE_CHECKING:
    import os

    from stemmatic._run import StageTimer
    from stemmatic.contamination import ContaminationIndex
    from stemmatic.dedup.config import DedupConfig
    from stemmatic.dedup.index import DedupIndex
    from stemmatic.dedup.params import DedupParams
    from stemmatic.io import InputFile, OutputFormat

D = TypeVar("D")

#: Why Ray cannot cap the rows of its part files (Spark can: ``maxRecordsPerFile``).
ROW_CAP_REFUSAL = "Ray's max_rows_per_file is a target that a larger block exceeds, not a cap"


@dataclass(frozen=True)
class EngineIO(Generic[D]):
    """How an engine reads the resolved inputs and writes a dataset as part files."""

    name: str
    read: Callable[[Sequence[InputFile], ColumnRules, str], tuple[D, InputLayout, list[ShardInfo]]]
    write_parquet: Callable[[D, Path], None]
    write_jsonl: Callable[[D, Path], None]
    #: Writes part files of at most the given number of rows each (None: the engine cannot
    #: cap them exactly, and ``max_shard_rows`` is refused).
    write_capped: Callable[[D, Path, OutputFormat, int], None] | None = None

    def write(self, data: D, path: Path, fmt: OutputFormat, max_rows: int | None = None) -> None:
        if max_rows is not None and self.write_capped is not None:
            self.write_capped(data, path, fmt, max_rows)
        else:
            (self.write_jsonl if fmt == "jsonl" else self.write_parquet)(data, path)

    def refuse_row_cap(self, max_shard_rows: int | None) -> None:
        """Refuse ``max_shard_rows`` if this engine cannot cap the rows of its part files (before anything starts)."""
        from stemmatic.exceptions import ParameterError

        if max_shard_rows is not None and self.write_capped is None:
            raise ParameterError(
                f"max_shard_rows applies to the local and Spark engines only, not --engine {self.name}: "
                f"{ROW_CAP_REFUSAL}"
            )


def dedup_directory(
    engine: EngineIO[D],
    split: Callable[[D, DedupParams, EngineOptions, Locate, DedupIndex | None], EngineDedupResult[D]],
    inputs: Sequence[str],
    output: str,
    config: DedupConfig,
    options: EngineOptions,
    overwrite: bool,
    against: Sequence[str | os.PathLike[str]] = (),
) -> dict[str, Any]:
    """Read, dedup, write ``kept/``, ``removed/`` (``config.fmt``), ``clusters/``, ``rejected/``, ``report.json``.

    ``against``: indexes of earlier releases, opened and checked against
    ``config`` before anything is written.
    """
    from stemmatic._run import StageTimer, write_report
    from stemmatic.io import output_dir, resolve_inputs

    # Spark caps the rows of its part files (EngineIO.write_capped); the rest is refused as on every engine.
    replace(config.output, max_shard_rows=None).check_engine(engine.name)
    engine.refuse_row_cap(config.max_shard_rows)
    options.validate()
    params = config.params
    files = resolve_inputs(inputs)
    rules = ColumnRules(
        tuple(c for c in (params.text_column, params.id_column, params.keep_column) if c),
        params.text_column,
        params.keep_column,
    )
    timer = StageTimer()
    with (
        against_index(against, params) as index,
        output_dir(output, inputs=[*files, *against], overwrite=overwrite) as claimed,
    ):
        out = claimed.resolve()
        with timer.stage("read"):
            data, layout, infos = engine.read(files, rules, config.on_error)
            rejected = write_rejected(out, infos)
        # The engines evaluate lazily: the dedup runs while its outputs are written.
        with timer.stage("dedup_and_write"):
            result = split(data, params, options, layout.locate, index)
            with clean_engine_errors(layout):
                engine.write(result.kept, out / "kept", config.fmt, config.max_shard_rows)
                engine.write(result.removed, out / "removed", config.fmt, config.max_shard_rows)
                engine.write_parquet(result.clusters, out / "clusters")
        report = engine_report(engine.name, files, config, options, result.stats, rejected, timer)
        write_report(out / "report.json", report)
    return report


def scan_directory(
    engine: EngineIO[D],
    scan_split: Callable[[D, ContaminationIndex, ScanParams], EngineScanResult[D]],
    inputs: Sequence[str],
    index_path: str,
    output: str,
    params: ScanParams,
    overwrite: bool,
    on_error: str,
    fmt: OutputFormat,
    max_shard_rows: int | None = None,
) -> dict[str, Any]:
    """Read, scan, write ``hits/`` (Parquet), ``clean/``, ``removed/`` (``fmt``), ``rejected/``, ``report.json``.

    ``max_shard_rows``: at most this many rows per ``clean``/``removed`` part file.
    """
    from stemmatic._run import StageTimer, write_report
    from stemmatic.io import output_dir, resolve_inputs

    engine.refuse_row_cap(max_shard_rows)
    timer = StageTimer()

    index = load_index(index_path)
    params.validate(index)
    files = resolve_inputs(inputs)
    rules = ColumnRules(
        tuple(c for c in (params.text_column, params.id_column) if c), params.text_column, null_text=True
    )
    with output_dir(output, inputs=files, overwrite=overwrite) as claimed:
        out = claimed.resolve()
        with timer.stage("read"):
            data, layout, infos = engine.read(files, rules, on_error)
            rejected = write_rejected(out, infos)
        # The engines evaluate lazily: the scan runs while its outputs are written.
        with timer.stage("scan_and_write"), clean_engine_errors(layout):
            result = scan_split(data, index, params)
            engine.write_parquet(result.hits, out / "hits")
            if result.clean is not None and result.removed is not None:
                engine.write(result.clean, out / "clean", fmt, max_shard_rows)
                engine.write(result.removed, out / "removed", fmt, max_shard_rows)
        report = scan_report(engine.name, files, str(index_path), params, result.stats, rejected, timer)
        write_report(out / "report.json", report)
    return report


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
