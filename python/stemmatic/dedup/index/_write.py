"""Writing an index: a release of sketched rows, the first (``build_index``) or a later one (``add_to_index``).

Part of :mod:`stemmatic.dedup.index`.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from stemmatic import _core
from stemmatic._arrow import empty_array
from stemmatic._atomic import AtomicFile, FileRecord
from stemmatic._run import NoProgress as _NoProgress
from stemmatic._run import Progress, known_rows
from stemmatic.dedup import steps
from stemmatic.dedup.config import DedupConfig
from stemmatic.dedup.index._format import (
    _ROWS,
    FORMAT,
    FORMAT_VERSION,
    IndexInfo,
    _check_exact_config,
    _info,
    _parameters,
    _read_manifest,
    _write_manifest,
)
from stemmatic.dedup.index._read import DedupIndex
from stemmatic.exceptions import ParameterError
from stemmatic.io import (
    InputFile,
    check_columns,
    iter_chunks,
    output_dir,
    resolve_inputs,
)
from stemmatic.io._remote import is_url
from stemmatic.minhash import RowStatus


def _write_release(
    directory: Path,
    files: Sequence[InputFile],
    config: DedupConfig,
    parameters: dict[str, Any],
    *,
    workers: int | None,
    progress: Progress,
    kept: np.ndarray | None = None,
) -> dict[str, Any]:
    """Sketch ``files`` (the rows where ``kept`` is true, if given) into the release ``directory``."""
    directory.mkdir(parents=True)
    bands = parameters["bands"]
    sketcher = steps.make_sketcher(
        num_perm=parameters["num_perm"],
        ngram=parameters["ngram"],
        tokenizer=parameters["tokenizer"],
        seed=parameters["seed"],
        bands=bands,
        rows=parameters["rows"],
        keep_sets=True,
        bits=parameters["bits"],
    )
    columns = [config.text_column] + ([config.id_column] if config.id_column else [])
    key_parts: list[np.ndarray] = []
    doc_parts: list[np.ndarray] = []
    offset_parts: list[np.ndarray] = [np.zeros(1, np.uint64)]
    ids: list[pa.Array] = []
    file_of: list[np.ndarray] = []
    total_values = 0
    n_rows = 0
    text_bytes = 0
    rejected = 0

    def count_rejected(_: Any) -> None:
        nonlocal rejected
        rejected += 1

    values_file = AtomicFile(directory / "values.bin", "index")
    progress.start("index", known_rows(files))
    try:
        for chunk in iter_chunks(
            files,
            columns=columns,
            batch_rows=config.batch_rows,
            on_error=config.on_error,
            on_rejected=count_rejected,
            skippable=True,
        ):
            check_columns(chunk.file, chunk.batch.schema.names, columns)
            texts = steps.text_column(chunk.batch, config.text_column, f"{chunk.file.path}: ")
            row_ids = (
                steps.id_values(chunk, config.id_column, ids[0].type if ids else None)
                if config.id_column
                else pa.array(np.arange(chunk.file_row, chunk.file_row + len(texts), dtype=np.int64))
            )
            if kept is not None:
                mask = kept[chunk.global_row : chunk.global_row + len(texts)]
                texts = texts.filter(pa.array(mask))
                row_ids = row_ids.filter(pa.array(mask))
            if not len(texts):
                continue
            batch = steps.sketch(sketcher, texts, workers=workers)
            status, keys = batch.status, batch.band_keys
            values, offsets = batch.set_values, batch.set_offsets
            assert values is not None and offsets is not None  # keep_sets=True
            docs = np.arange(n_rows, n_rows + len(texts), dtype=np.uint64)
            ok = status == RowStatus.OK
            if n_rows + len(texts) > np.iinfo(np.uint32).max:
                raise ParameterError("one release holds at most 4,294,967,295 rows; add the rest as another")
            key_parts.append(keys[ok].ravel())
            doc_parts.append(np.repeat(docs[ok], bands).astype(np.uint32))
            values_file.write(np.ascontiguousarray(values, dtype="<u8").tobytes())
            offset_parts.append(offsets[1:] + np.uint64(total_values))
            total_values += len(values)
            ids.append(row_ids)
            file_of.append(np.full(len(texts), chunk.file_index, np.int32))
            n_rows += len(texts)
            nbytes = int(batch.lengths.sum())
            text_bytes += nbytes
            progress.advance(len(texts), nbytes)
        records: dict[str, FileRecord] = {"values.bin": values_file.commit()}
    except BaseException:
        values_file.discard()
        raise
    finally:
        progress.finish()
    keys = np.concatenate(key_parts) if key_parts else np.zeros(0, np.uint64)
    docs32 = np.concatenate(doc_parts) if doc_parts else np.zeros(0, np.uint32)
    order = np.argsort(keys, kind="stable")
    for name, array in (
        ("keys.bin", keys[order].astype("<u8")),
        ("docs.bin", docs32[order].astype("<u4")),
        ("offsets.bin", np.concatenate(offset_parts).astype("<u8")),
    ):
        with AtomicFile(directory / name, "index") as fh:
            fh.write(array.tobytes())
        assert fh.record is not None
        records[name] = fh.record
    id_type = ids[0].type if ids else pa.int64()
    table = pa.table(
        {
            "id": pa.chunked_array(ids, type=id_type) if ids else empty_array(id_type),
            "file": pa.array(np.concatenate(file_of) if file_of else np.zeros(0, np.int32)),
        }
    )
    with AtomicFile(directory / _ROWS, "index") as fh:
        pq.write_table(table, fh)
    assert fh.record is not None
    records[_ROWS] = fh.record
    return {
        "name": directory.name,
        "rows": n_rows,
        "rejected": rejected,
        "band_records": len(keys),
        "shingles": total_values,
        "text_bytes": text_bytes,
        "sources": [str(f.path) for f in files],
        "text_column": config.text_column,
        "id_column": config.id_column,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "files": {name: record.to_json() for name, record in sorted(records.items())},
    }


def build_index(
    inputs: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    config: DedupConfig | None = None,
    workers: int | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
    **overrides: Any,
) -> IndexInfo:
    """Build a near-duplicate index of ``inputs`` in the directory ``output`` (its first release).

    The dedup parameters (``threshold``, ``num_perm``, ``ngram``,
    ``tokenizer``, ``seed``, ``bands``/``rows``, ``text_column``,
    ``id_column``) come from ``config`` and keyword ``overrides`` as in
    :func:`stemmatic.dedup.dedup`; a dedup against the index must use the same
    ones. Every row is indexed (duplicates among ``inputs`` too).
    ``output`` may be a URL (written locally, uploaded when done).
    """
    config = DedupConfig.build(config, overrides)
    _check_exact_config(config, "build an index")
    parameters = _parameters(config)
    files = resolve_inputs([inputs] if isinstance(inputs, (str, os.PathLike)) else inputs)
    with output_dir(output, inputs=files, overwrite=overwrite) as out:
        release = _write_release(
            out / "release-00000",
            files,
            config,
            parameters,
            workers=workers,
            progress=progress or _NoProgress(),
        )
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "stemmatic_version": _core.__version__,
            "parameters": parameters,
            "releases": [release],
        }
        _write_manifest(out, manifest)
        info = _info(str(output), manifest)
    return info


def add_to_index(
    index: str | os.PathLike[str],
    inputs: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    *,
    text_column: str = "text",
    id_column: str | None = None,
    on_error: str = "raise",
    workers: int | None = None,
    progress: Progress | None = None,
) -> IndexInfo:
    """Append ``inputs`` to the local index ``index`` as a new release (older releases are not rewritten).

    The release is sketched with the index's own parameters. The manifest is
    replaced only when the release is complete, so an interrupted ``add``
    leaves the index as it was.
    """
    files = resolve_inputs([inputs] if isinstance(inputs, (str, os.PathLike)) else inputs)
    return _append(index, files, text_column, id_column, on_error, workers, progress, None)


def _append(
    index: str | os.PathLike[str],
    files: Sequence[InputFile],
    text_column: str,
    id_column: str | None,
    on_error: str,
    workers: int | None,
    progress: Progress | None,
    kept: np.ndarray | None,
) -> IndexInfo:
    from stemmatic.io import _DirLock, check_output_apart

    if is_url(os.fspath(index)):
        raise ParameterError(f"{index}: adding to an index needs a local index directory")
    path = Path(index)
    check_output_apart(path, files)
    with _DirLock(path) if path.is_dir() else contextlib.nullcontext():
        manifest = _read_manifest(path)
        opened = DedupIndex.open(path)  # checks every file before anything is added
        opened.close()
        params = manifest["parameters"]
        config = DedupConfig(
            text_column=text_column,
            id_column=id_column,
            threshold=params["threshold"],
            num_perm=params["num_perm"],
            ngram=params["ngram"],
            tokenizer=params["tokenizer"],
            seed=params["seed"],
            bands=params["bands"],
            rows=params["rows"],
            on_error=on_error,  # type: ignore[arg-type]
        )
        config.validate()
        names = [r["name"] for r in manifest["releases"]]
        number = 1 + max(int(n.split("-")[1]) for n in names)
        directory = path / f"release-{number:05d}"
        # Left by an add that was interrupted before its manifest: not part of the index.
        shutil.rmtree(directory, ignore_errors=True)
        try:
            release = _write_release(
                directory,
                files,
                config,
                params,
                workers=workers,
                progress=progress or _NoProgress(),
                kept=kept,
            )
            manifest = {**manifest, "releases": [*manifest["releases"], release]}
            _write_manifest(path, manifest)
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
    return _info(str(index), manifest)
