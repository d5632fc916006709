"""How every command prints: text as given (no rich markup), errors as one line on stderr.

rich reads ``[...]`` as markup, so through it "pip install 'stemmatic[lineage]'"
prints as "pip install 'stemmatic'" and a file ``nope[abc].jsonl`` as
``nope.jsonl``. Every console here is made with markup off, and errors go
through :func:`fail` (``typer.echo``, which prints text as it is).

Exit codes: 2 for stemmatic's own errors (bad input, bad parameter, missing
extra) and for usage errors, 1 for what the machine refused (out of memory, a
file system error), 130 for an interrupt, 70 for a bug (an internal error).
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, NoReturn

import typer

from stemmatic.exceptions import StemmaticError

if TYPE_CHECKING:
    from rich.console import Console

EXIT_ERROR = 2
EXIT_ENVIRONMENT = 1
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130

DEBUG_VARIABLE = "STEMMATIC_DEBUG"

# What to do about the OS errors a data tool meets, by errno.
_OS_HINTS = {
    errno.ENOSPC: "free some space or write the output to another disk",
    errno.EDQUOT: "free some space or write the output to another disk",
    errno.EACCES: "check the permissions of the path",
    errno.EPERM: "check the permissions of the path",
    errno.EROFS: "write the output to a writable location",
    errno.EMFILE: "raise the open-file limit (ulimit -n) or use fewer workers",
}


def literal_console(*, stderr: bool = False) -> Console:
    """A rich console that prints strings as given (no markup): tables, paths, user data."""
    from rich.console import Console  # rich loads in ~50 ms: not at the command line's start

    return Console(stderr=stderr, markup=False)


def fail(err: Exception | str) -> NoReturn:
    """Print ``error: <err>`` on stderr and exit with code 2."""
    typer.echo(f"error: {err}", err=True)
    raise typer.Exit(EXIT_ERROR)


@contextlib.contextmanager
def clean_errors() -> Iterator[None]:
    """Show stemmatic's own errors (bad input, bad parameter, missing extra) as one line, exit code 2.

    Anything else reaches :func:`stemmatic.cli.main`, which prints it as one line too.
    """
    try:
        yield
    except StemmaticError as err:
        fail(err)


def debug_enabled() -> bool:
    """``STEMMATIC_DEBUG`` is set to something other than empty or 0: show tracebacks."""
    return os.environ.get(DEBUG_VARIABLE, "").strip() not in ("", "0")


def describe_os_error(err: OSError) -> str:
    """One line for an OS error: the path(s) it names, the reason, and what to do.

    >>> import errno
    >>> describe_os_error(OSError(errno.ENOSPC, "No space left on device", "out/kept/part-0.parquet"))
    'out/kept/part-0.parquet: No space left on device (free some space or write the output to another disk)'
    """
    paths = [os.fsdecode(name) for name in (err.filename, err.filename2) if name is not None]
    reason = err.strerror or str(err) or type(err).__name__
    line = f"{' -> '.join(paths)}: {reason}" if paths else reason
    hint = _OS_HINTS.get(err.errno) if err.errno is not None else None
    return f"{line} ({hint})" if hint else line


def describe_unexpected(err: BaseException) -> tuple[str, int]:
    """The one line and the exit code :func:`stemmatic.cli.main` shows for an exception no command handled."""
    if isinstance(err, StemmaticError):
        return f"error: {err}", EXIT_ERROR
    if isinstance(err, KeyboardInterrupt):
        return "interrupted", EXIT_INTERRUPTED
    if isinstance(err, MemoryError):
        detail = f" ({err})" if str(err) else ""
        return (
            f"error: out of memory{detail}; free memory, or use fewer workers or a lower --memory-limit",
            EXIT_ENVIRONMENT,
        )
    if isinstance(err, OSError):
        return f"error: {describe_os_error(err)}", EXIT_ENVIRONMENT
    return (
        f"internal error: {type(err).__name__}: {err} "
        f"(set {DEBUG_VARIABLE}=1 for the traceback; please report it)",
        EXIT_INTERNAL,
    )
