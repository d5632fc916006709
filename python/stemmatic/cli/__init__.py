"""The ``stemmatic`` command line: one typer app per command group.

The root loads a command's module only when that command runs (or its help
is asked for): ``stemmatic --help`` and ``stemmatic version`` import neither
numpy, pyarrow nor any feature package, so they answer at once. What the
root lists for a command not yet loaded is the first paragraph of its help,
written once in :data:`LAZY_COMMANDS` (tests/test_cli.py checks that it is
the command's own).
"""

from __future__ import annotations

import atexit
import gc
import importlib
import os
import sys
from collections.abc import Iterator, MutableMapping
from typing import Annotated, Any, NamedTuple

import typer
import typer.core
import typer.main
import typer.models

from stemmatic.cli._errors import EXIT_INTERRUPTED, debug_enabled, describe_unexpected

#: What numpy's OpenBLAS does at import unless told otherwise: start a thread per CPU, each of which
#: spins for work for ~0.1 s (its thread timeout) before it sleeps. A command that multiplies no
#: matrices gains nothing from them and, on a small machine, loses a core to them while it starts:
#: 0.04-0.06 CPU seconds of a 0.5 s dedup of 25 MB on 2 cores.
BLAS_THREADS_ENV = "OPENBLAS_NUM_THREADS"


class LazyCommand(NamedTuple):
    """Where a command of the root lives, and what the root's help says of it until it is loaded.

    ``blas``: the command multiplies matrices through numpy (diversity) or torch (resofilter). The
    others run numpy's OpenBLAS on one thread (:data:`BLAS_THREADS_ENV`, unless the user set it),
    decided before numpy is imported.
    """

    module: str
    attribute: str
    summary: str
    blas: bool = False

    def load(self, name: str) -> Any:
        """The click command: a typer app's group, or a typer command function's command."""
        if not self.blas and "numpy" not in sys.modules:
            os.environ.setdefault(BLAS_THREADS_ENV, "1")
        target = getattr(importlib.import_module(self.module), self.attribute)
        if isinstance(target, typer.Typer):
            return typer.main.get_group_from_info(
                typer.models.TyperInfo(target, name=name),
                pretty_exceptions_short=True,
                suggest_commands=True,
                rich_markup_mode=None,
            )
        return typer.main.get_command_from_info(
            typer.models.CommandInfo(name=name, callback=target),
            pretty_exceptions_short=True,
            rich_markup_mode=None,
        )


#: The root's commands, in the order ``stemmatic --help`` lists them.
LAZY_COMMANDS: dict[str, LazyCommand] = {
    "sample-data": LazyCommand(
        "stemmatic.cli.sample",
        "sample_data",
        "Generate a corpus (Zipf-distributed words, planted near-duplicates) as shards.",
    ),
    "dedup": LazyCommand(
        "stemmatic.cli.dedup",
        "dedup",
        "Remove near-duplicate rows (MinHash + LSH, verified) and write kept/, removed/, clusters, report.",
    ),
    "index": LazyCommand(
        "stemmatic.cli.index",
        "app",
        "Index released data (band keys, shingle sets, ids) so new data can be deduplicated against it (dedup --against).",
    ),
    "version": LazyCommand(
        "stemmatic.cli",
        "version",
        "Print the stemmatic version and the Unicode version of its tokenizer tables.",
    ),
    "resofilter": LazyCommand(
        "stemmatic.cli.resofilter",
        "app",
        "Score fine-tuning samples by how much one training step moves the weights (ResoFilter), then select.",
        blas=True,
    ),
    "lineage": LazyCommand(
        "stemmatic.cli.lineage",
        "app",
        "Dataset lineage: build a graph from cards, DPI summaries and edge files; query, check, export.",
    ),
    "diversity": LazyCommand(
        "stemmatic.cli.diversity",
        "app",
        "Embedding-space diversity: embed, semantic dedup (SemDeDup), diverse selection, metrics.",
        blas=True,
    ),
    "contamination": LazyCommand(
        "stemmatic.cli.contamination",
        "app",
        "Index benchmark items as n-grams, then find them (per item, with character spans) in corpora.",
    ),
}


