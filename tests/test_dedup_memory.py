"""The dedup pipeline's memory plan: what it keeps in memory, and its fallbacks when the input is larger than planned.

Every path must write the same bytes as the roomy one.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from stemmatic.dedup import dedup
from stemmatic.dedup._spill import BandRecords, SetCache
from stemmatic.dedup.pipeline import _Run


def _near_duplicate_texts(count: int, seed: int = 5) -> list[str]:
    """``count`` short texts: originals of 50-60 words and copies with one word changed (Jaccard > 0.8)."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(3000)]
    texts: list[str] = []
    while len(texts) < count:
        original = [rng.choice(words) for _ in range(rng.randint(50, 60))]
        texts.append(" ".join(original))
        for _ in range(rng.randint(0, 2)):
            copy = list(original)
            copy[rng.randrange(len(copy))] = "changed"
            texts.append(" ".join(copy))
    return texts[:count]


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row, separators=(",", ":")) + "\n" for row in rows))
    return path


def _output_bytes(out: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != "report.json"
    }


@pytest.fixture
def watched(monkeypatch) -> dict[str, list]:
    """What each run's sketch decided: its band partitions over time and whether it kept the rows."""
    seen: dict[str, list] = {"partitions": [], "rows_kept": []}
    partition = BandRecords._partition
    sketch = _Run.stage_sketch

    def watch_partition(self: BandRecords, partitions: int) -> None:
        seen["partitions"].append(partitions)
        partition(self, partitions)

    def watch_sketch(self: _Run) -> dict[str, int]:
        counts = sketch(self)
        seen["rows_kept"].append(self.row_cache is not None)
        return counts

    monkeypatch.setattr(BandRecords, "_partition", watch_partition)
    monkeypatch.setattr(_Run, "stage_sketch", watch_sketch)
    return seen


def test_uncompressed_jsonl_is_read_once_when_it_fits(tmp_path: Path, watched) -> None:
    # 1 MiB budget: a quarter is 256 KiB; this JSONL is ~30 KB on disk and
    # about as large in Arrow, so the sketch keeps it for the write stage,
    # and its band records in memory.
    corpus = _write_jsonl(tmp_path / "in.jsonl", [{"text": t} for t in _near_duplicate_texts(200)])
    result = dedup(corpus, tmp_path / "out", memory_limit="1MiB")
    assert result.removed_rows > 0
    assert watched["rows_kept"] == [True]
    assert watched["partitions"] == [0]


def test_band_records_beyond_a_twelfth_of_the_budget_spill_with_the_same_output(
    tmp_path: Path, watched
) -> None:
    # ~170 KB of JSONL fits a quarter of 1 MiB, so the sketch starts with its
    # band records in memory; 600 documents x 16 bands x 16 bytes pass a
    # twelfth of the budget (87 KB) and go to partition files mid-stream.
    corpus = _write_jsonl(tmp_path / "in.jsonl", [{"text": t} for t in _near_duplicate_texts(600)])
    assert corpus.stat().st_size < (1 << 20) // 4
    tight = dedup(corpus, tmp_path / "tight", memory_limit="1MiB", workers=2, emit_pairs=True)
    assert watched["partitions"][0] == 0 and watched["partitions"][1] >= 16
    roomy = dedup(corpus, tmp_path / "roomy", memory_limit="4GB", workers=2, emit_pairs=True)
    assert watched["partitions"][2:] == [0]
    assert tight.removed_rows > 100
    assert _output_bytes(tight.output) == _output_bytes(roomy.output)


def test_rows_larger_in_memory_than_on_disk_are_read_again_with_the_same_output(
    tmp_path: Path, watched
) -> None:
    # A list of 100 one-digit integers is 200 bytes in JSON and 800 in Arrow:
    # the input is under a quarter of the budget on disk and over it once
    # read, so the sketch lets the rows go and the write stage reads them again.
    rows = [{"text": t, "v": [i % 7] * 100} for i, t in enumerate(_near_duplicate_texts(400))]
    corpus = _write_jsonl(tmp_path / "in.jsonl", rows)
    assert corpus.stat().st_size < (1 << 20) // 4
    tight = dedup(corpus, tmp_path / "tight", memory_limit="1MiB", workers=2)
    roomy = dedup(corpus, tmp_path / "roomy", memory_limit="4GB", workers=2)
    assert watched["rows_kept"] == [False, True]
    assert tight.removed_rows > 50
    assert _output_bytes(tight.output) == _output_bytes(roomy.output)


