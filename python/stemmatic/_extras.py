"""Lazy imports of the optional heavy dependencies, with errors that name the extra."""

from __future__ import annotations

import importlib
from types import ModuleType

from stemmatic.exceptions import MissingExtraError

#: module -> (extra that installs it, package name on PyPI)
_EXTRAS: dict[str, tuple[str, str]] = {
    "faiss": ("diversity", "faiss-cpu"),
    "torch": ("resofilter", "torch"),
    "transformers": ("resofilter", "transformers"),
    "rustworkx": ("lineage", "rustworkx"),
    "networkx": ("lineage", "networkx"),
    "yaml": ("lineage", "pyyaml"),
    "matplotlib": ("lineage", "matplotlib"),
    "huggingface_hub": ("lineage", "huggingface_hub"),
    "ray": ("ray", "ray[data]"),
    "pyspark": ("spark", "pyspark"),
}


def require(module: str, feature: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` naming its extra.

    >>> require("json", "parsing").__name__
    'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        top = module.split(".")[0]
        extra, package = _EXTRAS.get(top, ("all", top))
        raise MissingExtraError(package, extra, feature) from err
