"""The contamination index: benchmark files in, an n-gram index (Rust) out.

One module of about 615 lines: :class:`ContaminationIndex` and its file (load,
save, the checks a crafted file must pass, the metadata it stores) change
together; how an index is built from benchmark rows is in ``_build.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from stemmatic import _core
from stemmatic._arrow import TextInput, as_text_column, from_numpy, strings
from stemmatic._atomic import write_bytes_atomically, write_error
from stemmatic.contamination._build import (
    _MAX_COUNT,
    _TEXTS_SEPARATOR,
    _add_benchmarks,
    _Builder,
    _named_benchmarks,
    check_workers,
    rebuild,
)
from stemmatic.exceptions import InvalidInputError, ParameterError
from stemmatic.io._remote import RemotePath, is_url, open_stream
from stemmatic.minhash import DEFAULT_SEED, DEFAULT_TOKENIZER, Tokenizer

__all__ = [
    "DEFAULT_NGRAM",
    "HITS_SCHEMA",
    "ContaminationIndex",
    "build_index",
]

#: GPT-3's 13-grams (Brown et al. 2020, appendix C).
DEFAULT_NGRAM = 13

_SPAN = pa.struct([("start", pa.int64()), ("end", pa.int64())])

#: Columns of :meth:`ContaminationIndex.scan` and of ``OUT/hits.parquet``
#: (where ``doc_id`` takes the type of ``--id-column``).
HITS_SCHEMA = pa.schema(
    [
        ("doc_id", pa.int64()),
        ("benchmark", pa.string()),
        ("item_id", pa.string()),
        ("field", pa.string()),
        ("matched_ngrams", pa.int64()),
        ("item_ngrams", pa.int64()),
        ("item_tokens", pa.int64()),
        ("coverage", pa.float64()),
        ("spans", pa.list_(_SPAN)),
    ]
)

#: Nesting allowed in an index's build metadata (ours is 4 deep).
_MAX_METADATA_DEPTH = 32


class ContaminationIndex:
    """An n-gram index of benchmark entries (one field of one item each), ready to scan corpora.

    Build it from benchmark files with :func:`build_index` (or from records with
    :meth:`from_records`), store it with :meth:`save`, reopen it with :meth:`load`.
    It pickles as the bytes of its file, so it travels to Ray/Spark workers.

    >>> index = ContaminationIndex.from_records(
    ...     [{"id": "q1", "question": "What is the capital city of France, in one word?"}],
    ...     fields=["question"], benchmark="toy", id_field="id", ngram=5)
    >>> hits = index.scan(["Quiz: what is the capital city of France? Paris."])
    >>> hits.select(["doc_id", "item_id", "matched_ngrams", "coverage"]).to_pylist()
    [{'doc_id': 0, 'item_id': 'q1', 'matched_ngrams': 3, 'coverage': 0.5}]
    >>> span = hits["spans"][0][0].as_py()
    >>> "Quiz: what is the capital city of France? Paris."[span["start"] : span["end"]]
    'what is the capital city of France'
    """

    __slots__ = ("_cache", "_core")

    def __init__(self, core: _core.NgramIndex) -> None:
        self._core = core
        self._cache: dict[str, Any] = {}

    def __reduce__(self) -> tuple[Any, ...]:
        return (ContaminationIndex, (self._core,))

    def __repr__(self) -> str:
        return (
            f"ContaminationIndex(benchmarks={self.benchmarks}, entries={self.num_entries}, "
            f"ngrams={self.num_ngrams}, ngram={self.ngram}, tokenizer={self.tokenizer!r})"
        )

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ContaminationIndex:
        """Open an index file written by :meth:`save` (one read; lookups are rebuilt in memory).

        ``path`` may be a URL of any file system the I/O layer reads.

        Raises:
            InvalidInputError: no such file, not an index, a damaged index, or
                an index written in another format version.
        """
        if is_url(os.fspath(path)):
            return cls._load_remote(os.fspath(path))
        path = Path(path)
        if not path.is_file():
            raise InvalidInputError(f"{path}: no such index file")
        try:
            index = cls(_core.NgramIndex.load(str(path)))
        except InvalidInputError as err:
            message = str(err)
            # The engine's message names the file already where it can.
            raise InvalidInputError(message if str(path) in message else f"{path}: {message}") from None
        problem = index._problem()
        if problem is not None:
            raise InvalidInputError(f"{path}: not a valid stemmatic n-gram index: {problem}")
        return index

    @classmethod
    def _load_remote(cls, url: str) -> ContaminationIndex:
        """An index on an object store or another file system of the I/O layer (read whole, then decoded)."""
        remote = RemotePath.from_url(url)
        if not remote.is_file():
            raise InvalidInputError(f"{url}: no such index file")
        with open_stream(remote) as stream:
            data = stream.read()
        try:
            index = cls(_core.NgramIndex.from_bytes(data))
        except InvalidInputError as err:
            raise InvalidInputError(f"{url}: {err}") from None
        problem = index._problem()
        if problem is not None:
            raise InvalidInputError(f"{url}: not a valid stemmatic n-gram index: {problem}")
        return index

    def _problem(self) -> str | None:
        """What is wrong with names and metadata the engine's own checks let through, or None.

        The engine checks the layout (sizes, offsets, checksum); a crafted file
        with a valid checksum can still carry millions of empty or repeated
        benchmark names (each becomes a report row) or metadata nested too
        deep to parse.
        """
        core = self._core
        for kind, names in (("benchmark", core.benchmarks), ("field", core.fields)):
            if any(not name for name in names):
                return f"an empty {kind} name"
            if len(set(names)) != len(names):
                return f"a {kind} name appears twice"
        metadata, _ = _split_metadata(core.metadata)
        info = _parse_metadata(metadata)
        if metadata and info is None:
            return f"its build metadata is not a JSON object nested at most {_MAX_METADATA_DEPTH} deep"
        info = info or {}
        bench_ids, field_ids, _, _ = core.entry_arrays()
        logged = info.get("benchmarks")
        if isinstance(logged, list):
            logged_names = [b.get("name") if isinstance(b, dict) else None for b in logged]
            if logged_names != core.benchmarks:
                return "its benchmark names differ from those in its build metadata"
        elif len(np.unique(bench_ids)) != len(core.benchmarks):
            # Without a build log every benchmark must have an entry.
            return f"{len(core.benchmarks)} benchmark names for the entries of {len(np.unique(bench_ids))}"
        parameters = info.get("parameters")
        fields = parameters.get("fields") if isinstance(parameters, dict) else None
        if isinstance(fields, list):
            if fields != core.fields:
                return "its field names differ from those in its build metadata"
        elif len(np.unique(field_ids)) != len(core.fields):
            return f"{len(core.fields)} field names for the entries of {len(np.unique(field_ids))}"
        stats = core.stats
        if stats["items"] > self.num_entries or stats["entries_without_ngrams"] > self.num_entries:
            return "its item counts exceed its entries"
        return None

    def save(self, path: str | os.PathLike[str]) -> Path | str:
        """Write the index to ``path`` (atomically: a failed write leaves no file, not even a temporary one).

        ``path`` may be a URL (``s3://``, ``gs://``, ``memory://``...): the
        bytes go to a temporary name beside it, then are moved over it.
        Returns the path written (the URL, as given, for a remote one).

        Raises:
            StemmaticError: the file cannot be written (disk full, a directory
                of that name, no permission), naming the path.
        """
        if is_url(os.fspath(path)):
            _save_remote(os.fspath(path), self._core.to_bytes())
            return os.fspath(path)
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise write_error(path, "index", err) from err
        write_bytes_atomically(path, self._core.to_bytes(), "index")
        return path

    @classmethod
    def from_records(
        cls,
        records: Iterable[Mapping[str, Any]] | pa.Table,
        *,
        fields: Sequence[str],
        benchmark: str = "benchmark",
        id_field: str | None = None,
        ngram: int = DEFAULT_NGRAM,
        tokenizer: Tokenizer = DEFAULT_TOKENIZER,
        seed: int = DEFAULT_SEED,
        min_tokens: int = 1,
        max_item_frequency: int | None = None,
        allowlist: Sequence[str] = (),
        workers: int | None = None,
    ) -> ContaminationIndex:
        """Index one benchmark given as records (dicts) or a pyarrow Table; see :func:`build_index`."""
        table = records if isinstance(records, pa.Table) else pa.Table.from_pylist(list(records))
        builder = _Builder(fields, id_field, ngram, tokenizer, seed, min_tokens)
        builder.add_table(benchmark, "<records>", table, 0)
        return ContaminationIndex(builder.finish(max_item_frequency, allowlist, workers))

    def add_benchmarks(
        self,
        benchmarks: Sequence[str | os.PathLike[str]] | Mapping[str, str | os.PathLike[str]],
        *,
        workers: int | None = None,
    ) -> ContaminationIndex:
        """A new index with the entries of this one and of ``benchmarks``, built with this one's parameters.

        The result equals :func:`build_index` of the old benchmarks and the new
        ones together (the same entries, n-grams, exclusions, statistics and
        build log): the fields, id field, n-gram size, tokenizer, seed, minimum
        tokens, frequency cap and allowlist are the index's own, and the old
        entries are indexed again from the texts the index stores. This index
        is not changed; :meth:`save` the result (over the old file if you like:
        the write is atomic).

        Args:
            benchmarks: as for :func:`build_index`; a name the index has already is refused.
            workers: threads for hashing.

        Raises:
            ParameterError: a benchmark name the index has, or an index that
                does not store what a rebuild needs (its entries' texts, its
                allowlist), or one written by a newer stemmatic.
            InvalidInputError: as for :func:`build_index`.

        >>> index = ContaminationIndex.from_records(
        ...     [{"q": "What is the capital city of France, in one word?"}], fields=["q"], benchmark="a", ngram=5)
        >>> import pyarrow.parquet as pq, tempfile, os
        >>> folder = tempfile.mkdtemp()
        >>> pq.write_table(pa.table({"q": ["Name the largest planet of the solar system."]}),
        ...                os.path.join(folder, "b.parquet"))
        >>> bigger = index.add_benchmarks([os.path.join(folder, "b.parquet")])
        >>> bigger.benchmarks, bigger.num_entries
        (['a', 'b'], 2)
        """
        return ContaminationIndex(rebuild(self, benchmarks, workers))

    # -- properties -----------------------------------------------------------------------------

    @property
    def tokenizer(self) -> str:
        return self._core.tokenizer

    @property
    def ngram(self) -> int:
        return self._core.ngram

    @property
    def seed(self) -> int:
        return self._core.seed

    @property
    def min_tokens(self) -> int:
        return self._core.min_tokens

    @property
    def benchmarks(self) -> list[str]:
        return self._core.benchmarks

    @property
    def num_entries(self) -> int:
        return self._core.num_entries

    @property
    def num_ngrams(self) -> int:
        return self._core.num_ngrams

    @property
    def stats(self) -> dict[str, Any]:
        """Entries, items, distinct n-grams, postings and the n-grams excluded (frequency, allowlist)."""
        return self._core.stats

    @property
    def build_info(self) -> dict[str, Any]:
        """What :func:`build_index` recorded: parameters and, per benchmark, sources and row counts."""
        return _parse_metadata(_split_metadata(self._core.metadata)[0]) or {}

    @property
    def has_texts(self) -> bool:
        """Whether the index stores its entries' texts (indexes built by stemmatic >= 0.2 do)."""
        return _split_metadata(self._core.metadata)[1] is not None

    def entry_texts(self) -> list[str]:
        """The text of every entry, in the order of :meth:`entries` (as it was indexed).

        The short-statement, token-coverage and semantic measures compare
        these texts with documents.

        Raises:
            ParameterError: the index does not store texts (built before they were stored).
            InvalidInputError: the stored texts are damaged.
        """
        cached = self._cache.get("texts")
        if cached is None:
            _, stored = _split_metadata(self._core.metadata)
            if stored is None:
                raise ParameterError(
                    "this index does not store its entries' texts (built by an older stemmatic); "
                    "rebuild it with `stemmatic contamination index` to use short-statement, "
                    "token-coverage or semantic matching"
                )
            try:
                cached = json.loads(stored)
            except (ValueError, RecursionError):
                cached = None
            if (
                not isinstance(cached, list)
                or len(cached) != self.num_entries
                or not all(isinstance(t, str) for t in cached)
            ):
                raise InvalidInputError("the index's stored entry texts are damaged; rebuild the index")
            self._cache["texts"] = cached
        return list(cached)

    def entries(self) -> pa.Table:
        """One row per entry: ``benchmark``, ``item_id``, ``field``, ``item_ngrams``, ``item_tokens``."""
        cached = self._cache.get("entries")
        if cached is None:
            bench_ids, field_ids, num_ngrams, num_tokens = self._core.entry_arrays()
            offsets, data = self._core.item_id_buffers()
            item_ids = pa.LargeStringArray.from_buffers(
                self.num_entries, pa.py_buffer(offsets.astype(np.int64)), pa.py_buffer(data)
            ).cast(pa.string())
            benchmarks = pa.DictionaryArray.from_arrays(
                from_numpy(np.asarray(bench_ids), pa.int32()), strings(self._core.benchmarks)
            )
            fields = pa.DictionaryArray.from_arrays(
                from_numpy(np.asarray(field_ids), pa.int32()), strings(self._core.fields)
            )
            cached = pa.table(
                {
                    "benchmark": benchmarks.cast(pa.string()),
                    "item_id": item_ids,
                    "field": fields.cast(pa.string()),
                    "item_ngrams": from_numpy(np.asarray(num_ngrams), pa.int64()),
                    "item_tokens": from_numpy(np.asarray(num_tokens), pa.int64()),
                }
            )
            self._cache["entries"] = cached
        return cached

    def entries_of_fields(self, fields: Sequence[str] | None, parameter: str) -> tuple[np.ndarray, list[str]]:
        """Entry numbers of ``fields`` (all when None) and the fields chosen; an unknown field is refused."""
        entry_fields = self.entries()["field"].to_pylist()
        known = sorted(set(entry_fields))
        chosen = list(fields) if fields else known
        unknown = [f for f in chosen if f not in known]
        if unknown:
            raise ParameterError(
                f"invalid parameter `{parameter}`: {unknown[0]!r} is not an indexed field; "
                f"the index has {', '.join(known)}"
            )
        return np.array([k for k, f in enumerate(entry_fields) if f in chosen], np.int64), chosen

    def benchmark_of_entries(self) -> np.ndarray:
        """Benchmark number (into :attr:`benchmarks`) of every entry."""
        cached = self._cache.get("entry_benchmarks")
        if cached is None:
            cached = self._core.entry_arrays()[0].astype(np.int64)
            self._cache["entry_benchmarks"] = cached
        return cached

    # -- scanning -------------------------------------------------------------------------------

    def scan_raw(
        self,
        texts: TextInput | Iterable[str],
        *,
        min_ngrams: int = 1,
        min_coverage: float = 0.0,
        tokenizer: str | None = None,
        workers: int | None = None,
    ) -> _RawHits:
        """The hits of ``texts`` as numpy columns (row, entry, ...); what :meth:`scan` tabulates."""
        _check_thresholds(min_ngrams, min_coverage)
        check_workers(workers)
        column = as_text_column(texts)
        rows, entries, matched, coverage, offsets, starts, ends, null_rows = self._core.scan(
            column, min_ngrams=min_ngrams, min_coverage=min_coverage, tokenizer=tokenizer, workers=workers
        )
        return _RawHits(rows, entries, matched, coverage, offsets, starts, ends, int(null_rows))

    def scan(
        self,
        texts: TextInput | Iterable[str],
        *,
        min_ngrams: int = 1,
        min_coverage: float = 0.0,
        tokenizer: str | None = None,
        workers: int | None = None,
    ) -> pa.Table:
        """Find the indexed benchmark entries in ``texts``: one row per (document, entry) found.

        Args:
            texts: a pyarrow string column, a list of ``str`` or a numpy array
                of ``str``; a null row contains nothing.
            min_ngrams: report an entry when at least this many of its distinct
                n-grams are in the document...
            min_coverage: ...and they are at least this fraction of its n-grams.
            tokenizer: if given, must be the index's tokenizer (a scan with
                another tokenizer would find nothing, so it is refused).
            workers: threads; default ``STEMMATIC_NUM_THREADS`` or all CPUs.

        Returns:
            A table with the columns of :data:`HITS_SCHEMA`: ``doc_id`` (row in
            ``texts``), ``benchmark``, ``item_id``, ``field``,
            ``matched_ngrams``, ``item_ngrams``, ``item_tokens`` (the entry's
            length, how specific a hit is), ``coverage`` and ``spans``
            (character offsets ``[start, end)`` into the document, for Python
            slicing), ordered by document then entry.
        """
        raw = self.scan_raw(
            texts, min_ngrams=min_ngrams, min_coverage=min_coverage, tokenizer=tokenizer, workers=workers
        )
        return self.tabulate(raw, pa.array(raw.rows.astype(np.int64), pa.int64()))

    def tabulate(self, raw: _RawHits, doc_ids: pa.Array) -> pa.Table:
        """The hits table of ``raw`` with ``doc_ids`` (one per hit) as ``doc_id``."""
        entries = self.entries()
        take = from_numpy(raw.entries, pa.int64())
        spans = pa.ListArray.from_arrays(
            from_numpy(raw.span_offsets, pa.int32()),
            pa.StructArray.from_arrays(
                [from_numpy(raw.span_starts, pa.int64()), from_numpy(raw.span_ends, pa.int64())],
                fields=list(_SPAN),
            ),
        )
        return pa.table(
            {
                "doc_id": doc_ids,
                "benchmark": entries["benchmark"].take(take),
                "item_id": entries["item_id"].take(take),
                "field": entries["field"].take(take),
                "matched_ngrams": from_numpy(raw.matched, pa.int64()),
                "item_ngrams": entries["item_ngrams"].take(take),
                "item_tokens": entries["item_tokens"].take(take),
                "coverage": from_numpy(raw.coverage, pa.float64()),
                "spans": spans,
            }
        )


@dataclass(frozen=True)
class _RawHits:
    rows: np.ndarray
    entries: np.ndarray
    matched: np.ndarray
    coverage: np.ndarray
    span_offsets: np.ndarray
    span_starts: np.ndarray
    span_ends: np.ndarray
    null_rows: int

    def __len__(self) -> int:
        return len(self.rows)

    def select(self, hits: np.ndarray) -> _RawHits:
        """The hits numbered ``hits`` (ascending), with their spans."""
        if len(hits) == len(self.rows):
            return self
        offsets = self.span_offsets.astype(np.int64)
        starts, ends = offsets[hits], offsets[hits + 1]
        lengths = ends - starts
        spans = np.repeat(starts, lengths) + (
            np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        )
        return _RawHits(
            self.rows[hits], self.entries[hits], self.matched[hits], self.coverage[hits],
            np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            self.span_starts[spans], self.span_ends[spans], self.null_rows,
        )  # fmt: skip

    def spans_of(self, hit: int) -> list[tuple[int, int]]:
        lo, hi = int(self.span_offsets[hit]), int(self.span_offsets[hit + 1])
        return list(zip(self.span_starts[lo:hi].tolist(), self.span_ends[lo:hi].tolist(), strict=True))


def _split_metadata(metadata: str) -> tuple[str, str | None]:
    """An index's metadata as (JSON build log, JSON list of entry texts or None)."""
    log, separator, texts = metadata.partition(_TEXTS_SEPARATOR)
    return log, texts if separator else None


def _parse_metadata(text: str) -> dict[str, Any] | None:
    """Build metadata as a dict; None if it is not a JSON object or nests deeper than ``_MAX_METADATA_DEPTH``.

    The depth is counted before parsing: ``json.loads`` recurses once per level.
    """
    if not text:
        return None
    outside_strings = _JSON_STRING.sub("", text)
    opens = np.frombuffer(outside_strings.encode("utf-8", "surrogatepass"), np.uint8)
    steps = (
        (opens == ord("[")).astype(np.int64) + (opens == ord("{")) - (opens == ord("]")) - (opens == ord("}"))
    )
    if len(steps) and int(np.cumsum(steps).max()) > _MAX_METADATA_DEPTH:
        return None
    try:
        info = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return info if isinstance(info, dict) else None


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


def _save_remote(url: str, data: bytes) -> None:
    """Write ``data`` to ``url``: under a temporary name, then moved over it (removed if anything fails)."""
    import uuid

    from stemmatic.exceptions import StemmaticError
    from stemmatic.io._remote import filesystem_of

    filesystem, target = filesystem_of(url)
    partial = f"{target}.partial-{uuid.uuid4().hex}"
    try:
        parent = target.rsplit("/", 1)[0] if "/" in target else ""
        if parent:
            filesystem.create_dir(parent, recursive=True)
        with filesystem.open_output_stream(partial) as out:
            out.write(data)
        filesystem.move(partial, target)
    except (OSError, pa.ArrowException) as err:
        with contextlib.suppress(OSError, pa.ArrowException):
            filesystem.delete_file(partial)
        raise StemmaticError(f"{url}: cannot write the index: {err}") from err


def _check_thresholds(min_ngrams: int, min_coverage: float) -> None:
    if not 1 <= min_ngrams <= _MAX_COUNT:
        raise ParameterError(
            f"invalid parameter `min_ngrams`: {min_ngrams}; must be between 1 and {_MAX_COUNT}"
        )
    if not 0.0 <= min_coverage <= 1.0:
        raise ParameterError(f"invalid parameter `min_coverage`: {min_coverage}; must be in [0, 1]")


def build_index(
    benchmarks: Sequence[str | os.PathLike[str]] | Mapping[str, str | os.PathLike[str]],
    *,
    fields: Sequence[str],
    ngram: int = DEFAULT_NGRAM,
    tokenizer: Tokenizer = DEFAULT_TOKENIZER,
    seed: int = DEFAULT_SEED,
    id_field: str | None = None,
    min_tokens: int = 1,
    max_item_frequency: int | None = None,
    allowlist: Sequence[str] = (),
    workers: int | None = None,
) -> ContaminationIndex:
    """Index the n-grams of benchmark files.

    Each benchmark is a JSONL/Parquet file, directory or glob (as for every
    stemmatic input); each of its rows is an item and each of ``fields`` it
    has becomes an entry with its own n-grams.

    Args:
        benchmarks: the benchmark inputs, named by their file or directory
            stem, or a mapping ``{name: input}``.
        fields: the fields to index (``prompt``, ``solution``...). A benchmark
            must have at least one; fields it lacks are recorded in
            :attr:`ContaminationIndex.build_info`. A list of texts is joined
            with newlines; a null value is a missing entry, counted.
        ngram: n-gram size in tokens. Entries with fewer tokens are matched
            whole (the same tokens, consecutively).
        tokenizer: ``"auto"`` (the default: ``words``, with each character of
            scripts written without spaces, such as Chinese, a token of its
            own; entries and documents are cut as ``"auto-span"``, never by
            dedup's document rule, so a quote matches whatever surrounds it),
            ``"auto-span"``, ``"words"`` (``re.findall(r"\\w+", text.lower())``),
            ``"whitespace"`` or ``"chars"``; see docs/hashing.md.
        seed: seed of the XXH3-64 n-gram hash.
        id_field: field holding the item id; by default the row number within
            the benchmark (its files in order).
        min_tokens: entries with fewer tokens are not indexed (counted as
            ``too_short``).
        max_item_frequency: drop n-grams that occur in more than this many
            items (boilerplate); the count dropped is in :attr:`ContaminationIndex.stats`.
        allowlist: texts whose n-grams never count as contamination.
        workers: threads for hashing.

    Raises:
        InvalidInputError: a missing or unreadable file, a benchmark without
            any of the fields, a non-UTF-8 or non-text field, a null item id.
    """
    named = _named_benchmarks(benchmarks)
    builder = _Builder(fields, id_field, ngram, tokenizer, seed, min_tokens)
    _add_benchmarks(builder, named)
    return ContaminationIndex(builder.finish(max_item_frequency, allowlist, workers))
