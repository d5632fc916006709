"""The base of every function the engines send to workers (pickled with a versioned state), and what both ship.

:class:`Conformed` and :class:`CoConformed` run a table function of
:mod:`stemmatic.engines._common` on a batch (or on both sides of a co-group)
and give its output the declared schema, as Ray's and Spark's Arrow maps
require; :func:`ipc_bytes` is a table as the Arrow IPC stream both engines
move tables in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import pyarrow as pa

from stemmatic.exceptions import ParameterError

__all__ = ["CoConformed", "Conformed", "Shipped", "ipc_bytes"]


def _restore(cls: type[Any], state: dict[str, Any]) -> Any:
    obj = object.__new__(cls)
    obj.__setstate__(state)
    return obj


class Shipped:
    """Base of the callables sent to engine workers.

    Pickles as ``(class, {"version": V, "fields": {...}})``; unpickling
    checks the version, so a worker running another stemmatic fails with a
    clear error instead of a wrong answer.
    """

    VERSION = 1

    @property
    def __name__(self) -> str:  # engines name their tasks after the function
        # (the class's own name: ``__name__`` is this property on the class)
        return type(self).__qualname__.rsplit(".", 1)[-1]

    def __getstate__(self) -> dict[str, Any]:
        return {"version": self.VERSION, "fields": {f.name: getattr(self, f.name) for f in fields(self)}}  # type: ignore[arg-type]

    def __setstate__(self, state: dict[str, Any]) -> None:
        if state.get("version") != self.VERSION:
            raise ParameterError(
                f"cannot unpickle {type(self).__name__} state version {state.get('version')!r} "
                f"(this stemmatic reads version {self.VERSION}); use the same stemmatic on driver and workers"
            )
        for name, value in state["fields"].items():
            object.__setattr__(self, name, value)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore, (type(self), self.__getstate__()))


@dataclass(frozen=True)
class Conformed(Shipped):
    """A table function whose output is cast to ``schema`` (its columns, in order)."""

    fn: Callable[[pa.Table], pa.Table]
    schema: pa.Schema

    def __call__(self, table: pa.Table) -> pa.Table:
        return self.fn(table).select(self.schema.names).cast(self.schema)


@dataclass(frozen=True)
class CoConformed(Shipped):
    """A function of both sides of a co-group whose output is cast to ``schema``."""

    fn: Callable[[pa.Table, pa.Table], pa.Table]
    schema: pa.Schema

    def __call__(self, left: pa.Table, right: pa.Table) -> pa.Table:
        return self.fn(left, right).select(self.schema.names).cast(self.schema)


def ipc_bytes(table: pa.Table) -> bytes:
    """``table`` as one Arrow IPC stream."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    data: bytes = sink.getvalue().to_pybytes()
    return data
