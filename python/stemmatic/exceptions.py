"""The exceptions stemmatic raises, declared once for Python and Rust alike.

``stemmatic._core`` raises these same classes (it imports them from here), so
``except stemmatic.StemmaticError`` catches every error of the library, and the
input and parameter errors are also ``ValueError``\\ s.
"""

from __future__ import annotations

__all__ = ["InvalidInputError", "MissingExtraError", "ParameterError", "StemmaticError"]


class StemmaticError(Exception):
    """Base class of every error stemmatic raises."""


class InvalidInputError(StemmaticError, ValueError):
    """Input data that cannot be used as given.

    The message names the file, row and field it comes from: a null or
    non-UTF-8 text, a missing column, a malformed JSONL line.

    Attributes:
        row: for an error of one row of a batch the engine was given (a null
            or non-UTF-8 text), that row of the batch (from 0); else ``None``.
        byte: for a text that is not UTF-8, the offset of its first bad byte;
            else ``None``.
        reason: with ``row``, the message without its ``row N: `` prefix.
    """

    row: int | None = None
    byte: int | None = None
    reason: str | None = None


class ParameterError(StemmaticError, ValueError):
    """A parameter outside its domain (unknown tokenizer, ``num_perm=0``, ...)."""


class MissingExtraError(StemmaticError, ImportError):
    """An optional dependency is not installed; the message names the extra."""

    def __init__(self, package: str, extra: str, feature: str) -> None:
        super().__init__(
            f"{feature} needs the optional dependency {package!r}, which is not installed; "
            f"install it with: pip install 'stemmatic[{extra}]'"
        )
        self.package = package
        self.extra = extra
