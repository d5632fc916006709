"""What every corpus command shares about a run: one report schema, stage timers, one progress protocol.

Every corpus command (``dedup`` local and on Ray/Spark, ``contamination
scan``, ``resofilter score|select``, the ``diversity`` commands) writes
``OUT/report.json`` through :func:`run_report`, so the same keys mean the same
thing everywhere (see docs/reports.md):

- ``report_version``, ``command``, ``stemmatic_version``, ``parameters``;
- ``inputs``: ``files``, ``count``, ``bytes`` (on disk), ``skipped`` (what a
  directory scan left out, with the reason); a table given in memory is
  listed by its kind (``<pyarrow.Table>``), with its ``rows`` and ``bytes``;
- ``rows``: ``in``, ``kept``, ``removed``, ``rejected`` (malformed lines
  skipped with ``--on-error skip``) and the command's own counts under
  ``detail``. Where the command splits rows, ``in == kept + removed +
  rejected``; a command that does not split (a scan without ``--remove``,
  scoring) reports ``kept`` and ``removed`` as ``null``;
- ``stages`` (seconds per stage, in the order run), ``stage_peak_rss_bytes``,
  ``seconds`` (the whole run), ``throughput`` (``rows_per_s`` of input rows,
  ``mb_per_s`` of input bytes), ``peak_rss_bytes`` (of the process);
- ``outputs`` (what was written, relative to the output directory),
  ``warnings`` (sentences);
- then blocks of the command's own (``clusters``, ``pairs``, ``benchmarks``, ...).

Progress goes through one protocol, :class:`Progress` (a stage starts with
its total when known, advances by rows and bytes, finishes); the CLI renders
it as a rich bar on a terminal and as periodic log lines otherwise
(:mod:`stemmatic.cli._progress`). :func:`counts_callback` and
:func:`steps_callback` adapt it to the APIs that take a plain callable.

>>> timer = StageTimer()
>>> with timer.stage("read"):
...     pass
>>> report = run_report(
...     "example", parameters={"threshold": 0.8}, inputs=[], rows=Rows(10, kept=7, removed=2, rejected=1),
...     timer=timer, outputs={"kept": "kept/"},
... )
>>> report["rows"]
{'in': 10, 'kept': 7, 'removed': 2, 'rejected': 1, 'detail': {}}
>>> list(report["stages"]), report["warnings"]
(['read'], [])
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from stemmatic.io import InputFile

__all__ = [
    "REPORT_KEYS",
    "REPORT_VERSION",
    "NoProgress",
    "Progress",
    "Rows",
    "StageTimer",
    "counts_callback",
    "current_rss_bytes",
    "input_summary",
    "known_rows",
    "peak_rss_bytes",
    "run_report",
    "steps_callback",
    "write_report",
]

#: The version of the report schema (1: each command had its own keys).
REPORT_VERSION = 2

#: The top-level keys of every report, in the order written; a command's own blocks follow.
REPORT_KEYS = (
    "report_version",
    "command",
    "stemmatic_version",
    "parameters",
    "inputs",
    "rows",
    "stages",
    "stage_peak_rss_bytes",
    "seconds",
    "throughput",
    "peak_rss_bytes",
    "outputs",
    "warnings",
)


# -- rows ---------------------------------------------------------------------------------------


@dataclass
class Rows:
    """Where the input rows went: every row is kept, removed or rejected (when the command splits rows).

    ``input`` counts every row read, the rejected (malformed, skipped) lines
    included. ``kept`` and ``removed`` are ``None`` for a command that does
    not split its input (a scan without ``--remove``, scoring). ``detail``
    holds the command's own counts (by reason, by kind).
    """

    input: int
    kept: int | None = None
    removed: int | None = None
    rejected: int = 0
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "in": int(self.input),
            "kept": None if self.kept is None else int(self.kept),
            "removed": None if self.removed is None else int(self.removed),
            "rejected": int(self.rejected),
            "detail": dict(self.detail),
        }

    def unaccounted(self) -> str | None:
        """Why the counts do not add up, or None when every input row is accounted for."""
        if (self.kept is None) != (self.removed is None):
            return "rows: kept and removed must both be counted or both be null"
        if self.kept is None or self.removed is None:
            return None if self.rejected <= self.input else f"rows: {self.rejected} rejected of {self.input}"
        if self.kept + self.removed + self.rejected != self.input:
            return (
                f"rows do not add up: {self.input} in, but {self.kept} kept + {self.removed} removed + "
                f"{self.rejected} rejected = {self.kept + self.removed + self.rejected}"
            )
        return None


# -- inputs -------------------------------------------------------------------------------------


def _size(path: Any) -> int:
    try:
        return int(path.stat().st_size)
    except (OSError, AttributeError, ValueError):
        return 0


def table_label(source: object) -> str:
    """How a report names a table given in memory: ``<pyarrow.Table>``, ``<polars.DataFrame>``, ...

    >>> import pyarrow as pa
    >>> table_label(pa.table({"a": [1]}))
    '<pyarrow.Table>'
    """
    kind = type(source)
    return f"<{kind.__module__.split('.')[0]}.{kind.__name__}>"


def _staged_size(path: Any) -> tuple[int, int]:
    """Rows and bytes (Arrow data, uncompressed) of a table staged as a Parquet file."""
    import pyarrow.parquet as pq

    try:
        meta = pq.read_metadata(path)
    except (OSError, ValueError):
        return 0, 0
    return meta.num_rows, sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))


def input_summary(files: Sequence[InputFile | str | os.PathLike[str]]) -> dict[str, Any]:
    """The report's ``inputs`` block: the files in order, their count and bytes, what a scan skipped.

    ``files`` is what :func:`stemmatic.io.resolve_inputs` returned (its
    ``skipped`` list is reported), or plain paths. A table given in memory
    (staged in a temporary file, ``files.table`` naming it) is listed by its
    name, with its ``rows`` and ``bytes`` (Arrow data, uncompressed), not by
    the temporary file.
    """
    table = getattr(files, "table", None)
    if table is not None and len(files) == 1:
        rows, nbytes = _staged_size(getattr(files[0], "path", files[0]))
        return {"files": [table], "count": 1, "bytes": nbytes, "skipped": [], "rows": rows}
    paths = [getattr(f, "path", f) for f in files]
    return {
        "files": [os.fspath(p) if isinstance(p, (str, os.PathLike)) else str(p) for p in paths],
        "count": len(paths),
        "bytes": sum(_size(p if not isinstance(p, str) else Path(p)) for p in paths),
        "skipped": [{"path": str(path), "reason": why} for path, why in getattr(files, "skipped", [])],
    }


# -- timing and memory --------------------------------------------------------------------------


@dataclass
class StageTimer:
    """Wall time and peak memory per stage, for ``report.json``.

    ``stages`` maps a stage to ``{"seconds", "peak_rss_bytes"}`` (a resumed
    run fills in the stages it skipped from their checkpoints).
    """

    stages: dict[str, dict[str, float]] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    def stage(self, name: str) -> _Stage:
        return _Stage(self, name)

    def elapsed(self) -> float:
        """Seconds since the timer was made."""
        return time.perf_counter() - self.started


class _Stage:
    """Times a stage and samples its resident memory (every 50 ms) for its own peak."""

    def __init__(self, timer: StageTimer, name: str) -> None:
        self.timer, self.name = timer, name
        self.peak = 0
        self._stop = threading.Event()

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, current_rss_bytes())

    def __enter__(self) -> _Stage:
        self.start = time.perf_counter()
        self.peak = current_rss_bytes()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, current_rss_bytes())
        self.timer.stages[self.name] = {
            "seconds": round(time.perf_counter() - self.start, 4),
            "peak_rss_bytes": self.peak,
        }


def current_rss_bytes() -> int:
    """Resident memory of this process now, in bytes (0 where unknown).

    ``/proc/self/statm`` on Linux (what psutil reads there too, without its
    0.01 s import in every run); psutil elsewhere (macOS, Windows, BSDs);
    else the peak so far (:func:`peak_rss_bytes`), never 0 where the platform
    can tell.
    """
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/self/statm", encoding="ascii") as fh:
                return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError, AttributeError):
            pass
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except (ImportError, OSError, AttributeError):
        return peak_rss_bytes()


def peak_rss_bytes() -> int:
    """Peak resident memory of this process so far, in bytes (0 where unknown).

    ``getrusage``'s ``ru_maxrss`` is in bytes on macOS and in KiB on Linux and
    the BSDs; Windows has no ``getrusage`` and reports the peak working set
    through psutil.
    """
    if sys.platform == "win32":
        try:
            import psutil

            return int(psutil.Process().memory_info().peak_wset)
        except (ImportError, OSError, AttributeError):
            return 0
    try:
        import resource

        peak = int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    except (ImportError, OSError, ValueError):
        return 0
    return peak if sys.platform in ("darwin", "ios") else peak * 1024


# -- the report ---------------------------------------------------------------------------------


def run_report(
    command: str,
    *,
    parameters: Mapping[str, Any],
    inputs: Sequence[InputFile | str | os.PathLike[str]] | Mapping[str, Any],
    rows: Rows,
    timer: StageTimer | None = None,
    seconds: float | None = None,
    outputs: Mapping[str, str] | None = None,
    warnings: Iterable[str] = (),
    **blocks: Any,
) -> dict[str, Any]:
    """The ``report.json`` of one run, with the keys every command shares (:data:`REPORT_KEYS`).

    Args:
        command: the command line's words (``"dedup"``, ``"contamination scan"``).
        parameters: the run's parameters, as given or as chosen.
        inputs: the resolved input files (or an :func:`input_summary` already made).
        rows: where the input rows went; counts that do not add up are
            reported in ``warnings`` (every input row must be accounted for).
        timer: the run's stage timer (``stages``, ``seconds``); none for a
            run without stages.
        seconds: the run's wall time (default: since the timer was made).
        outputs: what the run wrote, by kind, relative to its output directory.
        warnings: sentences for the user.
        blocks: the command's own top-level blocks, after the shared keys.

    Raises:
        ValueError: a block reuses a shared key.
    """
    from stemmatic import __version__

    clash = sorted(set(blocks) & set(REPORT_KEYS))
    if clash:
        raise ValueError(f"report blocks may not reuse the shared keys {clash}")
    stages = timer.stages if timer is not None else {}
    if seconds is None:
        seconds = timer.elapsed() if timer is not None else 0.0
    # The seconds the report states, and what its throughput divides by: a run of a few
    # milliseconds would otherwise state a throughput 1% off its own rows / seconds.
    seconds = round(seconds, 4)
    summary = dict(inputs) if isinstance(inputs, Mapping) else input_summary(inputs)
    notes = list(warnings)
    problem = rows.unaccounted()
    if problem is not None:
        notes.append(problem)
    stage_peaks = {name: int(timing.get("peak_rss_bytes", 0)) for name, timing in stages.items()}
    return {
        "report_version": REPORT_VERSION,
        "command": command,
        "stemmatic_version": __version__,
        "parameters": dict(parameters),
        "inputs": summary,
        "rows": rows.to_json(),
        "stages": {name: float(timing.get("seconds", 0.0)) for name, timing in stages.items()},
        "stage_peak_rss_bytes": stage_peaks,
        "seconds": seconds,
        "throughput": {
            "rows_per_s": round(rows.input / seconds, 1) if seconds > 0 else None,
            "mb_per_s": round(summary.get("bytes", 0) / 1e6 / seconds, 2) if seconds > 0 else None,
        },
        "peak_rss_bytes": max([peak_rss_bytes(), *stage_peaks.values()]),
        "outputs": dict(outputs or {}),
        "warnings": notes,
        **blocks,
    }


def write_report(path: str | os.PathLike[str], report: dict[str, Any]) -> Path:
    """Write ``report`` as indented JSON (atomically: a crash leaves no half file)."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(report, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def report_beside(output: str | os.PathLike[str]) -> str:
    """Where a command whose output is one file (an index, a graph) writes its report: beside it.

    ``NAME.report.json`` for the output ``NAME`` (its whole name, so two
    outputs of one stem, ``g.json`` and ``g.svg``, keep two reports); local
    or a URL.

    >>> report_beside("out/bench.idx"), report_beside("s3://bucket/graphs/g.json")
    ('out/bench.idx.report.json', 's3://bucket/graphs/g.json.report.json')
    """
    return f"{os.fspath(output).rstrip('/')}.report.json"


