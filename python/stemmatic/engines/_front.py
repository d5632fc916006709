"""The public dedup functions of the engines, written once over an :class:`Engine` adapter.

``stemmatic.engines.ray`` and ``stemmatic.engines.spark`` each give an
:class:`Engine` (how to get a :class:`~stemmatic.engines._common.Backend` for a
dataset, how to run inside the engine, how to put outputs in row order, how
to read and write directories); ``dedup_split``, ``dedup`` and
``dedup_to_directory`` are the same for both, and their docstrings are made
here from one text per function.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from stemmatic.dedup.index import DedupIndex
from stemmatic.dedup.pipeline import DedupConfig
from stemmatic.engines._against import against_index
from stemmatic.engines._common import ROW, Backend, EngineDedupResult, EngineOptions, Locate, run_dedup

if TYPE_CHECKING:
    from stemmatic.engines._directory import EngineIO

__all__ = ["Engine", "Indexes", "dedup_directory_on", "dedup_split_on"]

D = TypeVar("D")
#: Indexes of earlier releases (``against=``): paths or URLs of :func:`stemmatic.dedup.build_index` output.
Indexes = Sequence[str | os.PathLike[str]] | str | os.PathLike[str] | None


class Engine(Protocol[D]):
    """What the front-end needs of an engine beyond the :class:`Backend` primitives."""

    name: str

    def backend(self, data: D) -> Backend[D]:
        """The backend that runs the algorithm on ``data``'s engine (session, cluster)."""
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
    config: DedupConfig,
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
            else stack.enter_context(against_index(_indexes(against), config))
        )
        stack.enter_context(engine.running())
        result = run_dedup(backend, data, config, config.banding(), options, locate, index)
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
        data: D, cfg: DedupConfig, opts: EngineOptions, locate: Locate, index: DedupIndex | None
    ) -> EngineDedupResult[D]:
        return dedup_split_on(engine, data, cfg, opts, locate, index)

    return dedup_directory(engine.io(), split, inputs, output, config, options, overwrite, _indexes(against))


DEDUP_SPLIT_DOC = """Near-duplicate removal on {Engine}: kept rows, removed rows, clusters and counts.

    Same parameters (``config`` and keyword overrides such as
    ``threshold=0.7``, ``keep="longest"``, ``exact=True``) and the same
    answer as :func:`stemmatic.dedup.dedup`: rows are numbered in input order
    (by ``id_column`` rank when given), and the outputs are in that order.

    Args:
        {data}: a {dataset} with the text column (and id / keep columns).
        config: dedup parameters (``memory_limit``, ``fmt``, ``emit_pairs``
            and ``on_error`` do not apply here).
        options: how the engine splits the work (:class:`EngineOptions`),
            including the giant-component guard ``max_cluster_size``.
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
    ``rejected/``), as does ``config.fmt`` for ``kept/`` and ``removed/``;
    ``against`` as in :func:`dedup_split` (the indexes are opened and
    checked before anything is written).
    """


def document(functions: dict[str, Any], **names: str) -> None:
    """Fill the docstrings of an engine module's ``dedup_split``, ``dedup``, ``dedup_to_directory``."""
    texts = {"dedup_split": DEDUP_SPLIT_DOC, "dedup": DEDUP_DOC, "dedup_to_directory": DEDUP_TO_DIRECTORY_DOC}
    for name, text in texts.items():
        functions[name].__doc__ = text.format(**names)
