"""Incremental dedup: check new data against an index of earlier releases, vs a dedup of everything again.

The corpus is the one of ``bench_dedup_scale.py`` (Zipf words, log-uniform
lengths, 5% planted copies of documents of the shard before, 0-2% of their
words replaced), generated once as ``--old-tokens + --new-tokens`` and split
by shards: the first shards are the old release, the rest the new one (its
first shard copies documents of the last old shard, so some new rows
duplicate indexed ones).

Measured, each phase in its own process (its peak RSS is its own):

* **build**: ``build_index(old)``; index bytes per token;
* **check**: ``dedup(new, against=[index])``;
* **peer**: ``dedup(old + new)``, what one does without an index.

Correctness: the rows of the new release that ``check`` removes must be
exactly those ``peer`` removes (ids compared).

Run: ``python benches/bench_incremental.py --old-tokens 1e8 --new-tokens 1e7``.

Short documents (``--short-docs 60000``): the same three phases and check on
the real short documents of ``bench_dedup.py`` (docstrings of the installed
packages, ~400 bytes, plus edited copies of 10% of them, in random order),
in 10 shards with ids: the first 9 are the old release, the last one the new;
written to the ``## Short documents`` section of the results file.

Scale (``--scale 1e8 3e8 1e9``): for each size S, an index of S tokens is
built and ``S / 10`` new tokens are checked against it (build and check only:
the peer would deduplicate everything again); index bytes per token, seconds
and peak RSS per phase go to the ``## Scale`` section of the same results
file, and each size's data is deleted before the next is generated.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA_DIR, git_commit, machine, versions, write_results_head, write_results_section
from bench_dedup_scale import generate
from stemmatic.io import peak_rss_bytes

WORKERS = 2


def _phase(name: str, old: list[Path], new: list[Path], work: Path, memory_limit: str) -> dict[str, object]:
    """Run one phase in this process; what it measured."""
    from stemmatic.dedup import DedupIndex, build_index, dedup

    start = time.perf_counter()
    result: dict[str, object] = {}
    if name == "build":
        info = build_index(old, work / "index", workers=WORKERS, overwrite=True, id_column="id")
        result = {"bytes": info.bytes, "rows": info.rows, "text_bytes": info.text_bytes}
    elif name == "check":
        run = dedup(
            new,
            work / "check",
            against=[work / "index"],
            workers=WORKERS,
            overwrite=True,
            id_column="id",
            memory_limit=memory_limit,
        )
        result = {
            "removed": run.report["rows"]["removed"],
            "removed_against_index": run.report["rows"]["detail"]["removed_against_index"],
        }
    elif name == "verify":
        # What the check spends on the index's CRC-32s: an open with verification, nothing else.
        DedupIndex.open(work / "index", verify=True).close()
    elif name == "peer":
        run = dedup(
            [*old, *new],
            work / "peer",
            workers=WORKERS,
            overwrite=True,
            id_column="id",
            memory_limit=memory_limit,
        )
        result = {"removed": run.removed_rows}
    result["seconds"] = time.perf_counter() - start
    result["peak_rss_bytes"] = _peak_rss()
    return result


def _peak_rss() -> int:
    """This process's peak RSS: VmHWM on Linux (ru_maxrss would carry the parent's peak over fork and exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return peak_rss_bytes()


def _removed_ids(directory: Path, names: set[str]) -> set[int]:
    found: set[int] = set()
    for path in (directory / "removed").glob("*.parquet"):
        if path.name in names:
            found.update(pq.read_table(path, columns=["id"]).column("id").to_pylist())
    return found


def _tokens(paths: list[Path]) -> int:
    """Words: runs of non-spaces (the generated text has one space after every word)."""
    return sum(
        int(pc.sum(pc.count_substring(pq.read_table(p, columns=["text"]).column("text"), " ")).as_py() or 0)
        for p in paths
    )


def _short_corpus(docs: int) -> tuple[Path, list[Path], list[Path]]:
    """bench_dedup.py's short documents (with its planted copies), ids = row numbers, in 10 shards: 9 old, 1 new."""
    directory = DATA_DIR / f"incremental-short-{docs}"
    if not (directory / "DONE").exists():
        from bench_dedup import read_corpus, short_corpus

        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        texts = read_corpus(short_corpus(docs))
        bounds = np.linspace(0, len(texts), 11).astype(int)
        for k in range(10):
            rows = range(int(bounds[k]), int(bounds[k + 1]))
            table = pa.table(
                {
                    "id": pa.array(rows, pa.int64()),
                    "text": pa.array(texts[rows.start : rows.stop], pa.large_string()),
                }
            )
            pq.write_table(table, directory / f"part-{k:05d}.parquet")
        (directory / "DONE").write_text("")
    shards = sorted(directory.glob("*.parquet"))
    return directory, shards[:-1], shards[-1:]