def save_report(target: str | os.PathLike[str], report: dict[str, Any]) -> str:
    """Write ``report`` to ``target``, a local path (atomically, :func:`write_report`) or a URL; returns it."""
    from stemmatic.io._remote import filesystem_of, is_url

    if not is_url(target):
        write_report(target, report)
        return os.fspath(target)
    filesystem, path = filesystem_of(os.fspath(target))
    with filesystem.open_output_stream(path) as out:
        out.write((json.dumps(report, indent=2, default=str) + "\n").encode("utf-8"))
    return os.fspath(target)


# -- progress -----------------------------------------------------------------------------------


class Progress(Protocol):
    """Receives a run's progress: a stage starts (with its total rows when known), advances, finishes.

    The CLI renders it (a rich bar on a terminal, log lines otherwise); the
    library reports through it and never prints.
    """

    def start(self, stage: str, total_rows: int | None) -> None: ...
    def advance(self, rows: int, nbytes: int) -> None: ...
    def finish(self) -> None: ...


class NoProgress:
    """A :class:`Progress` that shows nothing."""

    def start(self, stage: str, total_rows: int | None) -> None:
        pass

    def advance(self, rows: int, nbytes: int) -> None:
        pass

    def finish(self) -> None:
        pass


def known_rows(files: Sequence[InputFile]) -> int | None:
    """The number of rows of ``files`` when it is known without reading them (Parquet footers), else None.

    A progress total (and so a time remaining) for a stage that reads every
    input row; JSONL and CSV need a full read to count, and so does a file
    on a remote file system (one request per file is not worth a bar).
    """
    import pyarrow.parquet as pq

    total = 0
    for f in files:
        if f.format != "parquet" or not isinstance(f.path, Path):
            return None
        try:
            total += pq.read_metadata(f.path).num_rows
        except (OSError, ValueError):
            return None
    return total


