"""End to end, file in → outputs written, each run a new process: stemmatic beside the pyarrow floor, and S3 beside local.

What a user runs, timed from outside (start-up, imports, reading, the
algorithm, writing, report):

* ``stemmatic dedup IN -o OUT`` (kept/, removed/, clusters.parquet, report.json);
* ``stemmatic contamination scan IN --index INDEX -o OUT --remove`` (clean/,
  removed/, hits.parquet, items.parquet, report.json);

beside **the floor**: a process that uses pyarrow alone to read the same input
files and write the same outputs -- the same files, format (Parquet) and codec
(zstd for the split, pyarrow's default for the small tables, as stemmatic
writes them), the same rows and columns, split by the rows stemmatic removed
(read from an untimed reference run). The floor does the I/O work without the
algorithm; its outputs are checked to be equal, table for table, to
stemmatic's. Ratio stemmatic ÷ floor per pair, the two alternating (A B A B),
median of the pairs, wall and CPU seconds (user + system of the process).
Target (issue 15): ≤ 1.5×.

Beside them, the CPU seconds of the algorithm's Rust kernel alone on the
input's texts (``minhash_sketch``; the index's ``scan``), measured in this
process: the floor plus that kernel is what a run with no other overhead would
cost, so (floor + kernel) ÷ floor says how near to 1.5× the algorithm lets a
command come.

Inputs, each in Parquet and in JSONL:

* **long**: generated documents (``stemmatic.synthetic``: Zipf words,
  20-5,000 words each, a fifth edited copies), ``--mb`` MB of text in shards
  of about 25 MB;
* **short**: the real short-document corpus of ``bench_short_docs.py`` (60,000
  docstrings ×10 with one word changed per copy, ~257 MB of JSONL), its first
  ``--mb`` MB; the Parquet copy is made from the JSONL by pyarrow.

The contamination index holds every 200th document's first 600 characters (as
``prompt``) of the corpus it is scanned against, 13-grams.

S3: moto's server (``moto[server]``, a dev dependency) started in this
process, the long inputs uploaded to it, then ``stemmatic dedup s3://… -o
s3://…`` alternating with the same command on the local copy, and the pyarrow
floor on S3 too; MB/s are input file bytes per wall second. moto is a Python
server in this process: its CPU is not in the children's CPU seconds and is
reported apart, and it bounds what S3 can show here (a real object store is
not this).

Run: ``make bench-e2e`` (``python benches/bench_e2e.py --mb 250 --repeat 3``); writes ``benches/results/e2e.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    DATA_DIR,
    alternate,
    byte_compile,
    git_commit,
    machine,
    pair_medians,
    versions,
    write_results,
)

BIN = Path(sys.executable).parent
STEMMATIC = str(BIN / "stemmatic")
SHARD_MB = 25
DOCS_PER_CHUNK = 5_000  # generated per seed, so memory stays small whatever --mb
ITEM_EVERY = 200
ITEM_CHARS = 600

# The floor's input readers and the names of a command's outputs. The floor imports pyarrow only.
SPLITS = {"dedup": ("kept", "removed"), "scan": ("clean", "removed")}
SMALL_OUTPUTS = {"dedup": ("clusters.parquet",), "scan": ("hits.parquet", "items.parquet")}


# -- inputs ----------------------------------------------------------------------------------------


def input_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.suffix in (".parquet", ".jsonl"))


def cached_inputs(
    root: Path, folders: dict[str, str], make: Callable[[dict[str, Path]], None]
) -> dict[str, Path]:
    """``{name: root/folder}``, made by ``make`` (into a folder renamed into place when done, so that an
    interrupted run leaves no half-written input to be taken for a whole one) unless ``root`` exists."""
    out = {name: root / folder for name, folder in folders.items()}
    if root.is_dir():
        return out
    partial = root.with_name(root.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    for folder in folders.values():
        (partial / folder).mkdir(parents=True)
    make({name: partial / folder for name, folder in folders.items()})
    partial.rename(root)
    return out


def long_inputs(mb: float) -> dict[str, Path]:
    """Generated long documents, ``mb`` MB of text, as Parquet and JSONL shards (cached under DATA_DIR)."""

    def make(out: dict[str, Path]) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        from stemmatic.io._sinks import JsonlWriter
        from stemmatic.synthetic import generate_corpus

        total, shard, pending = 0, 0, []

        def flush() -> None:
            nonlocal shard, pending
            table = pa.concat_tables(pending)
            pq.write_table(table, out["long, Parquet"] / f"part-{shard:05d}.parquet")
            writer = JsonlWriter(out["long, JSONL"] / f"part-{shard:05d}.jsonl")
            writer.write_table(table)
            writer.close()
            shard, pending = shard + 1, []

        seed = 0
        while total < mb * 1e6:
            table = generate_corpus(DOCS_PER_CHUNK, seed=seed).table.select(["id", "text"])
            ids = [f"s{seed}-{i}" for i in table.column("id").to_pylist()]  # unique across chunks
            table = table.set_column(0, "id", pa.array(ids))
            lengths = pc.binary_length(table.column("text")).to_numpy()
            keep = int(min(len(lengths), (lengths.cumsum() < mb * 1e6 - total).sum() + 1))
            pending.append(table.slice(0, keep))
            total += int(lengths[:keep].sum())
            if sum(t.nbytes for t in pending) >= SHARD_MB * 1e6:
                flush()
            seed += 1
        if pending:
            flush()

    folders = {"long, Parquet": "parquet", "long, JSONL": "jsonl"}
    return cached_inputs(DATA_DIR / f"e2e-long-{mb:g}mb", folders, make)


def short_inputs(docs: int, mb: float) -> dict[str, Path]:
    """The real short documents of bench_short_docs.py (×10 corpus), their first ``mb`` MB, JSONL and Parquet."""
    from bench_short_docs import corpora

    source = corpora(docs)["10× (one word changed per copy)"]

    def make(out: dict[str, Path]) -> None:
        import pyarrow.json as pajson
        import pyarrow.parquet as pq

        jsonl = out["short, JSONL"] / "docs.jsonl"
        with source.open("rb") as src, jsonl.open("wb") as dst:
            written = 0
            for line in src:
                if written >= mb * 1e6:
                    break
                dst.write(line)
                written += len(line)
        pq.write_table(pajson.read_json(jsonl), out["short, Parquet"] / "docs.parquet")

    whole = source.stat().st_size <= mb * 1e6
    root = DATA_DIR / f"e2e-short-{docs}-{'all' if whole else f'{mb:g}mb'}"
    return cached_inputs(root, {"short, JSONL": "jsonl", "short, Parquet": "parquet"}, make)


def build_index(corpus: Path, work: Path) -> Path:
    """A contamination index of every ITEM_EVERY-th document's first ITEM_CHARS characters (untimed)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts: list[str] = []
    for path in input_files(corpus):
        texts += pq.read_table(path, columns=["text"]).column("text").to_pylist()[::ITEM_EVERY]
    work.mkdir(parents=True, exist_ok=True)
    items = work / "items.parquet"
    pq.write_table(pa.table({"prompt": [t[:ITEM_CHARS] for t in texts]}), items)
    index = work / "index.stemidx"
    run_checked(
        [STEMMATIC, "contamination", "index", "build", str(items), "-o", str(index), "--overwrite", "-q"]
    )
    return index


