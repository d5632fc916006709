"""Select from ResoFilter scores: a dataset split into kept and removed rows (``resofilter select``).

The inputs are read through :mod:`stemmatic.io` (paths, URLs or a table-like
object), the scores are those :func:`~stemmatic.resofilter.api.score_dataset`
wrote (a Parquet path or URL, or a table), and the rows go through the one
kept/removed writer to ``OUT/kept/`` and ``OUT/removed/`` (mirroring the input
shards; removed rows carry a ``reason``) with ``OUT/selection.parquet`` and
``OUT/report.json``, or come back as tables (``output=None``).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from stemmatic._run import NoProgress, Progress, Rows, StageTimer, run_report, write_report
from stemmatic.exceptions import InvalidInputError, ParameterError
from stemmatic.io._sinks import check_output, split_sinks, write_parquet
from stemmatic.resofilter._dataset_io import Rejections
from stemmatic.resofilter.scoring import less_scores
from stemmatic.resofilter.selection import Criterion, Selection

if TYPE_CHECKING:
    from stemmatic.io._sinks import ShardCaps

__all__ = ["SelectDatasetResult", "select_dataset"]

PathLike = str | os.PathLike[str]


@dataclass
class SelectDatasetResult:
    """Where :func:`select_dataset` sent the rows, and the run's report.

    Attributes:
        input_rows: rows read, malformed lines included.
        kept_rows, removed_rows, rejected_rows: kept + removed + rejected = input
            (rejected: malformed lines skipped with ``on_error="skip"``).
        report: what ``report.json`` holds (also for a run in memory).
        selection: per input row ``row``, ``id``, ``score``, ``keep``,
            ``reason`` and the random and length baselines (``selection.parquet``).
        output: the output directory (a URL as given); ``None`` for a run in memory.
        kept, removed: with ``output=None``, the rows as Arrow tables (removed
            rows with their ``reason``); ``None`` when written to files.
    """

    input_rows: int
    kept_rows: int
    removed_rows: int
    report: dict[str, Any]
    selection: pa.Table
    output: Path | str | None = None
    kept: pa.Table | None = None
    removed: pa.Table | None = None
    rejected_rows: int = 0


def _scores_name(source: Any, what: str = "scores") -> str:
    return os.fspath(source) if isinstance(source, (str, os.PathLike)) else f"{what} table"


def _read_scores(source: Any, what: str = "scores") -> pa.Table:
    """A scores table given as a Parquet path (local or a URL) or as a table-like object."""
    from stemmatic.io import table_source
    from stemmatic.io._remote import RemotePath, is_url, open_random

    reader = table_source(source)
    if reader is not None:
        return reader.read_all()
    if not isinstance(source, (str, os.PathLike)):
        raise ParameterError(
            f"{what}: expected a path, a URL or a table-like object, got {type(source).__name__}"
        )
    path = os.fspath(source)
    try:
        if is_url(path):
            with open_random(RemotePath.from_url(path)) as handle:
                return pq.read_table(handle)
        return pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as err:
        raise InvalidInputError(f"{path}: cannot read the scores Parquet: {err}") from err


def _projection_matrix(table: pa.Table, path: str) -> np.ndarray:
    if "projection" not in table.column_names:
        raise ParameterError(
            f"{path}: has no projection column; score with a projection_dim for criterion 'less'"
        )
    rows = table.column("projection").to_pylist()
    width = next((len(r) for r in rows if r is not None), 0)
    return np.array([r if r is not None else [np.nan] * width for r in rows], dtype=np.float64).reshape(
        len(rows), width
    )


def select_dataset(
    inputs: Any,
    scores: Any,
    output: PathLike | None = None,
    *,
    criterion: Criterion = "resofilter",
    drop_ratio: float | None = None,
    keep_ratio: float | None = None,
    threshold: float | None = None,
    seed: int = 0,
    target_scores: Any = None,
    diversity_threshold: float | None = None,
    response_field: str = "response",
    label_field: str | None = None,
    output_format: str = "parquet",
    compression: str | None = None,
    max_shard_size: int | str | None = None,
    max_shard_rows: int | None = None,
    on_error: str = "raise",
    overwrite: bool = False,
    progress: Progress | None = None,
) -> SelectDatasetResult:
    """Split ``inputs`` into kept and removed rows by their scores.

    ``inputs``: paths, URLs or a table-like object (see the module
    docstring); ``scores`` (and ``target_scores``): the scores of
    :func:`score_dataset`, as a Parquet path (local or a URL) or a table;
    ``output``: a directory (local or a URL), or ``None`` for the kept and
    removed rows as tables in the result. ``output_format`` (``parquet`` or
    ``jsonl``) and ``compression`` are those of the kept/removed shards;
    ``max_shard_size`` (bytes written, e.g. ``"512MB"``, approximate) and
    ``max_shard_rows`` (exact) cap each of their files, numbered
    ``NAME-00000.EXT``, ``NAME-00001.EXT``, ... in row order.
    ``on_error="skip"`` leaves out malformed lines as scoring did (counted as
    rejected, written to ``OUT/rejected/``).

    ``drop_ratio=0.5`` is the paper's setting (drop the half that moves the
    weights most). ``criterion="less"`` ranks by the mean cosine of each
    sample's projected gradient to those of ``target_scores`` (a scores file
    of the target set, scored with the same projection) and keeps the
    highest. ``label_field`` names a boolean input column marking known-bad
    samples, for AUROC and per-selection counts in the report. ``progress``
    follows the split (stage ``write``, its total rows known).

    >>> import json, tempfile, pathlib
    >>> from stemmatic.resofilter import ScoreConfig, Tokenizer, score_dataset
    >>> from stemmatic.resofilter.tiny import ByteTokenizer, tiny_transformer
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> rows = [{"prompt": f"{i}+1=", "response": str(i + 1)} for i in range(4)]
    >>> _ = (d / "sft.jsonl").write_text("".join(json.dumps(r) + "\\n" for r in rows))
    >>> model = tiny_transformer(d_model=16, n_layers=2, n_heads=2, d_ff=16)
    >>> tok = Tokenizer.from_byte_tokenizer(ByteTokenizer())
    >>> _ = score_dataset(d / "sft.jsonl", d / "scored", model, tok, config=ScoreConfig(device="cpu"))
    >>> result = select_dataset(d / "sft.jsonl", d / "scored" / "scores.parquet", d / "sel", drop_ratio=0.5)
    >>> result.kept_rows, sorted(result.report["selections"])
    (2, ['length', 'random', 'resofilter'])
    >>> scores = pq.read_table(d / "scored" / "scores.parquet")
    >>> in_memory = select_dataset(pa.table({"prompt": [r["prompt"] for r in rows]}), scores, drop_ratio=0.5)
    >>> in_memory.kept.num_rows, in_memory.removed.column("reason").to_pylist()
    (2, ['high_score', 'high_score'])
    """
    from stemmatic.io import source_files
    from stemmatic.io._sources import check_on_error

    caps = check_output(output_format, compression, max_shard_size, max_shard_rows)
    check_on_error(on_error)
    with source_files(inputs) as files:
        return _select(
            files,
            scores,
            output,
            criterion=criterion,
            drop_ratio=drop_ratio,
            keep_ratio=keep_ratio,
            threshold=threshold,
            seed=seed,
            target_scores=target_scores,
            diversity_threshold=diversity_threshold,
            response_field=response_field,
            label_field=label_field,
            output_format=output_format,
            compression=compression,
            caps=caps,
            on_error=on_error,
            overwrite=overwrite,
            progress=progress or NoProgress(),
        )


def _select(
    files: Any,
    scores_source: Any,
    output: PathLike | None,
    *,
    criterion: Criterion,
    drop_ratio: float | None,
    keep_ratio: float | None,
    threshold: float | None,
    seed: int,
    target_scores: Any,
    diversity_threshold: float | None,
    response_field: str,
    label_field: str | None,
    output_format: str,
    compression: str | None,
    caps: ShardCaps,
    on_error: str,
    overwrite: bool,
    progress: Progress,
) -> SelectDatasetResult:
    from stemmatic.io import iter_chunks

    timer = StageTimer()
    scores = _scores_name(scores_source)
    table = _read_scores(scores_source)
    for required in ("row", "status", "score", "num_response_tokens"):
        if required not in table.column_names:
            raise InvalidInputError(
                f"{scores}: column {required!r} not found; is this a resofilter scores file?"
            )
    rows = table.column("row").to_numpy()
    if not np.array_equal(rows, np.arange(len(rows))):
        raise InvalidInputError(
            f"{scores}: rows are not 0..n-1 in order; was it written by resofilter score?"
        )
    status = table.column("status").to_pylist()
    length = np.array(
        [v if v is not None else 0 for v in table.column("num_response_tokens").to_pylist()], dtype=np.float64
    )
    if criterion == "less":
        if target_scores is None:
            raise ParameterError("criterion 'less' needs target_scores (a scores file of the target set)")
        target = _read_scores(target_scores, "target scores")
        target_matrix = _projection_matrix(target, _scores_name(target_scores, "target scores"))
        target_matrix = target_matrix[np.all(np.isfinite(target_matrix), axis=1)]
        score = less_scores(_projection_matrix(table, scores), target_matrix)
    else:
        score = np.array(
            [np.nan if v is None else v for v in table.column("score").to_pylist()], dtype=np.float64
        )

    texts: list[str] = []
    labels: list[bool] = []
    columns = [response_field] if diversity_threshold is not None else []
    if label_field:
        columns.append(label_field)
    total = 0
    with timer.stage("read"):
        skipping: dict[str, Any] = {"on_error": on_error, "skippable": True, "on_rejected": lambda _: None}
        for chunk in iter_chunks(files, columns=columns or None, **skipping):
            total += chunk.batch.num_rows
            if diversity_threshold is not None:
                texts.extend(
                    v if isinstance(v, str) else "" for v in chunk.batch.column(response_field).to_pylist()
                )
            if label_field:
                labels.extend(bool(v) for v in chunk.batch.column(label_field).to_pylist())
    if total != len(rows):
        raise InvalidInputError(
            f"{scores}: has {len(rows)} rows but the inputs have {total}; scores of other inputs?"
        )

    selection = Selection.build(
        score,
        status,
        length,
        criterion=criterion,
        drop_ratio=drop_ratio,
        keep_ratio=keep_ratio,
        threshold=threshold,
        seed=seed,
        texts=texts if diversity_threshold is not None else None,
        diversity_threshold=diversity_threshold,
        label=np.array(labels) if label_field else None,
    )

    selection_table = pa.table(
        {
            "row": pa.array(rows, pa.int64()),
            "id": table.column("id") if "id" in table.column_names else pa.array(rows.astype(str)),
            "score": pa.array(score, mask=~np.isfinite(score), type=pa.float64()),
            "keep": pa.array(selection.keep),
            "reason": pa.array(selection.reasons, pa.string()),
            "keep_random": pa.array(selection.baselines["random"]),
            "keep_length": pa.array(selection.baselines["length"]),
        }
    )
    with contextlib.ExitStack() as stack:
        directory: Path | None = None
        if output is not None:
            from stemmatic.io import output_dir

            also_read = [p for p in (scores_source, target_scores) if isinstance(p, (str, os.PathLike))]
            directory = stack.enter_context(
                output_dir(output, overwrite=overwrite, inputs=[*files, *also_read])
            )
        with timer.stage("write"):
            progress.start("write", len(rows))
            kept_sink, removed_sink = split_sinks(directory, files, output_format, compression, caps)
            rejected = Rejections(directory)
            empty: dict[int, pa.Schema] = {}
            for chunk in iter_chunks(files, **{**skipping, "on_rejected": rejected}):
                begin = chunk.global_row
                keep = selection.keep[begin : begin + chunk.batch.num_rows]
                batch = pa.Table.from_batches([chunk.batch])
                empty[chunk.file_index] = batch.schema
                kept_sink.write(chunk.file_index, batch.filter(pa.array(keep)))
                removed = batch.filter(pa.array(~keep))
                reasons = [
                    r
                    for r, k in zip(selection.reasons[begin : begin + len(keep)], keep, strict=True)
                    if not k
                ]
                removed_sink.write(
                    chunk.file_index, removed.append_column("reason", pa.array(reasons, pa.string()))
                )
                progress.advance(chunk.batch.num_rows, chunk.batch.nbytes)
            progress.finish()
            rejected.close()
            kept_table = kept_sink.close(empty)
            removed_table = removed_sink.close(
                {i: s.append(pa.field("reason", pa.string())) for i, s in empty.items()}
            )
            if directory is not None:
                write_parquet(selection_table, directory / "selection.parquet")
        chosen = selection.report
        report = run_report(
            "resofilter select",
            parameters={
                "criterion": criterion,
                "drop_ratio": drop_ratio,
                "keep_ratio": keep_ratio,
                "threshold": threshold,
                "seed": seed,
                "diversity_threshold": diversity_threshold,
                "target_scores": None
                if target_scores is None
                else _scores_name(target_scores, "target scores"),
                "scores": scores,
                "response_field": response_field,
                "label_field": label_field,
                "format": output_format,
                "compression": compression,
                "max_shard_size": caps.bytes,
                "max_shard_rows": caps.rows,
                "on_error": on_error,
            },
            inputs=files,
            rows=Rows(
                chosen["samples"] + rejected.count,
                kept=chosen["kept"],
                removed=chosen["removed"],
                rejected=rejected.count,
                detail={"eligible": chosen["eligible"], "removed_by_reason": chosen["removed_by_reason"]},
            ),
            timer=timer,
            outputs=(
                {
                    "kept": "kept/",
                    "removed": "removed/",
                    "selection": "selection.parquet",
                    **rejected.outputs(),
                }
                if directory is not None
                else {}
            ),
            # The choice and its random and length baselines of the same size; AUROC with a label field.
            **{k: v for k, v in chosen.items() if k in ("selections", "auroc", "bad_share_eligible")},
        )
        if directory is not None:
            write_report(directory / "report.json", report)
        in_memory = directory is None
        return SelectDatasetResult(
            input_rows=chosen["samples"] + rejected.count,
            kept_rows=chosen["kept"],
            removed_rows=chosen["removed"],
            report=report,
            selection=selection_table,
            output=None if output is None else (output if isinstance(output, str) else Path(output)),
            kept=kept_table if in_memory else None,
            removed=removed_table if in_memory else None,
            rejected_rows=rejected.count,
        )
