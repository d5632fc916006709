"""Resume trusts nothing it did not verify: torn, emptied, truncated or damaged checkpoints.

Each case kills a real dedup run at a stage, damages one checkpoint file in
``OUT/_work`` (or an output the finished stage listed), resumes, and checks
the output bytes against an uninterrupted run: a damaged checkpoint is
discarded and its stage redone, never a traceback, never a silently wrong
result.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import stemmatic
from stemmatic._atomic import AtomicFile
from stemmatic.dedup import dedup
from stemmatic.dedup.pipeline import _Run
from stemmatic.synthetic import generate_corpus

#: Every kind of checkpoint: exact keys and edges, ids, keep scores, spilled
#: band partitions (see ``spilled_bands``), the pairs output.
FULL = dict(exact=True, id_column="id", keep="column:score", emit_pairs=True)
#: Signature checkpoints (kept for estimated verification only).
ESTIMATE = dict(verify="estimate")


@pytest.fixture(scope="module", autouse=True)
def spilled_bands() -> Iterator[None]:
    """Band records in 16 partition files, as for a corpus far larger than the memory budget."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_Run, "_partitions", lambda self: 16)
        yield


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    texts = generate_corpus(240, seed=5, max_words=120, duplicate_fraction=0.4).texts
    directory = tmp_path_factory.mktemp("corpus")
    for shard in range(2):
        rows = range(shard * 120, (shard + 1) * 120)
        pq.write_table(
            pa.table(
                {
                    "id": [f"doc-{i}" for i in rows],
                    "text": [texts[i] for i in rows],
                    "score": [float(i % 7) for i in rows],
                }
            ),
            directory / f"part-{shard}.parquet",
        )
    return directory


def _output_bytes(out: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != "report.json"
    }


@pytest.fixture(scope="module")
def references(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, bytes]]:
    base = tmp_path_factory.mktemp("ref")
    return {
        name: _output_bytes(dedup(corpus, base / name, **params).output)
        for name, params in (("full", FULL), ("estimate", ESTIMATE))
    }


def _killed(corpus: Path, out: Path, params: dict[str, Any], before: str) -> None:
    """Run dedup into ``out`` and kill it as ``before`` (a stage, or the report) starts."""

    def crash(self: _Run, *args: object) -> Any:
        raise KeyboardInterrupt("killed")

    mp = pytest.MonkeyPatch()
    mp.setattr(_Run, "build_report" if before == "report" else f"stage_{before}", crash)
    try:
        with pytest.raises(KeyboardInterrupt):
            dedup(corpus, out, **params)
    finally:
        mp.undo()


#: Where each case kills the run: just before the stage (or the report) that reads the damaged file.
KILL_POINTS = [("full", b) for b in ("candidates", "verify", "cluster", "write", "report")] + [
    ("estimate", "verify")
]