def run_checked(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr}")


# -- the floor: pyarrow alone, the same outputs ------------------------------------------------------


def read_input(path: str) -> Any:
    """The whole file as pyarrow reads it: Parquet, or JSON lines; ``path`` local or a URL."""
    import pyarrow.fs as pafs
    import pyarrow.json as pajson
    import pyarrow.parquet as pq

    fs, inner = pafs.FileSystem.from_uri(path) if "://" in path else (pafs.LocalFileSystem(), path)
    if inner.endswith(".parquet"):
        return pq.read_table(inner, filesystem=fs)
    with fs.open_input_stream(inner) as stream:
        return pajson.read_json(stream)


def floor(answer: Path, out: str, files: list[str]) -> None:
    """Read ``files``, write what stemmatic wrote for them into ``out``: the split by the reference's removed
    rows (with their extra columns) and the small tables, as Parquet, and a report."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

    manifest = json.loads((answer / "manifest.json").read_text())
    kept_dir, removed_dir = manifest["split"]
    fs, root = pafs.FileSystem.from_uri(out) if "://" in out else (pafs.LocalFileSystem(), out)
    for directory in (kept_dir, removed_dir):
        fs.create_dir(f"{root}/{directory}")
    rows = {"in": 0, "kept": 0, "removed": 0}
    for k, path in enumerate(files):
        table = read_input(path)
        removed = np.zeros(table.num_rows, dtype=bool)
        removed[np.load(answer / f"{k}.npy")] = True
        extra = pq.read_table(answer / f"{k}-extra.parquet")
        gone = table.filter(pa.array(removed))
        for name in extra.column_names:
            gone = gone.append_column(extra.field(name), extra.column(name))
        stem = Path(path).stem
        pq.write_table(
            table.filter(pa.array(~removed)),
            f"{root}/{kept_dir}/{stem}.parquet",
            filesystem=fs,
            compression="zstd",
        )
        pq.write_table(gone, f"{root}/{removed_dir}/{stem}.parquet", filesystem=fs, compression="zstd")
        rows["in"] += table.num_rows
        rows["removed"] += gone.num_rows
    rows["kept"] = rows["in"] - rows["removed"]
    for name in manifest["small"]:
        pq.write_table(pq.read_table(answer / name), f"{root}/{name}", filesystem=fs)
    with fs.open_output_stream(f"{root}/report.json") as stream:
        stream.write(json.dumps({"rows": rows}, indent=2).encode())


def make_answer(command: str, files: list[Path], reference: Path, answer: Path) -> None:
    """From a reference run's outputs: per input file, the positions of the removed rows and their extra columns."""
    import numpy as np
    import pyarrow.parquet as pq

    kept_dir, removed_dir = SPLITS[command]
    shutil.rmtree(answer, ignore_errors=True)
    answer.mkdir(parents=True)
    for k, path in enumerate(files):
        table = read_input(str(path))
        texts = table.column("text").to_pylist()
        gone = pq.read_table(reference / removed_dir / f"{path.stem}.parquet")
        gone_texts = gone.column("text").to_pylist()
        # Removed rows are written in input order. Matched from the end, so that of identical rows the later
        # ones are taken (dedup keeps the first); identical rows give identical outputs whichever is taken,
        # and the floor's outputs are compared with stemmatic's below.
        positions, j = [], len(gone_texts) - 1
        for i in range(len(texts) - 1, -1, -1):
            if j >= 0 and texts[i] == gone_texts[j]:
                positions.append(i)
                j -= 1
        if j >= 0:
            raise SystemExit(
                f"{reference / removed_dir / path.stem}: {j + 1} removed rows not found in {path}"
            )
        np.save(answer / f"{k}.npy", np.array(positions[::-1], dtype=np.int64))
        extra = [n for n in gone.column_names if n not in table.column_names]
        pq.write_table(gone.select(extra), answer / f"{k}-extra.parquet")
    small = [name for name in SMALL_OUTPUTS[command] if (reference / name).exists()]
    for name in small:
        shutil.copy(reference / name, answer / name)
    (answer / "manifest.json").write_text(json.dumps({"split": [kept_dir, removed_dir], "small": small}))


