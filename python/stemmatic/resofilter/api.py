"""ResoFilter on datasets: score the samples, then select from the scores (what the CLI runs).

Inputs are read through :mod:`stemmatic.io`, as every corpus command's:
Parquet, JSON(L), CSV/TSV or Arrow files (optionally .gz/.zst/.bz2),
directories, globs or URLs (``s3://``, ``gs://``, ``hf://``, ``memory://``,
...), or a table-like object (pyarrow, polars, pandas, DuckDB,
``datasets.Dataset``). The output is a directory (local or a URL, uploaded
when the run ends) or ``None``: nothing is written and the results come back
as Arrow tables.

``score_dataset`` reads prompt/response samples, removes exact duplicate
prompts (the reference does this before scoring), scores the rest, and
returns the scores (one row per input row, in input order), also written as
``OUT/scores.parquet`` with ``OUT/report.json``. ``select_dataset`` reads the
same inputs and the scores (a file, a URL or a table) and splits the rows into
kept and removed (removed rows carry a ``reason``): ``OUT/kept/`` and
``OUT/removed/`` mirroring the input shards, ``OUT/selection.parquet`` (the
choice and the random and length baselines of the same size) and
``OUT/report.json``, or the same as tables in the result
(:mod:`stemmatic.resofilter.splitting`; importable from here too).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from stemmatic._run import Rows, StageTimer, run_report, write_report
from stemmatic.exceptions import ParameterError
from stemmatic.io._sinks import write_parquet
from stemmatic.resofilter._dataset_io import Rejections
from stemmatic.resofilter.data import (
    DUPLICATE_PROMPT,
    EncodedSample,
    Fields,
    PromptFormat,
    Tokenizer,
    dedup_prompts,
    encode_examples,
)
from stemmatic.resofilter.scoring import ScoreConfig, score_samples
from stemmatic.resofilter.splitting import SelectDatasetResult, select_dataset

__all__ = ["SelectDatasetResult", "score_dataset", "select_dataset"]

PathLike = str | os.PathLike[str]


def score_dataset(
    inputs: Any,
    output: PathLike | None,
    model: Any,
    tokenizer: Tokenizer,
    *,
    fields: Fields = Fields(),
    prompt_format: PromptFormat = PromptFormat(),
    config: ScoreConfig = ScoreConfig(),
    max_length: int = 768,
    dedup: bool = True,
    on_error: str = "raise",
    resume: bool = False,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> pa.Table:
    """Score every sample of ``inputs``; with an ``output``, write ``scores.parquet`` and ``report.json`` there.

    ``inputs``: paths, URLs or a table-like object (see the module
    docstring); ``output``: a directory, local or a URL, or ``None`` to only
    return the scores. Every input row gets a row in the scores, in input order: ``row``, ``id``,
    ``status`` (``ok``, ``duplicate_prompt``, ``empty_response``,
    ``no_loss_tokens``, ``nonfinite``), ``duplicate_of``, ``score`` (null
    unless ``ok``), ``loss``, ``num_tokens``, ``num_response_tokens``,
    ``truncated``, ``layer_features`` (one value per scored layer, named in
    the schema metadata) and, with a projection, ``projection``. An
    interrupted run resumes from ``OUT/checkpoint.npz`` with ``resume=True``
    (a local output directory). With ``on_error="skip"`` a malformed line is
    left out, counted as rejected and written to ``OUT/rejected/``.

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
    >>> import pyarrow as pa
    >>> score_dataset(pa.Table.from_pylist(rows), None, model, tok, config=ScoreConfig(device="cpu")).num_rows
    2
    """
    from stemmatic.io import output_dir, source_files
    from stemmatic.resofilter.data import examples_of

    if output is None and resume:
        raise ParameterError("resume needs an output directory (its checkpoint)")
    timer = StageTimer()
    with contextlib.ExitStack() as stack:
        files = stack.enter_context(source_files(inputs))
        directory: Path | None = None
        if output is not None:
            directory = stack.enter_context(
                output_dir(output, overwrite=overwrite, resume=resume, inputs=files)
            )
        rejected = Rejections(directory)
        with timer.stage("read"):
            try:
                examples = examples_of(files, fields, on_error=on_error, on_rejected=rejected)
            finally:
                rejected.close()
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
                checkpoint=None if directory is None else directory / "checkpoint.npz",
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
        if directory is None:
            return table
        with timer.stage("write"):
            write_parquet(table, directory / "scores.parquet")
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
                count + rejected.count,
                rejected=rejected.count,
                detail={
                    "status": dict(Counter(status)),
                    "truncated": int(sum(1 for s in samples if s is not None and s.truncated)),
                },
            ),
            timer=timer,
            outputs={"scores": "scores.parquet", **rejected.outputs()},
            layers=result.layer_names,
            score=_summary(scored),
            seconds_scoring=round(result.seconds, 3),
        )
        write_report(directory / "report.json", report)
        return table


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