@pytest.mark.parametrize("workers", [1, 2])
def test_kept_and_removed_lanes_write_rows_in_input_order(tmp_path: Path, workers: int) -> None:
    # Many small batches through both write paths (rows in memory, rows read
    # again): every shard holds its rows in input order whatever the threads.
    texts = _near_duplicate_texts(1500)
    corpus = _write_jsonl(tmp_path / "in.jsonl", [{"text": t, "row": i} for i, t in enumerate(texts)])
    for budget in ("4GB", "1MiB"):
        result = dedup(corpus, tmp_path / budget, memory_limit=budget, workers=workers, batch_rows=64)
        assert result.kept is None
        kept = result.kept_paths[0]
        removed = result.removed_paths[0]
        kept_rows = pq.read_table(kept).column("row").to_pylist()
        removed_rows = pq.read_table(removed).column("row").to_pylist()
        assert kept_rows == sorted(kept_rows) and removed_rows == sorted(removed_rows)
        assert sorted(kept_rows + removed_rows) == list(range(len(texts)))
        assert len(removed_rows) > 100


@pytest.mark.parametrize("workers", [1, 2])
def test_rows_read_again_file_by_file_side_by_side_give_the_roomy_bytes(
    tmp_path: Path, watched, workers: int
) -> None:
    # Over the budget, verification reads the needed rows' texts again, one
    # file per worker side by side (a file without a needed row is not read),
    # and the write stage closes each shard as its input ends: the bytes of
    # a run that kept everything in memory, with the pairs and clusters.
    texts = _near_duplicate_texts(1500)
    for part in range(3):
        rows = [{"text": t, "row": i} for i, t in enumerate(texts) if i % 3 == part]
        _write_jsonl(tmp_path / "in" / f"{part}.jsonl", rows)
    unique = [" ".join(f"u{part}x{i}y{j}" for j in range(60)) for part in range(40) for i in range(3)]
    _write_jsonl(tmp_path / "in" / "3.jsonl", [{"text": t, "row": -1} for t in unique])
    tight = dedup(tmp_path / "in", tmp_path / "tight", memory_limit="1MiB", workers=workers, emit_pairs=True)
    roomy = dedup(tmp_path / "in", tmp_path / "roomy", memory_limit="4GB", workers=workers, emit_pairs=True)
    assert watched["rows_kept"] == [False, True]
    assert tight.removed_rows > 100 and len(tight.kept_paths) == 4
    assert _output_bytes(tight.output) == _output_bytes(roomy.output)


def test_shingle_sets_that_cannot_fit_are_let_go_from_a_sixteenth_of_the_rows() -> None:
    cache = SetCache()
    for _ in range(2):  # 20 documents of 10 shingles: 2 x (800 + 88) bytes
        cache.add(np.zeros(100, np.uint64), np.arange(0, 101, 10, dtype=np.uint64))
    assert cache.docs == 20 and cache.nbytes == 1776
    assert cache.outgrows(1_000, None)  # over the limit itself
    assert not cache.outgrows(10_000, None)  # no total known: only the limit counts
    assert not cache.outgrows(10_000, 400)  # 20 of 400 rows: under a sixteenth, too early to tell
    assert cache.outgrows(10_000, 320)  # 20 of 320: 28,416 bytes projected, over twice the limit
    assert not cache.outgrows(20_000, 320)  # ... under twice this one: kept while it fits


def test_checkpoints_are_not_fsynced_outputs_are(tmp_path: Path, monkeypatch) -> None:
    # A run used to fsync every checkpoint and band partition (34 fsyncs for
    # 60k short documents, 0.1-0.6 s of a 1-2 s run on a busy disk). Now only
    # the outputs written through AtomicFile are (clusters.parquet here: one
    # fsync of the file, one of its directory); checkpoints are CRC-checked
    # on resume instead.
    import os

    corpus = _write_jsonl(tmp_path / "in.jsonl", [{"text": t} for t in _near_duplicate_texts(600)])
    synced: list[int] = []
    fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        synced.append(fd)
        fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    # Spilled band partitions and in-memory ones alike.
    for budget in ("1MiB", "4GB"):
        synced.clear()
        result = dedup(corpus, tmp_path / budget, memory_limit=budget, emit_pairs=True)
        assert result.removed_rows > 100
        # clusters.parquet and pairs.parquet: the file and its directory each.
        assert len(synced) == 4, budget
