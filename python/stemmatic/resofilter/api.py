"""File-to-file ResoFilter: score a dataset, then select from the scores (what the CLI runs).

``score_dataset`` reads prompt/response samples, removes exact duplicate
prompts (the reference does this before scoring), scores the rest, and writes
``OUT/scores.parquet`` (one row per input row, in input order) and
``OUT/report.json``. ``select_dataset`` reads the same inputs and the scores
and writes ``OUT/kept/`` and ``OUT/removed/`` (mirroring the input shards;
removed rows carry a ``reason``), ``OUT/selection.parquet`` (the choice and
the random and length baselines of the same size) and ``OUT/report.json``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from stemmatic._run import NoProgress, Progress, Rows, StageTimer, run_report, write_report
from stemmatic.exceptions import InvalidInputError, ParameterError
from stemmatic.resofilter.data import (
    DUPLICATE_PROMPT,
    EncodedSample,
    Fields,
    PromptFormat,
    Tokenizer,
    dedup_prompts,
    encode_examples,
    read_examples,
)
from stemmatic.resofilter.scoring import ScoreConfig, less_scores, score_samples
from stemmatic.resofilter.selection import Criterion, Selection

__all__ = ["score_dataset", "select_dataset"]

PathLike = str | os.PathLike[str]


def score_dataset(
    inputs: Iterable[PathLike] | PathLike,
    out: PathLike,
    model: Any,
    tokenizer: Tokenizer,
    *,
    fields: Fields = Fields(),
    prompt_format: PromptFormat = PromptFormat(),
    config: ScoreConfig = ScoreConfig(),
    max_length: int = 768,
    dedup: bool = True,
    resume: bool = False,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> pa.Table:
    """Score every sample of ``inputs`` and write ``OUT/scores.parquet`` and ``OUT/report.json``.

    Every input row gets a row in the scores, in input order: ``row``, ``id``,
    ``status`` (``ok``, ``duplicate_prompt``, ``empty_response``,
    ``no_loss_tokens``, ``nonfinite``), ``duplicate_of``, ``score`` (null
    unless ``ok``), ``loss``, ``num_tokens``, ``num_response_tokens``,
    ``truncated``, ``layer_features`` (one value per scored layer, named in
    the schema metadata) and, with a projection, ``projection``. An
    interrupted run resumes from ``OUT/checkpoint.npz`` with ``resume=True``.

    >>> import json, tempfile, pathlib
    >>> from stemmatic.resofilter.tiny import ByteTokenizer, tiny_transformer
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> rows = [{"prompt": "1+1=", "response": "2"}, {"prompt": "1+1=", "response": "3"}]
    >>> _ = (d / "sft.jsonl").write_text("".join(json.dumps(r) + "\\n" for r in rows))
    >>> model = tiny_transformer(d_model=16, n_layers=2, n_heads=2, d_ff=16)
    >>> tok = Tokenizer.from_byte_tokenizer(ByteTokenizer())
    >>> table = score_dataset(d / "sft.jsonl", d / "out", model, tok, config=ScoreConfig(device="cpu"))
    >>> table.column("status").to_pylist()
    ['ok', 'duplicate_prompt']
    """
    from stemmatic.io import output_dir, resolve_inputs

    timer = StageTimer()
    paths = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    with output_dir(out, overwrite=overwrite, resume=resume, inputs=paths) as directory:
        with timer.stage("read"):
            files = resolve_inputs(paths)
            examples = read_examples(paths, fields)
            if dedup:
                kept, duplicate_of = dedup_prompts(examples)
            else:
                kept, duplicate_of = list(range(len(examples))), {}
            encoded = encode_examples(
                [examples[i] for i in kept], tokenizer, prompt_format, max_length=max_length
            )
        with timer.stage("score"):
            result = score_samples(
                model,
                encoded,
                config,
                pad_id=tokenizer.pad_id,
                progress=progress,
                checkpoint=directory / "checkpoint.npz",
            )

        count = len(examples)
        n_layers = len(result.layer_names)
        score = np.full(count, np.nan)
        loss = np.full(count, np.nan)
        features = np.full((count, n_layers), np.nan)
        status = [DUPLICATE_PROMPT] * count
        samples: list[EncodedSample | None] = [None] * count
        projection = None
        if result.projection is not None:
            projection = np.full((count, result.projection.shape[1]), np.nan, dtype=np.float32)
        for j, position in enumerate(kept):
            score[position] = result.score[j]
            loss[position] = result.loss[j]
            features[position] = result.layer_features[j]
            status[position] = result.status[j]
            samples[position] = encoded[j]
            if projection is not None and result.projection is not None:
                projection[position] = result.projection[j]

        def nullable(values: np.ndarray) -> pa.Array:
            return pa.array(values, mask=~np.isfinite(values), type=pa.float64())

        columns: dict[str, pa.Array] = {
            "row": pa.array([e.row for e in examples], pa.int64()),
            "id": pa.array([e.id for e in examples], pa.string()),
            "status": pa.array(status, pa.string()),
            "duplicate_of": pa.array(
                [examples[duplicate_of[i]].row if i in duplicate_of else None for i in range(count)],
                pa.int64(),
            ),
            "score": nullable(score),
            "loss": nullable(loss),
            "num_tokens": pa.array([len(s.input_ids) if s else None for s in samples], pa.int64()),
            "num_response_tokens": pa.array([s.num_loss_tokens if s else None for s in samples], pa.int64()),
            "truncated": pa.array([s.truncated if s else None for s in samples], pa.bool_()),
            "layer_features": pa.array(
                [None if status[i] == DUPLICATE_PROMPT else features[i].tolist() for i in range(count)],
                pa.list_(pa.float64()),
            ),
        }
        if projection is not None:
            columns["projection"] = pa.array(
                [row.tolist() if np.all(np.isfinite(row)) else None for row in projection],
                pa.list_(pa.float32()),
            )
        metadata = {
            "stemmatic.resofilter.layers": json.dumps(result.layer_names),
            "stemmatic.resofilter.config": json.dumps(result.config),
        }
        table = pa.table(columns).replace_schema_metadata(metadata)
        with timer.stage("write"):
            pq.write_table(table, directory / "scores.parquet")
        checkpoint = directory / "checkpoint.npz"
        if checkpoint.exists():
            checkpoint.unlink()

        scored = score[np.isfinite(score)]
        report = run_report(
            "resofilter score",
            parameters={
                "max_length": max_length,
                "dedup": dedup,
                "fields": dataclasses.asdict(fields),
                "device": str(config.device),
                "config": result.config,
            },
            inputs=files,
            # Scoring splits nothing (scores.parquet has a row per input row); statuses say which were scored.
            rows=Rows(
                count,
                detail={
                    "status": _tally(status),
                    "truncated": int(sum(1 for s in samples if s is not None and s.truncated)),
                },
            ),
            timer=timer,
            outputs={"scores": "scores.parquet"},
            layers=result.layer_names,
            score=_summary(scored),
            seconds_scoring=round(result.seconds, 3),
        )
        write_report(directory / "report.json", report)
        return table


def _tally(items: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        out[item] = out.get(item, 0) + 1
    return out


def _summary(values: np.ndarray) -> dict[str, float] | None:
    if values.size == 0:
        return None
    quantiles = np.quantile(values, [0.0, 0.25, 0.5, 0.75, 1.0])
    return {
        "mean": float(values.mean()),
        "min": float(quantiles[0]),
        "p25": float(quantiles[1]),
        "median": float(quantiles[2]),
        "p75": float(quantiles[3]),
        "max": float(quantiles[4]),
    }


def _read_scores(path: PathLike) -> pa.Table:
    try:
        return pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as err:
        raise InvalidInputError(f"{path}: cannot read the scores Parquet: {err}") from err


def _projection_matrix(table: pa.Table, path: PathLike) -> np.ndarray:
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
    inputs: Iterable[PathLike] | PathLike,
    scores: PathLike,
    out: PathLike,
    *,
    criterion: Criterion = "resofilter",
    drop_ratio: float | None = None,
    keep_ratio: float | None = None,
    threshold: float | None = None,
    seed: int = 0,
    target_scores: PathLike | None = None,
    diversity_threshold: float | None = None,
    response_field: str = "response",
    label_field: str | None = None,
    fmt: str = "parquet",
    overwrite: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Split ``inputs`` into kept and removed rows by their scores; returns the report.

    ``drop_ratio=0.5`` is the paper's setting (drop the half that moves the
    weights most). ``criterion="less"`` ranks by the mean cosine of each
    sample's projected gradient to those of ``target_scores`` (a scores file
    of the target set, scored with the same projection) and keeps the
    highest. ``label_field`` names a boolean input column marking known-bad
    samples, for AUROC and per-selection counts in the report. ``progress``
    follows the split (stage ``write``, its total rows known).

    >>> import json, tempfile, pathlib
    >>> from stemmatic.resofilter.tiny import ByteTokenizer, tiny_transformer
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> rows = [{"prompt": f"{i}+1=", "response": str(i + 1)} for i in range(4)]
    >>> _ = (d / "sft.jsonl").write_text("".join(json.dumps(r) + "\\n" for r in rows))
    >>> model = tiny_transformer(d_model=16, n_layers=2, n_heads=2, d_ff=16)
    >>> tok = Tokenizer.from_byte_tokenizer(ByteTokenizer())
    >>> _ = score_dataset(d / "sft.jsonl", d / "scored", model, tok, config=ScoreConfig(device="cpu"))
    >>> report = select_dataset(d / "sft.jsonl", d / "scored" / "scores.parquet", d / "sel", drop_ratio=0.5)
    >>> report["rows"]["kept"], sorted(report["selections"])
    (2, ['length', 'random', 'resofilter'])
    """
    from stemmatic.io import MirroredWriter, iter_chunks, output_dir, resolve_inputs

    timer = StageTimer()
    progress = progress or NoProgress()
    table = _read_scores(scores)
    files = resolve_inputs([inputs] if isinstance(inputs, (str, os.PathLike)) else inputs)
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
        target = _read_scores(target_scores)
        target_matrix = _projection_matrix(target, target_scores)
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
        for chunk in iter_chunks(files, columns=columns or None):
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

    if fmt not in ("parquet", "jsonl"):
        raise ParameterError(f"fmt={fmt!r}; expected 'parquet' or 'jsonl'")
    with output_dir(out, overwrite=overwrite, inputs=[*files, scores]) as directory:
        with timer.stage("write"):
            progress.start("write", len(rows))
            kept_writer = MirroredWriter(directory / "kept", files, fmt)  # type: ignore[arg-type]
            removed_writer = MirroredWriter(directory / "removed", files, fmt)  # type: ignore[arg-type]
            empty: dict[int, pa.Schema] = {}
            for chunk in iter_chunks(files):
                begin = chunk.global_row
                keep = selection.keep[begin : begin + chunk.batch.num_rows]
                batch = pa.Table.from_batches([chunk.batch])
                empty[chunk.file_index] = batch.schema
                kept_writer.write(chunk.file_index, batch.filter(pa.array(keep)))
                removed = batch.filter(pa.array(~keep))
                reasons = [
                    r
                    for r, k in zip(selection.reasons[begin : begin + len(keep)], keep, strict=True)
                    if not k
                ]
                removed_writer.write(
                    chunk.file_index, removed.append_column("reason", pa.array(reasons, pa.string()))
                )
                progress.advance(chunk.batch.num_rows, chunk.batch.nbytes)
            progress.finish()
            kept_writer.close(empty)
            removed_writer.close({i: s.append(pa.field("reason", pa.string())) for i, s in empty.items()})

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
            pq.write_table(selection_table, directory / "selection.parquet")
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
                "target_scores": None if target_scores is None else str(target_scores),
                "scores": str(scores),
                "response_field": response_field,
                "label_field": label_field,
                "format": fmt,
            },
            inputs=files,
            rows=Rows(
                chosen["samples"],
                kept=chosen["kept"],
                removed=chosen["removed"],
                detail={"eligible": chosen["eligible"], "removed_by_reason": chosen["removed_by_reason"]},
            ),
            timer=timer,
            outputs={"kept": "kept/", "removed": "removed/", "selection": "selection.parquet"},
            # The choice and its random and length baselines of the same size; AUROC with a label field.
            **{k: v for k, v in chosen.items() if k in ("selections", "auroc", "bad_share_eligible")},
        )
        write_report(directory / "report.json", report)
        return report
