"""A dedup run's configuration: the algorithm's parameters, how this process reads and holds the data, what it writes.

Three parts, each defined and checked once:

* :class:`~stemmatic.dedup.params.DedupParams`: the algorithm (what changes
  the answer), shared by the local pipeline, the index and the Ray/Spark
  engines;
* :class:`LocalOptions`: how this process reads the inputs and what it may
  hold in memory (the Ray/Spark directory functions read their inputs with
  this process's reader too, so ``on_error`` applies there);
* :class:`OutputOptions`: the format and layout of ``kept/``, ``removed/``
  and ``pairs.parquet``, shared by the local and the engines' directory
  writers (:meth:`OutputOptions.check_engine` says which the engines honour).

:class:`DedupConfig` is the three together with their flat field names
(``DedupConfig(threshold=0.7, fmt="jsonl")``), as :func:`stemmatic.dedup.dedup`
and the CLI take them; ``.params``, ``.local`` and ``.output`` give the parts.
The Ray/Spark engines' own options are :class:`stemmatic.engines.EngineOptions`.

>>> config = DedupConfig(threshold=0.7, fmt="jsonl", memory_limit="1GB")
>>> config.params.threshold, config.output.fmt, config.local.memory_limit
(0.7, 'jsonl', '1GB')
>>> DedupConfig.of(config.params, config.local, config.output) == config
True
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from stemmatic.dedup.params import DedupParams, part_of
from stemmatic.exceptions import ParameterError
from stemmatic.io import parse_size
from stemmatic.io._sinks import check_output
from stemmatic.io._sources import check_on_error

__all__ = ["MIN_MEMORY_LIMIT", "DedupConfig", "DedupParams", "LocalOptions", "OutputOptions"]

#: The smallest ``memory_limit`` accepted.
MIN_MEMORY_LIMIT = 1 << 20


@dataclass(frozen=True)
class LocalOptions:
    """How this process reads the inputs and what it may hold; never the answer."""

    #: Budget for what the pipeline holds in memory between stages; beyond it, it spills to disk.
    memory_limit: str | int = "4GB"
    #: Rows per input batch.
    batch_rows: int = 8192
    #: A malformed input line: ``raise``, or ``skip`` it to ``rejected/``.
    on_error: Literal["raise", "skip"] = "raise"

    def validate(self) -> None:
        check_on_error(self.on_error)
        if parse_size(self.memory_limit) < MIN_MEMORY_LIMIT:
            raise ParameterError(
                f"invalid parameter `memory_limit`: {self.memory_limit!r}; must be at least 1MiB"
            )


@dataclass(frozen=True)
class OutputOptions:
    """What a dedup writes beside the decisions: format, compression, shard caps, pairs, removed text."""

    fmt: Literal["parquet", "jsonl"] = "parquet"
    #: Output compression: a Parquet codec (default zstd) or, for JSONL, gzip/zstd/bz2/none
    #: (default: each input file's own).
    compression: str | None = None
    #: Write the verified pairs to ``pairs.parquet``.
    emit_pairs: bool = False
    #: Write removed rows with their text column (False: without it).
    removed_text: bool = True
    #: Caps on each output shard: bytes written (``512MB``; approximate) and rows; None: one
    #: file per input file (see :mod:`stemmatic.io._sinks`).
    max_shard_size: int | str | None = None
    max_shard_rows: int | None = None

    def validate(self) -> None:
        """The check every command that writes shards makes (:func:`stemmatic.io._sinks.check_output`)."""
        check_output(self.fmt, self.compression, self.max_shard_size, self.max_shard_rows)

    def check_engine(self, engine: str) -> None:
        """Refuse the options a Ray/Spark run does not honour (it writes its own part files, no pairs)."""
        if self.emit_pairs:
            raise ParameterError(f"--emit-pairs applies to the local engine only, not --engine {engine}")
        if not self.removed_text:
            raise ParameterError(f"--no-removed-text applies to the local engine only, not --engine {engine}")
        for option in ("compression", "max_shard_size", "max_shard_rows"):
            if getattr(self, option) is not None:
                raise ParameterError(
                    f"{option} applies to the local engine only, not --engine {engine}: "
                    "the engine writes its own part files"
                )


@dataclass(frozen=True)
class DedupConfig(OutputOptions, LocalOptions, DedupParams):
    """Parameters of a dedup run (see :func:`stemmatic.dedup.dedup` for their meaning).

    The fields of :class:`DedupParams`, :class:`LocalOptions` and
    :class:`OutputOptions`, in that order, each checked by its part.
    """

    def validate(self) -> None:
        DedupParams.validate(self)
        LocalOptions.validate(self)
        OutputOptions.validate(self)

    @property
    def params(self) -> DedupParams:
        """The algorithm's parameters (what the engines and an index take)."""
        return part_of(DedupParams, self)

    @property
    def local(self) -> LocalOptions:
        return part_of(LocalOptions, self)

    @property
    def output(self) -> OutputOptions:
        return part_of(OutputOptions, self)

    @classmethod
    def of(
        cls,
        params: DedupParams | None = None,
        local: LocalOptions | None = None,
        output: OutputOptions | None = None,
    ) -> DedupConfig:
        """The config of these parts (a missing part: its defaults)."""
        parts = [part for part in (params, local, output) if part is not None]
        return cls(**{k: v for part in parts for k, v in asdict(part).items()})

    @classmethod
    def build(cls, config: DedupParams | None, overrides: dict[str, Any]) -> DedupConfig:
        """A validated config: ``config`` (or the defaults) with keyword ``overrides``.

        ``config`` may also be a bare :class:`DedupParams` (the options then take their defaults).
        """
        base = config if isinstance(config, DedupConfig) else cls.of(config)
        if overrides:
            unknown = set(overrides) - set(cls.__dataclass_fields__)
            if unknown:
                raise TypeError(f"dedup() got unexpected keyword arguments: {', '.join(sorted(unknown))}")
            base = cls(**{**asdict(base), **overrides})
        base.validate()
        return base