@pytest.fixture(scope="module")
def killed_runs(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    """Interrupted runs to copy and damage: (params, killed before) -> output directory."""
    base = tmp_path_factory.mktemp("killed")
    runs = {}
    for name, before in KILL_POINTS:
        out = base / f"{name}-{before}"
        _killed(corpus, out, FULL if name == "full" else ESTIMATE, before)
        runs[name, before] = out
    return runs


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _half(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip_last(path: Path) -> None:
    # Same size, one byte changed near the end (the data, not the header).
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x5A
    path.write_bytes(bytes(data))


def _zero_half(path: Path) -> None:
    # Same size, the second half zeroed.
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] + bytes(len(data) - len(data) // 2))


def _remove(path: Path) -> None:
    path.unlink()


# (params, killed before, file in the output directory, damage): each file is
# damaged just before the stage that reads it, so a resume that trusted it
# would crash or write other bytes.
CASES = [
    # Checkpoint markers: empty, half-written, not JSON.
    ("full", "candidates", "_work/sketch.done", _empty),
    ("full", "candidates", "_work/sketch.done", _half),
    ("full", "verify", "_work/candidates.done", _empty),
    ("full", "cluster", "_work/verify.done", _half),
    ("full", "write", "_work/cluster.done", _flip_last),
    ("full", "report", "_work/write.done", _empty),
    # The sketch stage's arrays, band partitions and signatures.
    ("full", "candidates", "_work/status.npy", _half),
    ("full", "candidates", "_work/exact.npy", _half),
    ("full", "candidates", "_work/bands/00000.bin", _half),
    ("full", "candidates", "_work/bands/ALL", _remove),
    ("full", "cluster", "_work/score.npy", _empty),
    ("full", "write", "_work/ids.parquet", _half),
    ("estimate", "verify", "_work/signatures.bin", _half),
    ("estimate", "verify", "_work/signatures.bin", _zero_half),
    # The candidates, verify and cluster stages' arrays.
    ("full", "verify", "_work/candidates.npy", _half),
    ("full", "cluster", "_work/exact_edges.npy", _empty),
    ("full", "cluster", "_work/edges.npy", _half),
    ("full", "cluster", "_work/edge_sims.npy", _remove),
    ("full", "write", "_work/removed.npy", _empty),
    ("full", "write", "_work/duplicate_of.npy", _half),
    ("full", "write", "_work/labels.npy", _half),
    ("full", "write", "_work/similarity.npy", _remove),
    ("full", "write", "_work/why.npy", _half),
    # Outputs of a finished write stage, before its report.
    ("full", "report", "clusters.parquet", _half),
    ("full", "report", "pairs.parquet", _empty),
    ("full", "report", "kept/part-0.parquet", _half),
    ("full", "report", "removed/part-1.parquet", _remove),
]


@pytest.mark.parametrize(
    ("params", "before", "name", "damage"),
    CASES,
    ids=[f"{p}-{b}-{n}-{d.__name__.strip('_')}" for p, b, n, d in CASES],
)
def test_damaged_checkpoint_is_redone_and_output_is_identical(
    corpus, references, killed_runs, tmp_path, params, before, name, damage
) -> None:
    out = tmp_path / "run"
    shutil.copytree(killed_runs[params, before], out)
    target = out / name
    if target.name == "ALL":  # every band partition
        for partition in sorted(target.parent.glob("*.bin"))[1:]:
            damage(partition)
        target = target.parent / "00000.bin"
    assert target.exists(), f"the killed run left no {name}"
    damage(target)
    config = FULL if params == "full" else ESTIMATE
    resumed = dedup(corpus, out, resume=True, **config)
    assert _output_bytes(out) == references[params]
    assert resumed.input_rows == resumed.kept_rows + resumed.removed_rows + resumed.rejected_rows
    discarded = resumed.report["resume"]["discarded"]
    assert discarded and any(target.name in entry for entry in discarded), discarded
    assert not (out / "_work").exists()


def test_intact_checkpoints_are_used_not_redone(corpus, references, killed_runs, tmp_path) -> None:
    out = tmp_path / "run"
    shutil.copytree(killed_runs["full", "report"], out)
    resumed = dedup(corpus, out, resume=True, **FULL)
    assert _output_bytes(out) == references["full"]
    assert resumed.report["resume"] == {"discarded": []}


def test_band_records_in_memory_are_redone_with_a_reason(corpus, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(_Run, "_partitions", lambda self: 0)
    out = tmp_path / "run"
    _killed(corpus, out, {"exact": True}, "candidates")
    resumed = dedup(corpus, out, resume=True, exact=True)
    assert resumed.report["resume"]["from_stage"] == "sketch"
    assert any("in memory" in entry for entry in resumed.report["resume"]["discarded"])


def test_checkpoint_of_other_parameters_is_still_refused(corpus, killed_runs, tmp_path) -> None:
    out = tmp_path / "run"
    shutil.copytree(killed_runs["full", "report"], out)
    with pytest.raises(stemmatic.ParameterError, match="other parameters"):
        dedup(corpus, out, resume=True, **{**FULL, "threshold": 0.5})


def test_checkpoints_are_written_atomically(corpus, tmp_path, monkeypatch) -> None:
    # A disk that fills while the cluster stage writes its arrays: a clear
    # error naming the file, no temporary file left, the earlier checkpoints
    # intact, and a resume once there is room ends like a clean run.
    real_write = os.write
    calls = {"n": 0}

    def full_disk(fd: int, data: Any) -> int:
        calls["n"] += 1
        if calls["n"] > 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    real_cluster = _Run.stage_cluster

    def cluster_on_full_disk(self: _Run) -> Any:
        monkeypatch.setattr(os, "write", full_disk)
        try:
            return real_cluster(self)
        finally:
            monkeypatch.setattr(os, "write", real_write)

    monkeypatch.setattr(_Run, "stage_cluster", cluster_on_full_disk)
    out = tmp_path / "run"
    with pytest.raises(
        stemmatic.StemmaticError, match=r"_work/\w+\.npy: cannot write the checkpoint: No space left"
    ):
        dedup(corpus, out, exact=True)
    monkeypatch.undo()
    work = out / "_work"
    assert not list(work.glob(".*.tmp")) and not list(out.glob(".*.tmp"))
    assert not (work / "cluster.done").exists() and (work / "verify.done").exists()
    resumed = dedup(corpus, out, resume=True, exact=True)
    assert resumed.report["resume"]["from_stage"] == "cluster"
    reference = dedup(corpus, tmp_path / "ref", exact=True)
    assert _output_bytes(out) == _output_bytes(reference.output)


def test_atomic_file_leaves_old_file_or_new_file(tmp_path, monkeypatch) -> None:
    target = tmp_path / "x.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), AtomicFile(target) as fh:
        fh.write(b"new, but")
        raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["x.bin"]

    def no_space(fd: int, data: Any) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", no_space)
    with (
        pytest.raises(
            stemmatic.StemmaticError, match=r"x\.bin: cannot write the file: No space left on device"
        ),
        AtomicFile(target) as fh,
    ):
        fh.write(b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["x.bin"]
    with AtomicFile(target) as fh:
        fh.write(b"new")
    assert target.read_bytes() == b"new" and fh.record is not None and fh.record.size == 3
    assert json.dumps(fh.record.to_json())