class _Commands(MutableMapping[str, Any]):
    """The root's commands by name: a lazy one is loaded the first time it is looked up."""

    def __init__(self, loaded: MutableMapping[str, Any]) -> None:
        self.loaded = dict(loaded)
        self.names = [*LAZY_COMMANDS, *(name for name in loaded if name not in LAZY_COMMANDS)]

    def __getitem__(self, name: str) -> Any:
        if name not in self.loaded:
            if name not in LAZY_COMMANDS:
                raise KeyError(name)
            self.loaded[name] = LAZY_COMMANDS[name].load(name)
        return self.loaded[name]

    def __contains__(self, name: object) -> bool:
        return name in self.loaded or name in LAZY_COMMANDS

    def __setitem__(self, name: str, command: Any) -> None:
        if name not in self.names:
            self.names.append(name)
        self.loaded[name] = command

    def __delitem__(self, name: str) -> None:
        self.names.remove(name)
        self.loaded.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self.names))

    def __len__(self) -> int:
        return len(self.names)


class _LazyGroup(typer.core.TyperGroup):
    """The root group: commands from :data:`LAZY_COMMANDS` are imported when first used."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = _Commands(self.commands)

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        # The help of a command not yet loaded is its summary: listing must not import it.
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        loaded = self.commands.loaded if isinstance(self.commands, _Commands) else self.commands
        rows = []
        for name in names:
            command = loaded.get(name)
            if command is None:
                rows.append((name, _short_help(LAZY_COMMANDS[name].summary, limit)))
            elif not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _short_help(text: str, limit: int) -> str:
    # Shortened as click shortens a loaded command's help, so loading changes nothing in the listing.
    return typer.core.TyperCommand(name="", help=text).get_short_help_str(limit)


app = typer.Typer(
    name="stemmatic",
    help="Curate LLM training data: dedup, contamination, diversity, lineage, ResoFilter.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    # Help and usage errors print as written: in rich mode "local[8]" prints as "local".
    rich_markup_mode=None,
    cls=_LazyGroup,
)


def _version_line() -> str:
    import stemmatic

    return f"stemmatic {stemmatic.__version__} (Unicode {stemmatic.UNICODE_VERSION})"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(_version_line())
        raise typer.Exit()


@app.callback()
def _root(
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Curate LLM training data: dedup, contamination, diversity, lineage, ResoFilter."""


def version() -> None:
    """Print the stemmatic version and the Unicode version of its tokenizer tables."""
    typer.echo(_version_line())


def main() -> None:
    """Entry point of the ``stemmatic`` script: no traceback reaches the user.

    Each command prints stemmatic's own errors as one ``error:`` line (exit 2);
    what escapes a command (out of memory, a file system error, an interrupt, a
    bug) is printed here as one line too, with its exit code (see
    :mod:`stemmatic.cli._errors`). ``STEMMATIC_DEBUG=1`` shows the traceback instead.
    """
    # Registered before anything a command starts (Ray, Spark, logging), so it runs after their exit
    # handlers: the interpreter's last collections then skip the objects numpy, pyarrow, typer and
    # rich made at import, a walk of 0.04-0.1 s at the end of every command. Cycles still alive then
    # are left to the operating system like the rest of the process; commands close their files
    # before they return.
    atexit.register(gc.freeze)
    try:
        app()
    except SystemExit as exit_:
        # typer turns Ctrl-C inside a command into a silent exit 130; no command exits 130 itself.
        if exit_.code == EXIT_INTERRUPTED:
            typer.echo("interrupted", err=True)
        raise
    except (Exception, KeyboardInterrupt) as err:
        if debug_enabled():
            raise
        line, code = describe_unexpected(err)
        typer.echo(line, err=True)
        sys.exit(code)
