"""The base of every function the engines send to workers: pickled with a versioned state."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from stemmatic.exceptions import ParameterError

__all__ = ["Shipped"]


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
