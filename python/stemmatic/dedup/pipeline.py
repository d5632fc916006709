"""The near-duplicate pipeline: sketch → candidates → verify → cluster → write.

(Over 600 lines, for now: the five stages are methods of one ``_Run`` that share its
checkpoints, caches and budget. The per-batch work is in :mod:`stemmatic.dedup.steps` and
the spill files in :mod:`stemmatic.dedup._spill`; the next cut is the stages into a module
each over a small run-state object.)

Every stage streams or works on disk-backed arrays, so memory stays near the
``memory_limit`` whatever the corpus size:

1. **sketch** — stream the inputs in Arrow batches; the Rust engine computes
   MinHash signatures and LSH band keys (and, with ``exact=True``, an
   exact-duplicate key of the normalized text). Band keys are appended to
   ``P`` partition files on disk by their top bits (or kept in memory when
   they and the input fit the budget); per-document metadata (length, keep
   score, id) is small and kept.
2. **candidates** — each partition is loaded alone and sorted by key; buckets
   yield candidate pairs (all pairs of a small bucket, a star from a large
   one: never quadratic in a bucket's size).
3. **verify** — ``exact``: the shingle sets of the documents in candidate
   pairs are written to a disk file in a second streaming pass (kept in
   memory when the input is) and the exact Jaccard of every pair is computed
   from it (memory-mapped); ``estimate``:
   the fraction of equal signature positions; ``none``: every candidate is
   accepted. Pairs below ``threshold`` are dropped.
4. **cluster** — union-find over verified edges (and exact-duplicate edges),
   or with ``clustering="star"`` greedy centers that verify the pairs they
   still need (:mod:`stemmatic.dedup.clusters`); each cluster keeps one row
   (``first``, ``longest`` or ``column:NAME``); every other row records the
   kept row (``duplicate_of``), the cluster and the similarity of the edge
   that linked it.
5. **write** — a third streaming pass splits the rows into ``kept/`` and
   ``removed/`` shards that mirror the inputs, then ``clusters.parquet``,
   ``pairs.parquet`` (optional) and ``report.json``.

Each stage leaves a checkpoint in ``OUT/_work``; ``resume=True`` skips the
stages already done (with the same parameters and inputs; a sketch whose band
records were in memory is redone), so a killed run ends with the same bytes
as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from stemmatic import _core
from stemmatic._arrow import filter_rows, from_numpy, strings, take
from stemmatic._atomic import AtomicFile, FileRecord, check_record
from stemmatic._run import NoProgress as _NoProgress
from stemmatic._run import Progress, Rows, known_rows, run_report, table_label
from stemmatic.dedup import steps
from stemmatic.dedup._spill import BandRecords, SetCache, flat_records, one_type, read_partition
from stemmatic.dedup.clusters import REASON_EXACT, REASON_NEAR, decide_clusters
from stemmatic.dedup.config import DedupConfig
from stemmatic.dedup.guard import split_giant_components
from stemmatic.dedup.params import Banding
from stemmatic.exceptions import ParameterError, StemmaticError
from stemmatic.io import (
    Chunk,
    InputFile,
    MirroredWriter,
    RejectedWriter,
    StageTimer,
    check_columns,
    iter_chunks,
    output_dir,
    parse_size,
    prefetch,
    resolve_inputs,
    stage_table,
    table_source,
    write_report,
)
from stemmatic.io._sinks import find_outputs, shard_caps, split_sinks, write_parquet
from stemmatic.minhash import (
    RowStatus,
    TokenLengthCheck,
    long_token_warning,
)

#: The removed rows' reason names by ``why`` code (0 near, 1 exact), built without ``pa.array``.
_REASONS = strings(["near_duplicate", "exact"])

__all__ = ["DedupConfig", "DedupResult", "Progress", "dedup"]

_REPORT_VERSION = 1
#: The stages, in order; each leaves ``_work/<stage>.done`` listing the files it wrote.
_STAGES = ("sketch", "candidates", "verify", "cluster", "write")
#: Bytes of one (band key, document) record in a partition file.
_RECORD_BYTES = 16
#: Bytes of text of one input per writer of its output: an input of two or more is written by
#: several writers side by side, one per worker, and stitched (MirroredWriter.write).
_LANE_BYTES = 64 << 20
#: The most writers of one output shard (each holds a row group's encoders, ~7 MB for 3.6 kB texts).
_MAX_LANES = 16


def _lanes_for(text_bytes: int, workers: int) -> int | None:
    """Writers of the output of an input of ``text_bytes`` bytes of text; None: one writer that
    writes the shard itself.

    An input of two :data:`_LANE_BYTES` or more is written by one lane per
    worker, up to one per :data:`_LANE_BYTES` and :data:`_MAX_LANES`, and
    stitched (MirroredWriter.write). Whether a shard is stitched depends on the
    input alone (its text, counted by the sketch), and a stitched shard is the
    same bytes for any number of lanes: the outputs are the same for any
    number of workers.
    """
    if text_bytes < 2 * _LANE_BYTES:
        return None
    return min(workers, _MAX_LANES, text_bytes // _LANE_BYTES)


#: Rows per Parquet batch when verification reads the texts again (its batches shape no
#: output): 8,192 rows of 3.6 kB texts are a 29 MB buffer, grown by doubling and handed back
#: to the OS after each batch, and its page faults were a fifth of the stage's CPU at 1e8 tokens.
_REREAD_BATCH_ROWS = 1024
#: Input files the sketch stage reads side by side, each on a thread of its own.
_SKETCH_LANES = 2


@dataclass
class DedupResult:
    """What a dedup run did: counts, paths and the cluster table."""

    output: Path
    input_rows: int
    kept_rows: int
    removed_rows: int
    rejected_rows: int
    clusters: int
    banding: Banding
    report: dict[str, Any]
    kept_paths: list[Path] = field(default_factory=list)
    removed_paths: list[Path] = field(default_factory=list)
    #: With ``output=None``: the kept and removed rows, the cluster table and
    #: (with ``emit_pairs``) the verified pairs, in memory; no files remain.
    kept: pa.Table | None = None
    removed: pa.Table | None = None
    clusters_table: pa.Table | None = None
    pairs: pa.Table | None = None

    @property
    def clusters_path(self) -> Path:
        return self.output / "clusters.parquet"

    @property
    def report_path(self) -> Path:
        return self.output / "report.json"

    def cluster_table(self) -> pa.Table:
        """``id``, ``cluster_id``, ``is_kept`` for every row in a cluster of two or more."""
        if self.clusters_table is not None:
            return self.clusters_table
        return pq.read_table(self.clusters_path)

    def _loaded(self) -> DedupResult:
        """This result with every output read into memory (before its directory is deleted)."""

        def table(paths: list[Path]) -> pa.Table:
            parts = [_read_output(p) for p in paths]
            return pa.concat_tables(parts, promote_options="permissive") if parts else pa.table({})

        pairs_path = self.output / "pairs.parquet"
        return dataclasses.replace(
            self,
            kept=table(self.kept_paths),
            removed=table(self.removed_paths),
            clusters_table=pq.read_table(self.clusters_path),
            pairs=pq.read_table(pairs_path) if pairs_path.exists() else None,
            kept_paths=[],
            removed_paths=[],
        )


def _read_output(path: Path) -> pa.Table:
    if path.suffix == ".parquet":
        return pq.read_table(path)
    import pyarrow.json as pajson

    return pajson.read_json(path) if path.stat().st_size else pa.table({})


# ---------------------------------------------------------------------------


def dedup(
    inputs: Sequence[str | os.PathLike[str]] | str | os.PathLike[str] | Any,
    output: str | os.PathLike[str] | None = None,
    *,
    config: DedupConfig | None = None,
    workers: int | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: Progress | None = None,
    against: Sequence[str | os.PathLike[str]] | str | os.PathLike[str] | None = None,
    update_index: bool = False,
    **overrides: Any,
) -> DedupResult:
    """Remove near-duplicate (and optionally exact-duplicate) rows from a sharded corpus.

    Args:
        inputs: files (Parquet, JSONL/JSON, CSV/TSV, Arrow IPC; optionally
            .gz/.zst/.bz2), directories or globs; or a table-like object (a
            pyarrow Table/RecordBatchReader, a polars/pandas/DuckDB frame or
            anything with ``__arrow_c_stream__``, a ``datasets.Dataset``).
        output: the output directory (``kept/``, ``removed/``,
            ``clusters.parquet``, ``report.json``, optional ``pairs.parquet``
            and ``rejected/``). An existing non-empty directory is refused
            unless ``resume`` or ``overwrite``. ``None``: nothing is written;
            the result carries ``kept``, ``removed``, ``cluster_table()`` and
            ``pairs`` as Arrow tables.
        config: parameters; keyword ``overrides`` replace its fields
            (``threshold=0.7``, ``keep="longest"``, ...).
        workers: threads (default ``STEMMATIC_NUM_THREADS`` or all CPUs); the
            output bytes do not depend on it.
        resume: continue an interrupted run in ``output``.
        overwrite: delete ``output`` first.
        progress: receives stage progress events.
        against: indexes of earlier releases (:func:`stemmatic.dedup.build_index`):
            rows that duplicate an indexed row are removed too (``reason``
            ``near_duplicate_of_index``), deciding as a dedup of the indexed
            rows followed by ``inputs`` would.
        update_index: append the rows kept to the (one) ``against`` index.

    >>> import tempfile, pathlib, pyarrow as pa, pyarrow.parquet as pq
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> text = "the quick brown fox jumps over the lazy dog " * 5
    >>> pq.write_table(pa.table({"text": [text, text + "again", "something else entirely"]}), d / "a.parquet")
    >>> result = dedup(d / "a.parquet", d / "out", threshold=0.7)
    >>> result.input_rows, result.kept_rows, result.removed_rows
    (3, 2, 1)
    >>> in_memory = dedup(pq.read_table(d / "a.parquet"), threshold=0.7)
    >>> in_memory.kept.num_rows, in_memory.removed.column("duplicate_of").to_pylist()
    (2, [0])
    """
    config = DedupConfig.build(config, overrides)
    with contextlib.ExitStack() as stack:
        reader = table_source(inputs)
        label = table_label(inputs)
        if reader is not None:
            staging = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="stemmatic-in-")))
            inputs = [stage_table(reader, staging)]
        elif isinstance(inputs, (str, os.PathLike)):
            inputs = [inputs]
        files = resolve_inputs(inputs)
        if reader is not None:
            files.table = label  # the report lists the caller's table, not the staging file
        in_memory = output is None
        if output is None:
            output = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="stemmatic-out-"))) / "out"
        try:
            indexes = [against] if isinstance(against, (str, os.PathLike)) else list(against or [])
            # The indexes are opened and checked before anything is written.
            with (
                _against(indexes, config, update_index) as hook,
                output_dir(output, inputs=[*files, *indexes], overwrite=overwrite, resume=resume) as out,
            ):
                run = _Run(config, files, out, workers, progress or _NoProgress(), resume)
                if hook is not None:
                    hook.attach(run)
                result = run.execute()
                if hook is not None and update_index:
                    result.report = hook.update(run)
                return result._loaded() if in_memory else result
        except StemmaticError as err:
            if reader is None:
                raise
            # Name the caller's table, not the temporary file it was staged in.
            raise type(err)(str(err).replace(str(files[0].path), "input table")) from None


@contextlib.contextmanager
def _against(indexes: list[Any], config: DedupConfig, update_index: bool) -> Iterator[Any]:
    """The opened indexes of earlier releases to dedup against (stemmatic.dedup.index.Against), or None."""
    if not indexes:
        if update_index:
            raise ParameterError("--update-index needs an --against index")
        yield None
        return
    from stemmatic.dedup.index import opened_against

    with opened_against(indexes, config, update_index=update_index) as hook:
        yield hook


class _Run:
    def __init__(
        self,
        config: DedupConfig,
        files: list[InputFile],
        out: Path,
        workers: int | None,
        progress: Progress,
        resume: bool,
    ) -> None:
        self.config = config
        self.files = files
        self.out = out
        self.work = out / "_work"
        self.workers = workers
        self.progress = progress
        self.resume = resume
        self.timer = StageTimer()
        self.banding = config.banding()
        self.hasher = config.hasher()
        self.memory_limit = parse_size(config.memory_limit)
        self.stage_counts: dict[str, dict[str, int]] = {}
        #: Shingle sets of every row from the sketch pass, when they fit the budget.
        self.set_cache: SetCache | None = None
        #: The cached sets joined into one (values, offsets), for a run against an index.
        self._flat_sets: tuple[np.ndarray, np.ndarray] | None = None
        #: The input batches from the sketch pass, when the input fits the budget.
        self.row_cache: list[Chunk] | None = None
        #: The band records of the sketch pass, when they fit the budget.
        self.band_records: BandRecords | None = None
        #: Exact-duplicate edges, from the candidates stage (or its checkpoint).
        self.exact_edges: np.ndarray | None = None
        #: The files the running stage wrote (by path relative to ``out``), for its checkpoint.
        self.written: dict[str, FileRecord] = {}
        #: ...of which only the next stage reads (it deletes them).
        self.scratch: dict[str, FileRecord] = {}
        #: Checkpoints a resumed run found damaged, and the stage it restarted from.
        self.resumed: dict[str, Any] = {}
        #: Indexes of earlier releases to dedup against (stemmatic.dedup.index.Against).
        self.against: Any = None

    # -- checkpoints ---------------------------------------------------------

    def fingerprint(self) -> str:
        params = {
            k: v
            for k, v in asdict(self.config).items()
            # Shard caps count when given (checkpoints written before they existed stay valid).
            if k not in ("memory_limit", "batch_rows") and not (k.startswith("max_shard_") and v is None)
        }
        if self.against is not None:
            params["against"] = self.against.index.fingerprint()
        if self.config.tokenizer in ("auto", "auto-document"):
            # Checkpoints of `auto` from before its document rule hold other units: not resumed.
            params["units"] = "document-rule"
        inputs = [(str(f.path), f.path.stat().st_size, f.path.stat().st_mtime_ns) for f in self.files]
        blob = json.dumps({"params": params, "inputs": inputs, "version": _REPORT_VERSION}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()

    def _marker(self, stage: str) -> Path:
        return self.work / f"{stage}.done"

    def _read_marker(self, stage: str) -> dict[str, Any] | None:
        """The checkpoint of a finished ``stage``; None if it is missing, torn or not one of ours.

        A checkpoint of other parameters or inputs is refused: resuming it would mix two runs.
        """
        marker = self._marker(stage)
        try:
            data = json.loads(marker.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError, RecursionError):
            self._note_damaged(marker, "not a readable checkpoint")
            return None
        if not isinstance(data, dict) or not isinstance(data.get("fingerprint"), str):
            self._note_damaged(marker, "not a checkpoint")
            return None
        if data["fingerprint"] != self.fingerprint():
            raise ParameterError(
                f"{self.out}: the interrupted run used other parameters or inputs; rerun with --overwrite"
            )
        records: dict[str, dict[str, FileRecord]] = {}
        for key in ("files", "scratch"):
            entries = data.get(key)
            parsed = (
                {name: FileRecord.from_json(value) for name, value in entries.items()}
                if isinstance(entries, dict)
                else None
            )
            if parsed is None or any(r is None for r in parsed.values()):
                self._note_damaged(marker, f"its {key} list is not valid")
                return None
            records[key] = {name: r for name, r in parsed.items() if r is not None}
        if not isinstance(data.get("counts"), dict) or not isinstance(data.get("timing"), dict):
            self._note_damaged(marker, "its counts are not valid")
            return None
        return {**data, **records}

    def _note_damaged(self, path: Path, why: str) -> None:
        self.resumed.setdefault("discarded", []).append(f"{path.relative_to(self.out)}: {why}")

    def _damaged(self, records: dict[str, FileRecord]) -> bool:
        """Whether any file of ``records`` is missing or is not the file its checkpoint wrote."""
        for name, record in records.items():
            path = self.out / name
            if ".." in Path(name).parts or Path(name).is_absolute():
                self._note_damaged(self.work, f"names a file outside the output: {name!r}")
                return True
            why = check_record(path, record)
            if why is not None:
                self._note_damaged(path, why)
                return True
        return False

    def _first_stage_to_run(self) -> int:
        """Where a resumed run starts: after the finished stages whose checkpoint files are intact.

        A stage whose checkpoint (or a file it wrote) is torn, missing or
        damaged is redone with every stage after it; so is a stage whose
        scratch files (read only by the next stage) are gone while the next
        stage still has to run. Counts and timings of the skipped stages come
        from their checkpoints.
        """
        markers: list[dict[str, Any]] = []
        for stage in _STAGES:
            marker = self._read_marker(stage)
            if marker is None:
                break
            markers.append(marker)
        first = len(markers)
        for number, marker in enumerate(markers):
            if self._damaged(marker["files"]):
                first = number
                break
        while first > 0 and first < len(_STAGES):
            previous = markers[first - 1]
            if previous["counts"].get("bands_in_memory"):
                self._note_damaged(self._marker(_STAGES[first - 1]), "its band records were in memory")
            elif not self._damaged(previous["scratch"]):
                break
            first -= 1
        for stage, marker in zip(_STAGES[:first], markers, strict=False):
            self.timer.stages[stage] = marker["timing"]
            self.stage_counts[stage] = marker["counts"]
        if first < len(_STAGES):
            self.resumed["from_stage"] = _STAGES[first]
        return first

    def mark(self, stage: str, counts: dict[str, Any] | None = None) -> None:
        """Write the checkpoint of ``stage`` (atomically, after the files it lists)."""
        self.stage_counts[stage] = counts or {}
        payload = {
            "fingerprint": self.fingerprint(),
            "timing": self.timer.stages.get(stage, {}),
            "counts": counts or {},
            "files": {name: record.to_json() for name, record in self.written.items()},
            "scratch": {name: record.to_json() for name, record in self.scratch.items()},
        }
        with AtomicFile(self._marker(stage), "checkpoint", durable=False) as fh:
            fh.write(json.dumps(payload, sort_keys=True).encode())

    def _keep(self, path: Path, record: FileRecord, *, scratch: bool = False) -> None:
        """List ``path`` in the running stage's checkpoint."""
        name = path.relative_to(self.out).as_posix()
        (self.scratch if scratch else self.written)[name] = record

    def _save(self, name: str, array: np.ndarray) -> None:
        """Write a checkpoint array ``_work/name`` (atomically) and list it.

        Checkpoints are not fsynced (they were 34 of a 60k-document run's
        fsyncs, 0.1-0.6 s on this machine's disk): a killed process loses
        nothing the page cache holds, and after a power loss a resume checks
        each file's size and CRC-32 against its stage's marker and redoes
        the stage of a lost or torn one.
        """
        with AtomicFile(self.work / name, "checkpoint", durable=False) as fh:
            np.save(fh, array)
        assert fh.record is not None
        self._keep(fh.path, fh.record)

    def _write_parquet(self, path: Path, table: pa.Table, what: str) -> None:
        """Write ``table`` to ``path`` (atomically) and list it; durably unless it is a checkpoint."""
        codec = self.config.compression if self.config.fmt == "parquet" else None
        with AtomicFile(path, what, durable=what != "checkpoint") as fh:
            write_parquet(table, fh, codec)
        assert fh.record is not None
        self._keep(path, fh.record)

    # -- driver --------------------------------------------------------------

    def execute(self) -> DedupResult:
        self.work.mkdir(parents=True, exist_ok=True)
        first = self._first_stage_to_run() if self.resume else 0
        for stage in _STAGES[first:]:
            self._marker(stage).unlink(missing_ok=True)
        started = time.perf_counter()
        for stage in _STAGES[first:]:
            self.written, self.scratch = {}, {}
            with self.timer.stage(stage):
                counts = getattr(self, f"stage_{stage}")()
            self.mark(stage, counts)
            if stage == "candidates":
                # Read by the candidates stage only; gone once its checkpoint is written.
                shutil.rmtree(self.work / "bands", ignore_errors=True)
                self.band_records = None
        report = self.build_report(time.perf_counter() - started)
        write_report(self.out / "report.json", report)
        shutil.rmtree(self.work, ignore_errors=True)
        counts = report["rows"]
        return DedupResult(
            output=self.out,
            input_rows=counts["in"],
            kept_rows=counts["kept"],
            removed_rows=counts["removed"],
            rejected_rows=counts["rejected"],
            clusters=report["clusters"]["count"],
            banding=self.banding,
            report=report,
            kept_paths=find_outputs(self.out / "kept", self.config.fmt),
            removed_paths=find_outputs(self.out / "removed", self.config.fmt),
        )

    # -- stage 1: sketch -----------------------------------------------------

    def _decoded_bytes(self) -> int:
        """The inputs' estimated size once read into Arrow batches.

        Uncompressed text formats (JSONL, CSV/TSV) and Arrow IPC hold their
        values about one to one (the JSON keys, quotes and escapes they drop
        outweigh the offsets Arrow adds); Parquet and compressed files are
        counted at four times their size on disk.
        """
        total = 0
        for f in self.files:
            size = f.path.stat().st_size
            plain = f.compression is None and f.format in ("jsonl", "csv", "tsv", "arrow")
            total += size if plain else 4 * size
        return total

    def _partitions(self) -> int:
        """On-disk band partitions, each sortable within a quarter of the budget; 0: in memory.

        The records of an input kept in memory stay in memory too, unless
        there are more of them than a twelfth of the budget (then they spill,
        see BandRecords).
        """
        decoded = self._decoded_bytes()
        if decoded <= self.memory_limit // 4:
            return 0
        return self._partitions_for(decoded)

    def _partitions_for(self, decoded: int) -> int:
        """Partitions of the band records of ``decoded`` input bytes: each must sort within a quarter of the budget.

        Conservatively one document per 200 bytes, each yielding ``bands`` records.
        """
        records = max(1, decoded // 200) * self.banding.bands
        wanted = records * _RECORD_BYTES * 3 / max(1, self.memory_limit // 4)
        return int(min(4096, max(16, 2 ** math.ceil(math.log2(max(1.0, wanted))))))

    def _columns(self) -> list[str]:
        cols = [self.config.text_column]
        if self.config.id_column and self.config.id_column not in cols:
            cols.append(self.config.id_column)
        keep_col = self.config.keep_column
        if keep_col and keep_col not in cols:
            cols.append(keep_col)
        return cols

    def _chunks(
        self, columns: list[str] | None, rejected: RejectedWriter | None = None, *, lanes: int = 1
    ) -> Iterator[Chunk]:
        """The input chunks, read ahead on ``lanes`` threads (one file each), or one thread for 1."""
        chunks = iter_chunks(
            self.files,
            columns=columns,
            batch_rows=self.config.batch_rows,
            on_error=self.config.on_error,
            skippable=True,
            on_rejected=rejected,
            lanes=lanes,
        )
        return prefetch(chunks) if lanes == 1 else chunks

    def _texts(self, chunk: Chunk) -> pa.Array:
        return steps.text_column(chunk.batch, self.config.text_column, f"{chunk.file.path}: ")

    def stage_sketch(self) -> dict[str, int]:
        cfg = self.config
        partitions = self._partitions()
        # Spilled records wait for their files in up to an eighth of the budget.
        bands = BandRecords(
            self.work / "bands",
            partitions,
            buffer_bytes=min(256 << 20, max(1 << 20, self.memory_limit // 8)),
            # Held in memory, they must sort (at 3x) within a quarter of the budget.
            memory_bytes=self.memory_limit // 12,
            # ... else they spill, as for an input four times the estimate.
            spill_partitions=self._partitions_for(4 * self._decoded_bytes()),
        )
        keep_signatures = cfg.verify != "exact"
        sig_file = (
            AtomicFile(self.work / "signatures.bin", "checkpoint", durable=False) if keep_signatures else None
        )
        rejected = RejectedWriter(self.out / "rejected")
        # Left by an interrupted attempt at this stage: this one writes its own.
        rejected.path.unlink(missing_ok=True)
        meta: dict[str, list[Any]] = {"status": [], "length": [], "file": [], "exact_lo": [], "exact_hi": []}
        ids: list[pa.Array] = []
        scores: list[np.ndarray] = []
        n_docs = 0
        text_bytes = 0
        token_check = TokenLengthCheck(cfg.tokenizer)
        # One engine call per batch; the sets are kept while they fit (below).
        sketchers = {
            keep_sets: steps.make_sketcher(
                num_perm=cfg.num_perm,
                ngram=cfg.ngram,
                tokenizer=cfg.tokenizer,
                seed=cfg.seed,
                bands=self.banding.bands,
                rows=self.banding.rows,
                exact=cfg.exact,
                keep_sets=keep_sets,
                bits=self.hasher.bits,
                token_sample=token_check.sample,
                keep_signatures=keep_signatures,
            )
            for keep_sets in (False, True)
        }
        # An input that fits a quarter of the budget (as estimated by
        # _decoded_bytes, then as read) is read whole once and kept for the
        # write stage; a larger one is read by column here and again there.
        # The shingle sets of this pass are kept while they fit another
        # quarter of the budget, to spare the verify stage its tokenization.
        keep_rows = self._decoded_bytes() <= self.memory_limit // 4
        row_cache: list[Chunk] | None = [] if keep_rows else None
        row_cache_bytes = 0
        # The shingle sets come from the signatures' own tokenization: kept,
        # they spare the verify stage a second one (of the candidates' rows,
        # often most rows of a corpus with many duplicates).
        cache: SetCache | None = SetCache() if cfg.verify == "exact" else None
        total_rows = known_rows(self.files)
        self.progress.start("sketch", total_rows)

        def book(chunk: Chunk, texts: pa.Array, batch: _core.SketchBatch) -> None:
            """Keep what the sketch of ``chunk`` gave: band records, set cache, per-row metadata."""
            nonlocal cache, n_docs, text_bytes
            token_check.add_lengths(batch.token_lengths)
            if cache is not None:
                assert batch.set_batches is not None
                for _, values, offsets in batch.set_batches:  # the runs of rows, in order
                    cache.add(values, offsets)
                if cache.outgrows(self.memory_limit // 4, total_rows):
                    cache = None  # too big to keep: verification re-reads the text instead
            n = len(texts)
            docs = np.arange(chunk.global_row, chunk.global_row + n, dtype=np.uint64)
            ok = batch.status == RowStatus.OK
            if ok.all():
                bands.add(batch.band_keys, docs)
            elif ok.any():
                bands.add(batch.band_keys[ok], docs[ok])
            if sig_file is not None:
                assert batch.signatures is not None  # keep_signatures
                sig_file.write(np.ascontiguousarray(batch.signatures).tobytes())
            if batch.exact_keys is not None:
                meta["exact_lo"].append(batch.exact_keys[:, 0])
                meta["exact_hi"].append(batch.exact_keys[:, 1])
            meta["length"].append(batch.lengths.astype(np.int64))
            meta["status"].append(batch.status)
            meta["file"].append(np.full(n, chunk.file_index, dtype=np.int32))
            if cfg.id_column:
                ids.append(steps.id_values(chunk, cfg.id_column, ids[0].type if ids else None))
            if cfg.keep_column:
                scores.append(self._keep_scores(chunk))
            n_docs += n
            nbytes = int(np.sum(meta["length"][-1]))
            text_bytes += nbytes
            self.progress.advance(n, nbytes)

        from concurrent.futures import Future, ThreadPoolExecutor

        try:
            # The engine sketches a batch on a thread of its own while this one keeps what the
            # batch before gave (about 6 ms a batch of band records, metadata and ids: 1.7 s at
            # 1e9 tokens, with the engine idle), in order. Files are read side by side: with one
            # reader thread the engine waited for batches (5 s of the stage's 18.6 s at 1e9
            # tokens). The write stage keeps one: its two cores are busy encoding, and each lane
            # holds batches.
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="stemmatic-sketch") as engine:
                before: tuple[Chunk, pa.Array, Future[_core.SketchBatch]] | None = None
                for chunk in self._chunks(
                    None if keep_rows else self._columns(), rejected, lanes=_SKETCH_LANES
                ):
                    if keep_rows:
                        check_columns(chunk.file, chunk.batch.schema.names, self._columns())
                    if row_cache is not None:
                        row_cache.append(chunk)
                        row_cache_bytes += chunk.batch.nbytes
                        if row_cache_bytes > self.memory_limit // 4:
                            # The estimate was short: the later stages read the input again.
                            row_cache = None
                    texts = self._texts(chunk)
                    sketched = engine.submit(
                        steps.sketch, sketchers[cache is not None], texts, workers=self.workers
                    )
                    if before is not None:
                        book(before[0], before[1], before[2].result())
                    before = (chunk, texts, sketched)
                if before is not None:
                    book(before[0], before[1], before[2].result())
        except BaseException:
            bands.discard()
            if sig_file is not None:
                sig_file.discard()
            raise
        finally:
            rejected.close()
            self.progress.finish()
        for path, record in bands.commit().items():
            self._keep(path, record, scratch=True)
        if sig_file is not None:
            self._keep(sig_file.path, sig_file.commit())
        if rejected.count:
            self._keep(rejected.path, FileRecord(rejected.path.stat().st_size))

        def cat(values: list[np.ndarray], dtype: Any) -> np.ndarray:
            return np.concatenate(values).astype(dtype, copy=False) if values else np.zeros(0, dtype)

        if cache is not None:
            # In memory only: a resumed run re-reads the text instead.
            self.set_cache = cache
        self.row_cache = row_cache
        self.band_records = bands if not bands.partitions else None
        self._save("status.npy", cat(meta["status"], np.uint8))
        self._save("length.npy", cat(meta["length"], np.int64))
        self._save("file.npy", cat(meta["file"], np.int32))
        if cfg.exact:
            self._save(
                "exact.npy",
                np.stack([cat(meta["exact_lo"], np.uint64), cat(meta["exact_hi"], np.uint64)], axis=1),
            )
        if cfg.keep_column:
            self._save("score.npy", cat(scores, np.float64))
        if cfg.id_column:
            id_array = pa.chunked_array(ids, type=ids[0].type) if ids else pa.chunked_array([], pa.int64())
            steps.check_ids(id_array, cfg.id_column, self._where)
            self._write_parquet(self.work / "ids.parquet", pa.table({"id": id_array}), "checkpoint")
        return {
            "documents": n_docs,
            "text_bytes": text_bytes,
            "rejected": rejected.count,
            "partitions": bands.partitions,
            # In memory only: a resumed run redoes this stage.
            "bands_in_memory": int(not bands.partitions),
            **token_check.counts(),
        }

    def _keep_scores(self, chunk: Chunk) -> np.ndarray:
        assert self.config.keep_column is not None
        return steps.keep_scores(chunk.batch, self.config.keep_column, f"{chunk.file.path}: ")

    def _where(self, row: int) -> str:
        """``file (row k)`` of a global row number, for error messages."""
        files = np.load(self.work / "file.npy", mmap_mode="r")
        index = int(files[row])
        first = int(np.searchsorted(files, index))
        return f"{self.files[index].path} (row {row - first})"

    # -- stage 2: candidates -------------------------------------------------

    def _excluded(self) -> np.ndarray | None:
        """Documents left out of LSH: exact duplicates of an earlier document."""
        if not self.config.exact:
            return None
        exact_groups = self._find_exact_groups()
        excluded = np.zeros(len(np.load(self.work / "status.npy", mmap_mode="r")), dtype=bool)
        excluded[exact_groups[:, 1]] = True
        return excluded

    def _exact_groups(self) -> np.ndarray:
        """The exact-duplicate edges found by the candidates stage (read from its checkpoint after a resume)."""
        if self.exact_edges is None:
            self.exact_edges = np.load(self.work / "exact_edges.npy")
        return self.exact_edges

    def _find_exact_groups(self) -> np.ndarray:
        """Edges (representative, duplicate) between rows of equal normalized text."""
        keys = np.load(self.work / "exact.npy")
        status = np.load(self.work / "status.npy")
        docs = np.flatnonzero(status == RowStatus.OK).astype(np.uint64)
        k = keys[docs]
        edges = steps.exact_edges(docs, k[:, 0], k[:, 1]).astype(np.uint64, copy=False)
        self._save("exact_edges.npy", edges)
        self.exact_edges = edges
        return edges

    def stage_candidates(self) -> dict[str, int]:
        excluded = self._excluded()
        pairs: list[np.ndarray] = []
        records = 0
        # One loader per partition: the in-memory batches, or each partition file.
        loaders: list[Callable[[], tuple[list[np.ndarray], list[np.ndarray]]]] = (
            [self.band_records.in_memory]
            if self.band_records is not None
            else [
                functools.partial(read_partition, path)
                for path in sorted((self.work / "bands").glob("*.bin"))
            ]
        )
        self.progress.start("candidates", len(loaders))
        for load in loaders:
            keys, docs = load()
            held = sum(k.size for k in keys)
            records += held
            if held and self.against is None:
                found = _core.candidate_pairs_batched(
                    keys, docs, excluded=excluded, clique_max=self.config.clique_max, workers=self.workers
                )
                if len(found):
                    pairs.append(found)
            elif held:
                flat_keys, flat_docs = flat_records(keys, docs)
                if excluded is not None:
                    included = ~excluded[flat_docs.astype(np.int64)]
                    flat_keys, flat_docs = flat_keys[included], flat_docs[included]
                if len(flat_keys):
                    found = self.against.candidate_pairs(
                        flat_keys, flat_docs, clique_max=self.config.clique_max, workers=self.workers
                    )
                    if len(found):
                        pairs.append(found)
            self.progress.advance(1, 2 * held * 8)
            del keys, docs
        self.progress.finish()
        if self.against is not None:
            n = len(np.load(self.work / "status.npy", mmap_mode="r"))
            pairs.append(self.against.external_pairs(n, self._save))
        if len(pairs) == 1 and self.against is None:
            merged = pairs[0]  # one partition's pairs: sorted and distinct already
        else:
            merged = np.concatenate(pairs) if pairs else np.zeros((0, 2), np.uint64)
            merged = _core.unique_pairs(merged, workers=self.workers)
        self._save("candidates.npy", merged)
        return {"band_records": records, "candidate_pairs": len(merged)}

    # -- stage 3: verify -----------------------------------------------------

    def stage_verify(self) -> dict[str, int]:
        pairs = np.load(self.work / "candidates.npy")
        sims = self._verify_exact(pairs) if self.config.verify == "exact" else self._estimate(pairs)
        # Read by this stage only: not held through the cluster and write stages.
        self.set_cache = self._flat_sets = None
        keep = sims >= self.config.threshold if self.config.verify != "none" else np.ones(len(pairs), bool)
        self._save("edges.npy", pairs[keep])
        self._save("edge_sims.npy", sims[keep])
        return {
            "candidate_pairs": len(pairs),
            "verified_pairs": int(keep.sum()),
            "rejected_pairs": int((~keep).sum()),
        }

    def _estimate(self, pairs: np.ndarray) -> np.ndarray:
        n = len(np.load(self.work / "status.npy", mmap_mode="r"))
        dtype = self.hasher.dtype
        sig = (
            np.memmap(self.work / "signatures.bin", dtype=dtype, mode="r", shape=(n, self.config.num_perm))
            if n
            else None
        )
        sims = np.zeros(len(pairs), dtype=np.float64)
        step = 65_536
        for start in range(0, len(pairs), step):
            block = pairs[start : start + step].astype(np.int64)
            sims[start : start + step] = np.mean(sig[block[:, 0]] == sig[block[:, 1]], axis=1)  # type: ignore[index]
        return sims

    def _verify_exact(self, pairs: np.ndarray) -> np.ndarray:
        if not len(pairs):
            return np.zeros(0, dtype=np.float64)
        if self.set_cache is not None:
            if self.against is None:
                # The sets as the sketch pass left them, in batches: not joined into one array.
                return _core.verify_pairs_batched(pairs, *self.set_cache.batches(), workers=self.workers)
            if self._flat_sets is None:
                self._flat_sets = self.set_cache.flat()
            values, offsets = self._flat_sets
            slots = np.arange(len(offsets) - 1, dtype=np.uint64)
            return self._verify_pairs(pairs, slots, values, offsets)
        needed = np.unique(pairs.ravel())
        with self._row_sets(needed) as (values, offsets):
            return self._verify_pairs(pairs, needed, values, offsets)

    @contextlib.contextmanager
    def _row_sets(self, needed: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Shingle sets ``(values, offsets)`` of the sorted ``needed`` rows, from the cached input or one pass over it."""
        if self.row_cache is not None:
            yield self._cached_sets(self.row_cache, needed)
            return
        values_path = self.work / "shingles.bin"
        offset_parts = [np.zeros(1, dtype=np.uint64)]
        total = 0
        self.progress.start("verify", len(needed))
        # The needed rows' sets are spilled to a file as the inputs stream by.
        with open(values_path, "wb") as fh:
            for values, offs in self._needed_sets(needed):
                fh.write(np.ascontiguousarray(values).data)
                offset_parts.append(offs[1:] + np.uint64(total))
                total += len(values)
                self.progress.advance(len(offs) - 1, values.nbytes)
        self.progress.finish()
        spilled = (
            np.memmap(values_path, dtype=np.uint64, mode="r", shape=(total,))
            if total
            else np.zeros(0, np.uint64)
        )
        try:
            yield spilled, np.concatenate(offset_parts)
        finally:
            del spilled
            values_path.unlink(missing_ok=True)

    def _needed_sets(self, needed: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Shingle sets ``(values, offsets)`` of the sorted ``needed`` rows, file by file in input order.

        Reading and decoding the text column is most of this pass (Parquet's
        snappy pages, JSON parsing) and runs on one thread per file: the
        files are read side by side, one per worker. A file without a needed
        row is not read.
        """
        first = np.searchsorted(
            np.load(self.work / "file.npy", mmap_mode="r"), np.arange(len(self.files) + 1)
        ).astype(np.uint64)
        bounds = np.searchsorted(needed, first)
        files = [i for i in range(len(self.files)) if bounds[i] < bounds[i + 1]]
        lanes = max(1, min(_core.resolve_workers(self.workers), len(files)))
        workers = max(1, _core.resolve_workers(self.workers) // lanes)

        def one_file(index: int) -> tuple[np.ndarray, np.ndarray]:
            rows = needed[bounds[index] : bounds[index + 1]] - first[index]
            chunks = iter_chunks(
                [self.files[index]],
                columns=[self.config.text_column],
                batch_rows=min(self.config.batch_rows, _REREAD_BATCH_ROWS),
                on_error=self.config.on_error,
                skippable=True,
            )
            pieces = one_type([t for t in (self._needed_texts(c, rows) for c in chunks) if t is not None])
            texts = pa.chunked_array(pieces) if pieces else pa.chunked_array([], pa.large_string())
            return self._shingle_sets(texts, workers=workers)

        from concurrent.futures import Future, ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=lanes) as pool:
            running: list[Future[tuple[np.ndarray, np.ndarray]]] = []
            for index in files:
                if len(running) == lanes:
                    yield running.pop(0).result()
                running.append(pool.submit(one_file, index))
            for future in running:
                yield future.result()

    def _verify_pairs(
        self, pairs: np.ndarray, slots: np.ndarray, values: np.ndarray, offsets: np.ndarray
    ) -> np.ndarray:
        if self.against is None:
            return _core.verify_pairs(pairs, slots, values, offsets, workers=self.workers)
        n = len(np.load(self.work / "status.npy", mmap_mode="r"))
        verified: np.ndarray = self.against.verify_pairs(
            pairs, slots, values, offsets, n=n, workers=self.workers
        )
        return verified

    def _cached_sets(self, chunks: list[Chunk], needed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Shingle sets of the ``needed`` rows of an input held in memory, in one engine call."""
        self.progress.start("verify", len(needed))
        pieces = one_type([t for t in (self._needed_texts(c, needed) for c in chunks) if t is not None])
        sets = self._shingle_sets(
            pa.chunked_array(pieces) if pieces else pa.chunked_array([], pa.large_string())
        )
        self.progress.advance(len(needed), sets[0].nbytes)
        self.progress.finish()
        return sets

    def _needed_texts(self, chunk: Chunk, needed: np.ndarray) -> pa.Array | None:
        """The texts of ``chunk``'s rows that are in the sorted ``needed`` rows, or None."""
        n = chunk.batch.num_rows
        lo = np.searchsorted(needed, chunk.global_row)
        hi = np.searchsorted(needed, chunk.global_row + n)
        if lo == hi:
            return None
        local = (needed[lo:hi] - np.uint64(chunk.global_row)).astype(np.int64)
        return take(self._texts(chunk), from_numpy(local))

    def _shingle_sets(
        self, texts: pa.ChunkedArray, workers: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        return _core.shingle_sets(
            texts,
            ngram=self.config.ngram,
            tokenizer=self.config.tokenizer,
            seed=self.config.seed,
            workers=self.workers if workers is None else workers,
        )

    # -- stage 4: cluster ----------------------------------------------------

    def stage_cluster(self) -> dict[str, object]:
        status = np.load(self.work / "status.npy")
        n = len(status)
        edges = np.load(self.work / "edges.npy")
        sims = np.load(self.work / "edge_sims.npy")
        reason = np.zeros(len(edges), dtype=np.uint8)  # 0 near, 1 exact
        if self.config.exact:
            exact_edges = self._exact_groups()
            edges = np.concatenate([exact_edges, edges]) if len(edges) else exact_edges
            sims = np.concatenate([np.ones(len(exact_edges)), sims])
            reason = np.concatenate([np.ones(len(exact_edges), np.uint8), reason])
        if self.config.keep == "first":
            score = None
        elif self.config.keep == "longest":
            score = np.load(self.work / "length.npy").astype(np.float64)
        else:
            score = np.load(self.work / "score.npy")
        nodes = n
        if self.against is not None:
            # Indexed rows are extra nodes n, n+1, ... that always win their cluster.
            nodes, score = self.against.nodes(n), self.against.keep_scores(score, n)
        guard: dict[str, object] = {}
        if self.config.max_cluster_size is not None:
            result = split_giant_components(nodes, edges, sims, self.config.max_cluster_size)
            edges, sims, reason = edges[result.keep], sims[result.keep], reason[result.keep]
            guard = result.report()
        star = self.config.clustering == "star"
        with contextlib.ExitStack() as stack:
            decision = decide_clusters(
                nodes,
                edges,
                sims,
                reason,
                score,
                clustering=self.config.clustering,
                verify=self._star_verifier(edges, n, stack) if star else None,
                threshold=self.config.threshold,
            )
        if star:
            # Listed in pairs.parquet beside the pairs of the verify stage.
            self._save("star_edges.npy", decision.added_edges)
            self._save("star_sims.npy", decision.added_similarity)
        if self.against is not None:
            decision = self.against.restrict(decision, n)
        self._save("removed.npy", decision.removed)
        self._save("duplicate_of.npy", decision.duplicate_of)
        self._save("labels.npy", decision.cluster_id)
        self._save("similarity.npy", decision.similarity)
        self._save("why.npy", decision.reason)
        against = {} if self.against is None else {"removed_against_index": self.against.removed(decision)}
        star_counts = {"star": decision.star_report()} if star else {}
        return {**decision.counts(), "giant_component_guard": guard, **against, **star_counts}

    def _star_verifier(
        self, edges: np.ndarray, n: int, stack: contextlib.ExitStack
    ) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """Verifies the pairs star asks about as the verify stage does: similarity and reason.

        Star asks only about rows with edges, over rounds: with exact
        verification and the sets not in memory, the first round reads the
        sets of every row of this run with an edge (one pass over the
        input), and every round verifies from them.
        """
        sets: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

        def similarities(pairs: np.ndarray) -> np.ndarray:
            if self.config.verify != "exact":
                return self._estimate(pairs)
            if self.set_cache is not None:
                return self._verify_exact(pairs)
            if not sets:
                rows = np.unique(edges.ravel())
                rows = rows[rows < np.uint64(n)]
                sets.append((rows, *stack.enter_context(self._row_sets(rows))))
            return self._verify_pairs(pairs, *sets[0])

        def verify(pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            # Two indexed rows (nodes n, n+1, ...) are both released already: never compared.
            ours = pairs[:, 0] < np.uint64(n)
            sims = np.full(len(pairs), -np.inf)
            if ours.any():
                sims[ours] = similarities(np.ascontiguousarray(pairs[ours]))
            return sims, self._star_reasons(pairs)

        return verify

    def _star_reasons(self, pairs: np.ndarray) -> np.ndarray:
        """``REASON_EXACT`` for pairs of one exact-duplicate group, else ``REASON_NEAR``."""
        reason = np.full(len(pairs), REASON_NEAR, np.uint8)
        if self.config.exact and len(pairs):
            # Two rows of one exact-duplicate group are an exact pair, whichever way they were found.
            keys = np.load(self.work / "exact.npy", mmap_mode="r")
            inside = (pairs < np.uint64(len(keys))).all(axis=1)
            a, b = pairs[inside, 0].astype(np.int64), pairs[inside, 1].astype(np.int64)
            same = (keys[a] == keys[b]).all(axis=1) & (keys[a] != 0).any(axis=1)
            reason[np.flatnonzero(inside)[same]] = REASON_EXACT
        return reason

    # -- stage 5: write ------------------------------------------------------

    def _ids(self, n: int) -> pa.Array:
        if self.config.id_column:
            return pq.read_table(self.work / "ids.parquet").column("id").combine_chunks()
        return from_numpy(np.arange(n, dtype=np.int64))

    def stage_write(self) -> dict[str, int]:
        for sub in ("kept", "removed"):
            shutil.rmtree(self.out / sub, ignore_errors=True)
        for stale in self.out.glob(".*.tmp"):
            # Temporary files of an attempt at this stage killed before it could remove them.
            stale.unlink(missing_ok=True)
        removed = np.load(self.work / "removed.npy")
        n = len(removed)
        duplicate_of = np.load(self.work / "duplicate_of.npy")
        labels = np.load(self.work / "labels.npy")
        similarity = np.load(self.work / "similarity.npy")
        why = np.load(self.work / "why.npy")
        ids = self._ids(n)
        id_type = ids.type if self.against is None else self.against.id_type(ids.type)
        if self.against is not None:
            self.against.kept = ~removed
        caps = shard_caps(self.config.max_shard_size, self.config.max_shard_rows)
        sinks = split_sinks(self.out, self.files, self.config.fmt, self.config.compression, caps)
        kept_writer: MirroredWriter = sinks[0]
        removed_writer: MirroredWriter = sinks[1]
        schemas: dict[int, pa.Schema] = {}

        def write_kept(chunk: Chunk, seq: int, lanes: int | None) -> int:
            rows = chunk.batch.num_rows
            keep = ~removed[chunk.global_row : chunk.global_row + rows]
            schemas.setdefault(chunk.file_index, chunk.batch.schema)
            if not keep.any():
                return 0
            kept_writer.write(
                chunk.file_index,
                filter_rows(pa.Table.from_batches([chunk.batch]), from_numpy(keep)),
                seq=seq,
                lanes=lanes,
            )
            return int(keep.sum())

        def write_removed(chunk: Chunk, seq: int, lanes: int | None) -> int:
            mask = removed[chunk.global_row : chunk.global_row + chunk.batch.num_rows]
            if not mask.any():
                return 0
            local = np.flatnonzero(mask)
            glob = local + chunk.global_row
            part = take(pa.Table.from_batches([chunk.batch]), from_numpy(local))
            if self.against is None:
                dup_ids = take(ids, from_numpy(duplicate_of[glob]))
                reasons = take(_REASONS, from_numpy((why[glob] == 1).astype(np.int8)))
            else:
                dup_ids, reasons, sources = self.against.removed_columns(
                    duplicate_of[glob], why[glob], ids, n
                )
            part = part.append_column("duplicate_of", dup_ids)
            part = part.append_column("cluster_id", from_numpy(labels[glob], pa.int64()))
            part = part.append_column("similarity", from_numpy(similarity[glob], pa.float64()))
            part = part.append_column("reason", reasons)
            if self.against is not None:
                part = part.append_column("duplicate_source", sources)
            if not self.config.removed_text:
                part = part.drop_columns([self.config.text_column])
            removed_writer.write(chunk.file_index, part, seq=seq, lanes=lanes)
            return len(local)

        # Each output shard (kept or removed rows of one input file) is
        # written by lanes, each a thread that writes its chunks in input
        # order; lanes run side by side (pyarrow encodes and compresses
        # without the GIL): the kept and the removed shard of a file, and the
        # shards of consecutive files while their chunks stream by. A large
        # input has several lanes per shard (chunk k to lane k % lanes),
        # joined when it ends (MirroredWriter.write), so that one large file
        # is not written on one core. With the whole input in memory each
        # lane is one task.
        from concurrent.futures import Future, ThreadPoolExecutor

        self.progress.start("write", n)
        kept_rows = removed_rows = 0
        threads = _core.resolve_workers(self.workers)
        can_split = kept_writer.can_split and removed_writer.can_split
        # The text of each input, as the sketch counted it (no file is opened to decide).
        text_of_file = (
            np.bincount(
                np.load(self.work / "file.npy"),
                weights=np.load(self.work / "length.npy"),
                minlength=len(self.files),
            )
            if can_split
            else None
        )

        def lanes_of(file_index: int) -> int | None:
            return None if text_of_file is None else _lanes_for(int(text_of_file[file_index]), threads)

        try:
            if self.row_cache is not None:
                by_file: dict[int, list[Chunk]] = {}
                for chunk in self.row_cache:
                    by_file.setdefault(chunk.file_index, []).append(chunk)

                def lane(
                    write: Callable[..., int],
                    writer: MirroredWriter | None,
                    chunks: list[Chunk],
                    which: int,
                    lanes: int | None,
                ) -> tuple[int, int, int]:
                    """(rows written, rows seen, bytes seen) of lane ``which`` of a shard's ``lanes``; the one
                    writer of a shard closes it (``writer``)."""
                    done = seen = nbytes = 0
                    for seq in range(which, len(chunks), lanes or 1):
                        done += write(chunks[seq], seq, lanes)
                        seen += chunks[seq].batch.num_rows
                        nbytes += chunks[seq].batch.nbytes
                    if writer is not None:
                        writer.finish(chunks[0].file_index)
                    return done, seen, nbytes

                with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
                    planned = []
                    for file_index, chunks in by_file.items():
                        lanes = lanes_of(file_index)
                        one = lanes is None
                        kept = [
                            pool.submit(lane, write_kept, kept_writer if one else None, chunks, k, lanes)
                            for k in range(lanes or 1)
                        ]
                        gone = [
                            pool.submit(
                                lane, write_removed, removed_writer if one else None, chunks, k, lanes
                            )
                            for k in range(lanes or 1)
                        ]
                        planned.append((file_index, one, kept, gone))
                    for file_index, one, kept, gone in planned:
                        for kept_lane, removed_lane in zip(kept, gone, strict=True):
                            done, rows, nbytes = kept_lane.result()
                            kept_rows += done
                            removed_rows += removed_lane.result()[0]
                            self.progress.advance(rows, nbytes)
                        if not one:
                            kept_writer.finish(file_index)
                            removed_writer.finish(file_index)
            else:
                pending: list[tuple[Chunk, Future[int], Future[int]]] = []
                # One single-thread executor per lane (one for all with one worker).
                executors: dict[tuple[int, int, int], ThreadPoolExecutor] = {}
                retired: list[ThreadPoolExecutor] = []
                # Of each open file: its lanes, its next chunk's number, each lane's last write.
                file_lanes: dict[int, int | None] = {}
                next_seq: dict[int, int] = {}
                last: dict[tuple[int, int, int], Future[int]] = {}

                def lane_of(kind: int, file_index: int, which: int = 0) -> ThreadPoolExecutor:
                    key = (kind, file_index, which) if threads > 1 else (0, 0, 0)
                    if key not in executors:
                        executors[key] = ThreadPoolExecutor(max_workers=1)
                    return executors[key]

                def settle(keep: int) -> None:
                    nonlocal kept_rows, removed_rows
                    while len(pending) > keep:
                        chunk, kept_done, removed_done = pending.pop(0)
                        kept_rows += kept_done.result()
                        removed_rows += removed_done.result()
                        self.progress.advance(chunk.batch.num_rows, chunk.batch.nbytes)

                def finish_after(writer: MirroredWriter, file_index: int, writes: list[Future[int]]) -> None:
                    for write in (
                        writes
                    ):  # its lanes' last writes: earlier on this thread, or on threads that never wait here
                        write.result()
                    writer.finish(file_index)

                closing: list[Future[None]] = []
                try:
                    for chunk in self._chunks(None):
                        # A file's shards end with its last chunk: its first lane
                        # closes each shard after what is queued, once the other
                        # lanes are done (an open writer holds its last row group's
                        # encoders until closed).
                        for ended in sorted(f for f in file_lanes if f < chunk.file_index):
                            count = file_lanes.pop(ended) or 1
                            next_seq.pop(ended)
                            for kind, writer in ((0, kept_writer), (1, removed_writer)):
                                keys = [(kind, ended, w) for w in range(count)]
                                writes = [last.pop(k) for k in keys if k in last]
                                closing.append(
                                    lane_of(kind, ended).submit(finish_after, writer, ended, writes)
                                )
                        if chunk.file_index not in file_lanes:
                            file_lanes[chunk.file_index] = lanes_of(chunk.file_index)
                            next_seq[chunk.file_index] = 0
                        if threads > 1:
                            # ... and their threads finish what is queued, then exit.
                            for key in [k for k in executors if k[1] < chunk.file_index]:
                                retired.append(executors.pop(key))
                                retired[-1].shutdown(wait=False)
                        seq, lanes = next_seq[chunk.file_index], file_lanes[chunk.file_index]
                        next_seq[chunk.file_index] = seq + 1
                        which = seq % (lanes or 1)
                        kept_done = lane_of(0, chunk.file_index, which).submit(write_kept, chunk, seq, lanes)
                        removed_done = lane_of(1, chunk.file_index, which).submit(
                            write_removed, chunk, seq, lanes
                        )
                        last[(0, chunk.file_index, which)] = kept_done
                        last[(1, chunk.file_index, which)] = removed_done
                        pending.append((chunk, kept_done, removed_done))
                        # At most 2 chunks per worker in the writers' hands.
                        settle(2 * threads)
                    settle(0)
                    for closed in closing:
                        closed.result()
                finally:
                    for executor in [*retired, *executors.values()]:
                        executor.shutdown(wait=True)
        except BaseException:
            # Every lane has stopped (the executors are shut down): close the open
            # files and remove the part files of shards written by several lanes.
            kept_writer.abort()
            removed_writer.abort()
            raise
        self.progress.finish()
        extra = [
            pa.field("duplicate_of", id_type),
            pa.field("cluster_id", pa.int64()),
            pa.field("similarity", pa.float64()),
            pa.field("reason", pa.string()),
        ]
        if self.against is not None:
            extra.append(pa.field("duplicate_source", pa.string()))
        empty_kept = {i: s for i, s in schemas.items()}
        empty_removed = {
            i: pa.schema(
                [f for f in s if self.config.removed_text or f.name != self.config.text_column] + extra
            )
            for i, s in schemas.items()
        }
        # The shards are listed by size: enough to tell a finished shard from a torn one.
        for path in [*kept_writer.close(empty_kept), *removed_writer.close(empty_removed)]:
            self._keep(path, FileRecord(path.stat().st_size))

        in_cluster = labels >= 0
        cluster_docs = np.flatnonzero(in_cluster)
        self._write_parquet(
            self.out / "clusters.parquet",
            pa.table(
                {
                    "id": take(ids, from_numpy(cluster_docs)),
                    "cluster_id": from_numpy(labels[cluster_docs], pa.int64()),
                    "is_kept": from_numpy(~removed[cluster_docs]),
                }
            ),
            "output",
        )
        if self.config.emit_pairs:
            edges = np.load(self.work / "edges.npy").astype(np.int64)
            sims = np.load(self.work / "edge_sims.npy")
            if self.config.clustering == "star":
                edges = np.concatenate([edges, np.load(self.work / "star_edges.npy").astype(np.int64)])
                sims = np.concatenate([sims, np.load(self.work / "star_sims.npy")])
            within = (edges < n).all(axis=1)  # pairs with an indexed row are not pairs of this run
            edges, sims = edges[within], sims[within]
            self._write_parquet(
                self.out / "pairs.parquet",
                pa.table(
                    {
                        "id_a": take(ids, from_numpy(edges[:, 0])),
                        "id_b": take(ids, from_numpy(edges[:, 1])),
                        "jaccard": sims,
                    }
                ),
                "output",
            )
        if kept_rows + removed_rows != n:
            raise AssertionError(f"row accounting broken: kept {kept_rows} + removed {removed_rows} != {n}")
        return {"kept": kept_rows, "removed": removed_rows}

    # -- report --------------------------------------------------------------

    def build_report(self, seconds: float) -> dict[str, Any]:
        sketch = self.stage_counts.get("sketch", {})
        cluster = self.stage_counts.get("cluster", {})
        write = self.stage_counts.get("write", {})
        verify = self.stage_counts.get("verify", {})
        candidates = self.stage_counts.get("candidates", {})
        status = np.load(self.work / "status.npy")
        docs = int(sketch.get("documents", 0))
        rejected = int(sketch.get("rejected", 0))
        text_bytes = int(sketch.get("text_bytes", 0))
        removed_exact = int(cluster.get("removed_exact", 0))
        removed_index = int(cluster.get("removed_against_index", 0))
        rows = Rows(
            docs + rejected,
            kept=int(write.get("kept", 0)),
            removed=int(write.get("removed", 0)),
            rejected=rejected,
            detail={
                "removed_near_duplicate": int(cluster.get("removed", 0)) - removed_exact - removed_index,
                "removed_exact_duplicate": removed_exact,
                **({"removed_against_index": removed_index} if self.against else {}),
                "empty_text_kept": int((status == RowStatus.EMPTY).sum()),
                "null_text_kept": int((status == RowStatus.NULL).sum()),
                "invalid_utf8_kept": int((status == RowStatus.INVALID_UTF8).sum()),
            },
        )
        return run_report(
            "dedup",
            parameters={
                **asdict(self.config),
                "engine": "local",
                "bands": self.banding.bands,
                "rows": self.banding.rows,
                "banding": self.banding.describe(),
                "workers": self.workers,
            },
            inputs=self.files,
            rows=rows,
            timer=self.timer,
            seconds=seconds,
            outputs={
                "kept": "kept/",
                "removed": "removed/",
                "clusters": "clusters.parquet",
                **({"pairs": "pairs.parquet"} if self.config.emit_pairs else {}),
                **({"rejected": "rejected/rejected.jsonl"} if rejected else {}),
            },
            warnings=[w for w in [long_token_warning(sketch, self.config.tokenizer)] if w],
            text_bytes=text_bytes,
            **({"against": self.against.report()} if self.against is not None else {}),
            pairs={
                "band_records": int(candidates.get("band_records", 0)),
                "candidates": int(candidates.get("candidate_pairs", 0)),
                "verified": int(verify.get("verified_pairs", 0)),
                "rejected_by_verification": int(verify.get("rejected_pairs", 0)),
            },
            clusters={
                "count": int(cluster.get("clusters", 0)),
                "rows_in_clusters": int(cluster.get("rows_in_clusters", 0)),
                "size_histogram": cluster.get("histogram", {}),
                "giant_component_guard": cluster.get("giant_component_guard", {}),
                # clustering="star": rounds of extra verification, pairs verified, edges added.
                **({"star": cluster["star"]} if "star" in cluster else {}),
            },
            # Documents whose tokens are very long: a tokenizer that does not fit the text.
            tokens={k: int(sketch.get(k, 0)) for k in TokenLengthCheck("").counts()},
            # Where a resumed run started, and the checkpoints it could not use (torn, damaged).
            **({"resume": {"discarded": [], **self.resumed}} if self.resume else {}),
        )
