"""A persistent near-duplicate index of released data, for incremental dedup.

``build_index`` sketches a corpus once and stores what a later dedup needs to
decide whether a new row duplicates an indexed one, without reading the old
data again:

* the LSH **band keys** of every row, sorted (one ``uint64`` array, with the
  row of each key beside it in a ``uint32`` array), so a lookup is a binary
  search over a memory-mapped file;
* the **shingle sets** (sorted, distinct ``uint64`` shingle hashes of each
  row, one flat array plus ``offsets``) for exact Jaccard verification;
* each row's **id** and **source file** (``rows.parquet``);
* ``manifest.json``: the parameters (threshold, num_perm, ngram, tokenizer,
  seed, bands, rows), the format version, the stemmatic version, and the size
  and CRC-32 of every file.

An index is a list of **releases**; ``add_to_index`` appends one (a new
directory, then the manifest is replaced atomically) and never rewrites an
older one.

``dedup(NEW, OUT, against=[INDEX])`` decides exactly as a dedup of the indexed
rows followed by NEW would (indexed rows first, ``keep="first"``): the band
records of NEW are merged with the indexed records of the same keys before
buckets become candidate pairs (so a large bucket makes the same star from its
smallest row, an indexed one), candidate pairs with indexed rows are verified
against the stored shingle sets, and indexed rows join the union-find as extra
nodes that always win their cluster. A row of NEW in a cluster with an indexed
row is removed with ``reason = "near_duplicate_of_index"``, ``duplicate_of`` =
that indexed row's id and ``duplicate_source`` = its source file.

>>> import tempfile, pathlib, pyarrow as pa, pyarrow.parquet as pq
>>> from stemmatic.dedup import dedup
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> text = "the quick brown fox jumps over the lazy dog " * 5
>>> pq.write_table(pa.table({"text": [text, "an older text"]}), d / "old.parquet")
>>> pq.write_table(pa.table({"text": [text + "again", "something new"]}), d / "new.parquet")
>>> build_index(d / "old.parquet", d / "index", threshold=0.7).rows
2
>>> result = dedup(d / "new.parquet", d / "out", threshold=0.7, against=[d / "index"])
>>> result.kept_rows, result.report["rows"]["detail"]["removed_against_index"]
(1, 1)
"""

from stemmatic.dedup.index._against import REASON_INDEX, Against, opened_against, reason_names
from stemmatic.dedup.index._format import FORMAT_VERSION, IndexInfo
from stemmatic.dedup.index._read import DedupIndex, index_info
from stemmatic.dedup.index._write import add_to_index, build_index

__all__ = [
    "FORMAT_VERSION",
    "REASON_INDEX",
    "Against",
    "DedupIndex",
    "IndexInfo",
    "add_to_index",
    "build_index",
    "index_info",
    "opened_against",
    "reason_names",
]
