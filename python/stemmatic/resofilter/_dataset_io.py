"""What scoring and selection share when they read a dataset: rejected lines."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stemmatic.io import Rejected

__all__ = ["Rejections"]


class Rejections:
    """Counts the malformed lines skipped with ``on_error="skip"``; writes them under ``OUT/rejected/``."""

    def __init__(self, directory: Path | None) -> None:
        from stemmatic.io import RejectedWriter

        self.count = 0
        self.writer = RejectedWriter(directory / "rejected") if directory is not None else None

    def __call__(self, record: Rejected) -> None:
        self.count += 1
        if self.writer is not None:
            self.writer(record)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

    def outputs(self) -> dict[str, str]:
        return {"rejected": "rejected/rejected.jsonl"} if self.count and self.writer is not None else {}