def same_outputs(floor_out: Path, reference: Path) -> None:
    """Every Parquet file the floor wrote equals stemmatic's (rows, columns, types)."""
    import pyarrow.parquet as pq

    for path in sorted(floor_out.rglob("*.parquet")):
        ours = pq.read_table(reference / path.relative_to(floor_out))
        theirs = pq.read_table(path)
        if not ours.equals(theirs):
            raise SystemExit(
                f"the floor's {path.relative_to(floor_out)} differs from stemmatic's:\n{theirs.schema}\nvs\n{ours.schema}"
            )


# -- timing ----------------------------------------------------------------------------------------


def floor_command(answer: Path, out: str, files: list[str]) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--floor", str(answer), out, *files]


def stemmatic_command(command: str, inputs: str, out: str, index: Path | None) -> list[str]:
    if command == "dedup":
        return [STEMMATIC, "dedup", inputs, "-o", out, "--overwrite", "-q"]
    assert index is not None
    return [
        STEMMATIC,
        "contamination",
        "scan",
        inputs,
        "--index",
        str(index),
        "-o",
        out,
        "--remove",
        "--overwrite",
        "-q",
    ]


def rate(mb: float, seconds: float) -> str:
    """MB/s, to one decimal below 10 (the smoke run's tiny inputs)."""
    value = mb / seconds
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def megabytes(files: list[Path]) -> float:
    return sum(p.stat().st_size for p in files) / 1e6


