"""How every command reports stemmatic's own errors."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer

from stemmatic.exceptions import ParameterError, StemmaticError


@contextlib.contextmanager
def clean_errors() -> Iterator[None]:
    """Show stemmatic's own errors (bad input, bad parameter, missing extra) as one line, exit code 2.

    Anything else is a bug and keeps its traceback.
    """
    try:
        yield
    except StemmaticError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from err


def check_on_error(on_error: str) -> None:
    """Refuse an ``--on-error`` value other than ``raise`` or ``skip``."""
    if on_error not in ("raise", "skip"):
        raise ParameterError(f"invalid --on-error {on_error!r}; expected raise or skip")
