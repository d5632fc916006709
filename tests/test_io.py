"""Input resolution, streaming reads, bad JSONL lines, mirrored outputs."""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from stemmatic.exceptions import InvalidInputError, ParameterError
from stemmatic.io import MirroredWriter, RejectedWriter, iter_chunks, output_dir, resolve_inputs


def _jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def test_resolve_orders_dirs_globs_and_files(tmp_path) -> None:
    (tmp_path / "d" / "sub").mkdir(parents=True)
    for name in ["d/b.jsonl", "d/a.parquet", "d/sub/c.jsonl.gz", "x.jsonl"]:
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "d" / "notes.txt").write_text("ignored")
    files = resolve_inputs([tmp_path / "x.jsonl", tmp_path / "d"])
    assert [f.path.name for f in files] == ["x.jsonl", "a.parquet", "b.jsonl", "c.jsonl.gz"]
    assert [f.shard_name for f in files] == ["x", "a", "b", "sub/c"]  # the layout below d/ is kept
    assert files[3].compression == "gzip"
    assert [f.path.name for f in resolve_inputs([str(tmp_path / "d" / "*.jsonl")])] == ["b.jsonl"]
    # Listing a file twice reads it once.
    assert len(resolve_inputs([tmp_path / "x.jsonl", tmp_path / "x.jsonl"])) == 1


def test_hive_layouts_are_mirrored_in_the_outputs(tmp_path) -> None:
    """lang=en/part-0 in gives kept/lang=en/part-0 out (the layout was flattened to part-0, part-0-00001)."""
    corpus = tmp_path / "corpus"
    for lang in ["en", "fr"]:
        (corpus / f"lang={lang}").mkdir(parents=True)
        pq.write_table(
            pa.table({"text": [f"{lang} a", f"{lang} b"]}), corpus / f"lang={lang}" / "part-0.parquet"
        )
    files = resolve_inputs([corpus])
    assert [f.shard_name for f in files] == ["lang=en/part-0", "lang=fr/part-0"]
    writer = MirroredWriter(tmp_path / "out", files, "jsonl")
    for chunk in iter_chunks(files):
        writer.write(chunk.file_index, chunk.batch)
    paths = writer.close()
    assert [p.relative_to(tmp_path / "out").as_posix() for p in paths] == [
        "lang=en/part-0.jsonl",
        "lang=fr/part-0.jsonl",
    ]
    import pyarrow.dataset as ds

    mirrored = ds.dataset(tmp_path / "out", format="json", partitioning="hive").to_table()
    assert sorted(zip(mirrored["lang"].to_pylist(), mirrored["text"].to_pylist(), strict=True)) == [
        ("en", "en a"),
        ("en", "en b"),
        ("fr", "fr a"),
        ("fr", "fr b"),
    ]


