"""How the text exports write strings their format cannot carry verbatim, and how readers undo it.

Any node key, name or attribute reaches every export intact:

- GraphML, SVG and DOT write each character that XML 1.0 cannot hold even as a character
  reference, or that a line-based reader would split on — the C0 controls other than tab,
  lone surrogates, U+FFFE and U+FFFF — as ``_xHHHH_`` (its code point in four hex digits,
  the escape of Office Open XML), and the underscore of a literal ``_xHHHH`` as ``_x005F_``;
  :func:`unescape_chars` restores the exact string. Markup characters are then escaped as the
  format requires (``&lt;`` in XML, ``\\"`` in DOT).
- Mermaid labels use Mermaid's entity codes: ``#quot;`` for ``"`` and ``#NNN;`` (decimal) for
  ``#``, ``<``, ``>``, ``&``, the backtick and every control or non-character, so a label never
  carries markup and :func:`mermaid_unlabel` restores it.
- JSON formats (node-link, paper JSONL, OpenLineage, PROV-JSON, the data embedded in SVG and
  HTML) use JSON's ``\\uXXXX`` escapes (:func:`stemmatic.lineage._files.dumps_json`).

>>> escape_chars("a\\x00b_x0041c")
'a_x0000_b_x005F_x0041c'
>>> unescape_chars(escape_chars("a\\x00b_x0041c")) == "a\\x00b_x0041c"
True
>>> mermaid_label('<b>"x"</b>')
'#60;b#62;#quot;x#quot;#60;/b#62;'
"""

from __future__ import annotations

import html
import re

__all__ = ["escape_chars", "mermaid_label", "mermaid_unlabel", "unescape_chars", "xml_text"]

_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\ud800-\udfff\ufffe\uffff]|_(?=x[0-9A-Fa-f]{4})")
_ESCAPED = re.compile("_x([0-9A-Fa-f]{4})_")


def escape_chars(text: str) -> str:
    """``text`` with the characters XML and line-based readers cannot carry written as ``_xHHHH_``."""
    return _UNSAFE.sub(lambda m: f"_x{ord(m.group()):04X}_", text)


def unescape_chars(text: str) -> str:
    """Inverse of :func:`escape_chars`."""
    return _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), text)


def xml_text(text: str) -> str:
    """``text`` ready for XML character data or a quoted attribute value."""
    return html.escape(escape_chars(text), quote=True)


_MERMAID_UNSAFE = re.compile('[#<>&`"\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]')
_MERMAID_ENTITY = re.compile(r"#(?:quot|(\d{1,7}));")


def mermaid_label(text: str) -> str:
    """``text`` as the inside of a quoted Mermaid label: entity codes for anything but plain text."""
    return _MERMAID_UNSAFE.sub(lambda m: "#quot;" if m.group() == '"' else f"#{ord(m.group())};", text)


def mermaid_unlabel(text: str) -> str:
    """Inverse of :func:`mermaid_label`."""

    def decode(match: re.Match[str]) -> str:
        number = match.group(1)
        if number is None:
            return '"'
        code = int(number)
        return chr(code) if code <= 0x10FFFF else match.group()

    return _MERMAID_ENTITY.sub(decode, text)
