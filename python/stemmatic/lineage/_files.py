"""Reading lineage files safely: bounded JSON and YAML, and JSON written for any text.

Every lineage loader goes through here, so a hostile file gives an
:class:`~stemmatic.exceptions.InvalidInputError` naming the file, line and
field, never a traceback: undecodable bytes, nesting deeper than
:data:`MAX_NESTING` (which would otherwise end in a ``RecursionError`` when
the document is parsed, copied or written), integers with more digits than
Python converts, and YAML whose aliases expand to more than
:data:`MAX_YAML_NODES` nodes (an alias bomb: a 590-byte card that expands to
gigabytes). YAML timestamps stay strings, so what a YAML file holds is always
JSON-compatible.

>>> load_yaml("a: &x [1, 2]\\nb: *x", where="edges.yaml")
{'a': [1, 2], 'b': [1, 2]}
>>> load_json('{"a": [[[1]]]}', where="graph.json")
{'a': [[[1]]]}
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stemmatic._extras import require
from stemmatic.exceptions import InvalidInputError

__all__ = [
    "MAX_NESTING",
    "MAX_YAML_NODES",
    "check_json_value",
    "describe",
    "dumps_json",
    "load_json",
    "load_yaml",
    "located",
    "read_text",
]

#: Containers nested deeper than this in a lineage file are refused (node-link JSON needs 3 levels
#: plus whatever a node's ``attrs`` hold; real cards need fewer than 10).
MAX_NESTING = 64
#: The most YAML nodes a document may hold once its aliases are expanded.
MAX_YAML_NODES = 1_000_000


def read_text(path: Path) -> str:
    """A file's text, decoded as UTF-8 (a leading byte-order mark is kept).

    Raises:
        InvalidInputError: naming the file when it cannot be read, and the line and byte
            of the first sequence that is not UTF-8.
    """
    try:
        data = path.read_bytes()
    except OSError as err:
        raise InvalidInputError(f"{path}: cannot read ({err.strerror})") from err
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise InvalidInputError(f"{path}:{line}: byte {err.start} is not UTF-8 ({err.reason})") from None


@contextmanager
def located(where: str) -> Iterator[None]:
    """Prefix ``where`` (file, line or record) to an InvalidInputError raised inside, unless it names it.

    >>> with located("edges.csv:3"):
    ...     raise InvalidInputError("field 'relation' is missing")
    Traceback (most recent call last):
    stemmatic.exceptions.InvalidInputError: edges.csv:3: field 'relation' is missing
    """
    try:
        yield
    except InvalidInputError as err:
        if str(err).startswith(where):
            raise
        raise InvalidInputError(f"{where}: {err}") from err


_KINDS = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    list: "a list",
    dict: "an object",
}


def describe(value: Any) -> str:
    """What ``value`` is, for messages: ``an integer``, ``a list``, ``null``.

    >>> describe(3), describe(None), describe(b"x")
    ('an integer', 'null', 'a bytes value')
    """
    if value is None:
        return "null"
    return _KINDS.get(type(value), f"a {type(value).__name__} value")


def _path(parts: list[str | int]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "(top level)"


def check_json_value(value: Any, where: str, field: str = "") -> None:
    """Check that ``value`` is JSON data nested at most :data:`MAX_NESTING` deep.

    Walks iteratively, so a deep value cannot exhaust the stack here.

    Raises:
        InvalidInputError: naming ``where`` and the path of the first offending field.
    """
    stack: list[tuple[Any, list[str | int]]] = [(value, [field] if field else [])]
    while stack:
        item, parts = stack.pop()
        if isinstance(item, dict):
            children: list[tuple[Any, list[str | int]]] = []
            for key, child in item.items():
                if not isinstance(key, str):
                    raise InvalidInputError(f"{where}: field {_path(parts)!r} has {describe(key)} as a key")
                children.append((child, [*parts, key]))
        elif isinstance(item, (list, tuple)):
            children = [(child, [*parts, i]) for i, child in enumerate(item)]
        elif item is None or isinstance(item, (str, bool, int, float)):
            continue
        else:
            raise InvalidInputError(f"{where}: field {_path(parts)!r} holds {describe(item)}, not JSON data")
        if children and len(parts) >= MAX_NESTING:
            raise InvalidInputError(
                f"{where}: field {_path(parts[:3])}... is nested deeper than {MAX_NESTING} levels"
            )
        stack.extend(children)


def load_json(text: str, where: str, *, one_line: bool = False) -> Any:
    """Parse JSON text bounded as this module says.

    Args:
        text: the JSON text.
        where: the file it comes from, for messages; with ``one_line``, the file and line.
        one_line: ``text`` is one line of a JSON-lines file that ``where`` already locates.

    Raises:
        InvalidInputError: for invalid JSON (with its line), nesting beyond :data:`MAX_NESTING`,
            or an integer with more digits than Python converts.
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        line = "" if one_line else f":{err.lineno}"
        raise InvalidInputError(f"{where}{line}: not valid JSON ({err.msg})") from None
    except RecursionError:
        raise InvalidInputError(f"{where}: JSON nested deeper than {MAX_NESTING} levels") from None
    except ValueError as err:  # an integer beyond sys.get_int_max_str_digits()
        raise InvalidInputError(f"{where}: not usable JSON ({err})") from None
    check_json_value(value, where)
    return value


