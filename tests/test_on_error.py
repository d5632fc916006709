"""Every corpus API refuses an ``on_error`` other than raise/skip with one message, before writing anything."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stemmatic.contamination import ContaminationIndex, scan_corpus
from stemmatic.dedup import dedup
from stemmatic.diversity.corpus import semdedup_corpus
from stemmatic.exceptions import ParameterError
from stemmatic.resofilter.splitting import select_dataset

MESSAGE = "invalid parameter `on_error`: 'bogus'; expected raise or skip"


def _scan(src: Path, out: Path) -> Any:
    index = ContaminationIndex.from_records([{"q": "one two three four five"}], fields=["q"], ngram=3)
    return scan_corpus([src], index, out, on_error="bogus")  # type: ignore[arg-type]


CALLS: dict[str, Callable[[Path, Path], Any]] = {
    "dedup": lambda src, out: dedup([src], out, on_error="bogus"),  # type: ignore[arg-type]
    "scan_corpus": _scan,
    "semdedup_corpus": lambda src, out: semdedup_corpus([src], out, on_error="bogus"),
    "select_dataset": lambda src, out: select_dataset([src], out, on_error="bogus"),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_bad_on_error_is_refused_alike(tmp_path: Path, name: str) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"text": f"doc {i} one two three four five"}) + "\n" for i in range(5)))
    before = src.read_bytes()
    out = tmp_path / "out"
    with pytest.raises(ParameterError, match=MESSAGE.replace("`", ".").replace("(", r"\(")):
        CALLS[name](src, out)
    assert src.read_bytes() == before
    assert not out.exists() or not any(p.suffix in (".parquet", ".jsonl") for p in out.rglob("*"))
