"""The public functions of the engines, written once over an :class:`Engine` adapter.

``stemmatic.engines.ray`` and ``stemmatic.engines.spark`` each give an
:class:`Engine` (how to get a :class:`~stemmatic.engines._common.Backend` for a
dataset, how to send the contamination index to the workers, how to run
inside the engine, how to put outputs in row order, how to read and write
directories); ``dedup_split``, ``dedup``, ``dedup_to_directory``,
``scan_split``, ``scan`` and ``scan_to_directory`` are the same for both, and
their docstrings are made here from one text per function.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from stemmatic.dedup.config import DedupConfig
from stemmatic.dedup.index import DedupIndex
from stemmatic.dedup.params import DedupParams
from stemmatic.engines._against import against_index
from stemmatic.engines._common import ROW, Backend, EngineDedupResult, EngineOptions, Locate, run_dedup
from stemmatic.engines._scan import ENTRY, EngineScanResult, IndexHandle, ScanParams, load_index, run_scan

if TYPE_CHECKING:
    from stemmatic.contamination import ContaminationIndex
    from stemmatic.engines._directory import EngineIO
    from stemmatic.io import OutputFormat

__all__ = [
    "Engine",
    "Indexes",
    "dedup_directory_on",
    "dedup_split_on",
    "scan_directory_on",
    "scan_split_on",
]

D = TypeVar("D")
#: Indexes of earlier releases (``against=``): paths or URLs of :func:`stemmatic.dedup.build_index` output.
Indexes = Sequence[str | os.PathLike[str]] | str | os.PathLike[str] | None


class Engine(Protocol[D]):
    """What the front-end needs of an engine beyond the :class:`Backend` primitives."""

    name: str

    def backend(self, data: D) -> Backend[D]:
        """The backend that runs the algorithm on ``data``'s engine (session, cluster)."""
        ...

    def ship(self, data: D, index: ContaminationIndex) -> IndexHandle:
        """The index sent once to ``data``'s workers, each of which loads it once."""
        ...

    def running(self) -> contextlib.AbstractContextManager[None]:
        """Around a run: engine settings the answer needs (block order) and clean errors."""
        ...

    def in_order(self, data: D, columns: list[str]) -> D:
        """``data`` ordered by ``columns``, which are then dropped."""
        ...

    def io(self) -> EngineIO[D]:
        """How the engine reads resolved input files and writes part files."""
        ...


def _indexes(against: Indexes) -> list[str | os.PathLike[str]]:
    if against is None:
        return []
    return [against] if isinstance(against, (str, os.PathLike)) else list(against)


def dedup_split_on(
    engine: Engine[D],
    data: D,
    params: DedupParams,
    options: EngineOptions,
    locate: Locate | None = None,
    against: Indexes | DedupIndex = None,
) -> EngineDedupResult[D]:
    """``dedup_split`` of every engine: run :func:`run_dedup`, return the outputs in row order.

    ``against``: index paths (opened and checked here), or an index the caller opened.
    """
    backend = engine.backend(data)
    with contextlib.ExitStack() as stack:
        index = (
            against
            if isinstance(against, DedupIndex)
            else stack.enter_context(against_index(_indexes(against), params))
        )
        stack.enter_context(engine.running())
        result = run_dedup(backend, data, params, params.banding(), options, locate, index)
        # Outputs in row order, like the local engine's; the row number is internal.
        return EngineDedupResult(
            kept=engine.in_order(result.kept, [ROW]),
            removed=engine.in_order(result.removed, [ROW]),
            clusters=engine.in_order(result.clusters, [ROW]),
            stats=result.stats,
        )


def dedup_directory_on(
    engine: Engine[D],
    inputs: list[str],
    output: str,
    config: DedupConfig,
    options: EngineOptions,
    overwrite: bool,
    against: Indexes = None,
) -> dict[str, Any]:
    """``dedup_to_directory`` of every engine (:func:`stemmatic.engines._directory.dedup_directory`)."""
    from stemmatic.engines._directory import dedup_directory

    def split(
        data: D, params: DedupParams, opts: EngineOptions, locate: Locate, index: DedupIndex | None
    ) -> EngineDedupResult[D]:
        return dedup_split_on(engine, data, params, opts, locate, index)

    return dedup_directory(engine.io(), split, inputs, output, config, options, overwrite, _indexes(against))


def scan_split_on(
    engine: Engine[D],
    data: D,
    index: ContaminationIndex | str | os.PathLike[str],
    params: ScanParams,
    options: EngineOptions,
) -> EngineScanResult[D]:
    """``scan_split`` of every engine: run :func:`run_scan`, return hits by document then entry, rows in order."""
    backend = engine.backend(data)  # a missing extra fails here, before the index is read
    loaded = load_index(index)
    params.validate(loaded)
    handle = engine.ship(data, loaded)
    with engine.running():
        result = run_scan(backend, data, loaded, handle, params, options)
        hits = engine.in_order(result.hits, [ROW, ENTRY])
        clean = removed = None
        if result.clean is not None and result.removed is not None:
            clean = engine.in_order(result.clean, [ROW])
            removed = engine.in_order(result.removed, [ROW])
    return EngineScanResult(hits=hits, clean=clean, removed=removed, stats=result.stats)


def scan_directory_on(
    engine: Engine[D],
    inputs: list[str],
    index_path: str,
    output: str,
    params: ScanParams,
    options: EngineOptions,
    overwrite: bool,
    on_error: str,
    fmt: OutputFormat,
    max_shard_rows: int | None = None,
) -> dict[str, Any]:
    """``scan_to_directory`` of every engine (:func:`stemmatic.engines._directory.scan_directory`)."""
    from stemmatic.engines._directory import scan_directory

    def split(data: D, index: ContaminationIndex, params: ScanParams) -> EngineScanResult[D]:
        return scan_split_on(engine, data, index, params, options)

    return scan_directory(
        engine.io(), split, inputs, index_path, output, params, overwrite, on_error, fmt, max_shard_rows
    )


