"""Options that several commands share, defined once (typer reads them from the annotations)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar, overload

import typer

if TYPE_CHECKING:
    from stemmatic.dedup import DedupConfig

#: ``--ray-address`` of the commands with ``--engine ray``.
RayAddress = Annotated[
    str | None,
    typer.Option(help="--engine ray: cluster address (auto, ray://host:10001); default local."),
]
#: ``--spark-master`` of the commands with ``--engine spark``.
SparkMaster = Annotated[
    str | None, typer.Option(help="--engine spark: master URL (local[8], spark://host:7077, yarn).")
]

#: ``--workers`` of the commands that run the Rust engine's thread pool.
Workers = Annotated[
    int | None,
    typer.Option(min=0, help="Threads (default: STEMMATIC_NUM_THREADS or all CPUs; 0 = all CPUs)."),
]

#: The corpus inputs of every corpus command.
Inputs = Annotated[
    list[str],
    typer.Argument(
        help="Files (Parquet, JSON(L), CSV/TSV, Arrow; .gz/.zst/.bz2), directories or globs, local or "
        "URLs (s3://, gs://, hf://, memory://, ... through pyarrow/fsspec)."
    ),
]
TextColumn = Annotated[str, typer.Option(help="Column holding the text.")]
OnError = Annotated[
    Literal["raise", "skip"],
    typer.Option(help="What to do with a malformed line (skipped lines go to rejected/, counted)."),
]
Quiet = Annotated[
    bool,
    typer.Option(
        "--quiet", "-q", help="No progress and no notes on stderr (warnings and errors still show)."
    ),
]
RemovedText = Annotated[
    bool,
    typer.Option(
        "--removed-text/--no-removed-text",
        help="Write the removed rows with their text column (--no-removed-text: every other column, "
        "and why each row was removed, but not the text).",
    ),
]

#: ``-o/--output`` of the corpus commands; optional here so that :data:`OutAlias` can stand in
#: for it (:func:`output_of` makes one of the two required).
Output = Annotated[
    str | None,
    typer.Option(
        "--output", "-o", help="Output directory, local or a URL (uploaded when the run ends). Required."
    ),
]
#: ``--out``: the earlier name of ``--output``, still accepted, not listed in ``--help``.
OutAlias = Annotated[str | None, typer.Option("--out", hidden=True)]
IdColumn = Annotated[
    str | None,
    typer.Option(help="Column of unique row ids (default: row position in the ordered inputs)."),
]
Format = Annotated[Literal["parquet", "jsonl"], typer.Option("--format", help="Format of the output shards.")]
Compression = Annotated[
    str | None,
    typer.Option(
        help="Output compression: a Parquet codec (default zstd; snappy, gzip, brotli, lz4, none) or for "
        "JSONL gzip | zstd | bz2 | none (default: each input file's own)."
    ),
]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace a non-empty output directory.")]
Resume = Annotated[
    bool, typer.Option("--resume", help="Resume an interrupted run in OUTPUT (a local directory).")
]


def _size(value: str | None) -> str | None:
    """``--max-shard-size`` checked as typer checks a choice (exit 2, the option named)."""
    from stemmatic.exceptions import ParameterError
    from stemmatic.io._sinks import shard_caps

    try:
        shard_caps(value)
    except ParameterError as err:
        raise typer.BadParameter(str(err)) from None
    return value


#: ``--max-shard-size`` / ``--max-shard-rows`` of the commands that write kept/removed (or clean/removed) shards.
MaxShardSize = Annotated[
    str | None,
    typer.Option(
        callback=_size,
        help="Cap on each output file, e.g. 512MB: bytes written (compressed), approximate (checked "
        "between slices of rows; bz2 counts whole 900 kB blocks). With a cap, output files are "
        "numbered NAME-00000.EXT, NAME-00001.EXT, ... in row order.",
    ),
]
MaxShardRows = Annotated[
    int | None,
    typer.Option(
        min=1,
        help="Cap on the rows of each output file (exact); files numbered as with --max-shard-size. "
        "With --engine spark, a cap on the rows of each Spark part file.",
    ),
]


def option_group(cls: type[_Group]) -> type[_Group]:
    """Mark a frozen dataclass as a group of options that commands declare as one parameter.

    Its fields are typer options (``Annotated`` types with defaults); a
    command decorated with :func:`with_option_groups` declares one parameter
    of the class (default: an instance of it), and its users see the fields as
    options in that place.
    """
    cls.__option_group__ = True  # type: ignore[attr-defined]
    return cls


_Group = TypeVar("_Group")
_Command = TypeVar("_Command", bound=Callable[..., Any])


def with_option_groups(command: _Command) -> _Command:
    """``command`` with each parameter of an :func:`option_group` class spread into the group's options."""
    import dataclasses
    import functools
    import inspect
    import typing

    hints = typing.get_type_hints(command, include_extras=True)
    parameters: list[inspect.Parameter] = []
    groups: dict[str, tuple[type, list[str]]] = {}
    for parameter in inspect.signature(command).parameters.values():
        kind = hints[parameter.name]
        if not getattr(kind, "__option_group__", False):
            parameters.append(parameter.replace(annotation=kind))
            continue
        fields = typing.get_type_hints(kind, include_extras=True)
        names = [f.name for f in dataclasses.fields(kind)]
        groups[parameter.name] = (kind, names)
        parameters += [
            inspect.Parameter(
                name,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                default=getattr(parameter.default, name),
                annotation=fields[name],
            )
            for name in names
        ]

    @functools.wraps(command)
    def grouped(*args: Any, **kwargs: Any) -> Any:
        for name, (kind, names) in groups.items():
            kwargs[name] = kind(**{field: kwargs.pop(field) for field in names})
        return command(*args, **kwargs)

    grouped.__signature__ = inspect.Signature(parameters, return_annotation=None)  # type: ignore[attr-defined]
    grouped.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": None}
    return grouped  # type: ignore[return-value]