# A lone surrogate cannot be encoded as UTF-8, and ``json.dumps(ensure_ascii=False)`` writes it raw.
_UNWRITABLE = re.compile("[\ud800-\udfff]")
# Inside <script> or an XML document: no markup, no JavaScript line terminators, no XML non-characters.
_UNEMBEDDABLE = re.compile("[<>&\u2028\u2029\ud800-\udfff\ufffe\uffff]")


def dumps_json(value: Any, *, embed: bool = False, **options: Any) -> str:
    """``json.dumps`` with non-ASCII text kept, that can always be written as UTF-8.

    Lone surrogates (reachable from JSON input such as ``"\\ud800"``) are written as ``\\uXXXX``
    escapes, which every JSON reader turns back into the same string. With ``embed``, so are
    ``<``, ``>``, ``&``, U+2028, U+2029, U+FFFE and U+FFFF: the text is then safe inside an
    HTML ``<script>`` element (no ``</script>``, no ``<!--``), as a JavaScript literal, and in
    XML character data. These characters occur only inside JSON strings, where an escape is
    valid JSON.

    >>> dumps_json({"k": "é\\ud800"})
    '{"k": "é\\\\ud800"}'
    >>> dumps_json("</script>", embed=True)
    '"\\\\u003c/script\\\\u003e"'
    """
    text = json.dumps(value, ensure_ascii=False, **options)
    pattern = _UNEMBEDDABLE if embed else _UNWRITABLE
    return pattern.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _bounded_loader(yaml: Any) -> Any:
    class BoundedLoader(yaml.SafeLoader):  # type: ignore[misc]
        """A safe loader that bounds nesting and alias expansion, and keeps timestamps as text."""

        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self._depth = 0
            self._expanded = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                anchored = self.anchors.get(event.anchor)
                if anchored is not None:
                    self._count(getattr(anchored, "expanded_size", 1), event.start_mark)
                return super().compose_node(parent, index)
            self._depth += 1
            if self._depth > MAX_NESTING:
                raise yaml.composer.ComposerError(
                    None, None, f"nested deeper than {MAX_NESTING} levels", self.peek_event().start_mark
                )
            before = self._expanded
            self._count(1, self.peek_event().start_mark)
            node = super().compose_node(parent, index)
            self._depth -= 1
            node.expanded_size = self._expanded - before
            return node

        def _count(self, nodes: int, mark: Any) -> None:
            self._expanded += nodes
            if self._expanded > MAX_YAML_NODES:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"aliases expand the document beyond {MAX_YAML_NODES:,} nodes (an alias bomb?)",
                    mark,
                )

    # Timestamps stay text: a date object is not JSON and cannot be exported.
    BoundedLoader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    return BoundedLoader


_LOADER: Any = None


def load_yaml(text: str, where: str, *, first_line: int = 1) -> Any:
    """Parse one YAML document bounded as this module says.

    Args:
        text: the YAML text.
        where: the file (or card) it comes from, for messages.
        first_line: the file line of ``text``'s first line (front matter starts on line 2).

    Raises:
        InvalidInputError: naming ``where`` and the line for malformed YAML, nesting beyond
            :data:`MAX_NESTING`, aliases that expand beyond :data:`MAX_YAML_NODES` nodes, or a
            value that is not JSON data (``!!binary``, ``!!set``).
        MissingExtraError: if PyYAML is not installed.
    """
    global _LOADER
    yaml = require("yaml", "reading YAML lineage files")
    if _LOADER is None:
        _LOADER = _bounded_loader(yaml)
    try:
        value = yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f":{mark.line + first_line}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err)
        raise InvalidInputError(f"{where}{line}: malformed YAML ({problem})") from None
    except (ValueError, OverflowError) as err:  # an integer beyond sys.get_int_max_str_digits()
        raise InvalidInputError(f"{where}: unusable YAML value ({err})") from None
    check_json_value(value, where)
    return value