DEDUP_SPLIT_DOC = """Near-duplicate removal on {Engine}: kept rows, removed rows, clusters and counts.

    Same parameters (``config`` and keyword overrides such as
    ``threshold=0.7``, ``keep="longest"``, ``exact=True``) and the same
    answer as :func:`stemmatic.dedup.dedup`: rows are numbered in input order
    (by ``id_column`` rank when given), and the outputs are in that order.

    Args:
        {data}: a {dataset} with the text column (and id / keep columns).
        config: dedup parameters (:class:`~stemmatic.dedup.params.DedupParams`,
            or a :class:`~stemmatic.dedup.DedupConfig`, whose ``memory_limit``,
            ``fmt``, ``emit_pairs`` and ``on_error`` do not apply here),
            including the giant-component guard ``max_cluster_size``.
        options: how the engine splits the work (:class:`EngineOptions`).
        against: indexes of earlier releases (:func:`stemmatic.dedup.build_index`,
            paths or URLs the workers can read too): rows that duplicate an
            indexed row are removed with ``reason`` ``near_duplicate_of_index``,
            ``duplicate_of`` the indexed row's id and ``duplicate_source`` its
            file, as :func:`stemmatic.dedup.dedup` does with ``against=``.
        **overrides: replace fields of ``config``.

    Returns:
        ``kept`` (the input columns), ``removed`` (plus ``duplicate_of``,
        ``cluster_id``, ``similarity``, ``reason``, and ``duplicate_source``
        with ``against``), ``clusters`` (``id``, ``cluster_id``, ``is_kept``)
        as {dataset}s, and ``stats``.
    """

DEDUP_DOC = """The kept rows of :func:`dedup_split`, as a {dataset} in input order."""

DEDUP_TO_DIRECTORY_DOC = """What ``stemmatic dedup --engine {name}`` does: read, dedup, write ``kept/``, ``removed/``, ``clusters/``, ``report.json``.

    {where} Returns the report. The inputs are read by the local engine's
    reader, so ``config.on_error`` applies (rejected lines go to
    ``rejected/``), as does ``config.fmt`` for ``kept/`` and ``removed/``
    (``emit_pairs``, ``removed_text=False``, ``compression`` and the shard
    caps are refused: the engine writes its own part files);
    ``against`` as in :func:`dedup_split` (the indexes are opened and
    checked before anything is written).
    """


SCAN_SPLIT_DOC = """Contamination scan on {Engine}: the hits of :meth:`ContaminationIndex.scan`, and optionally the split.

    {index_travels}; each batch is scanned by the local engine's Rust scanner.

    Args:
        {data}: a {dataset} with the text column (and the id column).
        index: a :class:`~stemmatic.contamination.ContaminationIndex` or the path of a saved one.
        params: the scan parameters (:class:`~stemmatic.engines._scan.ScanParams`).
        options: ``task_threads`` (Rust threads per task) is the one that applies.
        **overrides: replace fields of ``params``:

            - ``text_column``: column holding the document text (``"text"``).
            - ``id_column``: column of document ids for ``doc_id``; by default the
              row's position in input order (as :func:`scan_corpus` numbers it).
            - ``min_ngrams``, ``min_coverage``: when a (document, entry) pair counts as a hit.
            - ``remove``: also return ``clean`` (rows without hits) and ``removed``
              (plus ``contamination_reason``, ``contamination_hits``).
            - ``tokenizer``: if given, must equal the index's tokenizer (else refused).
            - ``min_specific_tokens``, ``max_entry_docs``, ``count_weak``, ``short_ngram``,
              ``short_fields``, ``short_min_ngrams``, ``token_overlap``, ``coverage_min_span``:
              as for :func:`~stemmatic.contamination.scan_corpus` (what a hit
              proves, short statements, Llama 2 token coverage).

    Returns:
        ``hits`` (the columns of the local ``hits.parquet``: ``HITS_SCHEMA``,
        ``match``, ``longest_span`` with ``token_overlap``, ``entry_docs``,
        ``evidence``; ordered by document then entry), ``clean`` /
        ``removed`` in input order, and ``stats`` (counts as in the local
        report, per benchmark with Llama 2's buckets when measured).
    """

SCAN_DOC = """The hits of :func:`scan_split`: a {dataset} with the local ``ContaminationIndex.scan`` columns.

    Parameters as for :func:`scan_split` (``remove`` does not apply).
    """

SCAN_TO_DIRECTORY_DOC = """What ``stemmatic contamination scan --engine {name}`` does: write ``hits/`` (``clean/``, ``removed/``) and ``report.json``.

    {where} Malformed JSONL lines raise, or with ``on_error="skip"`` go to
    ``rejected/rejected.jsonl``; ``clean/`` and ``removed/`` are written as
    ``fmt`` (Parquet or JSONL part files), ``hits/`` as Parquet.
    """


def document(functions: dict[str, Any], **names: str) -> None:
    """Fill the docstrings of an engine module's dedup and scan functions."""
    texts = {
        "dedup_split": DEDUP_SPLIT_DOC,
        "dedup": DEDUP_DOC,
        "dedup_to_directory": DEDUP_TO_DIRECTORY_DOC,
        "scan_split": SCAN_SPLIT_DOC,
        "scan": SCAN_DOC,
        "scan_to_directory": SCAN_TO_DIRECTORY_DOC,
    }
    for name, text in texts.items():
        functions[name].__doc__ = text.format(**names)