@option_group
@dataclass(frozen=True)
class Shards:
    """``--format``, ``--compression``, ``--max-shard-size``, ``--max-shard-rows``: how a command writes its shards."""

    fmt: Format = "parquet"
    compression: Compression = None
    max_shard_size: MaxShardSize = None
    max_shard_rows: MaxShardRows = None

    def options(self) -> dict[str, Any]:
        """The keyword arguments of the library functions that write kept/removed shards."""
        return {
            "output_format": self.fmt,
            "compression": self.compression,
            "max_shard_size": self.max_shard_size,
            "max_shard_rows": self.max_shard_rows,
        }


#: The default of a command's ``shards`` parameter.
SHARDS = Shards()


@overload
def output_of(output: str | None, out: str | None) -> str: ...
@overload
def output_of(output: str | None, out: str | None, *, required: bool) -> str | None: ...
def output_of(output: str | None, out: str | None, *, required: bool = True) -> str | None:
    """The output directory given as ``-o/--output`` or as the hidden alias ``--out``.

    Exits with code 2 and one ``error:`` line (as for any bad option) when
    both are given with different values, or neither while ``required``.
    """
    from stemmatic.cli._errors import fail

    if output is not None and out is not None and output != out:
        fail("give the output directory once, as -o/--output")
    value = output if output is not None else out
    if value is None and required:
        fail("missing option -o/--output (the output directory)")
    return value


# The near-duplicate parameters, shared by `dedup` and `index build` (an index keeps them).
Threshold = Annotated[float, typer.Option(help="Jaccard similarity at or above which rows are duplicates.")]
NumPerm = Annotated[int, typer.Option(help="MinHash permutations (at most 8,192).")]
Ngram = Annotated[int, typer.Option(help="Shingle size (tokens, or characters for --tokenizer chars).")]
Tokenizer = Annotated[
    Literal["auto", "auto-span", "auto-document", "words", "whitespace", "chars"],
    typer.Option(
        help="auto (words, and one unit per character of Chinese, Japanese, Thai...; a document with a tenth or more of its letters in those scripts is cut into characters throughout) | auto-span (never cuts a whole document) | auto-document | words | whitespace | chars. See docs/hashing.md."
    ),
]
Seed = Annotated[int, typer.Option(help="Seed of the shingle hash and the permutations.")]
Bands = Annotated[int | None, typer.Option(help="LSH bands (default: chosen for the threshold, printed).")]
Rows = Annotated[int | None, typer.Option(help="Rows per LSH band (give with --bands).")]


_D = TypeVar("_D", str, None)


def renamed(value: str | None, old: str | None, *, option: str, old_option: str, default: _D) -> str | _D:
    """The value of an option given under its name ``option`` or its earlier name ``old_option``.

    Both are declared with the default ``None`` (the earlier name hidden:
    accepted, not listed in ``--help``); ``default`` applies when neither is
    given. Exits with code 2 and one ``error:`` line when both are given with
    different values.
    """
    from stemmatic.cli._errors import fail

    if value is not None and old is not None and value != old:
        fail(f"give {option} once ({old_option} is its earlier name)")
    if value is not None:
        return value
    return old if old is not None else default


#: ``--clustering`` of the commands that turn verified pairs into kept and removed rows.
Clustering = Annotated[
    Literal["components", "star"],
    typer.Option(
        help="components (connected components of verified pairs; a removed row may chain far below "
        "--threshold to its kept row) | star (every removed row is verified at or above --threshold "
        "to its kept row; local engine)."
    ),
]


@option_group
@dataclass(frozen=True)
class Similarity:
    """The near-duplicate parameters of ``dedup`` and ``index build`` (an index keeps them; a dedup against it repeats them)."""

    threshold: Threshold = 0.8
    num_perm: NumPerm = 128
    ngram: Ngram = 5
    tokenizer: Tokenizer = "auto"
    seed: Seed = 1
    bands: Bands = None
    rows: Rows = None

    def config(self, **fields: Any) -> DedupConfig:
        """A :class:`~stemmatic.dedup.DedupConfig` of these parameters and ``fields``, checked."""
        from stemmatic.dedup import DedupConfig

        config = DedupConfig(**dataclasses.asdict(self), **fields)
        config.validate()
        return config


#: The default of a command's ``similarity`` parameter.
SIMILARITY = Similarity()