def _corpus(
    old_tokens: float, new_tokens: float, docs_per_shard: int, short_docs: int = 0
) -> tuple[Path, list[Path], list[Path]]:
    """The generated corpus of ``old_tokens + new_tokens``, split by shards into old and new (or the short one)."""
    if short_docs:
        return _short_corpus(short_docs)
    total = old_tokens + new_tokens
    directory = DATA_DIR / f"incremental-{int(total):d}"
    if not (directory / "DONE").exists():
        shutil.rmtree(directory, ignore_errors=True)
        generate(directory, total, 0, docs_per_shard)
        (directory / "DONE").write_text("")
    shards = sorted(directory.glob("*.parquet"))
    split = max(1, min(len(shards) - 1, round(len(shards) * old_tokens / total)))
    return directory, shards[:split], shards[split:]


def _run_phase(
    phase: str,
    old_tokens: float,
    new_tokens: float,
    docs_per_shard: int,
    memory_limit: str,
    short_docs: int = 0,
) -> Any:
    """One phase in a fresh process (so its peak RSS is its own); what it printed."""
    command = [sys.executable, __file__, "--phase", phase, "--old-tokens", str(old_tokens)]
    command += ["--new-tokens", str(new_tokens), "--docs-per-shard", str(docs_per_shard)]
    command += ["--memory-limit", memory_limit, "--short-docs", str(short_docs)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


_SCALE = "## Scale"
_SHORT = "## Short documents"


def _scale(sizes: list[float], docs_per_shard: int, memory_limit: str, keep_data: bool) -> None:
    """Build an index of each size S and check S / 10 new tokens against it; the ``## Scale`` section."""
    gib = 2**30
    rows = []
    for size in sizes:
        new = size / 10
        directory, old_files, new_files = _corpus(size, new, docs_per_shard)
        work = DATA_DIR / f"incremental-work-{int(size + new):d}"
        work.mkdir(parents=True, exist_ok=True)
        build = _run_phase("build", size, new, docs_per_shard, memory_limit)
        print("build", size, build, flush=True)
        check = _run_phase("check", size, new, docs_per_shard, memory_limit)
        print("check", size, check, flush=True)
        verify = _run_phase("verify", size, new, docs_per_shard, memory_limit)
        print("verify", size, verify, flush=True)
        old_tokens, new_tokens = _tokens(old_files), _tokens(new_files)
        rows.append(
            f"| {old_tokens:,} | {new_tokens:,} | {build['rows']:,} | {build['bytes'] / 1e9:.2f} | "
            f"{build['bytes'] / old_tokens:.2f} | {build['seconds']:.0f} | {build['peak_rss_bytes'] / gib:.2f} | "
            f"{check['seconds']:.0f} | {verify['seconds']:.0f} | {check['peak_rss_bytes'] / gib:.2f} | {check['removed']:,} "
            f"({check['removed_against_index']:,}) |"
        )
        if not keep_data:
            shutil.rmtree(work, ignore_errors=True)
            shutil.rmtree(directory, ignore_errors=True)
    sizes_text = " ".join(f"{s:g}" for s in sizes)
    section = "\n".join(
        [
            f"- Machine: {machine()}; shared with other engineers' jobs while it ran",
            f"- Versions: {versions('stemmatic', 'pyarrow', 'numpy')}; commit {git_commit()}",
            "- Input: the generated corpus above; per size, the old release is the index and a new release "
            "of a tenth of its tokens is checked against it (build and check only, each phase in its own "
            f"process; {WORKERS} workers, `--memory-limit {memory_limit}`, ids from the `id` column); "
            "a check opens the index with a CRC-32 of every file, timed alone in a third process after "
            "the check (so from a page cache the check may have warmed)",
            f"- Command: `python benches/bench_incremental.py --scale {sizes_text} "
            f"--docs-per-shard {docs_per_shard}`",
            "",
            "| indexed tokens | new tokens | indexed rows | index GB | index bytes/token | build s | "
            "build peak RSS GiB | check s | of which CRC-32 of the index s | check peak RSS GiB | "
            "removed (of which against the index) |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            *rows,
            "",
        ]
    )
    written = write_results_section("incremental", _SCALE, section)
    print(section)
    print(f"wrote {written}")


def _work(old_tokens: float, new_tokens: float, short_docs: int) -> Path:
    """Where a correctness run's phases write (the index, the check's and the peer's outputs)."""
    if short_docs:
        return DATA_DIR / f"incremental-work-short-{short_docs}"
    return DATA_DIR / f"incremental-work-{int(old_tokens + new_tokens):d}"


def _compare(args: argparse.Namespace, short_docs: int) -> tuple[dict[str, Any], set[int], set[int], Path]:
    """Build, check and peer, each in its own process; what each measured, the new release's rows the peer
    and the check removed, and the work folder."""
    _, _, new = _corpus(args.old_tokens, args.new_tokens, args.docs_per_shard, short_docs)
    work = _work(args.old_tokens, args.new_tokens, short_docs)
    work.mkdir(parents=True, exist_ok=True)
    measured: dict[str, Any] = {}
    # Build once; check and peer alternate --repeat times (a load change slows both alike), the fastest kept.
    for phase in ("build", *(("check", "peer") * args.repeat)):
        run = _run_phase(
            phase, args.old_tokens, args.new_tokens, args.docs_per_shard, args.memory_limit, short_docs
        )
        print(phase, run, flush=True)
        if phase not in measured or run["seconds"] < measured[phase]["seconds"]:
            measured[phase] = run
    new_names = {p.name for p in new}
    return measured, _removed_ids(work / "peer", new_names), _removed_ids(work / "check", new_names), work


def _correct(measured: dict[str, Any], want: set[int], got: set[int]) -> str:
    return (
        f"**Correct: {'yes' if want == got else 'NO'}** — `dedup NEW --against INDEX` removed {len(got):,} rows of "
        f"the new release ({measured['check']['removed_against_index']:,} as duplicates of indexed rows); a dedup "
        f"of old + new (old first) removed {len(want):,} rows of the new release; the sets are "
        f"{'identical' if want == got else f'different ({len(want ^ got):,} rows differ)'}."
    )


def _phase_rows(measured: dict[str, Any]) -> list[str]:
    gib = 2**30
    build, check, peer = measured["build"], measured["check"], measured["peer"]
    return [
        "| phase | what | seconds | peak RSS (GiB) |",
        "|---|---|---:|---:|",
        f"| build | `stemmatic index build OLD` | {build['seconds']:.1f} | {build['peak_rss_bytes'] / gib:.2f} |",
        f"| check | `stemmatic dedup NEW --against INDEX` | {check['seconds']:.1f} | {check['peak_rss_bytes'] / gib:.2f} |",
        f"| peer | `stemmatic dedup OLD NEW` (no index) | {peer['seconds']:.1f} | {peer['peak_rss_bytes'] / gib:.2f} |",
        "",
    ]


def _short(args: argparse.Namespace) -> None:
    """The correctness run on the real short documents; the ``## Short documents`` section."""
    measured, want, got, work = _compare(args, args.short_docs)
    _, old, new = _short_corpus(args.short_docs)
    old_rows = sum(pq.read_metadata(p).num_rows for p in old)
    new_rows = sum(pq.read_metadata(p).num_rows for p in new)
    build, check, peer = measured["build"], measured["check"], measured["peer"]
    body = [
        f"- Machine: {machine()}; shared with other engineers' jobs while it ran, so times are noisy",
        f"- Versions: {versions('stemmatic', 'pyarrow', 'numpy')}; commit {git_commit()}",
        f"- Input: `bench_dedup.py`'s real short documents ({args.short_docs:,} docstrings of the installed "
        "packages plus edited copies of 10% of them, in random order), ids = row numbers, 10 shards: old release "
        f"the first 9 ({old_rows:,} rows, {build['text_bytes'] / 1e6:,.1f} MB of text, "
        f"{build['text_bytes'] / max(1, old_rows):,.0f} bytes per row), new release the last ({new_rows:,} rows)",
        f"- Parameters: as above (threshold 0.8, num_perm 128, word 5-grams, exact verification, {WORKERS} workers, "
        f"`--memory-limit {args.memory_limit}`, ids from the `id` column)",
        f"- Command: `python benches/bench_incremental.py --short-docs {args.short_docs} --repeat {args.repeat}` "
        f"(check and peer alternating, each in its own process, the fastest of {args.repeat} kept)",
        "",
        _correct(measured, want, got),
        "",
        *_phase_rows(measured),
        f"- Index: {build['bytes'] / 1e6:,.1f} MB, {build['bytes'] / max(1, old_rows):,.0f} bytes per row "
        f"({build['bytes'] / build['text_bytes']:.2f} bytes per byte of text, against about 1.2 on the long "
        "generated documents: every row carries 12 bytes × 16 bands of band keys whatever its length).",
        f"- Check vs dedup of everything again: **{peer['seconds'] / check['seconds']:.1f}× faster** "
        f"({check['seconds']:.1f} s vs {peer['seconds']:.1f} s), reading a tenth of the rows; the check includes "
        "opening the index with a CRC-32 of every file.",
    ]
    path = write_results_section("incremental", _SHORT, "\n".join(body))
    print("\n".join(body))
    print(f"wrote {path}")
    if not args.keep_data:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--old-tokens", type=float, default=1e8)
    parser.add_argument("--new-tokens", type=float, default=1e7)
    parser.add_argument("--docs-per-shard", type=int, default=5_000)
    parser.add_argument("--memory-limit", default="4GB")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--keep-data", action="store_true")
    parser.add_argument(
        "--repeat", type=int, default=1, help="check and peer runs, alternating; the fastest of each is kept"
    )
    parser.add_argument(
        "--scale",
        type=float,
        nargs="+",
        metavar="TOKENS",
        help="indexed sizes of the scale study (build + check)",
    )
    parser.add_argument(
        "--short-docs",
        type=int,
        default=0,
        metavar="DOCS",
        help="run the correctness comparison on DOCS real short documents (docstrings) instead of the generated corpus",
    )
    args = parser.parse_args()

    if args.phase:
        _, old, new = _corpus(args.old_tokens, args.new_tokens, args.docs_per_shard, args.short_docs)
        work = _work(args.old_tokens, args.new_tokens, args.short_docs)
        print(json.dumps(_phase(args.phase, old, new, work, args.memory_limit)))
        return
    if args.scale:
        _scale(args.scale, args.docs_per_shard, args.memory_limit, args.keep_data)
        return
    if args.short_docs:
        _short(args)
        return

    _, old, new = _corpus(args.old_tokens, args.new_tokens, args.docs_per_shard)
    measured, want, got, work = _compare(args, 0)
    old_tokens, new_tokens = _tokens(old), _tokens(new)
    build, check, peer = measured["build"], measured["check"], measured["peer"]
    lines = [
        "# Incremental dedup",
        "",
        f"- Machine: {machine()}; shared with other engineers' jobs while it ran, so times are noisy; "
        "the ratio to the peer measured in the same run is the number to read",
        f"- Versions: {versions('stemmatic', 'pyarrow', 'numpy')}; commit {git_commit()}",
        f"- Input: the generated corpus of `bench_dedup_scale.py`; old release {len(old)} shards, "
        f"{build['rows']:,} rows, {old_tokens:,} tokens (words), {build['text_bytes'] / 1e6:,.0f} MB of text; "
        f"new release {len(new)} shards, {new_tokens:,} tokens",
        f"- Parameters: threshold 0.8, num_perm 128, word 5-grams, exact verification, {WORKERS} workers, "
        f"`--memory-limit {args.memory_limit}`, ids from the `id` column",
        f"- Command: `python benches/bench_incremental.py --old-tokens {args.old_tokens:g} "
        f"--new-tokens {args.new_tokens:g} --docs-per-shard {args.docs_per_shard}"
        f"{f' --repeat {args.repeat}' if args.repeat > 1 else ''}`",
        "",
        _correct(measured, want, got),
        "",
        *_phase_rows(measured),
        f"- Index: {build['bytes'] / 1e6:,.1f} MB, **{build['bytes'] / old_tokens:.2f} bytes per token** "
        f"({build['bytes'] / build['text_bytes']:.2f} bytes per byte of text): per row 12 bytes × bands of "
        "sorted band keys and rows, 8 bytes per distinct shingle (≈ per token), 8 bytes of offset, and its id.",
        f"- Check vs dedup of everything again: **{peer['seconds'] / check['seconds']:.1f}× faster** "
        f"({check['seconds']:.1f} s vs {peer['seconds']:.1f} s), reading {new_tokens / (old_tokens + new_tokens):.0%} "
        "of the text; the check includes opening the index with a CRC-32 of every file.",
        "",
    ]
    # The scale and short-document sections (other modes of this script) stay.
    path = write_results_head("incremental", "\n".join(lines))
    print("\n".join(lines))
    print(f"wrote {path}")
    if not args.keep_data:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
