"""The one progress display of the CLI: a rich bar on a terminal, plain periodic log lines otherwise.

Renders :class:`stemmatic._run.Progress` events. On a terminal each stage
gets a bar with rows, rows/s, MB/s, elapsed time and, when the stage's total
is known, the time remaining. When stderr is not a terminal (a log file, a
batch job, CI) a line is written every ``STEMMATIC_PROGRESS_SECONDS`` seconds
(default 10) with the same numbers, and one when a stage that ran that long
finishes. ``-q/--quiet`` shows nothing.
"""

from __future__ import annotations

import os
import time
from typing import IO, TYPE_CHECKING

from rich.console import Console

from stemmatic._run import NoProgress
from stemmatic._run import Progress as ProgressProtocol

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

#: Seconds between two log lines when stderr is not a terminal.
DEFAULT_INTERVAL = 10.0


def _interval() -> float:
    try:
        return max(0.0, float(os.environ.get("STEMMATIC_PROGRESS_SECONDS", DEFAULT_INTERVAL)))
    except ValueError:
        return DEFAULT_INTERVAL


def _clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class RichStages:
    """Implements the :class:`~stemmatic._run.Progress` protocol for a terminal or a log.

    ``enabled=False`` (``--quiet``) shows nothing; a console that is not a
    terminal gets log lines (:class:`LogStages`) instead of bars.
    """

    def __init__(self, console: Console | None = None, enabled: bool = True) -> None:
        self.console = console or Console(stderr=True)
        self.enabled = enabled
        self._log: LogStages | None = None
        if enabled and not self.console.is_terminal:
            self._log = LogStages(self.console.file)
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._rows = 0
        self._bytes = 0
        self._start = 0.0

    def start(self, stage: str, total_rows: int | None) -> None:
        if self._log is not None:
            self._log.start(stage, total_rows)
            return
        if not self.enabled:
            return
        # Imported with the first bar: a quiet run or a log never loads it.
        from rich.progress import (
            BarColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description:<11}"),
            BarColumn(),
            TextColumn("{task.completed:>12,.0f}"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(stage, total=total_rows, rate="")
        self._rows = self._bytes = 0
        self._start = time.perf_counter()

    def advance(self, rows: int, nbytes: int) -> None:
        if self._log is not None:
            self._log.advance(rows, nbytes)
            return
        if self._progress is None or self._task is None:
            return
        self._rows += rows
        self._bytes += nbytes
        elapsed = max(time.perf_counter() - self._start, 1e-9)
        rate = f"{self._rows / elapsed:>10,.0f} rows/s {self._bytes / 1e6 / elapsed:>8.1f} MB/s"
        self._progress.update(self._task, advance=rows, rate=rate)

    def finish(self) -> None:
        if self._log is not None:
            self._log.finish()
            return
        if self._progress is not None:
            self._progress.stop()
        self._progress = None
        self._task = None


class LogStages:
    """Progress as plain lines on ``stream``, at most one per ``interval`` seconds per stage.

    >>> import io
    >>> out = io.StringIO()
    >>> log = LogStages(out, interval=0)
    >>> log.start("sketch", 200); log.advance(50, 1_000_000); log.finish()
    >>> print(out.getvalue().splitlines()[0].split(",")[0])
    stemmatic: sketch 50/200 rows (25.0%)
    """

    def __init__(self, stream: IO[str], interval: float | None = None) -> None:
        self.stream = stream
        self.interval = _interval() if interval is None else interval
        self.stage: str | None = None
        self.total: int | None = None
        self.rows = self.bytes = 0
        self.started = self.last = 0.0

    def start(self, stage: str, total_rows: int | None) -> None:
        self.stage, self.total = stage, total_rows
        self.rows = self.bytes = 0
        self.started = self.last = time.perf_counter()

    def advance(self, rows: int, nbytes: int) -> None:
        self.rows += rows
        self.bytes += nbytes
        now = time.perf_counter()
        if self.stage is not None and now - self.last >= self.interval:
            self.last = now
            self._line(now, done=False)

    def finish(self) -> None:
        now = time.perf_counter()
        if self.stage is not None and now - self.started >= self.interval:
            self._line(now, done=True)
        self.stage = None

    def _line(self, now: float, *, done: bool) -> None:
        elapsed = max(now - self.started, 1e-9)
        rate = f"{self.rows / elapsed:,.0f} rows/s, {self.bytes / 1e6 / elapsed:,.1f} MB/s"
        if done:
            text = f"{self.stage} done: {self.rows:,} rows in {_clock(elapsed)}, {rate}"
        elif self.total:
            share = min(1.0, self.rows / self.total)
            eta = (elapsed / share - elapsed) if share > 0 else None
            text = (
                f"{self.stage} {self.rows:,}/{self.total:,} rows ({100 * share:.1f}%), {rate}, "
                f"elapsed {_clock(elapsed)}, ETA {_clock(eta) if eta is not None else '?'}"
            )
        else:
            text = f"{self.stage} {self.rows:,} rows, {self.bytes / 1e6:,.1f} MB, {rate}, elapsed {_clock(elapsed)}"
        self.stream.write(f"stemmatic: {text}\n")
        self.stream.flush()


def stage_progress(quiet: bool, console: Console | None = None) -> ProgressProtocol:
    """The progress display of a command: nothing with ``--quiet``, else :class:`RichStages` on stderr."""
    if quiet:
        return NoProgress()
    return RichStages(console or Console(stderr=True))