def test_resolve_errors_name_the_input(tmp_path) -> None:
    with pytest.raises(InvalidInputError, match=r"missing\.jsonl: no such file"):
        resolve_inputs([tmp_path / "missing.jsonl"])
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InvalidInputError, match="unknown file type"):
        resolve_inputs([tmp_path / "notes.txt"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInputError, match="contains no"):
        resolve_inputs([tmp_path / "empty"])


def test_same_names_in_two_directories_get_distinct_shards(tmp_path) -> None:
    for d in ["a", "b"]:
        (tmp_path / d).mkdir()
        (tmp_path / d / "part.jsonl").write_bytes(b"")
    files = resolve_inputs([tmp_path / "a", tmp_path / "b"])
    assert [f.shard_name for f in files] == ["a/part", "b/part"]


def test_compressed_jsonl_and_parquet_stream_with_provenance(tmp_path) -> None:
    rows = [{"id": i, "text": f"t{i}"} for i in range(5)]
    (tmp_path / "a.jsonl.gz").write_bytes(gzip.compress(_jsonl(rows[:2])))
    (tmp_path / "b.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(_jsonl(rows[2:4])))
    pq.write_table(pa.Table.from_pylist(rows[4:]), tmp_path / "c.parquet")
    chunks = list(iter_chunks(resolve_inputs([tmp_path]), columns=["text"]))
    assert [c.batch.column("text").to_pylist() for c in chunks] == [["t0", "t1"], ["t2", "t3"], ["t4"]]
    assert [(c.file_index, c.file_row, c.global_row) for c in chunks] == [(0, 0, 0), (1, 0, 2), (2, 0, 4)]
    assert chunks[0].lines.to_pylist() == [1, 2]


def test_missing_column_names_file_and_columns(tmp_path) -> None:
    (tmp_path / "a.jsonl").write_bytes(_jsonl([{"content": "x"}]))
    with pytest.raises(InvalidInputError, match=r"a.jsonl: column 'text' not found; columns are 'content'"):
        list(iter_chunks(resolve_inputs([tmp_path]), columns=["text"]))


def test_malformed_line_raises_with_file_and_line_or_is_rejected(tmp_path) -> None:
    data = b'{"text": "a"}\n{"text": "b"\n\n{"text": "c\xff"}\n{"text": "d"}\n'
    (tmp_path / "a.jsonl").write_bytes(data)
    files = resolve_inputs([tmp_path])
    with pytest.raises(InvalidInputError, match=r"a.jsonl:2: malformed JSONL line"):
        list(iter_chunks(files))
    rejected = RejectedWriter(tmp_path / "out")
    chunks = list(iter_chunks(files, on_error="skip", on_rejected=rejected))
    rejected.close()
    assert [t for c in chunks for t in c.batch.column("text").to_pylist()] == ["a", "d"]
    assert [n for c in chunks for n in c.lines.to_pylist()] == [1, 5]
    lines = [json.loads(x) for x in rejected.path.read_text().splitlines()]
    assert [(r["line"], r["raw"][:9]) for r in lines] == [(2, '{"text": '), (4, '{"text": ')]
    assert rejected.count == 2


def test_mirrored_writer_keeps_shard_structure(tmp_path) -> None:
    for name in ["a", "b"]:
        (tmp_path / f"{name}.jsonl").write_bytes(_jsonl([{"text": name}]))
    files = resolve_inputs([tmp_path])
    writer = MirroredWriter(tmp_path / "kept", files)
    writer.write(1, pa.table({"text": ["b"]}))
    paths = writer.close({0: pa.schema([("text", pa.string())])})
    assert [p.name for p in paths] == ["a.parquet", "b.parquet"]
    assert pq.read_table(paths[0]).num_rows == 0
    assert pq.read_table(paths[1]).column("text").to_pylist() == ["b"]


def test_output_dir_refuses_existing_unless_asked(tmp_path) -> None:
    out = tmp_path / "out"
    with output_dir(out, inputs=[]):
        pass
    (out / "x").write_text("1")
    with pytest.raises(ParameterError, match="--resume or --overwrite"), output_dir(out, inputs=[]):
        pass
    with output_dir(out, inputs=[], overwrite=True):
        pass
    assert not (out / "x").exists()


def test_prefetch_keeps_order_reraises_and_stops_early() -> None:
    import threading

    from stemmatic.io import prefetch

    assert list(prefetch(iter(range(100)), depth=3)) == list(range(100))

    def failing():
        yield 1
        raise ValueError("boom at item 2")

    got = []
    with pytest.raises(ValueError, match="boom at item 2"):
        for item in prefetch(failing()):
            got.append(item)
    assert got == [1]

    produced = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    gen = prefetch(endless(), depth=2)
    assert next(gen) == 0
    gen.close()
    count = len(produced)
    assert count <= 5
    assert not any(t.name == "stemmatic-prefetch" and t.is_alive() for t in threading.enumerate())


def test_files_read_side_by_side_give_the_same_chunks_rejections_and_errors(tmp_path) -> None:
    """iter_chunks(lanes=2) reads the next file on another thread: same chunks, same order of rejected lines."""
    import threading

    pq.write_table(pa.table({"text": [f"p{i}" for i in range(5)]}), tmp_path / "a.parquet", row_group_size=2)
    (tmp_path / "b.jsonl").write_bytes(b'{"text": "b1"}\n{"text": \n{"text": "b2"}\nnot json\n')
    (tmp_path / "c.jsonl").write_bytes(b'oops\n{"text": "c1"}\n')
    files = resolve_inputs([tmp_path])

    def read(lanes: int, stop_after: int | None = None) -> tuple[list[tuple], list[int]]:
        lines: list[int] = []
        chunks = []
        for chunk in iter_chunks(
            files,
            batch_rows=2,
            on_error="skip",
            on_rejected=lambda r: lines.append((r.path[-7:], r.line)),
            lanes=lanes,
        ):
            chunks.append(
                (chunk.file_index, chunk.file_row, chunk.global_row, chunk.batch.column("text").to_pylist())
            )
            if len(chunks) == stop_after:
                break
        return chunks, lines

    chunks, lines = read(1)
    assert read(2) == read(3) == (chunks, lines)
    assert [c[3] for c in chunks] == [["p0", "p1"], ["p2", "p3"], ["p4"], ["b1", "b2"], ["c1"]]
    assert [c[2] for c in chunks] == [0, 2, 4, 5, 7]
    assert lines == [("b.jsonl", 2), ("b.jsonl", 4), ("c.jsonl", 1)]
    # A consumer that stops early stops the readers.
    assert read(2, stop_after=1)[0] == chunks[:1]
    assert not any(t.name == "stemmatic-prefetch" and t.is_alive() for t in threading.enumerate())
    # A bad file's error comes after the chunks of the files before it.
    (tmp_path / "b.jsonl").write_bytes(b'{"text": "b1"}\n{"text": \n')
    seen = []
    with pytest.raises(InvalidInputError, match=r"b.jsonl:2: malformed JSONL line"):
        for chunk in iter_chunks(files, batch_rows=2, lanes=2):
            seen.append(chunk.file_index)
    assert seen == [0, 0, 0]


def test_every_input_format_reads_the_same_rows(tmp_path) -> None:
    import bz2

    import pyarrow.feather as feather
    import pyarrow.ipc as ipc

    rows = [{"id": str(i), "text": f"row {i}, with a comma"} for i in range(5)]
    table = pa.Table.from_pylist(rows)
    (tmp_path / "a.json").write_text(json.dumps(rows, indent=2))  # a JSON array (Alpaca style)
    (tmp_path / "b.csv").write_text("id,text\n" + "".join(f'{r["id"]},"{r["text"]}"\n' for r in rows))
    (tmp_path / "c.tsv").write_text("id\ttext\n" + "".join(f"{r['id']}\t{r['text']}\n" for r in rows))
    feather.write_feather(table, tmp_path / "d.feather")
    with ipc.new_stream(tmp_path / "data-00000-of-00001.arrow", table.schema) as writer:  # save_to_disk
        writer.write_table(table)
    (tmp_path / "e.jsonl.bz2").write_bytes(bz2.compress(_jsonl(rows)))
    for name in ("state.json", "dataset_info.json", "_SUCCESS", ".part-0.crc"):
        (tmp_path / name).write_text("{}")
    files = resolve_inputs([tmp_path])
    assert [f.path.name for f in files] == [
        "a.json", "b.csv", "c.tsv", "d.feather", "data-00000-of-00001.arrow", "e.jsonl.bz2"
    ]  # fmt: skip
    assert sorted(p.name for p, _ in files.skipped) == [
        ".part-0.crc",
        "_SUCCESS",
        "dataset_info.json",
        "state.json",
    ]
    by_file: dict[str, list] = {}
    for chunk in iter_chunks(files, columns=["id", "text"]):
        by_file.setdefault(chunk.file.path.name, []).extend(chunk.batch.to_pylist())
    assert all(got == rows for got in by_file.values()), by_file
    assert len(by_file) == 6


def test_malformed_csv_row_and_json_array_element_are_named_or_rejected(tmp_path) -> None:
    (tmp_path / "a.csv").write_text('id,text\n1,"one"\n2,"two",extra\n3,"three"\n')
    (tmp_path / "b.json").write_text('[{"text": "x"}, 5, {"text": "y"}]')
    with pytest.raises(
        InvalidInputError, match=r"a.csv: malformed CSV row '2,\"two\",extra': expected 2 fields"
    ):
        list(iter_chunks(resolve_inputs([tmp_path / "a.csv"])))
    with pytest.raises(InvalidInputError, match=r"b.json: element 2: expected a JSON object, got int"):
        list(iter_chunks(resolve_inputs([tmp_path / "b.json"])))
    rejected = RejectedWriter(tmp_path / "out")
    chunks = list(iter_chunks(resolve_inputs([tmp_path]), on_error="skip", on_rejected=rejected))
    rejected.close()
    assert [t for c in chunks for t in c.batch.column("text").to_pylist()] == ["one", "three", "x", "y"]
    assert rejected.count == 2


def test_mistyped_json_array_element_is_named_and_skippable(tmp_path) -> None:
    (tmp_path / "a.json").write_text('[{"text": "x"}, {"text": 5}, {"text": "y"}, {"text": "z"}]')
    files = resolve_inputs([tmp_path / "a.json"])
    with pytest.raises(InvalidInputError, match=r"a.json: element 2: field 'text'"):
        list(iter_chunks(files))
    rejected = RejectedWriter(tmp_path / "out")
    chunks = list(iter_chunks(files, on_error="skip", on_rejected=rejected))
    rejected.close()
    assert [t for c in chunks for t in c.batch.column("text").to_pylist()] == ["x", "y", "z"]
    assert [json.loads(x)["line"] for x in rejected.path.read_text().splitlines()] == [2]


def test_importing_the_io_layer_does_not_import_pandas() -> None:
    import subprocess
    import sys

    probe = "import sys, stemmatic.io, stemmatic.io._sinks; print('pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"  # pyarrow pulls in pandas (~0.2 s) on its first Python-value conversion


def _blocks_of_reads(data: bytes, first: int, size: int) -> list[bytes]:
    """Blocks as the reader cuts them: at the last newline of each read, of ``first`` bytes, then
    doubling up to ``size``."""
    blocks, rest = [], b""
    start, read = 0, min(first, size)
    while start < len(data):
        chunk = rest + data[start : start + read]
        cut = chunk.rfind(b"\n") + 1
        if cut:
            blocks.append(chunk[:cut])
        rest = chunk[cut:]
        start, read = start + read, min(2 * read, size)
    return [*blocks, rest] if rest else blocks


@pytest.mark.parametrize("first", [64, 16])
@pytest.mark.parametrize("suffix", ["", ".gz", ".zst"])
def test_jsonl_blocks_and_line_numbers_are_the_same_on_every_path(tmp_path, monkeypatch, suffix, first):
    # Local plain files are memory-mapped, compressed ones streamed into a reused buffer: both cut
    # blocks (hence batches) at the same places (a small first block, then doubling), grow for
    # lines longer than a block, and number lines across blocks.
    import stemmatic.io._json_reader as json_reader

    monkeypatch.setattr(json_reader, "JSONL_BLOCK_BYTES", 64)
    monkeypatch.setattr(json_reader, "JSONL_FIRST_BLOCK_BYTES", first)
    texts = ["short", "x" * 300, "mid " * 10, "y" * 150, "é" * 40, "z"] * 3
    # No newline after the last line.
    data = "\n".join(json.dumps({"id": i, "text": t}) for i, t in enumerate(texts)).encode()
    path = tmp_path / f"a.jsonl{suffix}"
    compress = {"": bytes, ".gz": gzip.compress, ".zst": zstandard.ZstdCompressor().compress}[suffix]
    path.write_bytes(compress(data))
    chunks = list(iter_chunks(resolve_inputs([path])))
    expected = [len(block.splitlines()) for block in _blocks_of_reads(data, first, 64)]
    assert [c.batch.num_rows for c in chunks] == expected
    assert [t for c in chunks for t in c.batch.column("text").to_pylist()] == texts
    assert [n for c in chunks for n in c.lines.to_pylist()] == list(range(1, len(texts) + 1))
    deep = data + b"\n" + b"[" * 100 + b"]" * 100 + b"\n"
    path.write_bytes(compress(deep))
    with pytest.raises(InvalidInputError, match=rf"a.jsonl{suffix}:{len(texts) + 1}: .*nested more than 64"):
        list(iter_chunks(resolve_inputs([path])))


def test_parquet_columns_read_with_the_types_pyarrow_gives(tmp_path) -> None:
    """A Parquet JSON column (no stored Arrow schema) reads as pq.read_table reads it."""
    if not hasattr(pa, "json_"):
        pytest.skip("pyarrow without the JSON extension type")
    table = pa.table({"text": ["a", "b"], "meta": pa.array(["{}", "[1]"], pa.json_())})
    pq.write_table(table, tmp_path / "a.parquet", store_schema=False)
    expected = pq.read_table(tmp_path / "a.parquet").schema
    assert [c.batch.schema for c in iter_chunks(resolve_inputs([tmp_path]))] == [expected]