def kernel_cpu(command: str, files: list[Path], index: Path | None, repeat: int) -> float:
    """CPU seconds (all threads, best of ``repeat``) of the algorithm's Rust kernel alone on the input's texts,
    in this process: ``minhash_sketch`` (dedup's defaults) or the index's ``scan`` (with the index loaded)."""
    from stemmatic import _core
    from stemmatic.contamination import ContaminationIndex

    texts = [read_input(str(path)).column("text") for path in files]
    if command == "dedup":

        def kernel() -> None:
            for column in texts:
                _core.minhash_sketch(column, num_perm=128, ngram=5, tokenizer="auto", seed=1)
    else:
        assert index is not None
        loaded = ContaminationIndex.load(index)

        def kernel() -> None:
            for column in texts:
                loaded.scan_raw(column)

    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        kernel()
        best = min(best, time.process_time() - started)
    return best


def compare(command: str, name: str, corpus: Path, index: Path | None, work: Path, repeat: int) -> str:
    """One table row: stemmatic's command and the floor on ``corpus``, alternating, medians."""
    files = input_files(corpus)
    tag = f"{command}-{name.replace(', ', '-').lower()}"
    reference, answer, ours, theirs = (
        work / f"{tag}-{part}" for part in ("reference", "answer", "ours", "floor")
    )
    run_checked(stemmatic_command(command, str(corpus), str(reference), index))
    make_answer(command, files, reference, answer)
    check = work / f"{tag}-check"
    run_checked(floor_command(answer, str(check), [str(p) for p in files]))
    same_outputs(check, reference)
    shutil.rmtree(check)
    stemmatic_times, floor_times = alternate(
        [
            stemmatic_command(command, str(corpus), str(ours), index),
            floor_command(answer, str(theirs), [str(p) for p in files]),
        ],
        repeat,
        clear=[None, theirs],
    )
    floor_wall, floor_cpu, wall, cpu, ratio, cpu_ratio = pair_medians(floor_times, stemmatic_times)
    kernel = kernel_cpu(command, files, index, repeat)
    report = json.loads((reference / "report.json").read_text())
    stages = ", ".join(f"{k} {v:.2f}" for k, v in report["stages"].items())
    mb = megabytes(files)
    mark = "" if ratio <= 1.5 else " ✗"
    row = (
        f"| {command} | {name} | {len(files)} | {mb:.1f} | {report['rows']['in']:,} | {report['rows']['removed']:,} "
        f"| {wall:.2f} | {cpu:.2f} | {rate(mb, wall)} | {floor_wall:.2f} | {floor_cpu:.2f} | {rate(mb, floor_wall)} "
        f"| **{ratio:.2f}×**{mark} | {cpu_ratio:.2f}× | {kernel:.2f} | {(floor_cpu + kernel) / floor_cpu:.2f}× "
        f"| {stages} |"
    )
    for path in (reference, ours, theirs):
        shutil.rmtree(path, ignore_errors=True)
    print(row, flush=True)
    return row