def counts_callback(
    progress: Progress, stage: str, total_rows: int | None = None
) -> Callable[[int, int], None]:
    """A ``callback(rows_so_far, bytes_so_far)`` (cumulative counts) that drives ``progress``'s ``stage``.

    The stage starts on the first call; call ``progress.finish()`` after the work.

    >>> seen = []
    >>> class Recorder(NoProgress):
    ...     def advance(self, rows, nbytes):
    ...         seen.append((rows, nbytes))
    >>> callback = counts_callback(Recorder(), "scan")
    >>> callback(10, 100); callback(25, 300)
    >>> seen
    [(10, 100), (15, 200)]
    """
    done = [0, 0]
    started = [False]

    def callback(rows: int, nbytes: int) -> None:
        if not started[0]:
            progress.start(stage, total_rows)
            started[0] = True
        progress.advance(rows - done[0], nbytes - done[1])
        done[0], done[1] = rows, nbytes

    return callback


def steps_callback(progress: Progress) -> Callable[[str, int, int], None]:
    """A ``callback(stage, done, total)`` (cumulative) that drives ``progress``, one stage after another.

    A call naming another stage finishes the running one and starts it;
    call ``progress.finish()`` after the work.
    """
    state: dict[str, Any] = {"stage": None, "done": 0}

    def callback(stage: str, done: int, total: int) -> None:
        if stage != state["stage"]:
            if state["stage"] is not None:
                progress.finish()
            progress.start(stage, total if total > 0 else None)
            state.update(stage=stage, done=0)
        progress.advance(max(0, done - state["done"]), 0)
        state["done"] = max(done, state["done"])

    return callback
