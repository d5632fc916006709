"""Rich progress bars for pipeline stages, with rows/s and MB/s."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn


class RichStages:
    """Implements the pipelines' ``Progress`` protocol with one bar per stage."""

    def __init__(self, console: Console | None = None, enabled: bool = True) -> None:
        self.console = console or Console(stderr=True)
        self.enabled = enabled
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._rows = 0
        self._bytes = 0
        self._start = 0.0

    def start(self, stage: str, total_rows: int | None) -> None:
        if not self.enabled:
            return
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description:<11}"),
            BarColumn(),
            TextColumn("{task.completed:>12,.0f}"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(stage, total=total_rows, rate="")
        self._rows = self._bytes = 0
        self._start = time.perf_counter()

    def advance(self, rows: int, nbytes: int) -> None:
        if self._progress is None or self._task is None:
            return
        self._rows += rows
        self._bytes += nbytes
        elapsed = max(time.perf_counter() - self._start, 1e-9)
        rate = f"{self._rows / elapsed:>10,.0f} rows/s {self._bytes / 1e6 / elapsed:>8.1f} MB/s"
        self._progress.update(self._task, advance=rows, rate=rate)

    def finish(self) -> None:
        if self._progress is not None:
            self._progress.stop()
        self._progress = None
        self._task = None