def s3_rows(inputs: dict[str, Path], work: Path, repeat: int) -> list[str]:
    """dedup on S3 (moto) beside the same dedup on the local copy, and the pyarrow floor on S3."""
    import logging
    import socket

    import pyarrow.fs as pafs
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_REGION="us-east-1",
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}",
    )
    rows = []
    try:
        fs = pafs.S3FileSystem(
            endpoint_override=f"127.0.0.1:{port}",
            scheme="http",
            region="us-east-1",
            allow_bucket_creation=True,
        )
        fs.create_dir("bench")
        for name, corpus in inputs.items():
            files = input_files(corpus)
            tag = name.replace(", ", "-").lower()
            pafs.copy_files(str(corpus), f"bench/{tag}", destination_filesystem=fs)
            remote = f"s3://bench/{tag}"
            answer = work / f"s3-{tag}-answer"
            reference = work / f"s3-{tag}-reference"
            run_checked(stemmatic_command("dedup", str(corpus), str(reference), None))
            make_answer("dedup", files, reference, answer)
            shutil.rmtree(reference)
            local = work / f"s3-{tag}-local"
            started = time.process_time()
            times = alternate(
                [
                    stemmatic_command("dedup", str(corpus), str(local), None),
                    stemmatic_command("dedup", remote, f"s3://bench/out-{tag}", None),
                    floor_command(answer, f"s3://bench/floor-{tag}", [f"{remote}/{p.name}" for p in files]),
                ],
                repeat,
            )
            server_cpu = (
                time.process_time() - started
            ) / repeat  # this process: moto serving S3 (both S3 runs)
            shutil.rmtree(local, ignore_errors=True)
            mb = megabytes(files)
            local_wall, local_cpu, s3_wall, s3_cpu, ratio, _ = pair_medians(times[0], times[1])
            floor_wall, _, _, _, floor_ratio, _ = pair_medians(times[2], times[1])
            rows.append(
                f"| {name} | {mb:.1f} | {local_wall:.2f} | {local_cpu:.2f} | {rate(mb, local_wall)} | {s3_wall:.2f} | {s3_cpu:.2f} "
                f"| {rate(mb, s3_wall)} | **{ratio:.2f}×** | {floor_wall:.2f} | {rate(mb, floor_wall)} "
                f"| {floor_ratio:.2f}× | {server_cpu:.2f} |"
            )
            print(rows[-1], flush=True)
    finally:
        server.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--mb", type=float, default=250, help="MB of text per input (the short corpus: its first MB)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="A/B pairs per comparison")
    parser.add_argument(
        "--short-docs", type=int, default=60_000, help="bench_short_docs.py's corpus (--docs)"
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=["dedup", "scan", "s3"],
        default=["dedup", "scan", "s3"],
        help="parts to run (default all)",
    )
    parser.add_argument("--floor", nargs="+", metavar="ARG", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor:
        floor(Path(args.floor[0]), args.floor[1], args.floor[2:])
        return

    byte_compile("stemmatic")  # as installed from a wheel
    load_at_start = os.getloadavg()[0]
    inputs = {**long_inputs(args.mb), **short_inputs(args.short_docs, args.mb)}
    work = DATA_DIR / "e2e-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    lines = [
        "# End to end: stemmatic beside the pyarrow floor, and S3 beside local",
        "",
        "- Machine: (filled in when the run ends)",
        f"- Versions: {versions('stemmatic', 'pyarrow', 'moto')}; commit {git_commit()}",
        f"- Command: `python benches/bench_e2e.py --mb {args.mb:g} --repeat {args.repeat} "
        f"--short-docs {args.short_docs}{' --only ' + ' '.join(args.only) if len(args.only) < 3 else ''}`",
        "- Inputs: long = generated documents (stemmatic.synthetic, 20-5,000 words, a fifth edited copies) in "
        f"~{SHARD_MB} MB shards; short = the real docstrings ×10 of bench_short_docs.py (one file). "
        "MB are input file bytes.",
        "",
        "Each run is a new process, as a user runs it: `stemmatic dedup IN -o OUT` and `stemmatic contamination "
        "scan IN --index INDEX -o OUT --remove` (default options: Parquet out, all CPUs). The floor: pyarrow alone "
        "reading the same files and writing the same outputs (the kept/removed or clean/removed split as zstd "
        "Parquet, with the removed rows' extra columns, the small tables, a report), split by the rows stemmatic "
        "removed; its outputs are checked equal to stemmatic's. ÷ floor: stemmatic's time over the floor's, per "
        "pair, median; target ≤ 1.5× (✗ above it). Kernel CPU s: the algorithm's Rust kernel alone on the "
        "input's texts (`minhash_sketch` with dedup's defaults; the loaded index's `scan`), all threads, best of "
        "the repeats, in the bench process; (floor + kernel) ÷ floor is then the CPU ratio of a run that adds "
        "nothing to the floor but that kernel, the bound the ÷ floor (CPU) column can approach.",
    ]
    commands = [c for c in ("dedup", "scan") if c in args.only]
    if commands:
        lines += [
            "",
            "## stemmatic ÷ the pyarrow floor",
            "",
            "| command | input | files | MB | rows | removed | stemmatic wall s | CPU s | MB/s | floor wall s | CPU s "
            "| MB/s | ÷ floor (wall) | ÷ floor (CPU) | kernel CPU s | (floor + kernel) ÷ floor (CPU) "
            "| stemmatic stages (s, reference run's report.json) |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        print("\n".join(lines), flush=True)
        indexes = {}
        for command in commands:
            for name, corpus in inputs.items():
                index = None
                if command == "scan":
                    family = name.split(",")[0]
                    if family not in indexes:
                        parquet = inputs[f"{family}, Parquet"]
                        indexes[family] = build_index(parquet, work / f"index-{family}")
                    index = indexes[family]
                lines.append(compare(command, name, corpus, index, work, args.repeat))
    if "s3" in args.only:
        lines += [
            "",
            "## dedup on S3 (moto) beside local",
            "",
            "`stemmatic dedup s3://bench/IN -o s3://bench/OUT` (input and output on moto's S3 server, "
            "`AWS_ENDPOINT_URL`) alternating with the same dedup of the local copy, and the pyarrow floor "
            "on S3 (reading from and writing to moto). S3 ÷ local: wall, per round, median. moto CPU s: this "
            "process's CPU per round, i.e. the S3 server's work for both S3 runs (not in the children's CPU s).",
            "",
            "| input | MB | local wall s | CPU s | MB/s | S3 wall s | CPU s | MB/s | S3 ÷ local | floor on S3 wall s | MB/s "
            "| stemmatic ÷ floor on S3 | moto CPU s |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        lines += s3_rows({k: v for k, v in inputs.items() if k.startswith("long")}, work, args.repeat)
    shutil.rmtree(work, ignore_errors=True)
    lines[2] = (
        f"- Machine: {machine()}, {load_at_start:.1f} when it started; shared with other engineers' work while "
        "this ran, so wall times are inflated; each figure is the median of runs alternating with its peer, "
        "ratios per pair"
    )
    lines.append("")
    path = write_results("e2e", "\n".join(lines))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
